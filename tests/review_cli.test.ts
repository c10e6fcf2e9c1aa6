/**
 * Adversarial review of the `satchel` CLI as an operator uses it at 3 a.m.: configs that are wrong
 * in realistic ways, pasted values, repeated options, output that cannot be written, a close()
 * that never settles, an unreachable PostgreSQL/Redis, signals, and the README's claims (the help
 * texts verbatim). Each test asserts the CORRECT behaviour: a failing test is a finding.
 *
 * Spawns the CLI from sources with the runtime running this file (node 24, bun, deno), and under
 * Node also the built CLI (tsup, npm package layout) on the machine's Node 20.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { SpawnSyncOptions } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";
import { runtime } from "./_env.ts";
import { systemNode } from "./_node20.ts";
import type { Sessions } from "../mod.ts";
import { describeError } from "../core/errors.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = fileURLToPath(new URL("../cli/satchel.ts", import.meta.url));
const MOD = new URL("../mod.ts", import.meta.url).href;
const FILE_STORE = new URL("../stores/file.ts", import.meta.url).href;
const SQL_STORE = new URL("../stores/sql.ts", import.meta.url).href;
const REDIS_STORE = new URL("../stores/redis.ts", import.meta.url).href;
const SECRET = "review-cli-secret-0123456789abcdefghijklmnop";
/** A password in a connection URL: must never reach the terminal. */
const PASSWORD = "hunter2pw";

interface Run {
  status: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cliArgv(args: readonly string[]): string[] {
  return runtime === "deno" ? ["run", "-A", "--unstable-kv", CLI, ...args] : [CLI, ...args];
}

function cliEnv(env: Record<string, string> = {}): Record<string, string | undefined> {
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete base.SATCHEL_PROGRESS;
  return { ...base, ...env };
}

let dir: string;

function satchelWith(options: SpawnSyncOptions, ...args: string[]): Run {
  const started = Date.now();
  const result = spawnSync(process.execPath, cliArgv(args), {
    cwd: dir,
    encoding: "utf8",
    timeout: 30_000,
    env: cliEnv(),
    ...options,
  });
  if (result.error && (result.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw result.error;
  return {
    status: result.status,
    signal: result.signal,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? ""),
    ms: Date.now() - started,
  };
}

function satchel(...args: string[]): Run {
  return satchelWith({}, ...args);
}

async function config(name: string, ...lines: string[]): Promise<string> {
  await writeFile(join(dir, name), lines.join("\n") + "\n");
  return name;
}

const cookieOf = (response: Response) => response.headers.getSetCookie()[0]!.split(";")[0]!;
const req = (cookie?: string) => new Request("http://localhost/", { headers: cookie ? { cookie } : {} });

async function login(sessions: Sessions, user: string): Promise<string> {
  return cookieOf(await sessions.handle(req(), async (_r, s) => {
    await s.login(user);
    return new Response("ok");
  }));
}

/** The lines of a file-store config over `sub` (a directory under `dir`). */
function fileLines(sub: string): string[] {
  return [
    `import { createSessions } from ${JSON.stringify(MOD)};`,
    `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
    `export default createSessions({ secret: ${JSON.stringify(SECRET)}, cookie: { secure: false },`,
    `  store: fileStore({ dir: ${JSON.stringify(join(dir, sub))} }) });`,
  ];
}

let serial = 0;
/** A fresh file store with ada (two sessions) and grace (one); the config's name and the cookies. */
async function seeded() {
  const sub = `files${++serial}`;
  await mkdir(join(dir, sub));
  const name = await config(`files${serial}.ts`, ...fileLines(sub));
  const { default: sessions } = await import(pathToFileURL(join(dir, name)).href) as { default: Sessions };
  const cookies = { ada1: await login(sessions, "ada"), ada2: await login(sessions, "ada"), grace: await login(sessions, "grace") };
  return { config: name, sessions, cookies };
}

const whoIs = async (sessions: Sessions, cookie: string) => (await sessions.load(req(cookie))).user;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "satchel-review-cli-"));
  // Configs that import a driver ("pg", "ioredis") resolve it as an app's config would.
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`satchel CLI review (${runtime})`, () => {
  // ---------------------------------------------------------------------------------------------
  // Values an operator pastes
  // ---------------------------------------------------------------------------------------------

  test("fixed bug (review, medium): decode: an encrypted cookie-store value starting with '-' is decoded, not refused as an option, and never echoed", async () => {
    const name = await config(
      "encrypted.ts",
      `import { createSessions, cookieStore } from ${JSON.stringify(MOD)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, cookie: { secure: false }, store: cookieStore({ encrypt: true }) });`,
    );
    const { default: sessions } = await import(pathToFileURL(join(dir, name)).href) as { default: Sessions };
    // One encrypted value in 64 starts with "-" (a random IV, base64url): mint until one does.
    let value = "";
    for (let i = 0; i < 5000 && !value.startsWith("-"); i++) {
      const response = await sessions.handle(req(), (_r, s) => {
        s.set("user", "ada");
        return new Response("ok");
      });
      value = cookieOf(response).split("=").slice(1).join("=");
    }
    assert.ok(value.startsWith("-"), "minted a value starting with '-'");
    const run = satchel("decode", "--config", name, value);
    assert.ok(!run.stderr.includes(value.slice(0, 12)) && !run.stdout.includes(value.slice(0, 12)), `the cookie value is echoed: ${run.stderr.split("\n")[0]}`);
    assert.equal(run.status, 0, run.stderr.split("\n")[0]);
    assert.deepEqual(JSON.parse(run.stdout).data, { user: "ada" });
  });

  test("fixed bug (review, low): revoke: a handle pasted with the JSON quotes of `list --json`, or with surrounding whitespace, ends the session", async () => {
    const { config: name, sessions, cookies } = await seeded();
    for (const [user, cookie, wrap] of [
      ["grace", cookies.grace, (h: string) => `"${h}"`],
      ["ada", cookies.ada1, (h: string) => ` ${h}\n`],
    ] as const) {
      const listed = satchel("list", "--config", name, "--json", "--user", user);
      assert.equal(listed.status, 0, listed.stderr);
      const handles = (JSON.parse(listed.stdout) as { handle: string }[]).map((item) => item.handle);
      for (const handle of handles) {
        const run = satchel("revoke", "--config", name, wrap(handle));
        assert.equal(run.status, 0, `${JSON.stringify(wrap("HANDLE"))}: ${run.stderr}`);
      }
      assert.equal(await whoIs(sessions, cookie), null);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Options
  // ---------------------------------------------------------------------------------------------

  test("fixed bug (review, medium): revoke --user ada --user grace: a usage error (exit 2), not a silent revoke of grace only", async () => {
    const { config: name, sessions, cookies } = await seeded();
    const run = satchel("revoke", "--config", name, "--user", "ada", "--user", "grace");
    assert.equal(run.status, 2, `exit ${run.status}: ${run.stdout}`);
    assert.equal(await whoIs(sessions, cookies.grace), "grace", "grace was revoked although ada was named first");
    assert.equal(await whoIs(sessions, cookies.ada1), "ada");
  });

  test("fixed bug (review, low): --user with its value missing before another option (an empty, unquoted $U) is a usage error, not the user \"--json\"", async () => {
    const { config: name } = await seeded();
    const listed = satchel("list", "--config", name, "--user", "--json");
    assert.equal(listed.status, 2, `exit ${listed.status}: ${listed.stdout}`);
    const revoked = satchel("revoke", "--config", name, "--user", "--help");
    assert.equal(revoked.status, 2, `exit ${revoked.status}: ${revoked.stdout}`);
    // The explicit form still names such a user.
    assert.equal(satchel("count", "--config", name, "--user=--json").stdout, "0\n");
  });

  test("held: user keys starting with '-', --user=, -- before a handle, and '-' as a key", async () => {
    const { config: name, sessions } = await seeded();
    const dash = await login(sessions, "-dash");
    assert.equal(satchel("count", "--config", name, "--user", "-dash").stdout, "1\n");
    assert.equal(satchel("count", "--config", name, "--user=-dash").stdout, "1\n");
    const listed = satchel("list", "--config", name, "--json", "-u", "-dash");
    const [item] = JSON.parse(listed.stdout) as { handle: string }[];
    const run = satchel("revoke", "--config", name, "--", item!.handle);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(await whoIs(sessions, dash), null);
    const empty = satchel("count", "--config", name, "--user", "");
    assert.equal(empty.status, 2);
  });

  // ---------------------------------------------------------------------------------------------
  // Configs that are wrong in realistic ways
  // ---------------------------------------------------------------------------------------------

  test("fixed bug (review, low): a config whose default export is something else but whose `sessions` export is createSessions() is used", async () => {
    const { config: good } = await seeded();
    const name = await config(
      "default_app.ts",
      `import sessions from ${JSON.stringify(pathToFileURL(join(dir, good)).href)};`,
      `export { sessions };`,
      `export default { port: 3000 }; // the app's own settings`,
    );
    const run = satchel("count", "--config", name);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "3\n");
  });

  test("fixed bug (review, low): a config exporting a Promise of createSessions() (export default init()) works, or says it is a Promise", async () => {
    const { config: good } = await seeded();
    const name = await config(
      "promise.ts",
      `import sessions from ${JSON.stringify(pathToFileURL(join(dir, good)).href)};`,
      `async function init() { return sessions; }`,
      `export default init();`,
    );
    const run = satchel("count", "--config", name);
    assert.ok(run.status === 0 || /Promise/.test(run.stderr), `exit ${run.status}: ${run.stderr}`);
    if (run.status === 0) assert.equal(run.stdout, "3\n");
  });

  test("fixed bug (review, low): a config exporting the store instead of createSessions(): the message says so, not 'older @satchel/session' or 'did not answer'", async () => {
    await mkdir(join(dir, "storeonly"));
    const name = await config(
      "store_export.ts",
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export default fileStore({ dir: ${JSON.stringify(join(dir, "storeonly"))} });`,
    );
    for (const args of [["count"], ["list"], ["revoke", "--user", "ada"], ["decode", "abcdefghij0123456789abcdefghij01"]]) {
      const run = satchel(args[0]!, "--config", name, ...args.slice(1));
      assert.equal(run.status, 1, args.join(" "));
      assert.doesNotMatch(run.stderr, /older @satchel\/session|did not answer/, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /createSessions/, `${args.join(" ")}: ${run.stderr}`);
    }
  });

  test("fixed bug (review, low): a .ts config with syntax Node cannot strip (enum), on Node 24: the hint does not say Node 24 is needed", { skip: runtime !== "node" ? "Node's type stripping only" : false }, async () => {
    await mkdir(join(dir, "enum"), { recursive: true });
    const name = await config("enum.ts", ...fileLines("enum").slice(0, 2), `enum Kind { A }`, `void Kind.A;`, ...fileLines("enum").slice(2));
    const run = satchel("count", "--config", name);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /enum/);
    assert.doesNotMatch(run.stderr, /needs Node 24/, `we are on ${process.version}: ${run.stderr}`);
  });

  // ---------------------------------------------------------------------------------------------
  // Secrets in messages
  // ---------------------------------------------------------------------------------------------

  test("fixed bug (review, high): a connection URL's password never reaches the terminal: config throwing, factory throwing, store failure, new URL()", async () => {
    const url = `postgres://app:${PASSWORD}@db.internal:5432/app`;
    // The rule itself (core/errors.ts RULES), as the library's logs apply it too.
    for (const [text, shown] of [
      [`connect to ${url} failed`, "connect to postgres://app:[redacted]@db.internal:5432/app failed"],
      [`Invalid URL: 'redis://:${PASSWORD}@db host'`, "Invalid URL: 'redis://:[redacted]@db host'"],
      [`mysql://root:p@ss${PASSWORD}@127.0.0.1/test`, "mysql://root:[redacted]@127.0.0.1/test"],
      ["postgres://app@db/app and http://db:5432/app", "postgres://app@db/app and http://db:5432/app"],
    ]) {
      assert.equal(describeError(new Error(text)).message, shown);
    }
    const configs = [
      await config("url_top.ts", `throw new Error("could not connect to " + ${JSON.stringify(url)});`),
      await config("url_factory.ts", `export default async () => { throw new Error("bad DATABASE_URL " + ${JSON.stringify(url)}); };`),
      await config(
        "url_store.ts",
        `import { createSessions } from ${JSON.stringify(MOD)};`,
        `const fail = async () => { throw Object.assign(new Error("connect ECONNREFUSED for " + ${JSON.stringify(url)}), { code: "ECONNREFUSED" }); };`,
        `const store = { load: fail, create: fail, save: fail, delete: fail, clearExpired: fail, list() { return { [Symbol.asyncIterator]() { return { next: fail }; } }; } };`,
        `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store });`,
      ),
      // Deno's URL parser quotes its whole input in the error message.
      await config("url_parse.ts", `new URL(${JSON.stringify(`postgres://app:${PASSWORD}@db host:5432/app`)});`, `export default {};`),
    ];
    for (const name of configs) {
      for (const command of ["count", "clear-expired"]) {
        const run = satchel(command, "--config", name);
        assert.equal(run.status, 1, `${name}: ${run.stderr}`);
        assert.ok(!run.stderr.includes(PASSWORD) && !run.stdout.includes(PASSWORD), `${name} ${command} prints the password: ${run.stderr}`);
      }
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Real drivers, nothing listening
  // ---------------------------------------------------------------------------------------------

  test("held: PostgreSQL (pg) and Redis (ioredis) on a port with nothing listening: prompt exit 1, what to check, no password", async () => {
    const pg = await config(
      "pg_down.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { sqlStore } from ${JSON.stringify(SQL_STORE)};`,
      `import pg from "pg";`,
      `const pool = new pg.Pool({ connectionString: "postgres://postgres:${PASSWORD}@127.0.0.1:1/test" });`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: sqlStore({ client: pool }) });`,
      `export async function close() { await pool.end(); }`,
    );
    const redis = await config(
      "redis_down.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { redisStore } from ${JSON.stringify(REDIS_STORE)};`,
      `import Redis from "ioredis";`,
      `const client = new Redis("redis://:${PASSWORD}@127.0.0.1:1/0", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });`,
      `client.on("error", () => {});`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, storeTimeout: 2000, store: redisStore({ client, prefix: "review-cli:" }) });`,
      `export function close() { client.disconnect(); }`,
    );
    for (const name of [pg, redis]) {
      for (const args of [["count"], ["list", "--json"], ["revoke", "--user", "ada"], ["decode", "abcdefghij0123456789abcdefghij01"]]) {
        const run = satchelWith({ timeout: 15_000 }, args[0]!, "--config", name, ...args.slice(1));
        const what = `${name} ${args.join(" ")}`;
        assert.equal(run.status, 1, `${what}: ${run.stderr}`);
        assert.ok(run.ms < 10_000, `${what} took ${run.ms} ms`);
        assert.match(run.stderr, /Check that the store is running and reachable/, what);
        assert.ok(!run.stderr.includes(PASSWORD) && !run.stdout.includes(PASSWORD), `${what}: password printed`);
        assert.ok(!run.stderr.includes("abcdefghij0123456789"), `${what}: id echoed`);
      }
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Output that cannot be written, exit paths
  // ---------------------------------------------------------------------------------------------

  const noDevFull = existsSync("/dev/full") ? false : "no /dev/full";

  test("fixed bug (review, medium): list --json / count > a full disk (/dev/full): exit 1 saying the output could not be written, not exit 0", { skip: noDevFull }, async () => {
    const { config: name } = await seeded();
    for (const args of [["list", "--json"], ["count"], ["list"]]) {
      const fd = openSync("/dev/full", "w");
      let run: Run;
      try {
        run = satchelWith({ stdio: ["ignore", fd, "pipe"] }, args[0]!, "--config", name, ...args.slice(1));
      } finally {
        closeSync(fd);
      }
      const what = `${args.join(" ")} > /dev/full`;
      assert.equal(run.status, 1, `${what}: exit ${run.status}, stderr: ${JSON.stringify(run.stderr)}`);
      assert.match(run.stderr, /ENOSPC|no space|could not write|cannot write|output/i, what);
      assert.doesNotMatch(run.stderr, /Top-level await|never resolved/, `${what}: ${run.stderr}`);
    }
  });

  test("fixed bug (review, medium): a config whose close() never settles: the command's result and exit status stand (exit 0, a warning), no hang", { timeout: 20_000 }, async () => {
    const { config: good } = await seeded();
    const name = await config(
      "close_hangs.ts",
      `export { default } from ${JSON.stringify(pathToFileURL(join(dir, good)).href)};`,
      `export function close() { return new Promise(() => {}); }`,
    );
    const run = satchelWith({ timeout: 9_000 }, "count", "--config", name);
    assert.notEqual(run.signal, "SIGTERM", "hung: killed after 9 s");
    assert.equal(run.stdout, "3\n");
    assert.equal(run.status, 0, `exit ${run.status}: ${run.stderr}`);
    assert.match(run.stderr, /close\(\)/);
    assert.doesNotMatch(run.stderr, /Top-level await|unsettled/, run.stderr);
  });

  test("held: count and revoke --user to a reader that went away: exit 0, no stack trace, the revoke still happens", async () => {
    const { config: name, sessions, cookies } = await seeded();
    for (const args of [["count"], ["revoke", "--user", "ada"]]) {
      const child = spawn(process.execPath, cliArgv([args[0]!, "--config", name, ...args.slice(1)]), {
        cwd: dir,
        env: cliEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.destroy();
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
      assert.equal(status, 0, `${args.join(" ")}: ${stderr}`);
      assert.equal(stderr, "");
    }
    assert.equal(await whoIs(sessions, cookies.ada1), null);
  });

  test("held: list --json failing after two sessions: exit 1, stdout is not a parseable (partial) array, nothing sensitive", async () => {
    const name = await config(
      "midway.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `const now = Date.now();`,
      `const record = (n) => ({ key: String(n).repeat(64), record: { data: '{"_auth_user_id":"ada"}', user: "ada", created: now, active: now, expires: now + 3_600_000 } });`,
      `const store = { load: async () => null, create: async () => {}, save: async () => {}, delete: async () => {},`,
      `  async *list() { yield record(1); yield record(2); throw Object.assign(new Error("connection reset, key " + "7".repeat(64)), { code: "ECONNRESET" }); } };`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store });`,
    );
    const run = satchel("list", "--config", name, "--json");
    assert.equal(run.status, 1);
    assert.throws(() => JSON.parse(run.stdout));
    assert.match(run.stderr, /ECONNRESET/);
    assert.ok(!run.stderr.includes("7".repeat(32)) && !run.stdout.includes("1".repeat(32)));
  });

  test("held: SIGINT while list waits on a stalled store ends the process at once", async () => {
    const name = await config(
      "stalled.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `const now = Date.now();`,
      `const record = (n) => ({ key: String(n).repeat(64), record: { data: "{}", user: "ada", created: now, active: now, expires: now + 3_600_000 } });`,
      `const store = { load: async () => null, create: async () => {}, save: async () => {}, delete: async () => {},`,
      `  async *list() { yield record(1); await new Promise((r) => setTimeout(r, 3_600_000)); } };`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store, storeTimeout: 0 });`,
    );
    const child = spawn(process.execPath, cliArgv(["list", "--config", name]), { cwd: dir, env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    let stdout = "";
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        if (/\nada /.test(stdout)) resolve();
      });
      child.on("close", () => resolve());
    });
    const interrupted = Date.now();
    child.kill("SIGINT");
    const [status, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on("close", (s, g) => resolve([s, g])));
    clearTimeout(killer);
    assert.ok(signal === "SIGINT" || status === 130, `exit ${status} ${signal}`);
    assert.ok(Date.now() - interrupted < 3000, "ended promptly");
  });

  // ---------------------------------------------------------------------------------------------
  // The README
  // ---------------------------------------------------------------------------------------------

  test("held: the README's help texts are the real --help output, verbatim", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### The `satchel` CLI"));
    const block = /```text\n([^]*?)```/.exec(section)![1]!;
    const parts = block.split(/^\$ satchel (.*)\n/m).slice(1);
    assert.equal(parts.length, 12, "six help texts");
    for (let i = 0; i < parts.length; i += 2) {
      const run = satchel(...parts[i]!.split(" "));
      assert.equal(run.status, 0);
      assert.equal(run.stdout, parts[i + 1]!.replace(/\n\n$/, "\n"), `satchel ${parts[i]}`);
    }
  });
});

// -------------------------------------------------------------------------------------------------
// The built CLI on the machine's Node 20
// -------------------------------------------------------------------------------------------------

const node20 = runtime === "node" ? systemNode() : null;

describe("satchel CLI review: the built package on Node 20", {
  skip: runtime !== "node" ? `one runtime is enough; this is ${runtime}` : node20 === null ? "no Node 20 on PATH" : false,
}, () => {
  let pkg: string;
  let config20: string;

  before(async () => {
    pkg = join(dir, "pkg");
    await mkdir(pkg);
    await copyFile(join(ROOT, "package.json"), join(pkg, "package.json"));
    const build = spawnSync(join(ROOT, "node_modules/.bin/tsup"), ["--out-dir", join(pkg, "dist"), "--no-dts"], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    assert.equal(build.status, 0, build.stderr);
    await mkdir(join(dir, "node20"));
    config20 = "sessions20.mjs";
    await writeFile(join(dir, config20), [
      `import { createSessions } from ${JSON.stringify(pathToFileURL(join(pkg, "dist/mod.js")).href)};`,
      `import { fileStore } from ${JSON.stringify(pathToFileURL(join(pkg, "dist/stores/file.js")).href)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: fileStore({ dir: ${JSON.stringify(join(dir, "node20"))} }) });`,
    ].join("\n"));
  });

  const run20 = (options: SpawnSyncOptions, ...args: string[]): Run => {
    const started = Date.now();
    const result = spawnSync(node20!, [join(pkg, "dist/cli/satchel.js"), ...args], { cwd: dir, encoding: "utf8", timeout: 30_000, env: cliEnv(), ...options });
    return { status: result.status, signal: result.signal, stdout: String(result.stdout ?? ""), stderr: String(result.stderr ?? ""), ms: Date.now() - started };
  };

  test("held: a .ts config on Node 20 says what to do (Node 24, Deno, Bun, or .mjs)", async () => {
    await writeFile(join(dir, "typed20.ts"), `const n: number = 1;\nexport default n;\n`);
    const run = run20({}, "count", "--config", "typed20.ts");
    assert.equal(run.status, 1);
    assert.match(run.stderr, /a \.ts config needs Node 24, Deno or Bun; on older Node write it as \.mjs/);
  });

  test("fixed bug (review, medium): count > /dev/full on Node 20: exit 1, not 0", { skip: existsSync("/dev/full") ? false : "no /dev/full" }, () => {
    const fd = openSync("/dev/full", "w");
    let run: Run;
    try {
      run = run20({ stdio: ["ignore", fd, "pipe"] }, "count", "--config", config20);
    } finally {
      closeSync(fd);
    }
    assert.equal(run.status, 1, `exit ${run.status}: ${run.stderr}`);
  });

  test("fixed bug (review, medium): a close() that never settles on Node 20: exit 0 with the result, not 13 (unsettled top-level await)", { timeout: 20_000 }, async () => {
    await writeFile(join(dir, "close20.mjs"), `export { default } from "./sessions20.mjs";\nexport function close() { return new Promise(() => {}); }\n`);
    const run = run20({ timeout: 9_000 }, "count", "--config", "close20.mjs");
    assert.equal(run.stdout, "0\n");
    assert.equal(run.status, 0, `exit ${run.status}: ${run.stderr}`);
  });
});
