/**
 * No lost updates across processes: 4 worker processes (tests/_concurrency_worker.ts, started with
 * the runtime running this file), each with its own `createSessions()` and its own connection,
 * race on one session of one shared backend: Redis, PostgreSQL, MariaDB, a SQLite file and a
 * file-store directory. Each worker runs ROUNDS rounds of three requests through
 * `sessions.handle()`:
 *
 * - (a) `modify("n", n + 1)`: every answer is 200 and n ends at the number of requests;
 * - (b) get-then-set of `m`: m ends at exactly the number of 200 answers, every other answer is 409;
 * - (c) a set of the worker's own key: every answer is 200 and every key is there.
 *
 * The sensitivity check runs (b) over stores whose saves drop the version (no compare-and-set):
 * there the same harness must see lost updates, so a pass above is not a harness that cannot fail.
 * The in-process versions are tests/core_conflicts.test.ts and tests/concurrency_stores.test.ts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { createSessions } from "../mod.ts";
import { runtime } from "./_env.ts";
import { WORKER_FLAG, upBackend } from "./_concurrency_worker.ts";
import type { BackendSpec, Job } from "./_concurrency_worker.ts";

const SECRET = "process-race-secret-0123456789abcdefgh";
const WORKERS = 4;
const ROUNDS = 15;
/** Start-up plus all rounds; a worker slower than this is stuck and is killed. */
const WORKER_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT = { timeout: 180_000 };
const tag = `${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;

interface Case {
  name: string;
  spec(dir: string): BackendSpec;
}

const CASES: Case[] = [
  { name: "Redis", spec: () => ({ kind: "redis", url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", prefix: `satchel-test:${tag}:procs:` }) },
  { name: "PostgreSQL", spec: () => ({ kind: "postgres", url: process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test", table: `procs_${tag}` }) },
  { name: "MariaDB", spec: () => ({ kind: "mariadb", url: process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test", table: `procs_${tag}` }) },
  { name: "a SQLite file", spec: (dir) => ({ kind: "sqlite", path: join(dir, "sessions.db"), table: "procs" }) },
  { name: "a file-store directory", spec: (dir) => ({ kind: "file", dir: join(dir, "sessions") }) },
];

type Statuses = Record<string, number[]>;

/** Start WORKERS processes on `job`, release them together once all are ready, and collect their statuses. */
async function race(job: Omit<Job, "worker">): Promise<Statuses[]> {
  const script = fileURLToPath(new URL("./_concurrency_worker.ts", import.meta.url));
  const children: ChildProcess[] = [];
  const kill = () => children.forEach((child) => child.exitCode === null && child.kill("SIGKILL"));
  const timer = setTimeout(kill, WORKER_TIMEOUT_MS);
  try {
    const runs = Array.from({ length: WORKERS }, (_, worker) => {
      const args = [script, WORKER_FLAG, JSON.stringify({ ...job, worker })];
      if (runtime === "deno") args.unshift("run", "-A", "--no-check", "--quiet");
      const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
      children.push(child);
      let ready!: () => void;
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      const done = new Promise<Statuses>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on("line", (line) => {
          const message = JSON.parse(line) as { ready?: true; statuses?: Statuses; error?: string };
          if (message.ready) ready();
          else if (message.statuses) resolve(message.statuses);
          else reject(new Error(`worker ${worker} failed: ${message.error}`));
        });
        child.once("exit", (code, signal) => reject(new Error(`worker ${worker} exited (${code ?? signal}) without a result`)));
      });
      return { child, isReady, done };
    });
    // A worker that dies before it is ready rejects `done`: race both so the test never hangs.
    await Promise.race([Promise.all(runs.map((r) => r.isReady)), Promise.all(runs.map((r) => r.done))]);
    for (const { child } of runs) child.stdin!.write("go\n");
    return await Promise.all(runs.map((r) => r.done));
  } finally {
    clearTimeout(timer);
    kill();
  }
}

const cookieOf = (response: Response) => response.headers.getSetCookie()[0]!.split(";")[0]!;
const req = (cookie?: string) => new Request("https://x/", { headers: cookie ? { cookie } : {} });
const count = (list: number[], status: number) => list.filter((s) => s === status).length;

/** Open the backend, seed one session, race the workers on it, and hand the statuses and the final data to `check`. */
async function withRace(
  c: Case,
  job: { ops: string; noCas?: boolean },
  check: (statuses: Statuses[], data: Record<string, unknown>) => void,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "satchel-procs-"));
  const spec = c.spec(dir);
  const opened = await upBackend(spec);
  if (!opened) return void (await rm(dir, { recursive: true, force: true }));
  try {
    const sessions = createSessions<Record<string, unknown>>({ secret: SECRET, store: opened.store });
    const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.update({ n: 0, m: 0 }), new Response("seeded"))));
    const statuses = await race({ spec, secret: SECRET, cookie, rounds: ROUNDS, ...job });
    const session = await sessions.load(req(cookie));
    check(statuses, Object.fromEntries(session.entries()));
  } finally {
    await opened.drop().catch(() => {});
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const total = WORKERS * ROUNDS;

describe(`${WORKERS} processes x ${ROUNDS} rounds on one session`, () => {
  for (const c of CASES) {
    test(`${c.name}: every modify() lands; get-then-set answers 200 exactly as often as m grew, else 409; distinct keys all land`, TEST_TIMEOUT, async () => {
      await withRace(c, { ops: "abc" }, (statuses, data) => {
        const a = statuses.flatMap((s) => s.a!);
        const b = statuses.flatMap((s) => s.b!);
        const cs = statuses.flatMap((s) => s.c!);
        assert.deepEqual(a, Array(total).fill(200), "(a) every modify() answers 200");
        assert.equal(data.n, total, "(a) every modify() is counted");
        assert.equal(count(b, 200) + count(b, 409), total, `(b) get-then-set answers only 200 or 409: ${b.join()}`);
        assert.equal(data.m, count(b, 200), `(b) m grew once per 200 answer (${count(b, 409)} answered 409): no acknowledged update lost`);
        assert.deepEqual(cs, Array(total).fill(200), "(c) every set of a distinct key answers 200");
        for (let w = 0; w < WORKERS; w++) {
          for (let r = 0; r < ROUNDS; r++) assert.equal(data[`w${w}r${r}`], r, `(c) worker ${w}, round ${r}: key landed`);
        }
      });
    });
  }

  for (const c of [CASES[3]!, CASES[4]!]) {
    test(`SENSITIVITY: without compare-and-set (saves drop the version) on ${c.name}, the same get-then-set race loses updates`, TEST_TIMEOUT, async () => {
      await withRace(c, { ops: "b", noCas: true }, (statuses, data) => {
        const b = statuses.flatMap((s) => s.b!);
        assert.equal(count(b, 200), total, "without compare-and-set nothing is ever detected");
        assert.ok((data.m as number) < count(b, 200), `the harness must see lost updates: m = ${data.m}, 200 answers = ${count(b, 200)}`);
      });
    });
  }
});
