/**
 * Review: the per-user index of the non-Redis server stores, driven at the store level
 * (`SessionStore.list({ user?, now })` and the record's `user`): sqlStore() on SQLite, PostgreSQL
 * (postgres.js and pg) and MariaDB (mysql2), both layouts; fileStore(); denoKvStore() (Deno only);
 * tieredStore(). Each test asserts the correct behaviour, so a failing test is a finding.
 * Every table, directory and prefix is unique to this run and removed afterwards.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import postgres from "postgres";
import mysql from "mysql2/promise";
import type { ListedRecord, Version } from "../core/types.ts";
import { sqlStore } from "../stores/sql.ts";
import type { SqlClient } from "../stores/sql.ts";
import { fileStore } from "../stores/file.ts";
import { denoKvStore } from "../stores/deno_kv.ts";
import type { DenoKvKey, DenoKvLike } from "../stores/deno_kv.ts";
import { tieredStore } from "../stores/tiered.ts";
import { memoryStore } from "../mod.ts";
import { runtime, serviceAvailable } from "./_env.ts";
import { bound, keyMaker, keysOf } from "./_store_fixtures.ts";

const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const RUN = `${runtime.slice(0, 2)}${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
const short = keyMaker("r"); // 32 characters: fits both layouts
const hexKey = (): string => [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");

type Row = Record<string, unknown>;
type Param = string | number | null;

// ---- SQL engines ----

interface Conn {
  client: SqlClient;
  exec(sql: string, params?: Param[]): Promise<Row[]>;
  close(): Promise<void>;
}
interface Engine {
  name: string;
  family: "sqlite" | "postgres" | "mysql";
  up(): Promise<boolean>;
  connect(): Promise<Conn>;
}

const probed = new Map<string, Promise<boolean>>();
const once = (service: string, probe: () => Promise<unknown>): Promise<boolean> => {
  let result = probed.get(service);
  if (!result) probed.set(service, result = serviceAvailable(service, probe));
  return result;
};
const pgUp = () =>
  once(`PostgreSQL (${PG_URL})`, async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.end();
  });

const ENGINES: Engine[] = [
  {
    name: runtime === "bun" ? "sqlite (bun:sqlite)" : "sqlite (node:sqlite)",
    family: "sqlite",
    up: async () => true,
    async connect() {
      type Db = { prepare(sql: string): { all(...p: Param[]): unknown[] }; close(): void };
      let db: Db;
      if (runtime === "bun") {
        const specifier = "bun:sqlite";
        const { Database } = await import(specifier);
        db = new Database(":memory:") as Db;
      } else {
        const { DatabaseSync } = await import("node:sqlite");
        db = new DatabaseSync(":memory:") as unknown as Db;
      }
      return { client: db as unknown as SqlClient, exec: async (sql, p = []) => db.prepare(sql).all(...p) as Row[], close: async () => db.close() };
    },
  },
  {
    name: "postgres (postgres.js)",
    family: "postgres",
    up: pgUp,
    async connect() {
      const sql = postgres(PG_URL, { max: 4, connect_timeout: 3, onnotice: () => {} });
      return { client: sql as unknown as SqlClient, exec: async (text, p = []) => [...(await sql.unsafe(text, p as never[]))] as Row[], close: () => sql.end() };
    },
  },
  {
    name: "postgres (pg)",
    family: "postgres",
    up: pgUp,
    async connect() {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 4, connectionTimeoutMillis: 3000 });
      return { client: pool as unknown as SqlClient, exec: async (text, p = []) => (await pool.query(text, p)).rows as Row[], close: () => pool.end() };
    },
  },
  {
    name: "mariadb (mysql2)",
    family: "mysql",
    up: () => once(`MariaDB (${MYSQL_URL})`, async () => (await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 })).end()),
    async connect() {
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 4, connectTimeout: 3000 });
      return {
        client: pool as unknown as SqlClient,
        exec: async (text, p = []) => (await pool.query(text, p))[0] as Row[],
        close: () => pool.end(),
      };
    },
  },
];

const quote = (engine: Engine, name: string) => engine.family === "mysql" ? `\`${name}\`` : `"${name}"`;

/** Whether `table` has an index whose first column is `column`, from the catalog. */
async function leadingIndex(engine: Engine, conn: Conn, table: string, column: string): Promise<boolean> {
  if (engine.family === "sqlite") {
    const names = await conn.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table]);
    for (const { name } of names) {
      const cols = await conn.exec("SELECT name FROM pragma_index_info(?) ORDER BY seqno", [String(name)]);
      if (cols[0]?.name === column) return true;
    }
    return false;
  }
  if (engine.family === "postgres") {
    const rows = await conn.exec(
      `SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       WHERE i.indrelid = to_regclass($1)`,
      [`"${table}"`],
    );
    return rows.some((row) => row.col === column);
  }
  const rows = await conn.exec(
    "SELECT 1 AS one FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ? AND seq_in_index = 1",
    [table, column],
  );
  return rows.length > 0;
}

for (const engine of ENGINES) {
  describe(`review: sqlStore(${engine.name}) per-user index`, () => {
    let conn: Conn | null = null;
    const tables: string[] = [];
    let serial = 0;
    const fresh = (label: string): string => {
      const table = `rvsi_${RUN}_${label}${++serial}`;
      tables.push(table);
      return table;
    };
    before(async () => {
      if (await engine.up()) conn = await engine.connect();
    });
    after(async () => {
      if (!conn) return;
      try {
        for (const table of tables) await conn.exec(`DROP TABLE IF EXISTS ${quote(engine, table)}`);
      } finally {
        await conn.close();
      }
    });
    const it = (title: string, fn: (conn: Conn) => Promise<void>) =>
      test(`sqlStore(${engine.name}) ${title}`, async (t) => {
        if (!conn) return t.skip("backend unavailable");
        await fn(conn);
      });

    it("fixed bug (review, low): a Django-layout table T and a satchel-layout table T_satchel in one database each get their own user index", async (conn) => {
      const base = fresh("app");
      const other = `${base}_satchel`;
      tables.push(other);
      const django = sqlStore({ client: conn.client, table: base, layout: "django" });
      const satchel = sqlStore({ client: conn.client, table: other });
      await django.ensureSchema();
      await satchel.ensureSchema(); // must not report success without its index
      assert.ok(await leadingIndex(engine, conn, base, "satchel_user"), "the Django table has its satchel_user index");
      assert.ok(
        await leadingIndex(engine, conn, other, "user"),
        `the satchel table has its user index (DDL: ${satchel.upgrade.at(-1)}; Django's: ${django.upgrade.at(-1)})`,
      );
    });

    for (const layout of ["satchel", "django"] as const) {
      it(`${layout} layout: list() and list({ user }) agree with load() at the expiry boundary, for whole and fractional now`, async (conn) => {
        const store = sqlStore({ client: conn.client, table: fresh(`b${layout[0]}`), ...(layout === "django" ? { layout } : {}) });
        const t0 = Math.floor(Date.now() / 1000) * 1000 + 60_000;
        const user = "ada";
        const keys: string[] = [];
        for (const d of [-2, -1, 0, 1, 2, 999, 1000, 1001]) {
          const key = layout === "django" ? short() : hexKey();
          keys.push(key);
          await store.create(key, { data: '{"a":1}', expires: t0 + d, created: t0 - 5000, active: t0 - 5000, user });
        }
        for (const now of [t0 - 1, t0 - 0.5, t0, t0 + 0.25, t0 + 0.999, t0 + 1, t0 + 1.5, t0 + 999.5, t0 + 1000]) {
          const loads: string[] = [];
          for (const key of keys) if (await store.load(key, now)) loads.push(key);
          loads.sort();
          const all = (await keysOf(store.list({ now }))).filter((k) => keys.includes(k));
          assert.deepEqual(all, loads, `list() vs load() at now = t0 + ${now - t0}`);
          assert.deepEqual(await keysOf(store.list({ user, now })), loads, `list({ user }) vs load() at now = t0 + ${now - t0}`);
        }
      });
    }

    it("keyset pagination with rows inserted and deleted between pages: every row live throughout listed once, none twice", async (conn) => {
      const store = sqlStore({ client: conn.client, table: fresh("pg") });
      const now = Date.now();
      const user = "bob";
      const initial: string[] = [];
      for (let i = 0; i < 450; i++) {
        const key = hexKey();
        initial.push(key);
        await store.create(key, bound(now, user));
      }
      const doomed = new Set(initial.filter((_, i) => i % 7 === 3)); // deleted mid-listing, seen or not
      const seen: string[] = [];
      let step = 0;
      for await (const { key, record } of store.list({ user, now })) {
        assert.equal(record.user, user);
        seen.push(key);
        step += 1;
        if (step === 150 || step === 260) {
          for (const k of doomed) await store.delete(k);
          for (let i = 0; i < 60; i++) await store.create(hexKey(), bound(now, user)); // inserted before and after the cursor
          for (let i = 0; i < 20; i++) await store.create(hexKey(), bound(now, "bob2"));
        }
      }
      assert.equal(new Set(seen).size, seen.length, "no key twice");
      const survivors = initial.filter((k) => !doomed.has(k));
      const missing = survivors.filter((k) => !seen.includes(k));
      assert.deepEqual(missing, [], "every row live throughout the listing was listed");
    });

    it("a rebinding ping-pong racing listings of both users: each listing yields only its user's records, and afterwards exactly the current user lists it", async () => {
      const store = sqlStore({ client: conn!.client, table: fresh("rb") });
      const now = Date.now();
      const key = hexKey();
      let version = (await store.create(key, bound(now, "A"))) as Version | undefined;
      const listings: Promise<void>[] = [];
      for (let round = 0; round < 20; round++) {
        const next = round % 2 === 0 ? "B" : "A";
        for (const who of ["A", "B"]) {
          listings.push((async () => {
            for await (const { record } of store.list({ user: who, now })) assert.equal(record.user, who);
          })());
        }
        version = (await store.save(key, bound(now, next), version)) as Version | undefined;
      }
      await Promise.all(listings);
      const current = (await store.load(key, now))!.user!;
      assert.deepEqual(await keysOf(store.list({ user: current, now })), [key]);
      assert.deepEqual(await keysOf(store.list({ user: current === "A" ? "B" : "A", now })), []);
    });
  });
}

// ---- fileStore() ----

describe("review: fileStore() per-user index", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), `satchel-rvsi-${RUN}-`));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("fileStore() path-hostile and oversized users: one 0700 directory each under the index, 0600 entries, listed exactly, nothing outside", async () => {
    const sub = join(dir, "hostile");
    const store = fileStore({ dir: sub, prefix: "rv_" });
    const now = Date.now();
    const users = [
      "..", ".", "/", "\\", "../../etc/passwd", "a/../../b", "C:\\x", "A", "a", " a", "a ", "%2e%2e",
      "x".repeat(100), "x".repeat(101), "é".repeat(255), `${"🙂".repeat(127)}x`, "\u0001\u007f", "ß", "SS",
    ];
    const keys = new Map<string, string>();
    for (const user of users) {
      const key = hexKey();
      keys.set(user, key);
      await store.create(key, bound(now, user));
    }
    for (const user of users) {
      const listed: ListedRecord[] = [];
      for await (const item of store.list({ user, now })) listed.push(item);
      assert.deepEqual(listed.map((i) => i.key), [keys.get(user)], JSON.stringify(user.slice(0, 12)));
      assert.equal(listed[0]!.record.user, user);
    }
    const indexDir = join(sub, "rv_users");
    assert.deepEqual((await readdir(sub)).filter((n) => !/^rv_[0-9a-f]{64}\.json$/.test(n)), ["rv_users"], "only session files and the index");
    const names = await readdir(indexDir);
    assert.equal(names.length, users.length, "one directory per user, A and a distinct");
    if (process.platform !== "win32") assert.equal((await stat(indexDir)).mode & 0o777, 0o700);
    for (const name of names) {
      assert.match(name, /^(u[0-9a-f]{0,200}|h[0-9a-f]{64})$/);
      assert.ok(name.length <= 255);
      const entries = await readdir(join(indexDir, name));
      assert.equal(entries.length, 1);
      if (process.platform !== "win32") {
        assert.equal((await stat(join(indexDir, name))).mode & 0o777, 0o700, "user directory 0700");
        assert.equal((await stat(join(indexDir, name, entries[0]!))).mode & 0o777, 0o600, "entry 0600");
      }
    }
  });

  test("fileStore() leftovers in a user's directory (temp files, lock-like and key-named directories, other names) are not listed and do not break listing", async () => {
    const sub = join(dir, "junk");
    const store = fileStore({ dir: sub });
    const now = Date.now();
    const user = "ada";
    const live = hexKey();
    await store.create(live, bound(now, user));
    const [userDir] = await readdir(join(sub, "sess_users"));
    const ud = join(sub, "sess_users", userDir!);
    const ghost = hexKey();
    await writeFile(join(ud, `.sess_${ghost}.abc.tmp`), "");
    await writeFile(join(ud, `${ghost}.json`), "");
    await writeFile(join(ud, ghost.toUpperCase()), "");
    await mkdir(join(ud, hexKey())); // a directory named like a key
    await mkdir(join(ud, `sess_${ghost}.lock`));
    // A temp file of the record itself, as a crash mid-write leaves it, in the main directory.
    await writeFile(join(sub, `.sess_${ghost}.0123456789abcdef01234567.tmp`), JSON.stringify({ satchel: 1, version: "x", data: "{}", expires: now + 60_000, created: now, active: now, user }));
    assert.deepEqual(await keysOf(store.list({ user, now })), [live]);
    assert.deepEqual((await keysOf(store.list({ now }))), [live]);
    assert.deepEqual(await keysOf(store.list({ user, now })), [live], "a second listing too");
  });

  test("fileStore() a rebinding ping-pong racing listings and sweeps from a second store on the same directory: afterwards exactly the current user lists it", async () => {
    const sub = join(dir, "pingpong");
    const store = fileStore({ dir: sub });
    // Another spelling of the directory: its in-process chains are separate, so only the cross-process lock orders them.
    const other = fileStore({ dir: `${sub}/.` });
    const now = Date.now();
    const keys = [hexKey(), hexKey(), hexKey()];
    const versions = new Map<string, string>();
    for (const key of keys) versions.set(key, await store.create(key, bound(now, "A")) as string);
    const work: Promise<void>[] = [];
    const bad: string[] = [];
    for (let round = 0; round < 15; round++) {
      for (const who of ["A", "B"]) {
        for (const s of [store, other]) {
          work.push((async () => {
            for await (const { record } of s.list({ user: who, now })) if (record.user !== who) bad.push(`${who} listed ${record.user}`);
          })());
        }
      }
      for (const key of keys) {
        const next = round % 2 === 0 ? "B" : "A";
        const writer = round % 3 === 0 ? other : store;
        versions.set(key, await writer.save(key, bound(now, next), versions.get(key)) as string);
      }
    }
    await Promise.all(work);
    assert.deepEqual(bad, []);
    for (const key of keys) {
      const current = (await store.load(key, now))!.user!;
      assert.ok((await keysOf(store.list({ user: current, now }))).includes(key), `listed under ${current}`);
      assert.ok(!(await keysOf(store.list({ user: current === "A" ? "B" : "A", now }))).includes(key), "not under the other");
    }
    const left = await readdir(join(sub, "sess_users")).catch(() => []);
    let entries = 0;
    for (const name of left) entries += (await readdir(join(sub, "sess_users", name)).catch(() => [])).length;
    assert.equal(entries, keys.length, "exactly one entry per record once settled (stale ones swept)");
  });
});

// ---- tieredStore() ----

describe("review: tieredStore() listing", () => {
  test("tieredStore() a record cached under user A but rebound to B in the durable store is listed under B only", async () => {
    const durable = memoryStore();
    const store = tieredStore({ cache: memoryStore(), store: durable, onCacheError: () => {} });
    const now = Date.now();
    const key = hexKey();
    const version = await store.create(key, bound(now, "A"));
    assert.equal((await store.load(key, now))?.user, "A"); // cached
    await durable.save(key, bound(now, "B"), version ?? undefined); // another process, another cache
    assert.deepEqual(await keysOf(store.list!({ user: "A", now })), []);
    assert.deepEqual(await keysOf(store.list!({ user: "B", now })), [key]);
    await store.delete(key);
    assert.deepEqual(await keysOf(store.list!({ user: "B", now })), []);
  });
});

// ---- denoKvStore() ----

interface TestKv extends DenoKvLike {
  close(): void;
}
const openKv = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<TestKv> } }).Deno?.openKv;

if (runtime !== "deno" || typeof openKv !== "function") {
  test("review: denoKvStore() per-user index (Deno only)", { skip: `Deno KV exists only in Deno; this is ${runtime}` }, () => {});
} else {
  const open = openKv;
  describe("review: denoKvStore() per-user index", () => {
    let kv: TestKv;
    before(async () => {
      kv = await open(":memory:");
    });
    after(() => kv.close());

    const entriesUnder = async (prefix: DenoKvKey): Promise<DenoKvKey[]> => {
      const out: DenoKvKey[] = [];
      for await (const entry of kv.list({ prefix })) out.push(entry.key);
      return out;
    };

    test("denoKvStore() with a long prefix, a user whose entry key passes 2 KiB: the bound write fails whole, the old binding stays listed", async () => {
      const prefix = ["rv", "p".repeat(1190)]; // the longest prefix accepted (1 200 bytes as a key)
      const store = denoKvStore({ kv, prefix });
      const now = Date.now();
      const big = "€".repeat(400); // 1 200 UTF-8 bytes: past what login() accepts, set at the store level
      const key = short();
      await assert.rejects(store.create(key, bound(now, big)));
      assert.deepEqual(await entriesUnder(prefix), [], "nothing written");
      const v = await store.create(key, bound(now, "ada"));
      await assert.rejects(store.save(key, bound(now, big), v));
      assert.equal((await store.load(key, now))?.user, "ada");
      assert.deepEqual(await keysOf(store.list({ user: "ada", now })), [key]);
    });

    test("fixed bug (review, low): denoKvStore() accepts a prefix only if every user login() accepts can be indexed under it", async () => {
      // A 1 500-byte prefix left the session key room but not a 255-character user's index entry:
      // every bound write failed with Deno KV's "Key too large". Now refused at construction.
      assert.throws(() => denoKvStore({ kv, prefix: ["rv", "q".repeat(1500)] }), (error: unknown) =>
        error instanceof TypeError && /prefix takes \d+ bytes.*2 KiB key limit.*under 1200 bytes/.test(error.message));
      // The longest prefix accepted still indexes the longest user login() accepts.
      const store = denoKvStore({ kv, prefix: ["rv", "q".repeat(1200 - 4 - 2)] });
      assert.throws(() => denoKvStore({ kv, prefix: ["rv", "q".repeat(1200 - 4 - 1)] }), TypeError);
      const now = Date.now();
      const big = "€".repeat(255);
      const key = "k".repeat(64);
      await store.create(key, bound(now, big));
      assert.deepEqual(await keysOf(store.list({ user: big, now })), [key]);
      await store.delete(key);
    });

    test("denoKvStore() a rebinding ping-pong racing listings: each listing yields only its user's records; afterwards exactly the current user lists it", async () => {
      const prefix = ["rv", RUN, "pp"];
      const store = denoKvStore({ kv, prefix });
      const now = Date.now();
      const key = short();
      let version = await store.create(key, bound(now, "A"));
      const work: Promise<void>[] = [];
      for (let round = 0; round < 20; round++) {
        for (const who of ["A", "B"]) {
          work.push((async () => {
            for await (const { record } of store.list({ user: who, now })) assert.equal(record.user, who);
          })());
        }
        version = await store.save(key, bound(now, round % 2 === 0 ? "B" : "A"), version);
      }
      await Promise.all(work);
      const current = (await store.load(key, now))!.user!;
      assert.deepEqual(await keysOf(store.list({ user: current, now })), [key]);
      assert.deepEqual(await keysOf(store.list({ user: current === "A" ? "B" : "A", now })), []);
      assert.equal((await entriesUnder([...prefix, "user"])).length, 1, "one index entry");
    });
  });
}

