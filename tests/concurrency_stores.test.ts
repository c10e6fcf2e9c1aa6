/**
 * No lost updates and no resurrection, on every store that can compare-and-set, on its real
 * backend: the README's cart race, `modify()`, 16 keys at once, a write racing `cycleKey()`, and a
 * logout during secret rotation. Concurrent requests go through `sessions.handle()` in one
 * process, interleaved with barriers so that every round really races; the cross-process version
 * is tests/concurrency_processes.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createClient } from "redis";
import { createSessions, memoryStore } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { fileStore } from "../stores/file.ts";
import { redisStore } from "../stores/redis.ts";
import { sqlStore } from "../stores/sql.ts";
import type { SqlClient } from "../stores/sql.ts";
import { runtime, serviceAvailable } from "./_env.ts";
import { barrier } from "./_barrier.ts";

const SECRET = "concurrency-secret-0123456789abcdefgh";
const OLD = "concurrency-old-secret-0123456789abcde";
const ROUNDS = 20;
const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const tag = `${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;

interface Backend {
  name: string;
  open(): Promise<{ store: SessionStore; close(): Promise<void> } | null>;
}

async function sqlite(): Promise<SqlClient> {
  if (runtime === "bun") {
    const { Database } = await import("bun:sqlite" as string);
    return new Database(":memory:") as SqlClient;
  }
  const { DatabaseSync } = await import("node:sqlite");
  return new DatabaseSync(":memory:") as unknown as SqlClient;
}

const BACKENDS: Backend[] = [
  { name: "memory", open: async () => ({ store: memoryStore(), close: async () => {} }) },
  {
    name: "sqlite",
    open: async () => {
      const client = await sqlite();
      return { store: sqlStore({ client, table: "conc_sessions" }), close: async () => (client as unknown as { close(): void }).close() };
    },
  },
  {
    name: "file",
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), "satchel-conc-"));
      return { store: fileStore({ dir }), close: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "redis (node-redis)",
    open: async () => {
      const connect = async () => {
        const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: false } });
        client.on("error", () => {});
        await client.connect();
        return client;
      };
      if (!(await serviceAvailable(`Redis (${REDIS_URL})`, async () => (await connect()).destroy()))) return null;
      const client = await connect();
      const prefix = `satchel-test:${tag}:conc:`;
      return {
        store: redisStore({ client, prefix }),
        close: async () => {
          const keys = (await client.sendCommand(["KEYS", `${prefix}*`])) as string[];
          if (keys.length > 0) await client.sendCommand(["DEL", ...keys]);
          client.destroy();
        },
      };
    },
  },
  {
    name: "postgres (postgres.js)",
    open: async () => {
      const probe = async () => {
        const sql = postgres(PG_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
        try {
          await sql`select 1`;
        } finally {
          await sql.end();
        }
      };
      if (!(await serviceAvailable(`PostgreSQL (${PG_URL})`, probe))) return null;
      const sql = postgres(PG_URL, { max: 8, connect_timeout: 3, onnotice: () => {} });
      const table = `conc_${tag}`;
      return {
        store: sqlStore({ client: sql, table }),
        close: async () => {
          await sql.unsafe(`DROP TABLE IF EXISTS "${table}"`);
          await sql.end();
        },
      };
    },
  },
  {
    name: "mariadb (mysql2)",
    open: async () => {
      const probe = async () => (await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 })).end();
      if (!(await serviceAvailable(`MariaDB (${MYSQL_URL})`, probe))) return null;
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 8, connectTimeout: 3000 });
      const table = `conc_${tag}`;
      return {
        store: sqlStore({ client: pool, table }),
        close: async () => {
          await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
          await pool.end();
        },
      };
    },
  },
];


type Data = { cart: string[]; n: number; user: string; [k: string]: unknown };
const req = (cookie?: string) => new Request("https://shop.example/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => response.headers.getSetCookie()[0]?.split(";")[0];

for (const backend of BACKENDS) {
  describe(`concurrent requests on ${backend.name}`, () => {
    const withStore = (name: string, body: (store: SessionStore) => Promise<void>) =>
      test(name, async () => {
        const opened = await backend.open();
        if (!opened) return;
        try {
          await body(opened.store);
        } finally {
          await opened.close();
        }
      });

    withStore(`get-then-set cart race: one 200 and one 409 in each of ${ROUNDS} rounds, never a silent loss`, async (store) => {
      const sessions = createSessions<Data>({ secret: SECRET, store });
      for (let round = 0; round < ROUNDS; round++) {
        const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.set("cart", []), new Response("new"))))!;
        const both = barrier(2);
        const responses = await Promise.all(["a", "b"].map((sku) =>
          sessions.handle(req(cookie), async (_r, s) => {
            const cart = s.get("cart", []);
            await both();
            s.set("cart", [...cart, sku]);
            return new Response("added");
          })));
        const statuses = responses.map((r) => r.status).sort();
        assert.deepEqual(statuses, [200, 409], `round ${round}`);
        assert.equal((await sessions.load(req(cookie))).get("cart")!.length, 1);
      }
    });

    withStore(`modify() cart race: both adds land in each of ${ROUNDS} rounds; 10 concurrent increments end at 10`, async (store) => {
      const sessions = createSessions<Data>({ secret: SECRET, store });
      for (let round = 0; round < ROUNDS; round++) {
        const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.set("cart", []), new Response("new"))))!;
        const both = barrier(2);
        const responses = await Promise.all(["a", "b"].map((sku) =>
          sessions.handle(req(cookie), async (_r, s) => {
            s.modify("cart", (cart = []) => [...cart, sku]);
            await both();
            return new Response("added");
          })));
        assert.deepEqual(responses.map((r) => r.status), [200, 200]);
        assert.deepEqual([...(await sessions.load(req(cookie))).get("cart")!].sort(), ["a", "b"]);
      }
      const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.set("n", 0), new Response("new"))))!;
      const all = barrier(10);
      const responses = await Promise.all(Array.from({ length: 10 }, () =>
        sessions.handle(req(cookie), async (_r, s) => {
          s.modify("n", (n = 0) => n + 1);
          await all();
          return new Response("ok");
        })));
      assert.ok(responses.every((r) => r.status === 200), responses.map((r) => r.status).join());
      assert.equal((await sessions.load(req(cookie))).get("n"), 10);
    });

    withStore("16 concurrent requests changing 16 different keys all land", async (store) => {
      const sessions = createSessions<Data>({ secret: SECRET, store });
      const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.set("n", 0), new Response("new"))))!;
      const all = barrier(16);
      const responses = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        sessions.handle(req(cookie), async (_r, s) => {
          s.set(`k${i}`, i);
          await all();
          return new Response("ok");
        })));
      assert.deepEqual(responses.map((r) => r.status), Array(16).fill(200));
      const session = await sessions.load(req(cookie));
      for (let i = 0; i < 16; i++) assert.equal(session.get(`k${i}`), i);
    });

    withStore(`a write racing cycleKey() lands in the new session or fails loudly (${ROUNDS} rounds)`, async (store) => {
      const sessions = createSessions<Data>({ secret: SECRET, store });
      for (let round = 0; round < ROUNDS; round++) {
        const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.set("user", "anon"), new Response("new"))))!;
        const gate = barrier(2);
        const [login, write] = await Promise.all([
          sessions.handle(req(cookie), async (_r, s) => {
            s.get("user");
            await gate();
            await s.cycleKey();
            s.set("user", "ada");
            return new Response("in");
          }),
          sessions.handle(req(cookie), async (_r, s) => {
            s.get("user");
            await gate();
            s.modify("cart", (cart = []) => [...cart, "sku"]);
            return new Response("added");
          }),
        ]);
        assert.equal(login.status, 200);
        const after = await sessions.load(req(cookieOf(login)!));
        if (write.status === 200) assert.deepEqual(after.get("cart"), ["sku"], `round ${round}: acknowledged write lost`);
        else assert.equal(write.status, 400);
        assert.equal((await sessions.load(req(cookie))).id, null, "the pre-login id is dead");
      }
    });

    if (backend.name !== "memory") {
      withStore(`a logout during secret rotation ends the session with reads in flight (${ROUNDS * 2} rounds)`, async (store) => {
        const before = createSessions<Data>({ secret: OLD, store });
        const after = createSessions<Data>({ secret: [SECRET, OLD], store });
        for (let round = 0; round < ROUNDS * 2; round++) {
          const cookie = cookieOf(await before.handle(req(), (_r, s) => (s.set("user", "ada"), new Response("new"))))!;
          const gate = barrier(3);
          const responses = await Promise.all([
            ...[0, 1].map(() => after.handle(req(cookie), async (_r, s) => (s.get("user"), await gate(), new Response("read")))),
            after.handle(req(cookie), async (_r, s) => {
              await gate();
              await s.flush();
              return new Response("bye");
            }),
          ]);
          assert.ok(responses.every((r) => r.status === 200 || r.status === 400), responses.map((r) => r.status).join());
          assert.equal((await after.load(req(cookie))).get("user"), undefined, `round ${round}: logged out`);
        }
      });
    }
  });
}
