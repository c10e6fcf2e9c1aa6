/**
 * Model-based interleavings: fast-check's scheduler decides the order of every store call of 2 to 4
 * concurrent requests on one session (each call waits for its turn; a get-then-set also yields
 * between its read and its write), on the memory store and on every real backend. The requests are
 * a random mix of: `modify` increment of n, get-then-set increment of m, a set of the request's own
 * key, `flush()`, `cycleKey()`, and a `modify` of n followed by `cycleKey()` in one request (a login
 * that also counts). After each run every cookie any response set, and the seed cookie, is read back
 * outside the scheduler, and:
 *
 * - answers are only 200, 400 (the session ended under the request) or, for get-then-set, 409;
 * - with no 200 flush: n summed over the live sessions equals the 200 increments of n (every 200
 *   modify counted, once), m likewise for get-then-set (no 200 overwritten by another 200), and each
 *   200 set's key is in exactly one live session; with a 200 flush, nothing is ever counted twice;
 * - the seed's data lives in at most one session (exactly one without a flush);
 * - after a 200 flush or a 200 cycleKey, the seed cookie finds nothing.
 *
 * A failure prints fast-check's seed and path; replay it with SATCHEL_FC_SEED and SATCHEL_FC_PATH
 * (exact on the memory store; real backends add their own I/O timing).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createSessions } from "../mod.ts";
import type { Session, SessionStore } from "../mod.ts";
import { upBackend } from "./_concurrency_worker.ts";
import type { BackendSpec } from "./_concurrency_worker.ts";

const SECRET = "interleaving-secret-0123456789abcdefgh";
const tag = `${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
const OPS = ["modify", "getThenSet", "set", "flush", "cycleKey", "modifyThenCycle"] as const;
type Op = (typeof OPS)[number];
const ALLOWED: Record<Op, number[]> = {
  modify: [200, 400],
  getThenSet: [200, 400, 409],
  set: [200, 400],
  flush: [200],
  cycleKey: [200, 400],
  modifyThenCycle: [200, 400],
};

const BACKENDS: { name: string; runs: number; spec(dir: string): BackendSpec }[] = [
  { name: "memory", runs: 400, spec: () => ({ kind: "memory" }) },
  { name: "SQLite", runs: 150, spec: () => ({ kind: "sqlite", path: ":memory:", table: "interleave" }) },
  { name: "files", runs: 80, spec: (dir) => ({ kind: "file", dir }) },
  { name: "Redis", runs: 100, spec: () => ({ kind: "redis", url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", prefix: `satchel-test:${tag}:interleave:` }) },
  { name: "PostgreSQL", runs: 80, spec: () => ({ kind: "postgres", url: process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test", table: `interleave_${tag}` }) },
  { name: "MariaDB", runs: 80, spec: () => ({ kind: "mariadb", url: process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test", table: `interleave_${tag}` }) },
];

/** Every store call waits for the scheduler to release it. */
function scheduled(store: SessionStore, s: fc.Scheduler): SessionStore {
  const turn = (label: string) => s.schedule(Promise.resolve(), label);
  return {
    rawIds: store.rawIds,
    load: async (key, now) => (await turn("load"), await store.load(key, now)),
    create: async (key, record) => (await turn("create"), await store.create(key, record)),
    save: async (key, record, version) => (await turn("save"), await store.save(key, record, version)),
    delete: async (key) => (await turn("delete"), await store.delete(key)),
  };
}

type Data = Record<string, unknown>;

async function act(op: Op, i: number, session: Session<Data>, s: fc.Scheduler): Promise<void> {
  if (op === "modify" || op === "modifyThenCycle") session.modify("n", (n) => ((n as number | undefined) ?? 0) + 1);
  if (op === "getThenSet") {
    const m = session.get("m", 0) as number;
    await s.schedule(Promise.resolve(), "between get and set");
    session.set("m", m + 1);
  }
  if (op === "set") session.set(`k${i}`, i);
  if (op === "flush") await session.flush();
  if (op === "cycleKey" || op === "modifyThenCycle") await session.cycleKey();
}

const req = (cookie?: string) => new Request("https://x/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => {
  const pair = response.headers.getSetCookie()[0]?.split(";")[0];
  return pair && !pair.endsWith("=") ? pair : undefined;
};

async function check(store: SessionStore, ops: Op[], s: fc.Scheduler): Promise<void> {
  const plain = createSessions<Data>({ secret: SECRET, store });
  const seed = cookieOf(await plain.handle(req(), (_r, session) => (session.update({ seed: true, n: 0, m: 0 }), new Response("seeded"))))!;
  const sessions = createSessions<Data>({ secret: SECRET, store: scheduled(store, s) });
  const running = ops.map((op, i) => sessions.handle(req(seed), async (_r, session) => (await act(op, i, session, s), new Response(op))));
  const responses = await s.waitFor(Promise.all(running));
  const status = responses.map((r) => r.status);
  ops.forEach((op, i) => assert.ok(ALLOWED[op].includes(status[i]!), `${op} answered ${status[i]}`));
  const ok = (...which: Op[]) => ops.filter((op, i) => which.includes(op) && status[i] === 200).length;

  const cookies = new Set([seed, ...responses.map(cookieOf).filter((c) => c !== undefined)]);
  const live: Data[] = [];
  for (const cookie of cookies) {
    const session = await plain.load(req(cookie));
    if (session.id !== null) live.push(Object.fromEntries(session.entries()));
  }
  const sum = (key: string) => live.reduce((total, data) => total + ((data[key] as number | undefined) ?? 0), 0);
  const holders = (key: string) => live.filter((data) => key in data).length;

  const flushed = ok("flush") > 0;
  if (flushed || ok("cycleKey", "modifyThenCycle") > 0) {
    assert.equal((await plain.load(req(seed))).id, null, "after a 200 flush or cycleKey the seed cookie finds nothing");
  }
  assert.ok(holders("seed") <= 1, "the seed's data lives in one session at most");
  if (!ops.includes("flush")) assert.equal(holders("seed"), 1, "without a flush the seed's data lives on");
  const same = flushed ? (a: number, b: number, m: string) => assert.ok(a <= b, m) : assert.equal;
  same(sum("n"), ok("modify", "modifyThenCycle"), `n summed over live sessions vs 200 modify answers`);
  same(sum("m"), ok("getThenSet"), `m summed over live sessions vs 200 get-then-set answers`);
  ops.forEach((op, i) => {
    if (op === "set" && status[i] === 200) same(holders(`k${i}`), 1, `set k${i} (200) is in exactly one live session`);
  });
}

describe("fast-check scheduled interleavings of concurrent requests on one session", () => {
  for (const backend of BACKENDS) {
    test(`${backend.name}: counted modifies, no overwritten get-then-set, dead cookies after flush and cycleKey (${backend.runs} runs)`, { timeout: 120_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), "satchel-interleave-"));
      const opened = await upBackend(backend.spec(dir));
      try {
        if (!opened) return;
        const replay = process.env.SATCHEL_FC_SEED === undefined ? {} : { seed: Number(process.env.SATCHEL_FC_SEED), path: process.env.SATCHEL_FC_PATH };
        await fc.assert(
          fc.asyncProperty(fc.array(fc.constantFrom(...OPS), { minLength: 2, maxLength: 4 }), fc.scheduler(), (ops, s) => check(opened.store, ops, s)),
          { numRuns: backend.runs, ...replay },
        );
      } finally {
        await opened?.drop().catch(() => {});
        await opened?.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
