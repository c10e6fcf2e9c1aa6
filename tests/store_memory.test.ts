/** memoryStore(): the shared conformance suite plus its own limits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStore, SessionError } from "../mod.ts";
import { testStore } from "./_store_suite.ts";

testStore("memoryStore()", async () => ({ store: memoryStore() }), { cas: true, clearExpired: true });

const record = (now: number, ttl = 60_000) => ({ data: "{}", expires: now + ttl, created: now, active: now });

const isCode = (...codes: string[]) => (error: unknown): boolean =>
  error instanceof SessionError && codes.includes(error.code);

test("memoryStore() evicts the least recently used probationary session past maxEntries", async () => {
  const store = memoryStore({ maxEntries: 3 });
  const now = Date.now();
  for (const key of ["aaaaaaaa", "bbbbbbbb", "cccccccc"]) await store.create(key, record(now));
  await store.save("aaaaaaaa", record(now), 1);
  await store.create("dddddddd", record(now));
  assert.equal(store.size, 3);
  assert.equal(await store.load("bbbbbbbb", now), null, "b was the least recently used");
  assert.ok(await store.load("aaaaaaaa", now));
});

test("memoryStore() sweeps a bounded batch of expired entries on each write, without timers", async () => {
  const store = memoryStore({ sweepBatch: 2 });
  const now = Date.now();
  for (const key of ["aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"]) await store.create(key, record(now - 120_000));
  assert.equal(store.size, 4);
  await store.create("eeeeeeee", record(now));
  assert.equal(store.size, 3, "two expired entries swept by one write");
  await store.create("ffffffff", record(now));
  assert.equal(store.size, 2);
});

test("memoryStore() keeps copies: mutating what load returned changes nothing stored", async () => {
  const store = memoryStore();
  const now = Date.now();
  await store.create("aaaaaaaa", record(now));
  const loaded = (await store.load("aaaaaaaa", now)) as { data: string };
  loaded.data = "changed";
  assert.equal((await store.load("aaaaaaaa", now))?.data, "{}");
});

test("memoryStore() never evicts a session loaded after its create for new sessions while protected has room", async () => {
  const store = memoryStore({ maxEntries: 10 });
  const now = Date.now();
  await store.create("keeperaa", record(now));
  assert.ok(await store.load("keeperaa", now), "a use after the create: promoted");
  for (let i = 0; i < 1000; i++) await store.create(`flood${i.toString().padStart(5, "0")}`, record(now));
  assert.equal(store.size, 10);
  assert.ok(await store.load("keeperaa", now));
  assert.equal(await store.load("flood00000", now), null, "one-shot sessions evict each other");
});

test("memoryStore() demotes the least recently used protected session to probation on overflow, not out", async () => {
  const store = memoryStore({ maxEntries: 5 }); // protected: at most 4
  const now = Date.now();
  const keys = ["pppppp01", "pppppp02", "pppppp03", "pppppp04", "pppppp05"];
  for (const key of keys) {
    await store.create(key, record(now));
    await store.load(key, now);
  }
  assert.equal(store.size, 5, "the fifth promotion demoted pppppp01; nothing was evicted");
  assert.ok(await store.load("pppppp01", now), "a demoted session is still there, and this use promotes it again");
  await store.create("newcomer", record(now)); // evicts probation's least recently used: pppppp02, demoted just now
  assert.equal(await store.load("pppppp02", now), null);
  for (const key of ["pppppp01", "pppppp03", "pppppp04", "pppppp05", "newcomer"]) assert.ok(await store.load(key, now), key);
});

test("memoryStore() with maxEntries 1 keeps the newest session", async () => {
  const store = memoryStore({ maxEntries: 1 });
  const now = Date.now();
  await store.create("aaaaaaaa", record(now));
  await store.load("aaaaaaaa", now);
  await store.create("bbbbbbbb", record(now));
  assert.equal(store.size, 1);
  assert.ok(await store.load("bbbbbbbb", now));
});

test("memoryStore() refuses to save over an expired entry: SESSION_INTERRUPTED, never revived", async () => {
  const store = memoryStore({ sweepBatch: 0 });
  const now = Date.now();
  const v1 = (await store.create("aaaaaaaa", record(now, 1_000))) as number;
  const later = { data: '{"x":1}', expires: now + 61_000, created: now, active: now + 1_000 };
  await assert.rejects(store.save("aaaaaaaa", later, v1), isCode("SESSION_INTERRUPTED"));
  await assert.rejects(store.save("aaaaaaaa", later), isCode("SESSION_INTERRUPTED"));
  assert.equal(await store.load("aaaaaaaa", now + 1_000), null);
  assert.equal(await store.load("aaaaaaaa", now), null, "gone, not merely hidden at the later time");
  assert.equal(store.size, 0);
});

test("memoryStore() ends a record on a compare-and-set save of an already-expired record (the engine's tombstone save)", async () => {
  const store = memoryStore();
  const now = Date.now();
  const tombstone = { data: "", expires: 1, created: 0, active: now };
  const v1 = (await store.create("aaaaaaaa", record(now))) as number;
  const v2 = (await store.save("aaaaaaaa", record(now), v1)) as number;
  await assert.rejects(store.save("aaaaaaaa", tombstone, v1), isCode("SESSION_CONFLICT"), "a stale version ends nothing");
  assert.ok(await store.load("aaaaaaaa", now));
  await store.save("aaaaaaaa", tombstone, v2);
  assert.equal(await store.load("aaaaaaaa", now), null);
  assert.equal(store.size, 0, "nothing kept for it");
  await assert.rejects(store.save("aaaaaaaa", record(now), v2), isCode("SESSION_CONFLICT", "SESSION_INTERRUPTED"));
  await assert.rejects(store.save("aaaaaaaa", record(now)), isCode("SESSION_INTERRUPTED"), "no revival without a version");
  assert.equal(await store.load("aaaaaaaa", now), null);
  await store.create("aaaaaaaa", record(now));
  assert.ok(await store.load("aaaaaaaa", now), "a genuinely new create under the key works");
});

test("memoryStore() inside workerd warns once per process that each isolate has its own store", async () => {
  const lines: string[] = [];
  const warn = console.warn;
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  console.warn = (...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  };
  try {
    memoryStore();
    assert.equal(lines.length, 0, "no warning outside workerd");
    Object.defineProperty(globalThis, "navigator", {
      value: { userAgent: "Cloudflare-Workers" },
      configurable: true,
      writable: true,
    });
    memoryStore();
    memoryStore({ maxEntries: 5 });
  } finally {
    console.warn = warn;
    if (descriptor) Object.defineProperty(globalThis, "navigator", descriptor);
    else delete (globalThis as { navigator?: unknown }).navigator;
  }
  assert.equal(lines.length, 1, "once per process");
  const line = lines[0]!;
  assert.ok(!line.includes("\n"), "one line");
  assert.match(line, /isolate/);
  assert.match(line, /Durable Object/);
  assert.match(line, /KV/);
  assert.match(line, /Redis/);
});
