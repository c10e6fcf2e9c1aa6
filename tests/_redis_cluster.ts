/**
 * Start and stop a throw-away Redis Cluster for one test file: N masters, no replicas, on free
 * ports of 127.0.0.1, each a `redis-server` child of the test process (kept by PID, stopped by
 * PID), joined with `redis-cli --cluster create`.
 *
 * `startRedisCluster()` either resolves to a cluster whose every node reports
 * `cluster_state:ok`, or stops whatever it started and rejects, within `timeoutMs`. It never
 * decides between failing and skipping: callers wrap it in `serviceAvailable` (./_env.ts), which
 * fails under `CI=true` and prints a loud skip line elsewhere.
 *
 * Ports: a node listens on P and gossips on the cluster bus at P + 10000, so both must be free;
 * P is drawn from 20000-44999 and both ports are probed by binding them. Data lives in a fresh
 * temporary directory (no RDB, no AOF), removed by `stop()`. If the test process dies without
 * running `stop()`, an `exit` hook still signals the servers it started.
 */
import process from "node:process";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running cluster; see `startRedisCluster`. */
export interface RedisCluster {
  /** One entry per master, as clients want them as seeds. */
  readonly nodes: { host: string; port: number }[];
  /** The `redis-server` process ids, in the order of `nodes`. */
  readonly pids: number[];
  /** SIGTERM each server by PID (SIGKILL after 5 s), wait for it, remove the directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** How many masters. @default 3 */
  masters?: number;
  /** Bound on the whole start, in milliseconds. @default 30000 */
  timeoutMs?: number;
}

const HOST = "127.0.0.1";
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Ran {
  code: number | null;
  out: string;
}

/** Run a command to completion (killed at `timeoutMs`); rejects only when it cannot be started. */
function run(command: string, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (chunk) => (out += String(chunk)));
    child.stderr!.on("data", (chunk) => (out += String(chunk)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (ports.some((p) => Math.abs(p - port) < 2)) continue;
    if ((await portFree(port)) && (await portFree(port + 10000))) ports.push(port);
  }
  if (ports.length < count) throw new Error("no free port pairs (P and P+10000) on 127.0.0.1");
  return ports;
}

/** Poll `redis-cli -p port <args>` until its output matches `want`, or throw at `deadline`. */
async function until(port: number, args: string[], want: RegExp, deadline: number, what: string): Promise<void> {
  let last = "";
  while (Date.now() < deadline) {
    const { out } = await run("redis-cli", ["-h", HOST, "-p", String(port), ...args], 2000);
    if (want.test(out)) return;
    last = out.trim().split("\n")[0] ?? "";
    await pause(50);
  }
  throw new Error(`node :${port} never reached ${what} (last answer: ${last || "none"})`);
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return await Promise.race([
    new Promise<boolean>((resolve) => child.once("exit", () => resolve(true))),
    pause(ms).then(() => false),
  ]);
}

/**
 * Start an N-master Redis Cluster on 127.0.0.1 and wait until every node says `cluster_state:ok`.
 *
 * @throws when `redis-server`/`redis-cli` are missing, a server dies, `--cluster create` fails,
 *   or the cluster is not ok within `timeoutMs`; everything started is stopped first
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, timeoutMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;
  for (const tool of ["redis-server", "redis-cli"]) {
    const { code } = await run(tool, ["--version"], 5000).catch((error: unknown) => {
      throw new Error(`${tool} is not installed or not runnable (${(error as Error).message})`);
    });
    if (code !== 0) throw new Error(`${tool} --version exited with ${code}`);
  }

  const dir = await mkdtemp(join(tmpdir(), "satchel-cluster-"));
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
  };
  process.on("exit", killAll);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
        try {
          process.kill(child.pid, "SIGTERM");
        } catch { /* already gone */ }
      }
      for (const child of children) {
        if (!(await waitExit(child, 5000)) && child.pid) {
          try {
            process.kill(child.pid, "SIGKILL");
          } catch { /* already gone */ }
          await waitExit(child, 2000);
        }
      }
      process.off("exit", killAll);
      await rm(dir, { recursive: true, force: true });
    })();

  const ports = await freePorts(masters).catch(async (error) => {
    await stop();
    throw error;
  });
  try {
    let died: string | undefined;
    for (const port of ports) {
      const child = spawn("redis-server", [
        "--port", String(port),
        "--bind", HOST,
        "--cluster-enabled", "yes",
        "--cluster-config-file", join(dir, `nodes-${port}.conf`),
        "--dir", dir,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", join(dir, `redis-${port}.log`),
      ], { stdio: "ignore" });
      child.on("error", () => {});
      child.on("exit", (code, signal) => (died ??= `redis-server :${port} exited (${signal ?? code})`));
      children.push(child);
    }
    const alive = () => {
      if (died) throw new Error(died);
    };
    for (const port of ports) {
      await until(port, ["ping"], /PONG/, deadline, "PONG");
      alive();
    }
    const create = await run(
      "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `${HOST}:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      Math.max(1000, deadline - Date.now()),
    );
    alive();
    if (create.code !== 0) {
      throw new Error(`redis-cli --cluster create exited with ${create.code}: ${create.out.trim().split("\n").slice(-3).join(" | ")}`);
    }
    for (const port of ports) await until(port, ["cluster", "info"], /cluster_state:ok/, deadline, "cluster_state:ok");
    alive();
    return {
      nodes: ports.map((port) => ({ host: HOST, port })),
      pids: children.map((child) => child.pid!),
      stop,
    };
  } catch (error) {
    const logs = await Promise.all(
      ports.map((p) => readFile(join(dir, `redis-${p}.log`), "utf8").then((t) => t.trim().split("\n").slice(-2).join(" | "), () => "")),
    );
    await stop();
    const detail = logs.filter(Boolean).join(" || ");
    throw new Error(`${(error as Error).message}${detail ? ` [server logs: ${detail}]` : ""}`, { cause: error });
  }
}
