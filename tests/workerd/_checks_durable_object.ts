/**
 * durableObjectStore() / SessionObject specifics, run inside workerd against real (miniflare)
 * Durable Objects on both storage backends: versions, races decided inside the object, errors
 * crossing the stub as codes, chunked data past the 128 KiB value limit, alarms, and
 * validation before any object is contacted.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { durableObjectStore } from "../../stores/durable_object.ts";
import type { DurableObjectNamespaceLike, DurableObjectStubLike } from "../../stores/durable_object.ts";
import { SessionError } from "../../core/errors.ts";
import type { SessionRecord } from "../../core/types.ts";
import { keyMaker, rec, rejectsCode } from "../_store_fixtures.ts";
import { env } from "./_worker_env.ts";
import type { TestEnv } from "./_worker_env.ts";
import type { Inspection } from "./_test_session_object.ts";

const key = keyMaker("do");

/** Register the checks (a function, so bundlers honouring `sideEffects: false` keep them). */
export function durableObjectChecks(): void {
  for (const [label, binding] of [["sqlite", "DO_SQL"], ["kv-backed", "DO_KV"]] as const) {
    const title = `durableObjectStore(${label})`;
    const ns = (): DurableObjectNamespaceLike => env()[binding as keyof TestEnv] as DurableObjectNamespaceLike;
    const name = (part: string): string => `${env().RUN}:${part}:`;
    const stub = (prefix: string, k: string): DurableObjectStubLike => ns().get(ns().idFromName(prefix + k));
    const inspect = async (prefix: string, k: string, route = "inspect"): Promise<Inspection> => {
      const response = await stub(prefix, k).fetch(`https://test/__test/${route}`, {
        method: "POST",
        headers: {},
        body: "",
      });
      return (await response.json()) as Inspection;
    };
    /** The namespace, counting every object the store touches. */
    const counted = (): { namespace: DurableObjectNamespaceLike; touched: string[] } => {
      const touched: string[] = [];
      return {
        touched,
        namespace: {
          idFromName: (n: string) => (touched.push(n), ns().idFromName(n)),
          get: (id: unknown) => ns().get(id),
        },
      };
    };

    describe(`${title} specifics`, () => {
      test(`${title} declares strong consistency and counts versions per write`, async () => {
        const store = durableObjectStore({ namespace: ns(), name: name("versions") });
        assert.equal(store.consistency, "strong");
        assert.equal(store.clearExpired, undefined);
        const k = key();
        const now = Date.now();
        assert.equal(await store.create(k, rec(now)), 1);
        assert.equal((await store.load(k, now))?.version, 1);
        assert.equal(await store.save(k, rec(now, '{"a":2}'), 1), 2);
        assert.equal((await store.load(k, now))?.version, 2);
        assert.equal(await store.save(k, rec(now, '{"a":3}')), 3, "a save without a version is unconditional");
        assert.equal((await store.load(k, now))?.data, '{"a":3}');
      });

      test(`${title} a stale version throws SESSION_CONFLICT and leaves the record untouched`, async () => {
        const store = durableObjectStore({ namespace: ns(), name: name("stale") });
        const k = key();
        const now = Date.now();
        await store.create(k, rec(now, '{"n":0}'));
        await store.save(k, rec(now, '{"n":1}'), 1);
        await rejectsCode(store.save(k, rec(now, '{"n":"stale"}'), 1), "SESSION_CONFLICT");
        await rejectsCode(store.save(k, rec(now, '{"n":"odd"}'), "2"), "SESSION_CONFLICT");
        const loaded = await store.load(k, now);
        assert.equal(loaded?.data, '{"n":1}');
        assert.equal(loaded?.version, 2);
      });

      test(`${title} twenty racing saves on one version: exactly one wins`, async () => {
        const store = durableObjectStore({ namespace: ns(), name: name("race") });
        const k = key();
        const now = Date.now();
        const v = await store.create(k, rec(now));
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => store.save(k, rec(now, `{"writer":${i}}`), v ?? undefined)),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === "rejected") {
            assert.ok(r.reason instanceof SessionError);
            assert.equal(r.reason.code, "SESSION_CONFLICT");
          }
        }
        assert.equal((await store.load(k, now))?.data, `{"writer":${won[0]}}`);
      });

      test(`${title} ten racing creates on one key: exactly one wins, the others get SESSION_EXISTS`, async () => {
        const store = durableObjectStore({ namespace: ns(), name: name("create-race") });
        const k = key();
        const now = Date.now();
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.create(k, rec(now, `{"creator":${i}}`))),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === "rejected") {
            assert.ok(r.reason instanceof SessionError);
            assert.equal(r.reason.code, "SESSION_EXISTS");
          }
        }
        assert.equal((await store.load(k, now))?.data, `{"creator":${won[0]}}`);
      });

      test(`${title} round-trips expiry exactly: absent stays absent, 0 stays 0, strings stay strings`, async () => {
        const store = durableObjectStore({ namespace: ns(), name: name("expiry") });
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
          const { version, ...loaded } = (await store.load(k, now))!;
          assert.equal(version, 1);
          assert.deepEqual(loaded, record);
          assert.equal("expiry" in loaded, "expiry" in record);
        }
        const k = key();
        await store.create(k, { ...rec(now), expiry: 0 });
        await store.save(k, rec(now, "{}"));
        assert.equal("expiry" in (await store.load(k, now))!, false, "save can remove the override");
      });

      test(`${title} keeps data past the 128 KiB value limit in chunks and drops stale chunks when it shrinks`, async () => {
        const prefix = name("chunks");
        const store = durableObjectStore({ namespace: ns(), name: prefix });
        const k = key();
        const now = Date.now();
        // Two-byte characters, a surrogate pair split across a chunk boundary, and a lone surrogate.
        const big = `${"é€".repeat(61_439)}x😀${"ж".repeat(150_000)}\ud800 end`;
        assert.equal(big.slice(61_440 * 2 - 1, 61_440 * 2 + 1), "😀", "the pair straddles the second boundary");
        await store.create(k, rec(now, big));
        assert.equal((await store.load(k, now))?.data, big);
        assert.deepEqual((await inspect(prefix, k)).keys, ["d0", "d1", "d2", "d3", "d4", "meta"]);
        await store.save(k, rec(now, '{"small":true}'));
        assert.equal((await store.load(k, now))?.data, '{"small":true}');
        assert.deepEqual((await inspect(prefix, k)).keys, ["d0", "meta"]);
        await store.save(k, rec(now, ""));
        assert.equal((await store.load(k, now))?.data, "");
        assert.deepEqual((await inspect(prefix, k)).keys, ["meta"]);
      });

      test(`${title} refuses data over its limit with a RangeError before contacting any object`, async () => {
        const { namespace, touched } = counted();
        const store = durableObjectStore({ namespace, name: name("limit") });
        const now = Date.now();
        const limit = 64 * 60 * 1024;
        await assert.rejects(store.create(key(), rec(now, "x".repeat(limit + 1))), RangeError);
        await assert.rejects(store.save(key(), rec(now, "x".repeat(limit + 1))), RangeError);
        assert.deepEqual(touched, []);
        const k = key();
        await store.create(k, rec(now, "x".repeat(limit)));
        assert.equal((await store.load(k, now))?.data.length, limit);
      });

      test(`${title} arms the alarm at expires on every write; delete() clears storage and alarm`, async () => {
        const prefix = name("alarm");
        const store = durableObjectStore({ namespace: ns(), name: prefix });
        const k = key();
        const now = Date.now();
        await store.create(k, rec(now, "{}", 60_000));
        assert.deepEqual(await inspect(prefix, k), { keys: ["d0", "meta"], alarm: now + 60_000 });
        await store.save(k, rec(now, "{}", 3_600_000));
        assert.equal((await inspect(prefix, k)).alarm, now + 3_600_000);
        await store.delete(k);
        assert.deepEqual(await inspect(prefix, k), { keys: [], alarm: null });
        await store.delete(k);
        await rejectsCode(store.save(k, rec(now)), "SESSION_INTERRUPTED");
        assert.deepEqual(await inspect(prefix, k), { keys: [], alarm: null }, "a failed save writes nothing");
      });

      test(`${title} the alarm keeps a live session armed and deletes an expired one`, async () => {
        const prefix = name("alarm-run");
        const store = durableObjectStore({ namespace: ns(), name: prefix });
        const k = key();
        const now = Date.now();
        await store.create(k, rec(now, "{}", 600_000));
        assert.deepEqual(await inspect(prefix, k, "alarm"), { keys: ["d0", "meta"], alarm: now + 600_000 });
        assert.ok(await store.load(k, now));
        // Expired on the platform's clock: the real alarm fires at once, and running it again is harmless.
        await store.save(k, rec(now - 120_000, "{}", 60_000));
        assert.deepEqual(await inspect(prefix, k, "alarm"), { keys: [], alarm: null });
        assert.equal(await store.load(k, now - 120_000), null, "gone even for a caller whose clock says live");
        await rejectsCode(store.save(k, rec(now)), "SESSION_INTERRUPTED");
      });

      test(`${title} names keep stores sharing one binding apart`, async () => {
        const a = durableObjectStore({ namespace: ns(), name: name("a") });
        const b = durableObjectStore({ namespace: ns(), name: name("b") });
        const k = key();
        const now = Date.now();
        await a.create(k, rec(now, '{"from":"a"}'));
        assert.equal(await b.load(k, now), null);
        await b.create(k, rec(now, '{"from":"b"}'));
        assert.equal((await a.load(k, now))?.data, '{"from":"a"}');
        assert.equal(durableObjectStore({ namespace: ns() }).name, "satchel:");
      });

      test(`${title} validates keys and records before contacting any object`, async () => {
        const { namespace, touched } = counted();
        const store = durableObjectStore({ namespace, name: name("validate") });
        const now = Date.now();
        for (const bad of ["", "short", "UPPERCASE1", "a".repeat(65), "../../etc/x", "abcdefgh\n"]) {
          assert.equal(await store.load(bad, now), null);
          await assert.rejects(store.create(bad, rec(now)), TypeError);
          await assert.rejects(store.save(bad, rec(now)), TypeError);
          await assert.rejects(store.delete(bad), TypeError);
        }
        const k = key();
        const broken = [
          { ...rec(now), expires: Number.POSITIVE_INFINITY },
          { ...rec(now), data: 42 },
          { ...rec(now), active: "1" },
          { ...rec(now), expiry: null },
          null,
        ] as unknown as SessionRecord[];
        for (const record of broken) {
          await assert.rejects(store.create(k, record), TypeError);
          await assert.rejects(store.save(k, record), TypeError);
        }
        await assert.rejects(store.save(k, rec(now), { v: 1 } as never), TypeError);
        assert.deepEqual(touched, []);
      });

      test(`${title} the object refuses unknown operations and malformed bodies, and writes nothing`, async () => {
        const prefix = name("hostile");
        const k = key();
        const target = stub(prefix, k);
        const send = async (path: string, body: string, method = "POST") => {
          const response = await target.fetch(`https://x${path}`, { method, headers: {}, body });
          return { status: response.status, reply: (await response.json()) as Record<string, unknown> };
        };
        assert.equal((await send("/load", "{}", "PUT")).status, 404);
        assert.equal((await send("/drop", "{}")).status, 404);
        assert.equal((await send("/create", "not json")).status, 400);
        assert.equal((await send("/create", "[1]")).status, 400);
        assert.equal(
          (await send("/create", '{"record":{"data":"{}","expires":"soon","created":1,"active":1}}')).status,
          400,
        );
        assert.equal(
          (await send(
            "/create",
            `{"record":{"data":"{}","expires":${Date.now() + 60_000},"created":1,"active":1},"version":{}}`,
          ))
            .status,
          400,
        );
        const refused = await send("/save", "{}");
        assert.equal(refused.status, 400);
        assert.equal(refused.reply.code, undefined, "a malformed request is not a session condition");
        assert.deepEqual(await inspect(prefix, k), { keys: [], alarm: null });
      });

      test(`${title} only the three session codes become SessionError; other failures are plain Errors`, async () => {
        const answers: (() => Response)[] = [
          () => new Response("overloaded", { status: 503 }),
          () => Response.json({ ok: false, error: "boom" }, { status: 500 }),
          () => Response.json({ ok: false, code: "STORE_UNAVAILABLE" }, { status: 500 }),
          () => Response.json({ ok: false, code: "__proto__" }, { status: 409 }),
          () => Response.json(["ok"]),
          () => Response.json({ ok: true, record: { data: 1 } }),
        ];
        for (const answer of answers) {
          const store = durableObjectStore({
            namespace: { idFromName: (n: string) => n, get: () => ({ fetch: async () => answer() }) },
          });
          const error = await store.load(key(), Date.now()).then(() => null, (e: unknown) => e);
          assert.ok(error instanceof Error && !(error instanceof SessionError), String(error));
          assert.ok(!/do[0-9a-z]{10}/.test(error.message), "no key in the message");
        }
        for (const code of ["SESSION_EXISTS", "SESSION_INTERRUPTED", "SESSION_CONFLICT"]) {
          const store = durableObjectStore({
            namespace: {
              idFromName: (n: string) => n,
              get: () => ({ fetch: async () => Response.json({ ok: false, code }, { status: 409 }) }),
            },
          });
          await rejectsCode(store.save(key(), rec(Date.now())), code);
        }
      });

      test(`${title} refuses bad options at construction`, () => {
        assert.throws(() => durableObjectStore(undefined as never), TypeError);
        assert.throws(() => durableObjectStore({ namespace: { get: () => ({}) } as never }), TypeError);
        assert.throws(() => durableObjectStore({ namespace: ns(), name: 7 as never }), TypeError);
        assert.throws(() => durableObjectStore({ namespace: ns(), name: "n".repeat(257) }), RangeError);
      });
    });
  }
}
