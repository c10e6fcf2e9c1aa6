/**
 * fileStore(): the shared conformance suite on a real temporary directory, plus the file
 * specifics: 0600 files, atomic replace (no temp files left, no torn reads), compare-and-set
 * across racers, locks held by other processes (lock directories and satchel 0.1 lock files),
 * the directory created on first use (or a clear error), tombstone saves, Django's interruption
 * message, corrupt files, and clearExpired's choice of files. The multi-process races are in
 * tests/store_file_processes.test.ts.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { testStore } from "./_store_suite.ts";
import { keyMaker, rec, rejectsCode } from "./_store_fixtures.ts";
import { FileStoreDirectoryError, fileStore } from "../stores/file.ts";
import type { FileStore } from "../stores/file.ts";
import { INTERRUPTED_MESSAGE, SessionError } from "../core/errors.ts";

const posix = process.platform !== "win32";

async function tempDir(): Promise<string> {
  return await mkdtemp(join(tmpdir(), "satchel-file-test-"));
}

testStore("fileStore()", async () => {
  const dir = await tempDir();
  return { store: fileStore({ dir }), close: () => rm(dir, { recursive: true, force: true }) };
}, { cas: true, clearExpired: true });

const key = keyMaker("k");

/** Hold `k`'s lock as another process would: a lock directory with one owner file (or, `legacy`, a lock file of satchel 0.1). */
async function holdLock(dir: string, k: string, legacy: boolean): Promise<string> {
  const lock = join(dir, `sess_${k}.lock`);
  if (legacy) {
    await writeFile(lock, "");
    return lock;
  }
  await mkdir(lock);
  const owner = join(lock, "0123456789abcdef01234567.owner");
  await writeFile(owner, "");
  return owner;
}

describe("fileStore() specifics", () => {
  let dir: string;
  let store: FileStore;
  before(async () => {
    dir = await tempDir();
    store = fileStore({ dir });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("fileStore() names the file after the validated key only, with mode 0600", async () => {
    const k = key();
    await store.create(k, rec(Date.now()));
    const info = await stat(join(dir, `sess_${k}.json`));
    assert.ok(info.isFile());
    if (posix) assert.equal(info.mode & 0o777, 0o600);
    await store.save(k, rec(Date.now(), '{"b":2}'));
    const after = await stat(join(dir, `sess_${k}.json`));
    if (posix) assert.equal(after.mode & 0o777, 0o600, "a replaced file keeps 0600");
  });

  test("fileStore() leaves no temp or lock files behind after create, save and delete", async () => {
    const d = await tempDir();
    try {
      const s = fileStore({ dir: d });
      const k = key();
      const v1 = await s.create(k, rec(Date.now()));
      const v2 = await s.save(k, rec(Date.now(), '{"n":2}'), v1);
      await s.save(k, rec(Date.now(), '{"n":3}'), v2);
      await rejectsCode(s.save(k, rec(Date.now()), v1), "SESSION_CONFLICT");
      assert.deepEqual(await readdir(d), [`sess_${k}.json`]);
      await s.delete(k);
      assert.deepEqual(await readdir(d), []);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test("fileStore() lets exactly one of two racing saves win, also across store instances", async () => {
    const k = key();
    const now = Date.now();
    const v1 = await store.create(k, rec(now, '{"n":0}'));
    const other = fileStore({ dir });
    const results = await Promise.allSettled([
      store.save(k, rec(now, '{"n":"A"}'), v1),
      other.save(k, rec(now, '{"n":"B"}'), v1),
      store.save(k, rec(now, '{"n":"C"}'), v1),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 2);
    for (const r of lost) assert.equal((r.reason as SessionError).code, "SESSION_CONFLICT");
    const winner = ["A", "B", "C"][results.findIndex((r) => r.status === "fulfilled")];
    assert.equal((await store.load(k, now))?.data, `{"n":"${winner}"}`);
    assert.equal((await store.load(k, now))?.version, (won[0] as PromiseFulfilledResult<unknown>).value);
  });

  for (const legacy of [false, true]) {
    const what = legacy ? "lock file (satchel 0.1)" : "lock directory";
    test(`fileStore() waits for another process's ${what} and honours it`, async () => {
      const k = key();
      const now = Date.now();
      const v1 = await store.create(k, rec(now));
      const lock = join(dir, `sess_${k}.lock`);
      await holdLock(dir, k, legacy);
      let settled = false;
      const pending = store.save(k, rec(now, '{"after":"lock"}'), v1).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.equal(settled, false, "the save must wait while the lock is held");
      assert.equal((await store.load(k, now))?.data, '{"a":1}');
      await rm(lock, { recursive: true });
      await pending;
      assert.equal((await store.load(k, now))?.data, '{"after":"lock"}');
    });

    test(`fileStore() fails with STORE_UNAVAILABLE on a held ${what} and breaks an abandoned one`, async () => {
      const s = fileStore({ dir, lockTimeoutMs: 30, staleLockMs: 60_000 });
      const k = key();
      const now = Date.now();
      await s.create(k, rec(now));
      const lock = join(dir, `sess_${k}.lock`);
      const aged = await holdLock(dir, k, legacy);
      await rejectsCode(s.save(k, rec(now, '{"x":1}')), "STORE_UNAVAILABLE");
      await rejectsCode(s.delete(k), "STORE_UNAVAILABLE");
      assert.equal((await s.load(k, now))?.data, '{"a":1}', "nothing written while locked");
      const old = new Date(Date.now() - 120_000);
      await utimes(aged, old, old);
      await s.save(k, rec(now, '{"x":2}'));
      assert.equal((await s.load(k, now))?.data, '{"x":2}');
      await assert.rejects(stat(lock), { code: "ENOENT" });
    });
  }

  test("fileStore() a write that gives up on a held lock leaves that lock and nothing of its own behind", async () => {
    const d = await tempDir();
    try {
      const s = fileStore({ dir: d, lockTimeoutMs: 20 });
      const k = key();
      await s.create(k, rec(Date.now()));
      await holdLock(d, k, false);
      await rejectsCode(s.delete(k), "STORE_UNAVAILABLE");
      assert.deepEqual((await readdir(d)).sort(), [`sess_${k}.json`, `sess_${k}.lock`]);
      assert.deepEqual(await readdir(join(d, `sess_${k}.lock`)), ["0123456789abcdef01234567.owner"]);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test("fileStore() readers never see a torn file while writers replace it", async () => {
    const k = key();
    const now = Date.now();
    await store.create(k, rec(now, JSON.stringify({ v: 0, pad: "p".repeat(50_000) })));
    let misses = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const loaded = await store.load(k, now);
        if (!loaded || !JSON.parse(loaded.data).pad) misses += 1;
      }
    })();
    for (let i = 1; i <= 40; i++) {
      await store.save(k, rec(now, JSON.stringify({ v: i, pad: "p".repeat(50_000 + i) })));
    }
    writing = false;
    await reader;
    assert.equal(misses, 0);
    assert.equal(JSON.parse((await store.load(k, now))!.data).v, 40);
  });

  test("fileStore() loads truncated, garbage, empty or foreign JSON files as null and never saves over them", async () => {
    const now = Date.now();
    const good = JSON.stringify({ satchel: 1, version: "v", data: "{}", expires: now + 60_000, created: now, active: now });
    const cases = [good.slice(0, good.length - 5), "\u0000\u0001garbage", "", "null", "[]", '{"data":"{}"}',
      JSON.stringify({ satchel: 1, version: "v", data: 5, expires: now + 60_000, created: now, active: now }),
      JSON.stringify({ satchel: 1, version: "v", data: "{}", expires: "soon", created: now, active: now })];
    for (const text of cases) {
      const k = key();
      await writeFile(join(dir, `sess_${k}.json`), text);
      assert.equal(await store.load(k, now), null, JSON.stringify(text));
      await rejectsCode(store.save(k, rec(now)), "SESSION_INTERRUPTED");
      assert.equal(await readFile(join(dir, `sess_${k}.json`), "utf8"), text, "left untouched");
    }
    const k = key();
    await writeFile(join(dir, `sess_${k}.json`), good);
    assert.equal((await store.load(k, now))?.data, "{}", "the control file does load");
  });

  test("fileStore() keeps expiry absent, 0 or a string exactly", async () => {
    const now = Date.now();
    for (const expiry of [undefined, 0, 300, "2031-01-02T03:04:05.000Z"]) {
      const k = key();
      await store.create(k, expiry === undefined ? rec(now) : { ...rec(now), expiry });
      const loaded = await store.load(k, now);
      assert.ok(loaded);
      assert.equal(Object.hasOwn(loaded, "expiry"), expiry !== undefined);
      assert.equal(loaded.expiry, expiry);
    }
  });

  test("fileStore() clearExpired() deletes only expired session files of its own prefix", async () => {
    const d = await tempDir();
    try {
      const s = fileStore({ dir: d, lockTimeoutMs: 20 });
      const now = Date.now();
      const dead = key(), edge = key(), live = key();
      await s.create(dead, rec(now - 100_000, "{}", 1_000));
      await s.create(edge, rec(now - 1_000, "{}", 1_000));
      await s.create(live, rec(now, "{}", 1));
      const foreign = [`.sess_${dead}.abc.tmp`, `sess_${live}.lock`, "notes.txt", `sess_${key()}.json.bak`,
        `sess_${key()}.json`, `other_${key()}.json`, "sess_ABCDEFGHIJ.json", "sess_short.json"];
      const expiredJson = JSON.stringify({ satchel: 1, version: "v", data: "{}", expires: 1, created: 0, active: 0 });
      for (const name of foreign) await writeFile(join(d, name), name.startsWith("sess_k") ? "garbage" : expiredJson);
      await mkdir(join(d, `sess_${key()}.json.d`));
      assert.equal(await s.clearExpired(now), 2);
      const left = (await readdir(d)).sort();
      assert.ok(!left.includes(`sess_${dead}.json`) && !left.includes(`sess_${edge}.json`));
      assert.ok(left.includes(`sess_${live}.json`));
      for (const name of foreign) assert.ok(left.includes(name), `kept ${name}`);
      assert.equal(await s.clearExpired(now), 0);
      assert.equal(await s.clearExpired(now + 1), 0, "a session locked by another process is skipped");
      assert.ok((await readdir(d)).includes(`sess_${live}.json`));
      await rm(join(d, `sess_${live}.lock`));
      assert.equal(await s.clearExpired(now + 1), 1, "the live one expires on the caller's clock");
      assert.ok(!(await readdir(d)).includes(`sess_${live}.json`));
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test("fileStore() never resurrects: save after delete throws SESSION_INTERRUPTED and writes nothing", async () => {
    const k = key();
    const now = Date.now();
    const v = await store.create(k, rec(now));
    const [deleted, saved] = await Promise.allSettled([store.delete(k), store.save(k, rec(now, '{"late":1}'), v)]);
    assert.equal(deleted.status, "fulfilled");
    if (saved.status === "rejected") assert.equal((saved.reason as SessionError).code, "SESSION_INTERRUPTED");
    await assert.rejects(stat(join(dir, `sess_${k}.json`)), { code: "ENOENT" });
    await rejectsCode(store.save(k, rec(now, '{"later":1}')), "SESSION_INTERRUPTED");
    await rejectsCode(store.save(k, rec(now, '{"later":1}'), v), "SESSION_INTERRUPTED");
    await assert.rejects(stat(join(dir, `sess_${k}.json`)), { code: "ENOENT" });
    assert.equal(await store.load(k, now), null);
  });

  test("fileStore() rejects bad keys before touching the directory", async () => {
    const d = await tempDir();
    try {
      const s = fileStore({ dir: d });
      for (const bad of ["../../../tmp/x", "abcdefgh/", "ABCDEFGHIJ", "short", "a".repeat(65), "abcdefgh\u0000", "abcdefgh.json"]) {
        assert.equal(await s.load(bad, Date.now()), null);
        await assert.rejects(s.create(bad, rec(Date.now())), TypeError);
        await assert.rejects(s.save(bad, rec(Date.now())), TypeError);
        await assert.rejects(s.delete(bad), TypeError);
      }
      assert.deepEqual(await readdir(d), []);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test("fileStore() validates options", async () => {
    assert.throws(() => fileStore({ dir: "" }), TypeError);
    assert.throws(() => fileStore({ dir, prefix: "../x" }), TypeError);
    assert.throws(() => fileStore({ dir, prefix: "" }), TypeError);
    assert.throws(() => fileStore({ dir, lockTimeoutMs: 0 }), RangeError);
    await assert.rejects(store.create(key(), { ...rec(Date.now()), expires: Number.NaN }), TypeError);
    await assert.rejects(store.create(key(), { ...rec(Date.now()), data: 1 as unknown as string }), TypeError);
  });

  test("fileStore() creates a missing directory on first use, recursively, with mode 0700", async () => {
    const missing = join(dir, "not-yet", "sessions");
    const s = fileStore({ dir: missing });
    await assert.rejects(stat(missing), { code: "ENOENT" }, "nothing happens before the first call");
    const k = key();
    assert.equal(await s.load(k, Date.now()), null);
    for (const made of [join(dir, "not-yet"), missing]) {
      const info = await stat(made);
      assert.ok(info.isDirectory());
      if (posix) assert.equal(info.mode & 0o777, 0o700, made);
    }
    await s.create(k, rec(Date.now()));
    assert.ok(await s.load(k, Date.now()));
  });

  test("fileStore() names the directory, the OS error code and the fix when it cannot use the directory", async () => {
    const file = join(dir, "a-regular-file");
    await writeFile(file, "x");
    for (const [path, osCode] of [[join(file, "sessions"), "ENOTDIR"], [file, "EEXIST"]] as const) {
      const s = fileStore({ dir: path });
      for (const call of [() => s.load(key(), Date.now()), () => s.create(key(), rec(Date.now())), () => s.clearExpired(Date.now())]) {
        await assert.rejects(call(), (error: unknown) => {
          assert.ok(error instanceof FileStoreDirectoryError, String(error));
          assert.ok(error instanceof SessionError);
          assert.equal(error.code, "STORE_UNAVAILABLE");
          assert.equal(error.dir, path);
          assert.equal(error.osCode, osCode);
          assert.ok(error.message.includes(path), error.message);
          assert.ok(error.message.includes(osCode), error.message);
          assert.match(error.message, /not a directory/);
          assert.match(error.message, /Fix:/);
          return true;
        });
      }
    }
    assert.equal(await readFile(file, "utf8"), "x", "the file in the way is left alone");
  });

  test("fileStore() raises the interruption with Django's message", async () => {
    const k = key();
    const now = Date.now();
    for (const version of [undefined, "0123456789abcdef"]) {
      await assert.rejects(store.save(k, rec(now), version), (error: unknown) => {
        assert.ok(error instanceof SessionError);
        assert.equal(error.code, "SESSION_INTERRUPTED");
        assert.equal(error.message, INTERRUPTED_MESSAGE);
        return true;
      });
    }
  });

  test("fileStore() ends a record with a tombstone save only at its version, and nothing saves over it after", async () => {
    const now = Date.now();
    const tombstone = { data: "", expires: 1, created: 0, active: now };
    const k = key();
    const v1 = await store.create(k, rec(now));
    const v2 = await store.save(k, rec(now, '{"a":2}'), v1);
    await rejectsCode(store.save(k, tombstone, v1), "SESSION_CONFLICT");
    assert.equal((await store.load(k, now))?.data, '{"a":2}', "a stale tombstone changes nothing");
    await store.save(k, tombstone, v2);
    assert.equal(await store.load(k, now), null);
    assert.equal(await store.load(k, 0), null, "not even on an earlier clock");
    await assert.rejects(stat(join(dir, `sess_${k}.json`)), { code: "ENOENT" }, "the file is gone");
    for (const version of [v1, v2, undefined]) await rejectsCode(store.save(k, rec(now, '{"late":1}'), version), "SESSION_INTERRUPTED");
    assert.equal(await store.load(k, now), null, "never resurrected");
    await store.delete(k);
  });

  test("fileStore() prefix keeps two applications apart in one directory", async () => {
    const a = fileStore({ dir, prefix: "appa_" });
    const b = fileStore({ dir, prefix: "appb_" });
    const k = key();
    const now = Date.now();
    await a.create(k, rec(now, '{"app":"a"}'));
    assert.equal(await b.load(k, now), null);
    await b.create(k, rec(now - 10_000, '{"app":"b"}', 1));
    assert.equal(await a.clearExpired(now), 0);
    assert.equal(await b.clearExpired(now), 1);
    assert.equal((await a.load(k, now))?.data, '{"app":"a"}');
  });
});
