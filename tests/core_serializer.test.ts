/** Serializers: JSON by default, the tagged serializer's round trips and its refusal to build other types. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, taggedSerializer, jsonSerializer } from "../mod.ts";
import { cookieValue, request, run, setup } from "./_http.ts";

test("taggedSerializer round-trips Date, Map, Set, BigInt, Uint8Array and non-finite numbers", () => {
  const value = {
    when: new Date(1_700_000_000_123),
    invalid: new Date(Number.NaN),
    map: new Map<unknown, unknown>([["a", 1], [2, new Set([new Date(0)])]]),
    set: new Set(["x", 10n]),
    big: -12345678901234567890n,
    bytes: new Uint8Array([0, 1, 254, 255]),
    nums: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1.5],
    dollar: { $: "Date", v: 0, other: true },
    nested: { list: [new Map([["k", new Uint8Array([7])]])] },
  };
  const back = taggedSerializer.parse(taggedSerializer.stringify(value));
  assert.deepEqual(back, value);
  assert.ok(back.when instanceof Date);
  assert.ok(Number.isNaN((back.invalid as Date).getTime()));
  assert.ok(Object.is((back.nums as number[])[3], -0));
  assert.deepEqual(back.dollar, { $: "Date", v: 0, other: true }, "a plain object with its own $ key stays a plain object");
});

test("taggedSerializer never instantiates anything else from input", () => {
  for (const text of [
    '{"x":{"$":"Function","v":"return 1"}}',
    '{"x":{"$":"RegExp","v":"a"}}',
    '{"x":{"$":"Date","v":"2020-01-01"}}',
    '{"x":{"$":"BigInt","v":"1e3"}}',
    '{"x":{"$":"Map","v":[[1]]}}',
    '{"x":{"$":"Uint8Array","v":"!!"}}',
    '{"x":{"$":"Object","v":[[1,2]]}}',
    '{"x":{"$":"constructor"}}',
  ]) {
    assert.throws(() => taggedSerializer.parse(text), TypeError, text);
  }
  const polluted = taggedSerializer.parse('{"x":{"$":"Object","v":[["__proto__",{"isAdmin":true}]]}}');
  assert.equal(Object.getPrototypeOf(polluted.x), Object.prototype);
  assert.deepEqual(Object.keys(polluted.x as object), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
});

test("taggedSerializer refuses class instances, functions, symbols and excessive depth with SERIALIZATION_FAILED", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 300; i++) deep = [deep];
  for (const value of [new (class Custom {})(), () => 1, Symbol("s"), deep, new Uint16Array(2)]) {
    assert.throws(() => taggedSerializer.stringify({ value }), (e: unknown) => e instanceof SessionError && e.code === "SERIALIZATION_FAILED");
  }
});

test("sessions with the tagged serializer keep a Date a Date across requests", async () => {
  const { sessions } = setup<{ seen: Date; ids: Set<bigint> }>({ serializer: "tagged" });
  const id = cookieValue(await run(sessions, undefined, (s) => { s.set("seen", new Date(5)); s.set("ids", new Set([1n])); }))!;
  const session = await sessions.load(request(id));
  assert.ok(session.get("seen") instanceof Date);
  assert.equal(session.get("seen")!.getTime(), 5);
  assert.deepEqual(session.get("ids"), new Set([1n]));
});

test("a custom serializer is used both ways; a failing parse gives an empty session that keeps its key (Django)", async () => {
  let broken = false;
  const custom = {
    stringify: (d: Record<string, unknown>) => "v1:" + JSON.stringify(d),
    parse: (t: string) => { if (broken || !t.startsWith("v1:")) throw new Error("bad"); return JSON.parse(t.slice(3)) as Record<string, unknown>; },
  };
  const { sessions } = setup({ serializer: custom });
  const id = cookieValue(await run(sessions, undefined, (s) => s.set("k", 1)))!;
  assert.equal((await sessions.load(request(id))).get("k"), 1);
  broken = true;
  const corrupt = await sessions.load(request(id));
  assert.equal(corrupt.get("k"), undefined);
  assert.equal(corrupt.id, id);
  broken = false;
  assert.equal(jsonSerializer.stringify({ a: 1 }), '{"a":1}');
});
