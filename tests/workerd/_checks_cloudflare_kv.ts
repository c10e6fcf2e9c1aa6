/**
 * cloudflareKvStore() specifics, run inside workerd against a real (miniflare) KV binding:
 * the TTL clamp KV demands, metadata, exact round trips, last-writer-wins saves, prefixes,
 * damaged values, and validation that happens before any KV call.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cloudflareKvStore } from "../../stores/cloudflare_kv.ts";
import type { KVNamespaceLike, KVPutOptionsLike } from "../../stores/cloudflare_kv.ts";
import type { SessionRecord } from "../../core/types.ts";
import { keyMaker, rec, rejectsCode } from "../_store_fixtures.ts";
import { env } from "./_worker_env.ts";

const key = keyMaker("kv");

type Call = [op: "get" | "put" | "delete", key: string, options?: KVPutOptionsLike];

/** The real binding, with every call recorded. */
function recorded(): { namespace: KVNamespaceLike; calls: Call[] } {
  const kv = env().KV;
  const calls: Call[] = [];
  return {
    calls,
    namespace: {
      get: (k, type) => (calls.push(["get", k]), kv.get(k, type)),
      put: (k, value, options) => (calls.push(["put", k, options]), kv.put(k, value, options)),
      delete: (k) => (calls.push(["delete", k]), kv.delete(k)),
    },
  };
}

function prefix(label: string): string {
  return `${env().RUN}:${label}:`;
}

/** Register the checks (a function, so bundlers honouring `sideEffects: false` keep them). */
export function kvChecks(): void {
  describe("cloudflareKvStore() specifics", () => {
    test("cloudflareKvStore() declares last-writer-wins, has no clearExpired and returns no versions", async () => {
      const store = cloudflareKvStore({ namespace: env().KV, prefix: prefix("decl") });
      assert.equal(store.consistency, "last-writer-wins");
      assert.equal(store.clearExpired, undefined);
      assert.equal(store.rawIds, undefined);
      const k = key();
      const now = Date.now();
      assert.equal(await store.create(k, rec(now)), undefined);
      assert.equal((await store.load(k, now))?.version, undefined);
      assert.equal(await store.save(k, rec(now, "{}")), undefined);
    });

    test("cloudflareKvStore() clamps the KV TTL to 60 s for records expiring sooner or already expired, and KV accepts it", async () => {
      const { namespace, calls } = recorded();
      const store = cloudflareKvStore({ namespace, prefix: prefix("clamp") });
      const now = Date.now();
      const soon = key();
      const past = key();
      await store.create(soon, rec(now, "{}", 5_000));
      await store.create(past, rec(now - 120_000, "{}", 60_000));
      await store.save(soon, rec(now, '{"b":1}', 1));
      const ttls = calls.filter((c) => c[0] === "put").map((c) => c[2]?.expirationTtl);
      assert.deepEqual(ttls, [60, 60, 60]);
      assert.ok(calls.every((c) => c[2]?.expiration === undefined), "no absolute expiration is sent");
      // KV still holds them (its TTL is garbage collection), but load honours `expires` on the caller's clock.
      assert.equal((await store.load(soon, now))?.data, '{"b":1}');
      assert.equal(await store.load(soon, now + 1), null);
      assert.equal(await store.load(past, now), null);
      assert.equal(await store.load(past, now - 60_000), null, "dead at its own expires");
      assert.ok(await store.load(past, now - 60_001), "live just before its expires");
    });

    test("cloudflareKvStore() maps a far expiry to a matching TTL and keeps { expires } as KV metadata", async () => {
      const { namespace, calls } = recorded();
      const p = prefix("ttl");
      const store = cloudflareKvStore({ namespace, prefix: p });
      const k = key();
      const now = Date.now();
      const record = rec(now, "{}", 1_209_600_000);
      await store.create(k, record);
      const ttl = calls.find((c) => c[0] === "put")?.[2]?.expirationTtl ?? 0;
      assert.ok(Math.abs(ttl - 1_209_600) <= 1, `TTL ${ttl}`);
      const raw = await env().KV.getWithMetadata(p + k, "text");
      assert.deepEqual(raw.metadata, { expires: record.expires });
    });

    test("cloudflareKvStore() round-trips expiry exactly: absent stays absent, 0 stays 0, strings stay strings", async () => {
      const store = cloudflareKvStore({ namespace: env().KV, prefix: prefix("expiry") });
      const now = Date.now();
      const cases: SessionRecord[] = [
        rec(now),
        { ...rec(now), expiry: 0 },
        { ...rec(now), expiry: 300 },
        { ...rec(now), expiry: "2031-01-02T03:04:05.000Z" },
      ];
      for (const record of cases) {
        const k = key();
        await store.create(k, record);
        const loaded = await store.load(k, now);
        assert.deepEqual(loaded, record);
        assert.equal("expiry" in loaded!, "expiry" in record);
      }
      const k = key();
      await store.create(k, { ...rec(now), expiry: 0 });
      await store.save(k, rec(now, "{}"));
      assert.equal("expiry" in (await store.load(k, now))!, false, "save can remove the override");
    });

    test("cloudflareKvStore() save() ignores versions: two stale saves both land, the last one wins", async () => {
      const store = cloudflareKvStore({ namespace: env().KV, prefix: prefix("lww") });
      const k = key();
      const now = Date.now();
      await store.create(k, rec(now, '{"n":0}'));
      await store.save(k, rec(now, '{"n":"A"}'), 1);
      await store.save(k, rec(now, '{"n":"B"}'), 1);
      assert.equal((await store.load(k, now))?.data, '{"n":"B"}');
    });

    test("cloudflareKvStore() stores under prefix + key, and prefixes keep stores apart", async () => {
      const kv = env().KV;
      const a = cloudflareKvStore({ namespace: kv, prefix: prefix("a") });
      const b = cloudflareKvStore({ namespace: kv, prefix: prefix("b") });
      const k = key();
      const now = Date.now();
      await a.create(k, rec(now, '{"from":"a"}'));
      assert.equal(await b.load(k, now), null);
      await b.create(k, rec(now, '{"from":"b"}'));
      assert.equal((await a.load(k, now))?.data, '{"from":"a"}');
      const raw = JSON.parse((await kv.get(prefix("a") + k, "text"))!);
      assert.equal(raw.data, '{"from":"a"}');
      assert.equal(await kv.get(k, "text"), null, "nothing under the bare key");
      assert.equal(cloudflareKvStore({ namespace: kv }).prefix, "satchel:");
    });

    test("cloudflareKvStore() load() treats a damaged or foreign value as no session", async () => {
      const p = prefix("damaged");
      const store = cloudflareKvStore({ namespace: env().KV, prefix: p });
      const now = Date.now();
      for (
        const value of [
          "not json",
          "null",
          "[]",
          '{"v":2,"data":"{}"}',
          '{"v":1,"data":"{}","expires":"x","created":1,"active":1}',
        ]
      ) {
        const k = key();
        await env().KV.put(p + k, value);
        assert.equal(await store.load(k, now), null, value);
      }
    });

    test("cloudflareKvStore() validates keys and records before any KV call", async () => {
      const { namespace, calls } = recorded();
      const store = cloudflareKvStore({ namespace, prefix: prefix("validate") });
      const now = Date.now();
      for (const bad of ["", "short", "UPPERCASE1", "a".repeat(65), "../../etc/x", "abcdefgh\n"]) {
        assert.equal(await store.load(bad, now), null);
        await assert.rejects(store.create(bad, rec(now)), TypeError);
        await assert.rejects(store.save(bad, rec(now)), TypeError);
        await assert.rejects(store.delete(bad), TypeError);
      }
      const k = key();
      const broken = [
        { ...rec(now), expires: Number.NaN },
        { ...rec(now), data: 42 },
        { ...rec(now), created: undefined },
        { ...rec(now), expiry: { days: 1 } },
        null,
      ] as unknown as SessionRecord[];
      for (const record of broken) {
        await assert.rejects(store.create(k, record), TypeError);
        await assert.rejects(store.save(k, record), TypeError);
      }
      assert.deepEqual(calls, []);
    });

    test("cloudflareKvStore() save() of a deleted session throws SESSION_INTERRUPTED and writes nothing", async () => {
      const { namespace, calls } = recorded();
      const store = cloudflareKvStore({ namespace, prefix: prefix("interrupted") });
      const k = key();
      const now = Date.now();
      await store.create(k, rec(now));
      await store.delete(k);
      calls.length = 0;
      await rejectsCode(store.save(k, rec(now)), "SESSION_INTERRUPTED");
      assert.deepEqual(calls.map((c) => c[0]), ["get"]);
    });

    test("cloudflareKvStore() refuses bad options at construction", () => {
      assert.throws(() => cloudflareKvStore(undefined as never), TypeError);
      assert.throws(() => cloudflareKvStore({ namespace: {} as never }), TypeError);
      assert.throws(() => cloudflareKvStore({ namespace: env().KV, prefix: 1 as never }), TypeError);
      assert.throws(() => cloudflareKvStore({ namespace: env().KV, prefix: "é".repeat(201) }), RangeError);
      assert.ok(cloudflareKvStore({ namespace: env().KV, prefix: "é".repeat(200) }));
    });
  });
}
