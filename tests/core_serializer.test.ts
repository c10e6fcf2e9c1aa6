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

test("taggedSerializer round-trips undefined exactly: as a value, inside objects, arrays, Maps and Sets", () => {
  const value = {
    top: undefined,
    obj: { a: undefined, b: 1 },
    arr: [undefined, 1, undefined],
    map: new Map<unknown, unknown>([[undefined, undefined], ["k", [undefined]]]),
    set: new Set([undefined, 1]),
    dollar: { $: undefined, x: undefined },
  };
  const back = taggedSerializer.parse(taggedSerializer.stringify(value));
  assert.deepEqual(back, value);
  assert.ok(Object.hasOwn(back, "top") && Object.hasOwn(back.obj as object, "a"), "keys with undefined are kept, not dropped");
  assert.equal((back.arr as unknown[]).length, 3);
  assert.ok(0 in (back.arr as unknown[]), "an undefined element, not a hole");
});

test("taggedSerializer parse refuses nesting deeper than it writes", () => {
  assert.throws(() => taggedSerializer.parse('{"x":' + "[".repeat(300) + "]".repeat(300) + "}"), TypeError);
  assert.doesNotThrow(() => taggedSerializer.parse('{"x":' + "[".repeat(200) + "]".repeat(200) + "}"));
});

/** The TypeError `check` throws, with the key, the path and the type, never the value. */
function refused(serializer: typeof jsonSerializer, value: unknown, path: string, type: RegExp, key = "k") {
  assert.throws(() => serializer.check!(value, key), (e: unknown) => {
    assert.ok(e instanceof TypeError, `TypeError for ${path}`);
    assert.ok(e.message.includes(`"${key}"`), e.message);
    assert.ok(e.message.includes(` ${path} `), `path ${path} in: ${e.message}`);
    assert.match(e.message, type);
    return true;
  });
}

test("jsonSerializer.check refuses, at any depth, every value JSON would change or drop", () => {
  class Point { x = 1; }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: [unknown, string, RegExp][] = [
    [new Date(0), "k", /a Date/],
    [{ when: new Date(0) }, "k.when", /a Date/],
    [{ m: [1, { deep: new Map() }] }, "k.m[1].deep", /a Map/],
    [[new Set()], "k[0]", /a Set/],
    [{ p: new Point() }, "k.p", /an instance of Point/],
    [undefined, "k", /undefined/],
    [{ a: undefined }, "k.a", /undefined/],
    [[1, undefined], "k[1]", /undefined/],
    // deno-lint-ignore no-sparse-arrays
    [[1, , 3], "k[1]", /empty array slot/],
    [{ f() {} }, "k.f", /a function/],
    [{ s: Symbol("x") }, "k.s", /a symbol/],
    [{ [Symbol("x")]: 1 }, "k", /symbol-keyed/],
    [{ n: Number.NaN }, "k.n", /NaN/],
    [{ n: [Number.POSITIVE_INFINITY] }, "k.n[0]", /Infinity/],
    [{ n: Number.NEGATIVE_INFINITY }, "k.n", /-Infinity/],
    [{ n: 1n }, "k.n", /a bigint/],
    [cyclic, "k.self", /a cycle/],
    [{ "odd key": { "0": new Uint8Array(1) } }, 'k["odd key"]["0"]', /an instance of Uint8Array/],
    [new String("s"), "k", /an instance of String/],
  ];
  for (const [value, path, type] of cases) {
    refused(jsonSerializer, value, path, type);
    assert.throws(() => jsonSerializer.check!(value, "k"), /serializer: "tagged"/);
  }
});

test("jsonSerializer.check accepts JSON data, including __proto__ and constructor keys and shared references", () => {
  const shared = { x: 1 };
  const data = JSON.parse('{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"p":1}},"list":[1,"two",null,true,{"a":[]}]}');
  for (const value of [1, "s", null, true, -0, 1.5e300, [], {}, data, [shared, shared], Object.create(null), { $: "Date", v: 0 }]) {
    assert.doesNotThrow(() => jsonSerializer.check!(value, "k"));
  }
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
});

test("check messages name the key, path and type but never the value", () => {
  const secret = "4111-1111-1111-1111";
  for (const serializer of [jsonSerializer, taggedSerializer]) {
    try {
      serializer.check!({ card: secret, fn: () => secret }, "payment");
      assert.fail("expected a TypeError");
    } catch (e) {
      assert.ok(e instanceof TypeError);
      assert.ok(!e.message.includes(secret) && !e.message.includes("=>"), e.message);
      assert.ok(e.message.includes('"payment"') && e.message.includes("payment.fn"), e.message);
    }
  }
});

test("taggedSerializer.check accepts what it round-trips and refuses the rest, at any depth", () => {
  for (const value of [new Date(0), new Map([[{ a: 1 }, new Set([1n])]]), undefined, [undefined], Number.NaN, -0, new Uint8Array(2), { a: { $: 1 } }]) {
    assert.doesNotThrow(() => taggedSerializer.check!(value, "k"));
    assert.deepEqual(taggedSerializer.parse(taggedSerializer.stringify({ k: value })).k, value);
  }
  class Point { x = 1; }
  class MyDate extends Date {}
  const cyclic: unknown[] = [];
  cyclic.push(new Map([["c", cyclic]]));
  let deep: unknown = 1;
  for (let i = 0; i < 300; i++) deep = [deep];
  const cases: [unknown, string, RegExp][] = [
    [{ p: new Point() }, "k.p", /an instance of Point/],
    [[new MyDate(0)], "k[0]", /an instance of MyDate/],
    [{ u: new Uint16Array(1) }, "k.u", /an instance of Uint16Array/],
    [{ f: () => 1 }, "k.f", /a function/],
    [new Map([[1, Symbol("s")]]), "k[Map entry #0 value]", /a symbol/],
    [new Set([1, () => 1]), "k[Set item #1]", /a function/],
    [cyclic, "k[0][Map entry #0 value]", /a cycle/],
    [deep, "k" + "[0]".repeat(256), /deeper than 256/],
    // deno-lint-ignore no-sparse-arrays
    [[, 1], "k[0]", /empty array slot/],
  ];
  for (const [value, path, type] of cases) refused(taggedSerializer, value, path, type);
});
