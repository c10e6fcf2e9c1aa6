/**
 * A store that is down or hangs, on real clients and real servers (no mocks): load and commit
 * fail fast with STORE_UNAVAILABLE (503 from handle), the handler never runs as the user, no fresh
 * cookie is issued that would log the user out for good, and the first request after the store
 * recovers succeeds (security.md ST-01..03, R1, R3, R4).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { createClient } from "redis";
import { Redis as IORedis } from "ioredis";
import pg from "pg";
import { createSessions, SessionError } from "../mod.ts";
import type { Sessions } from "../mod.ts";
import { redisStore } from "../stores/redis.ts";
import { sqlStore } from "../stores/sql.ts";
import { cookieValue, request, SECRET } from "./_http.ts";
import { serviceAvailable } from "./_env.ts";

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function expectOutage(sessions: Sessions, cookie: string | undefined, budgetMs: number): Promise<void> {
  let ran = false;
  const started = performance.now();
  const response = await sessions.handle(request(cookie), (_r, s) => {
    ran = true;
    s.set("k", "x");
    return new Response("as the user");
  });
  const took = performance.now() - started;
  assert.equal(response.status, 503);
  assert.equal(ran && cookie !== undefined, false, "the handler never runs on a failed load");
  assert.deepEqual(response.headers.getSetCookie(), [], "no cookie: not a fresh session, not a deletion");
  assert.ok(took < budgetMs, `answered in ${Math.round(took)} ms`);
}

describe("a Redis server that stops and comes back (redis-server on a spare port)", () => {
  let server: ChildProcess | undefined;
  let port = 0;
  let available = false;
  const start = async () => {
    server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      const probe = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
      probe.on("error", () => {});
      try {
        await probe.connect();
        await probe.close();
        return;
      } catch {
        await delay(50);
      }
    }
    throw new Error("redis-server did not start");
  };
  before(async () => {
    port = await freePort();
    available = await serviceAvailable("redis-server binary (to start and stop a private Redis)", start);
  });
  after(() => { server?.kill("SIGKILL"); });

  test("load fails fast with 503 and no cookie while Redis is down, and recovers when it is back", async (t) => {
    if (!available) return t.skip("redis-server unavailable");
    const client = new IORedis({ host: "127.0.0.1", port, maxRetriesPerRequest: null, retryStrategy: () => 100 });
    client.on("error", () => {});
    try {
      const sessions = createSessions({ secret: SECRET, store: redisStore({ client }), storeTimeout: 300 });
      const first = await sessions.handle(request(), (_r, s) => { s.set("user", "ada"); return new Response("ok"); });
      const id = cookieValue(first)!;
      assert.match(id, /^[a-z0-9]{32}$/);

      server!.kill("SIGKILL");
      await new Promise((resolve) => server!.once("exit", resolve));
      await expectOutage(sessions, id, 2000);
      await expectOutage(sessions, undefined, 2000);
      const error = await sessions.load(request(id)).catch((e: unknown) => e);
      assert.ok(error instanceof SessionError && error.code === "STORE_UNAVAILABLE");
      assert.ok(!error.message.includes(id));

      await start();
      let recovered = "";
      for (let i = 0; i < 50 && recovered !== "anonymous"; i++) {
        const response = await sessions.handle(request(id), (_r, s) => new Response(String(s.get("user") ?? "anonymous")));
        if (response.status === 200) recovered = await response.text();
        else await delay(100);
      }
      assert.equal(recovered, "anonymous", "after recovery the (memory-only) Redis lost the session; the request works and is anonymous");
    } finally {
      client.disconnect();
    }
  });
});

describe("a PostgreSQL address where nothing listens", () => {
  test("load and commit fail fast with 503 and no cookie", async () => {
    const port = await freePort();
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 1000 });
    pool.on("error", () => {});
    try {
      const sessions = createSessions({ secret: SECRET, store: sqlStore({ client: pool, dialect: "postgres" }), storeTimeout: 1500 });
      await expectOutage(sessions, "abcdefghijklmnopqrstuvwxyz012345", 3000);
      await expectOutage(sessions, undefined, 3000);
    } finally {
      await pool.end().catch(() => {});
    }
  });
});
