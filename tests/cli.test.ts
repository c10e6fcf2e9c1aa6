/**
 * The `satchel` CLI, spawned as a child process of the runtime running this file (node, deno or
 * bun), against temporary config modules: fileStore() in a temporary directory, sqlStore() over
 * SQLite in a temporary file (node:sqlite; bun:sqlite on Bun, as the demo does), the cookie
 * store, a memory store and a store that cannot connect. Under Node, the built CLI (tsup into a
 * temporary package) also runs on the machine's Node 20 with an .mjs config.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";
import { inCI, runtime } from "./_env.ts";
import { systemNode } from "./_node20.ts";
import { fileStore } from "../stores/file.ts";
import { denoKvStore } from "../stores/deno_kv.ts";
import type { DenoKvLike } from "../stores/deno_kv.ts";
import type { SessionRecord } from "../core/types.ts";

const CLI = fileURLToPath(new URL("../cli/satchel.ts", import.meta.url));
const MOD = new URL("../mod.ts", import.meta.url).href;
const FILE_STORE = new URL("../stores/file.ts", import.meta.url).href;
const DENO_KV_STORE = new URL("../stores/deno_kv.ts", import.meta.url).href;
const SECRET = "cli-test-secret-0123456789abcdefghijklmnop";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SQL_STORE = new URL("../stores/sql.ts", import.meta.url).href;

function satchel(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return satchelEnv(cwd, {}, ...args);
}

/** Spawned with pipes, so stderr is never a terminal: progress appears only when forced. */
function satchelEnv(cwd: string, env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const argv = runtime === "deno" ? ["run", "-A", "--unstable-kv", CLI, ...args] : [CLI, ...args];
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete base.SATCHEL_PROGRESS;
  const result = spawnSync(process.execPath, argv, {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...base, ...env },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}


function rec(now: number, ttl: number): SessionRecord {
  return { data: '{"user":"ada"}', expires: now + ttl, created: now, active: now };
}

describe(`satchel CLI (${runtime})`, () => {
  let dir: string;
  let sessionsDir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "satchel-cli-test-"));
    sessionsDir = join(dir, "sessions");
    await mkdir(sessionsDir);
    await writeFile(join(dir, "sessions.ts"), [
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `import { writeFile } from "node:fs/promises";`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, cookie: { secure: false },`,
      `  store: fileStore({ dir: ${JSON.stringify(sessionsDir)} }) });`,
      `export async function close() { await writeFile(${JSON.stringify(join(dir, "closed"))}, "yes"); }`,
    ].join("\n"));
    await writeFile(join(dir, "named.ts"), [
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export const sessions = createSessions({ secret: ${JSON.stringify(SECRET)},`,
      `  store: fileStore({ dir: ${JSON.stringify(sessionsDir)} }) });`,
    ].join("\n"));
    await writeFile(join(dir, "no_clear.ts"), [
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `const store = { load: async () => null, create: async () => {}, save: async () => {}, delete: async () => {} };`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store });`,
    ].join("\n"));
    await writeFile(join(dir, "not_sessions.ts"), `export default { hello: "world" };\n`);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("satchel clear-expired deletes the expired session file, keeps the live one and prints the count", async () => {
    const store = fileStore({ dir: sessionsDir });
    const now = Date.now();
    const dead = "deadbeef0000000000000000000000000000000000000000000000000000dead";
    const live = "a11ve0000000000000000000000a11ve";
    await store.create(dead, rec(now - 3_600_000, 60_000));
    await store.create(live, rec(now, 3_600_000));
    await writeFile(join(sessionsDir, "README.txt"), "not a session");

    const first = satchel(dir, "clear-expired", "--config", "sessions.ts");
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout.trim(), "Removed 1 expired session.");
    assert.deepEqual((await readdir(sessionsDir)).sort(), ["README.txt", `sess_${live}.json`]);
    assert.equal((await stat(join(dir, "closed"))).isFile(), true, "the module's close() ran");

    const second = satchel(dir, "clear-expired", "--config=./named.ts");
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout.trim(), "Removed 0 expired sessions.");
    assert.ok(await store.load(live, now), "the live session survives");
  });

  test("satchel clear-expired on a store without clearExpired says so and exits 1", () => {
    const result = satchel(dir, "clear-expired", "--config", "no_clear.ts");
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim(), "satchel: Session store doesn't support clearing expired sessions.");
    assert.equal(result.stdout, "");
  });

  test("satchel decode prints the live session a cookie points to, and fails for an unknown one", async () => {
    const { default: sessions } = await import(pathToFileURL(join(dir, "sessions.ts")).href);
    const response = await sessions.handle(new Request("http://localhost/"), (_r: Request, s: { set(k: string, v: unknown): void }) => {
      s.set("user", "grace");
      s.set("cart", ["sku-1"]);
      return new Response("ok");
    });
    const cookie = (response.headers.getSetCookie()[0] as string).split(";")[0]!.split("=")[1]!;
    assert.match(cookie, /^[a-z0-9]{32}$/);
    const result = satchel(dir, "decode", "--config", "sessions.ts", cookie);
    assert.equal(result.status, 0, result.stderr);
    const printed = JSON.parse(result.stdout);
    assert.deepEqual(printed.data, { user: "grace", cart: ["sku-1"] });
    assert.ok(!result.stdout.includes(cookie) && !result.stderr.includes(cookie), "the id is never echoed");

    const unknown = satchel(dir, "decode", "--config", "sessions.ts", "abcdefghij0123456789abcdefghij01");
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /No session with that id/);
    assert.ok(!unknown.stderr.includes("abcdefghij0123456789abcdefghij01"), "the cookie value is never echoed");
  });

  const openKv = (globalThis as { Deno?: { openKv?: (path: string) => Promise<DenoKvLike & { close(): void }> } }).Deno?.openKv;
  const kvSkip = runtime === "deno" && openKv ? false : `Deno KV exists only in Deno; this is ${runtime}`;
  test("satchel clear-expired works with denoKvStore() on a KV file (Deno only)", { skip: kvSkip }, async () => {
    const path = join(dir, "sessions.kv");
    await writeFile(join(dir, "kv.ts"), [
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { denoKvStore } from ${JSON.stringify(DENO_KV_STORE)};`,
      `const kv = await Deno.openKv(${JSON.stringify(path)});`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: denoKvStore({ kv }) });`,
      `export function close() { kv.close(); }`,
    ].join("\n"));
    const kv = await openKv!(path);
    try {
      const store = denoKvStore({ kv });
      const now = Date.now();
      await store.create("expired0000000000000000000000000", rec(now - 3_600_000, 60_000));
      await store.create("live000000000000000000000000live", rec(now, 3_600_000));
      const result = satchel(dir, "clear-expired", "--config", "kv.ts");
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.trim(), "Removed 1 expired session.");
      assert.equal((await kv.get(["satchel", "expired0000000000000000000000000", 0])).versionstamp, null);
      assert.ok(await store.load("live000000000000000000000000live", now));
    } finally {
      kv.close();
    }
  });

  test("satchel reports usage errors with status 2 and a bad config module with status 1", () => {
    const none = satchel(dir);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /Usage:/);
    const unknown = satchel(dir, "frobnicate", "--config", "sessions.ts");
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const noConfig = satchel(dir, "clear-expired");
    assert.equal(noConfig.status, 2);
    assert.match(noConfig.stderr, /needs --config/);
    const help = satchel(dir, "--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: satchel <command> \[options\]/);
    const wrong = satchel(dir, "clear-expired", "--config", "not_sessions.ts");
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /must default-export/);
    const missing = satchel(dir, "clear-expired", "--config", "missing.ts");
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot load the config module missing\.ts/);
  });

  // ---- operator-facing behaviour ----

  /** A config module in `dir`, built from lines. */
  async function config(name: string, ...lines: string[]): Promise<string> {
    await writeFile(join(dir, name), lines.join("\n") + "\n");
    return name;
  }

  test("--version prints package.json's version; --help and <command> --help show usage, options and an example", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-v"]) {
      const result = satchel(dir, flag);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${pkg.version}\n`);
    }
    for (const args of [["--help"], ["help"], ["-h"]]) {
      const result = satchel(dir, ...args);
      assert.equal(result.status, 0);
      assert.match(result.stdout, /Commands:\n {2}clear-expired .*\n {2}decode /);
      assert.match(result.stdout, /Example:\n {2}satchel clear-expired --config/);
    }
    for (const command of ["clear-expired", "decode"]) {
      for (const args of [[command, "--help"], ["help", command]]) {
        const result = satchel(dir, ...args);
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^Usage: satchel ${command} --config <file>`));
        assert.match(result.stdout, /Options:\n {2}-c, --config <file>/);
        assert.match(result.stdout, new RegExp(`Example[^\\n]*:\\n[^\\n]*satchel ${command} --config`));
      }
    }
  });

  test("unknown commands and options: a clear message, the right usage and exit 2; a long word is not echoed", () => {
    const option = satchel(dir, "decode", "--verbose", "--config", "sessions.ts", "x");
    assert.equal(option.status, 2);
    assert.match(option.stderr, /^satchel: unknown option --verbose\n\nUsage: satchel decode /);
    const valued = satchel(dir, "clear-expired", "--cookie=abcdefghij0123456789abcdefghij01");
    assert.equal(valued.status, 2);
    assert.match(valued.stderr, /unknown option --cookie\n/);
    assert.ok(!valued.stderr.includes("abcdefghij0123456789"), "an option's value is not echoed");
    const pasted = satchel(dir, "abcdefghij0123456789abcdefghij01");
    assert.equal(pasted.status, 2);
    assert.match(pasted.stderr, /unknown command \(not shown/);
    assert.ok(!pasted.stderr.includes("abcdefghij0123456789"));
    const extra = satchel(dir, "clear-expired", "--config", "sessions.ts", "now");
    assert.equal(extra.status, 2);
    assert.match(extra.stderr, /clear-expired takes no arguments/);
    const topic = satchel(dir, "help", "frobnicate");
    assert.equal(topic.status, 2);
  });

  const sqliteImport = runtime === "bun"
    ? `const { Database } = await import("bun:sqlite"); const db = new Database(PATH);`
    : `const { DatabaseSync } = await import("node:sqlite"); const db = new DatabaseSync(PATH);`;

  test("clear-expired on the demo's SQLite store: piped, only the final line on stdout; forced progress on stderr", async () => {
    const path = join(dir, "sessions.db");
    await config(
      "sqlite.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { sqlStore } from ${JSON.stringify(SQL_STORE)};`,
      `const PATH = ${JSON.stringify(path)};`,
      sqliteImport,
      `export const store = sqlStore({ client: db });`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store });`,
      `export function close() { db.close(); }`,
    );
    const mod = await import(pathToFileURL(join(dir, "sqlite.ts")).href);
    const now = Date.now();
    for (let i = 0; i < 3; i++) await mod.store.create(`${"e".repeat(60)}000${i}`, rec(now - 7_200_000, 60_000));
    await mod.store.create("f".repeat(64), rec(now, 3_600_000));
    mod.close();

    const piped = satchel(dir, "clear-expired", "--config", "sqlite.ts");
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, "Removed 3 expired sessions.\n");
    assert.equal(piped.stderr, "", "quiet when not on a terminal");

    const again = satchelEnv(dir, { SATCHEL_PROGRESS: "1" }, "clear-expired", "--config", "sqlite.ts");
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, "Removed 0 expired sessions.\n");
    // The progress line is rewritten in place: carriage return, then ESC [2K (erase the line).
    const erase = "\r\u001b[2K";
    assert.ok(again.stderr.startsWith(`${erase}removing expired sessions…`), again.stderr);
    assert.ok(again.stderr.includes(`${erase}removed 0…`), again.stderr);
    assert.ok(again.stderr.endsWith("\r\x1b[2K"), "the progress line is erased before the result");
  });

  test("clear-expired on a real terminal (a pty from script(1)): progress without SATCHEL_PROGRESS, erased before the result", async (t) => {
    const script = "/usr/bin/script"; // util-linux, in every Debian
    if (!existsSync(script)) {
      assert.ok(!inCI, "script(1) (util-linux) is required in CI for the terminal test");
      console.warn("\n!!!!! SKIPPED: script(1) is not installed; the real-terminal CLI test did not run. !!!!!\n");
      return t.skip("no script(1)");
    }
    await config(
      "tty.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: fileStore({ dir: ${JSON.stringify(join(dir, "tty-sessions"))} }) });`,
    );
    const argv = [process.execPath, ...(runtime === "deno" ? ["run", "-A", "--unstable-kv"] : []), CLI, "clear-expired", "--config", "tty.ts"];
    const command = argv.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
    const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", TERM: "dumb" };
    delete base.SATCHEL_PROGRESS;
    // script -e: its status is the command's; on the pty stdout and stderr are one stream, "\n" becomes "\r\n".
    const result = spawnSync(script, ["-qec", command, "/dev/null"], { cwd: dir, encoding: "utf8", timeout: 60_000, env: base });
    if (result.error) throw result.error;
    assert.equal(result.status, 0, result.stdout);
    const erase = "\r\u001b[2K";
    assert.ok(result.stdout.includes(`${erase}removing expired sessions…`), JSON.stringify(result.stdout));
    assert.ok(result.stdout.includes(`${erase}removed 0…${erase}Removed 0 expired sessions.\r\n`), JSON.stringify(result.stdout));
  });

  test("clear-expired refuses a memory-store config (exit 1) instead of reporting Removed 0", async () => {
    // The CLI half: a sessions object that says its store lives in this process.
    await config(
      "memory_marked.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `const s = createSessions({ secret: ${JSON.stringify(SECRET)} });`,
      `export default { cookieName: s.cookieName, serverSide: true, inProcessStore: true, clearExpired: () => s.clearExpired() };`,
    );
    const marked = satchel(dir, "clear-expired", "--config", "memory_marked.ts");
    assert.equal(marked.status, 1);
    assert.equal(marked.stdout, "");
    assert.match(marked.stderr, /memory store.*inside the app's process/);
  });

  test("clear-expired refuses createSessions() with the default memory store", async () => {
    await config("memory.ts", `import { createSessions } from ${JSON.stringify(MOD)};`, `export default createSessions({ secret: ${JSON.stringify(SECRET)} });`);
    const result = satchel(dir, "clear-expired", "--config", "memory.ts");
    assert.equal(result.status, 1);
    assert.doesNotMatch(result.stdout, /Removed/);
    assert.match(result.stderr, /memory store/);
  });

  test("decode: the cookie store's value under a wrong secret says so and names SECRET; never echoes the value", async () => {
    await config(
      "cookie.ts",
      `import { createSessions, cookieStore } from ${JSON.stringify(MOD)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: cookieStore(), cookie: { secure: false } });`,
    );
    await config(
      "cookie_other.ts",
      `import { createSessions, cookieStore } from ${JSON.stringify(MOD)};`,
      `export default createSessions({ secret: "another-secret-0123456789abcdefghijklmnop", store: cookieStore() });`,
    );
    const { default: sessions } = await import(pathToFileURL(join(dir, "cookie.ts")).href);
    const response = await sessions.handle(new Request("http://localhost/"), (_r: Request, s: { set(k: string, v: unknown): void }) => {
      s.set("user", "ada");
      return new Response("ok");
    });
    const value = (response.headers.getSetCookie()[0] as string).split(";")[0]!.split("=").slice(1).join("=");
    const good = satchel(dir, "decode", "--config", "cookie.ts", value);
    assert.equal(good.status, 0, good.stderr);
    assert.deepEqual(JSON.parse(good.stdout).data, { user: "ada" });
    const wrong = satchel(dir, "decode", "--config", "cookie_other.ts", value);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /does not verify under any configured secret.*SECRET \(and its fallbacks\)/);
    assert.ok(!wrong.stderr.includes(value) && !wrong.stdout.includes(value));
  });

  test("decode escapes what JSON.stringify leaves raw (C1 controls, bidi overrides) and still prints the exact data", async () => {
    const { default: sessions } = await import(pathToFileURL(join(dir, "sessions.ts")).href);
    const note = "\u001b[31m\u009b2J\u202eevil\u2028";
    const response = await sessions.handle(new Request("http://localhost/"), (_r: Request, s: { set(k: string, v: unknown): void }) => {
      s.set(note, note);
      return new Response("ok");
    });
    const id = (response.headers.getSetCookie()[0] as string).split(";")[0]!.split("=")[1]!;
    const result = satchel(dir, "decode", "--config", "sessions.ts", id);
    assert.equal(result.status, 0, result.stderr);
    // deno-lint-ignore no-control-regex -- control characters are what must not be there
    assert.doesNotMatch(result.stdout, /[\u001b\u009b\u202e\u2028]/);
    assert.deepEqual(JSON.parse(result.stdout).data, { [note]: note });
    assert.match(result.stdout, /^\{\n {2}"data": \{\n/, "still indented");
  });

  test("decode prints the expiry stored with the record, not one computed from the config", async () => {
    const storeDir = join(dir, "expiry");
    await mkdir(storeDir);
    const at = Date.now() - 1000;
    await config(
      "writer.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, cookie: { maxAge: 7200 }, now: () => ${at},`,
      `  store: fileStore({ dir: ${JSON.stringify(storeDir)} }) });`,
    );
    // The CLI's config has another maxAge: a computed expiry would differ from the stored one.
    await config(
      "reader.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, cookie: { maxAge: 60 }, store: fileStore({ dir: ${JSON.stringify(storeDir)} }) });`,
    );
    const { default: writer } = await import(pathToFileURL(join(dir, "writer.ts")).href);
    const response = await writer.handle(new Request("http://localhost/"), (_r: Request, s: { set(k: string, v: unknown): void }) => {
      s.set("n", 1);
      return new Response("ok");
    });
    const id = (response.headers.getSetCookie()[0] as string).split(";")[0]!.split("=")[1]!;
    const result = satchel(dir, "decode", "--config", "reader.ts", id);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).expires, new Date(at + 7_200_000).toISOString());
  });

  test("an unreachable store: the driver's class and code, sanitized, and what to check; exit 1", async () => {
    await config(
      "down.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `class ConnectionError extends Error {}`,
      `const fail = async () => { throw Object.assign(new ConnectionError("connect ECONNREFUSED 127.0.0.1:5432 key abcdefghij0123456789abcdefghij0123"), { code: "ECONNREFUSED" }); };`,
      `const store = { load: fail, create: fail, save: fail, delete: fail, clearExpired: fail };`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store });`,
    );
    for (const args of [["clear-expired"], ["decode", "abcdefghij0123456789abcdefghij01"]]) {
      const result = satchel(dir, args[0]!, "--config", "down.ts", ...args.slice(1));
      assert.equal(result.status, 1, result.stdout);
      assert.match(result.stderr, /did not answer: .*ConnectionError.*ECONNREFUSED/);
      assert.match(result.stderr, /Check that the store is running and reachable/);
      assert.ok(!result.stderr.includes("abcdefghij0123456789"), "sanitized: no key, no id");
    }
  });

  test("a config may default-export a function returning createSessions(); --config=... works", async () => {
    await config(
      "factory.ts",
      `import { createSessions } from ${JSON.stringify(MOD)};`,
      `import { fileStore } from ${JSON.stringify(FILE_STORE)};`,
      `export default async () => createSessions({ secret: ${JSON.stringify(SECRET)}, store: fileStore({ dir: ${JSON.stringify(sessionsDir)} }) });`,
    );
    const result = satchel(dir, "clear-expired", "--config=factory.ts");
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^Removed \d+ expired sessions?\.\n$/);
  });

  const node20 = runtime === "node" ? systemNode() : null;
  if (runtime === "node" && node20 === null) console.log("SKIP: cli.test.ts built-CLI test: no Node 20 on PATH");
  test("the built CLI (tsup, npm package layout) runs on Node 20 with an .mjs config", {
    skip: runtime !== "node" ? `one runtime is enough; this is ${runtime}` : node20 === null ? "no Node 20 on PATH" : false,
  }, async () => {
    const pkg = join(dir, "pkg");
    await mkdir(pkg);
    await copyFile(join(ROOT, "package.json"), join(pkg, "package.json"));
    const build = spawnSync(join(ROOT, "node_modules/.bin/tsup"), ["--out-dir", join(pkg, "dist"), "--no-dts"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(build.status, 0, build.stderr);
    const storeDir = join(dir, "node20");
    await mkdir(storeDir);
    await writeFile(join(dir, "sessions20.mjs"), [
      `import { createSessions } from ${JSON.stringify(pathToFileURL(join(pkg, "dist/mod.js")).href)};`,
      `import { fileStore } from ${JSON.stringify(pathToFileURL(join(pkg, "dist/stores/file.js")).href)};`,
      `export default createSessions({ secret: ${JSON.stringify(SECRET)}, store: fileStore({ dir: ${JSON.stringify(storeDir)} }) });`,
    ].join("\n"));
    const store = fileStore({ dir: storeDir });
    await store.create("d".repeat(64), rec(Date.now() - 7_200_000, 60_000));
    const run = (...args: string[]) => spawnSync(node20!, [join(pkg, "dist/cli/satchel.js"), ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    const version = run("--version");
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")).version);
    const cleared = run("clear-expired", "--config", "sessions20.mjs");
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.equal(cleared.stdout, "Removed 1 expired session.\n");
    const unknown = run("decode", "--config", "sessions20.mjs", "abcdefghij0123456789abcdefghij01");
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /No session with that id/);
    // list, count and revoke (cli/_operations.ts and the other cli/_*.ts, bundled into the one entry).
    assert.deepEqual((await readdir(join(pkg, "dist/cli"))).filter((name) => name.endsWith(".js")), ["satchel.js"]);
    const { createSessions } = await import(pathToFileURL(join(pkg, "dist/mod.js")).href);
    const sessions = createSessions({ secret: SECRET, cookie: { secure: false }, store: fileStore({ dir: storeDir }) });
    await sessions.handle(new Request("http://localhost/"), async (_r: Request, s: { login(user: string): Promise<void> }) => {
      await s.login("ada\u001b[2J");
      return new Response("ok");
    });
    const counted = run("count", "--config", "sessions20.mjs");
    assert.equal(counted.status, 0, counted.stderr);
    assert.equal(counted.stdout, "1\n");
    const listed = run("list", "--config", "sessions20.mjs", "--json");
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).map((item: { user: string }) => item.user), ["ada\u001b[2J"]);
    const revoked = run("revoke", "--config", "sessions20.mjs", "--user", "ada\u001b[2J");
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal(revoked.stdout, 'Revoked 1 session of "ada\\u001b[2J".\n');
  });
});
