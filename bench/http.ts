/**
 * HTTP over loopback: each case of bench/http_server.ts in its own server process, loaded by
 * Debian's `wrk` (one thread, 32 keep-alive connections) for BENCH_HTTP_WARMUP seconds
 * (default 1, discarded) and then BENCH_HTTP_SECONDS (default 5) split into 5 rounds that visit
 * the cases of one runtime in turn. Prints one JSON line per case: the median round's requests
 * per second and mean latency, every round's req/s, non-2xx answers and socket errors (summed).
 *
 * The client sends cookies back: before the load, 256 sessions are minted (one request each
 * without a cookie) and wrk cycles through them, so each request carries a live session and no
 * two requests in flight share one (32 connections, 256 sessions): every library does a load,
 * a change and a save with no conflicting writers. The cookie stores receive a fixed cookie per
 * session (the server still verifies and re-signs it on every request); the memory stores keep
 * counting. The `bare` servers get a cookie of the same size they ignore.
 *
 * On a machine with two or more cores, the server is pinned to CPU 0 and wrk to CPU 1
 * (`taskset`), so the load generator and the server do not starve each other. Usage:
 * `node bench/http.ts` (Node 24; Bun and Deno from node_modules/.bin).
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";

const ROOT = new URL("..", import.meta.url).pathname;
const BIN = join(ROOT, "node_modules/.bin");
const WARMUP = Number(process.env.BENCH_HTTP_WARMUP ?? 1);
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const ROUNDS = 5;
const CONNECTIONS = 32;
const SESSIONS = 256;

const runtimes: Record<string, string[]> = {
  bun: [join(BIN, "bun"), "bench/http_server.ts"],
  deno: [join(BIN, "deno"), "run", "-A", "bench/http_server.ts"],
  node: [join(BIN, "node"), "bench/http_server.ts"],
};
const cases: [string, string, string][] = [
  ["bun", "hono.bare", "Bun.serve + Hono, no sessions"],
  ["bun", "hono.satchel", "Bun.serve + Hono + satchel cookie store (adapters/hono.ts)"],
  ["bun", "hono.honoSession", "Bun.serve + Hono + @hono/session (JWE cookie)"],
  ["bun", "hono.honoSessions", "Bun.serve + Hono + hono-sessions CookieStore (iron)"],
  ["deno", "hono.bare", "Deno.serve + Hono, no sessions"],
  ["deno", "hono.satchel", "Deno.serve + Hono + satchel cookie store (adapters/hono.ts)"],
  ["deno", "hono.honoSession", "Deno.serve + Hono + @hono/session (JWE cookie)"],
  ["deno", "hono.honoSessions", "Deno.serve + Hono + hono-sessions CookieStore (iron)"],
  ["node", "express.bare", "node:http + Express 5, no sessions"],
  ["node", "express.satchel", "node:http + Express 5 + satchel memory store (adapters/node.ts)"],
  ["node", "express.session", "node:http + Express 5 + express-session MemoryStore"],
];

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const pin = availableParallelism() >= 2 && has("taskset");
const pinned = (cpu: number, argv: string[]) => (pin ? ["taskset", "-c", String(cpu), ...argv] : argv);

function emit(line: object): void {
  console.log(JSON.stringify({ kind: "http", ...line }));
}

if (!has("wrk")) {
  console.error("\n!!!!! SKIPPED: wrk is not installed (apt-get install -y wrk); the HTTP benchmark did not run. !!!!!\n");
  for (const [runtime, name, description] of cases) emit({ runtime, name, description, skip: "wrk not installed" });
  process.exit(0);
}
const wrkVersion = spawnSync("wrk", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]?.trim();
emit({ runtime: "meta", name: "wrk", description: wrkVersion, pinned: pin, connections: CONNECTIONS, seconds: SECONDS, warmup: WARMUP });

/** Start one server case; resolve to its process and port once it prints `PORT n`. */
function start(runtime: string, name: string): Promise<{ child: ChildProcess; port: number }> {
  const [cmd, ...args] = pinned(0, [...runtimes[runtime]!, name]);
  const child = spawn(cmd!, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} ${name}: no PORT line within 30 s`)), 30_000);
    child.on("exit", (code) => reject(new Error(`${runtime} ${name}: exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

/** The Cookie header a browser would send back: the last Set-Cookie of each name wins (hono-sessions sets its cookie twice). */
function cookieOf(response: Response): string {
  const jar = new Map<string, string>();
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0]!;
    jar.set(pair.slice(0, pair.indexOf("=")), pair);
  }
  return [...jar.values()].join("; ");
}

/** Mint SESSIONS sessions and check that a returning request is counted and re-issues a cookie. */
async function mint(port: number, bare: boolean): Promise<string[]> {
  const url = `http://127.0.0.1:${port}/`;
  if (bare) return [`sid=${"x".repeat(300)}`];
  const cookies: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const response = await fetch(url);
    await response.text();
    const cookie = cookieOf(response);
    if (response.status !== 200 || !cookie) throw new Error(`minting a session answered ${response.status} with${cookie ? "" : " no"} cookie`);
    cookies.push(cookie);
  }
  const again = await fetch(url, { headers: { cookie: cookies[0]! } });
  const body = await again.text();
  if (again.status !== 200 || body !== "43") throw new Error(`a returning request answered ${again.status} ${JSON.stringify(body)}, not a bumped counter`);
  return cookies;
}

/** A wrk Lua script that cycles through pre-built requests, one per cookie. */
function script(dir: string, port: number, cookies: string[]): string {
  const requests = cookies.map((cookie) => {
    const raw = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\n\r\n`;
    if (!/^[\x20-\x7e\r\n]*$/.test(raw)) throw new Error("a cookie is not printable ASCII");
    return JSON.stringify(raw); // ASCII with \r \n \" \\ escapes: a valid Lua string literal
  });
  const path = join(dir, `case-${port}.lua`);
  writeFileSync(path, `local reqs = {\n${requests.join(",\n")}\n}\nlocal n, i = #reqs, 0\nrequest = function()\n  i = i + 1\n  if i > n then i = 1 end\n  return reqs[i]\nend\n`);
  return path;
}

type WrkResult = { rps: number; latencyMs: number; non2xx: number; socketErrors: number; requests: number };

function wrk(port: number, lua: string, seconds: number): WrkResult {
  const argv = pinned(1, ["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "10s", "-s", lua, `http://127.0.0.1:${port}/`]);
  const out = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr || out.stdout}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const latency = /Latency\s+([\d.]+)(us|ms|s)/.exec(text);
  const scale = latency?.[2] === "us" ? 1e-3 : latency?.[2] === "s" ? 1e3 : 1;
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps,
    latencyMs: latency ? Number(latency[1]) * scale : NaN,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? 0),
  };
}

type Running = { runtime: string; name: string; description: string; child: ChildProcess; port: number; lua: string; samples: WrkResult[] };

async function stop(server: { child: ChildProcess }): Promise<void> {
  server.child.removeAllListeners("exit");
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill();
  await exited;
}

const dir = mkdtempSync(join(tmpdir(), "satchel-bench-"));
const only = process.env.BENCH_HTTP_ONLY; // e.g. "honoSessions": run the matching cases only
try {
  // One runtime at a time: its servers all listen (idle ones cost nothing), then ROUNDS rounds
  // of ROUND seconds visit each case in turn, so drift on a shared machine hits every case alike.
  for (const runtime of Object.keys(runtimes)) {
    const running: Running[] = [];
    try {
      for (const [r, name, description] of cases.filter(([r, n]) => r === runtime && (!only || `${r}.${n}`.includes(only)))) {
        let server: { child: ChildProcess; port: number } | undefined;
        try {
          server = await start(r, name);
          const cookies = await mint(server.port, name.endsWith(".bare"));
          const lua = script(dir, server.port, cookies);
          if (WARMUP > 0) wrk(server.port, lua, WARMUP);
          running.push({ runtime: r, name, description, ...server, lua, samples: [] });
        } catch (error) {
          console.error(`HTTP case ${r} ${name} failed: ${(error as Error).message}`);
          emit({ runtime: r, name, description, skip: `failed: ${(error as Error).message}` });
          if (server) await stop(server);
        }
      }
      for (let round = 0; round < ROUNDS; round++) for (const c of running) c.samples.push(wrk(c.port, c.lua, Math.max(1, Math.round(SECONDS / ROUNDS))));
      for (const c of running) {
        const sorted = [...c.samples].sort((a, b) => a.rps - b.rps);
        const mid = sorted[Math.floor(sorted.length / 2)]!;
        const sum = (f: (w: WrkResult) => number) => c.samples.reduce((a, w) => a + f(w), 0);
        emit({
          runtime: c.runtime, name: c.name, description: c.description, rps: mid.rps, latencyMs: mid.latencyMs,
          rounds: c.samples.map((w) => Math.round(w.rps)), non2xx: sum((w) => w.non2xx), socketErrors: sum((w) => w.socketErrors), requests: sum((w) => w.requests),
        });
      }
    } finally {
      for (const c of running) await stop(c);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
