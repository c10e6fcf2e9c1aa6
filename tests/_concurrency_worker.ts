/**
 * The backends of the concurrency tests, and the child process of
 * tests/concurrency_processes.test.ts.
 *
 * As a module: `openBackend(spec)` opens one store on its real backend (drivers are imported on
 * demand, so a worker loads only its own), `upBackend(spec)` does the same behind the service check
 * of ./_env.ts, and `noCompareAndSet(store)` drops the `version` of every save (the sensitivity
 * check: with it, lost updates must show).
 *
 * As a process (started with the runtime of the test, `--satchel-worker` and one JSON job as the
 * last argument): opens the backend, builds its own `createSessions()`, prints `{"ready":true}`,
 * waits for one line on stdin (the start signal, so that all workers race), then runs `rounds`
 * rounds of the requested operations through `sessions.handle()` on the job's cookie and prints
 * one JSON line: the status of every request, per operation.
 *
 * - `a`: `modify("n", n + 1)`.
 * - `b`: get-then-set of `m`, with a random pause of up to 3 ms between the read and the write: it
 *   only widens the race window; nothing is asserted about timing.
 * - `c`: a plain set of this worker's own key `w<worker>r<round>`.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { createSessions, memoryStore } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { fileStore } from "../stores/file.ts";
import { redisStore } from "../stores/redis.ts";
import { sqlStore } from "../stores/sql.ts";
import type { SqlClient } from "../stores/sql.ts";
import { runtime, serviceAvailable } from "./_env.ts";

export type BackendSpec =
  | { kind: "memory" }
  | { kind: "redis"; url: string; prefix: string }
  | { kind: "postgres"; url: string; table: string }
  | { kind: "mariadb"; url: string; table: string }
  | { kind: "sqlite"; path: string; table: string }
  | { kind: "file"; dir: string };

export interface Opened {
  store: SessionStore;
  /** Remove what this backend holds for the test (keys, table); the caller removes files. */
  drop(): Promise<void>;
  close(): Promise<void>;
}

export interface Job {
  spec: BackendSpec;
  secret: string;
  cookie: string;
  worker: number;
  rounds: number;
  ops: string;
  noCas?: boolean;
}

export const WORKER_FLAG = "--satchel-worker";

export async function openBackend(spec: BackendSpec): Promise<Opened> {
  const none = async () => {};
  switch (spec.kind) {
    case "memory":
      return { store: memoryStore(), drop: none, close: none };
    case "file":
      return { store: fileStore({ dir: spec.dir, lockTimeoutMs: 20_000 }), drop: none, close: none };
    case "sqlite": {
      const db = runtime === "bun"
        ? new (await import("bun:sqlite" as string)).Database(spec.path)
        : new (await import("node:sqlite")).DatabaseSync(spec.path);
      // Several processes on one file: wait for the write lock instead of failing with SQLITE_BUSY.
      db.exec("PRAGMA busy_timeout = 20000");
      if (spec.path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      return { store: sqlStore({ client: db as SqlClient, table: spec.table }), drop: none, close: async () => db.close() };
    }
    case "redis": {
      const { createClient } = await import("redis");
      const client = createClient({ url: spec.url, socket: { connectTimeout: 2000, reconnectStrategy: false } });
      client.on("error", () => {});
      await client.connect();
      return {
        store: redisStore({ client, prefix: spec.prefix }),
        drop: async () => {
          const keys = (await client.sendCommand(["KEYS", `${spec.prefix}*`])) as string[];
          if (keys.length > 0) await client.sendCommand(["DEL", ...keys]);
        },
        close: async () => client.destroy(),
      };
    }
    case "postgres": {
      const postgres = (await import("postgres")).default;
      const sql = postgres(spec.url, { max: 4, connect_timeout: 3, onnotice: () => {} });
      return {
        store: sqlStore({ client: sql, table: spec.table }),
        drop: async () => void (await sql.unsafe(`DROP TABLE IF EXISTS "${spec.table}"`)),
        close: () => sql.end(),
      };
    }
    case "mariadb": {
      const mysql = (await import("mysql2/promise")).default;
      const pool = mysql.createPool({ uri: spec.url, connectionLimit: 4, connectTimeout: 3000 });
      return {
        store: sqlStore({ client: pool, table: spec.table }),
        drop: async () => void (await pool.query(`DROP TABLE IF EXISTS \`${spec.table}\``)),
        close: () => pool.end(),
      };
    }
  }
}

const SERVICE: Record<string, string> = { redis: "Redis", postgres: "PostgreSQL", mariadb: "MariaDB" };

/** `openBackend` plus one query; a missing service fails under CI and is skipped loudly elsewhere (`null`). */
export async function upBackend(spec: BackendSpec): Promise<Opened | null> {
  let opened: Opened | null = null;
  const probe = async () => {
    opened = await openBackend(spec);
    await opened.store.load("0".repeat(64), Date.now());
  };
  if (!(spec.kind in SERVICE)) {
    await probe();
    return opened;
  }
  const url = (spec as { url: string }).url;
  if (await serviceAvailable(`${SERVICE[spec.kind]} (${url})`, probe)) return opened;
  await (opened as Opened | null)?.close().catch(() => {});
  return null;
}

/** A store whose saves ignore the version: no compare-and-set, so concurrent writers overwrite each other. */
export function noCompareAndSet(store: SessionStore): SessionStore {
  return {
    rawIds: store.rawIds,
    load: (key, now) => store.load(key, now),
    create: (key, record) => store.create(key, record),
    save: (key, record) => store.save(key, record),
    delete: (key) => store.delete(key),
  };
}

async function work(job: Job): Promise<Record<string, number[]>> {
  const opened = await openBackend(job.spec);
  const store = job.noCas ? noCompareAndSet(opened.store) : opened.store;
  const sessions = createSessions<Record<string, number>>({ secret: job.secret, store });
  await sessions.ready();
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once("line", () => resolve()));
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  await go;
  lines.close();
  const request = () => new Request("https://x/", { headers: { cookie: job.cookie } });
  const statuses: Record<string, number[]> = { a: [], b: [], c: [] };
  for (let round = 0; round < job.rounds; round++) {
    for (const op of job.ops) {
      const response = await sessions.handle(request(), async (_r, s) => {
        if (op === "a") s.modify("n", (n = 0) => n + 1);
        if (op === "b") {
          const m = s.get("m", 0);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          s.set("m", m + 1);
        }
        if (op === "c") s.set(`w${job.worker}r${round}`, round);
        return new Response("ok");
      });
      statuses[op]!.push(response.status);
    }
  }
  await opened.close();
  return statuses;
}

if (process.argv.includes(WORKER_FLAG)) {
  const job = JSON.parse(process.argv[process.argv.length - 1]!) as Job;
  work(job).then(
    (statuses) => process.stdout.write(`${JSON.stringify({ statuses })}\n`, () => process.exit(0)),
    (error: unknown) => {
      // Only the error's kind and code: never data, ids or cookies.
      const code = (error as { code?: unknown })?.code;
      process.stdout.write(`${JSON.stringify({ error: `${(error as Error)?.name ?? "Error"} ${String(code ?? "")}` })}\n`, () => process.exit(1));
    },
  );
}
