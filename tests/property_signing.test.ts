/**
 * Property tests of the cookie store: any single change to a signed or an encrypted cookie gives an
 * empty session; `__proto__` and `constructor` keys stay plain data through a cookie and through
 * both serializers.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { cookieStore, createSessions, jsonSerializer, taggedSerializer } from "../mod.ts";
import type { CookieStoreOptions } from "../mod.ts";
import { SECRET, cookieValue, request, run } from "./_http.ts";
import { fakeClock } from "./_env.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=%+/";

/** One edit of a cookie value: a character replaced, inserted or deleted, or the tail cut off. */
type Mutation =
  | { kind: "flip"; at: number; char: string }
  | { kind: "insert"; at: number; char: string }
  | { kind: "delete"; at: number }
  | { kind: "truncate"; at: number };

const charArb = fc.constantFrom(...ALPHABET);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), char: charArb }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), char: charArb }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

/** Apply a mutation; the result always differs from `value`. */
function mutate(value: string, m: Mutation): string {
  const n = value.length;
  switch (m.kind) {
    case "flip": {
      const at = m.at % n;
      const char = m.char === value[at] ? ALPHABET[(ALPHABET.indexOf(m.char) + 1) % ALPHABET.length]! : m.char;
      return value.slice(0, at) + char + value.slice(at + 1);
    }
    case "insert": {
      const at = m.at % (n + 1);
      return value.slice(0, at) + m.char + value.slice(at);
    }
    case "delete": {
      const at = m.at % n;
      return value.slice(0, at) + value.slice(at + 1);
    }
    case "truncate":
      return value.slice(0, m.at % n);
  }
}

for (const [label, options] of [["signed", {}], ["encrypted", { encrypt: true }], ["encrypted, padded", { encrypt: true, pad: 32 }]] as [string, CookieStoreOptions][]) {
  describe(`cookieStore() ${label}`, () => {
    test("any single flip, insertion, deletion or truncation of the cookie loads as an empty session", async () => {
      const clock = fakeClock(1_700_000_000_000);
      const sessions = createSessions({ secret: SECRET, store: cookieStore(options), now: clock.now });
      // A small payload, and one large enough to be compressed when signed.
      for (const data of [{ user: "ada", roles: ["admin"] }, { text: "satchel ".repeat(80) }]) {
        const value = cookieValue(await run(sessions, undefined, (s) => s.update(data)))!;
        assert.equal((await sessions.load(request(value))).isEmpty, false, "the untouched cookie loads");
        await fc.assert(
          fc.asyncProperty(mutationArb, async (m) => {
            const mutated = mutate(value, m);
            assert.notEqual(mutated, value);
            const session = await sessions.load(request(mutated));
            assert.equal(session.isEmpty, true, `${m.kind} at ${m.at}`);
          }),
          { numRuns: 120 },
        );
      }
    });
  });
}

/** Risky keys mixed with ordinary ones. */
const keyArb = fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "isAdmin", "toString"), fc.string({ maxLength: 8 }));

/** An ordinary object with these own entries (defineProperty, so "__proto__" is a key). */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** JSON data whose objects, at every level, carry `__proto__`, `constructor` and friends as keys. */
const riskyData = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null)),
    fc.array(tie("node"), { maxLength: 3 }),
    fc.array(fc.tuple(keyArb, tie("node")), { maxLength: 4 }).map(objectOf),
  ),
})).node;
const riskySession = fc.array(fc.tuple(keyArb, riskyData), { minLength: 1, maxLength: 4 }).map(objectOf);

/** Every object in `value` still has the ordinary prototype, and nothing leaked onto Object.prototype. */
function assertPlain(value: unknown): void {
  if (value === null || typeof value !== "object") return;
  assert.equal(Object.getPrototypeOf(value), Array.isArray(value) ? Array.prototype : Object.prototype);
  for (const key of Object.keys(value)) assertPlain((value as Record<string, unknown>)[key]);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
}

describe("__proto__ and constructor keys stay data", () => {
  test("through the JSON and tagged serializers", () => {
    fc.assert(
      fc.property(riskySession, (data) => {
        for (const serializer of [jsonSerializer, taggedSerializer]) {
          for (const key of Object.keys(data)) serializer.check!(data[key], key);
          const back = serializer.parse(serializer.stringify(data));
          assert.deepEqual(back, data);
          assertPlain(back);
        }
      }),
      { numRuns: 150 },
    );
  });

  test("through a cookie round trip, signed and encrypted", async () => {
    const clock = fakeClock(1_700_000_000_000);
    for (const options of [{}, { encrypt: true }] as CookieStoreOptions[]) {
      const sessions = createSessions({ secret: SECRET, store: cookieStore(options), now: clock.now });
      await fc.assert(
        fc.asyncProperty(riskySession, async (data) => {
          const value = cookieValue(await run(sessions, undefined, (s) => s.update(data)))!;
          const session = await sessions.load(request(value));
          assert.deepEqual(objectOf(session.entries() as [string, unknown][]), data);
          for (const [, v] of session.entries()) assertPlain(v);
        }),
        { numRuns: 40 },
      );
    }
  });
});
