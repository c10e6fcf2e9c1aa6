/** memoryStore(): the shared conformance suite plus its own limits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStore } from "../mod.ts";
import { testStore } from "./_store_suite.ts";

testStore("memoryStore()", async () => ({ store: memoryStore() }), { cas: true, clearExpired: true });

const record = (now: number, ttl = 60_000) => ({ data: "{}", expires: now + ttl, created: now, active: now });

test("memoryStore() evicts the least recently written session past maxEntries", async () => {
  const store = memoryStore({ maxEntries: 3 });
  const now = Date.now();
  for (const key of ["aaaaaaaa", "bbbbbbbb", "cccccccc"]) await store.create(key, record(now));
  await store.save("aaaaaaaa", record(now), 1);
  await store.create("dddddddd", record(now));
  assert.equal(store.size, 3);
  assert.equal(await store.load("bbbbbbbb", now), null, "b was the least recently written");
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
