/**
 * The `satchel` CLI, spawned as a child process of the runtime running this file (node, deno or
 * bun), against a temporary config module that uses fileStore() in a temporary directory.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";
import { runtime } from "./_env.ts";
import { fileStore } from "../stores/file.ts";
import { denoKvStore } from "../stores/deno_kv.ts";
import type { DenoKvLike } from "../stores/deno_kv.ts";
import type { SessionRecord } from "../core/types.ts";

const CLI = fileURLToPath(new URL("../cli/satchel.ts", import.meta.url));
const MOD = new URL("../mod.ts", import.meta.url).href;
const FILE_STORE = new URL("../stores/file.ts", import.meta.url).href;
const DENO_KV_STORE = new URL("../stores/deno_kv.ts", import.meta.url).href;
const SECRET = "cli-test-secret-0123456789abcdefghijklmnop";

function satchel(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const argv = runtime === "deno" ? ["run", "-A", "--unstable-kv", CLI, ...args] : [CLI, ...args];
  const result = spawnSync(process.execPath, argv, {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1" },
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
    assert.equal(result.stderr.trim(), "Session store doesn't support clearing expired sessions.");
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
    assert.ok(Date.parse(printed.expires) > Date.now());
    assert.equal(printed.expireAtBrowserClose, false);

    const unknown = satchel(dir, "decode", "--config", "sessions.ts", "abcdefghij0123456789abcdefghij01");
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /No live session/);
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
    assert.match(unknown.stderr, /unknown command frobnicate/);
    const noConfig = satchel(dir, "clear-expired");
    assert.equal(noConfig.status, 2);
    assert.match(noConfig.stderr, /needs --config/);
    const help = satchel(dir, "--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /satchel clear-expired --config <module>/);
    const wrong = satchel(dir, "clear-expired", "--config", "not_sessions.ts");
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /must default-export/);
    const missing = satchel(dir, "clear-expired", "--config", "missing.ts");
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot load the config module missing\.ts/);
  });
});
