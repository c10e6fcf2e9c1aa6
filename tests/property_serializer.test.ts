/**
 * Property tests of the set-time checks: what `check` accepts comes back from the serializer as it
 * went in; a value with something the serializer would change anywhere inside is refused, with the
 * key and the path to it in the message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonSerializer, taggedSerializer } from "../mod.ts";
import type { Serializer } from "../mod.ts";

const RUNS = { numRuns: 150 };

/** Keys that are dangerous if treated as anything but data, plus ordinary and odd ones. */
const keyArb = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "$", "v", ""),
  fc.string({ maxLength: 12 }),
);

/** An ordinary object with these own entries (defineProperty, so "__proto__" is a key). */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Containers of the given leaves: arrays and ordinary objects with risky keys. */
function tree(leaf: fc.Arbitrary<unknown>, extra: (inner: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>[] = () => []) {
  return fc.letrec<{ node: unknown }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("node"), { maxLength: 4 }),
      fc.array(fc.tuple(keyArb, tie("node")), { maxLength: 4 }).map(objectOf),
      ...extra(tie("node")),
    ),
  })).node;
}

/** JSON leaves; -0 is left out (JSON writes it as 0, which `===` it, so check lets it through). */
const jsonLeaf = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.integer(),
);
const jsonSafe = tree(jsonLeaf);

/** The tagged serializer also keeps these. */
const taggedLeaf = fc.oneof(
  jsonLeaf,
  fc.constantFrom(undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0),
  fc.bigInt(),
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 8 }),
);
// Map keys and Set members are primitives: with object keys, deepEqual may pair two equal-looking
// keys in another order (Bun does), which says nothing about the serializer.
const member = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
const taggedSafe = tree(taggedLeaf, (inner) => [
  fc.array(fc.tuple(member, inner), { maxLength: 3 }).map((entries) => new Map(entries)),
  fc.array(member, { maxLength: 3 }).map((items) => new Set(items)),
]);

class Point {
  x = 1;
}
class Stamp extends Date {}
const cycle = fc.constant(null).map(() => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
});
/** Leaves the tagged serializer cannot keep (so JSON cannot either). */
const neverSafe = fc.oneof(
  fc.constant(null).map(() => () => 1),
  fc.string().map((s) => Symbol(s)),
  fc.constant(null).map(() => new Point()),
  fc.constant(null).map(() => new Stamp(0)),
  fc.constant(null).map(() => new Uint16Array(2)),
  cycle,
);
/** Leaves JSON would change or drop. */
const notJsonSafe = fc.oneof(
  neverSafe,
  fc.constantFrom(undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.bigInt(),
  fc.date(),
  fc.constant(null).map(() => new Map([["a", 1]])),
  fc.constant(null).map(() => new Set([1])),
);

/** The path formatting `check` uses: `.name` for identifiers, `["…"]` otherwise, `[i]` for indexes. */
function segment(step: string | number): string {
  if (typeof step === "number") return `[${step}]`;
  return /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
}

/**
 * Bury `bad` at the end of a random path of arrays and objects padded with JSON-safe siblings;
 * returns the value and the path `check` should report.
 */
function poisoned(bad: fc.Arbitrary<unknown>) {
  const step = fc.oneof(fc.nat(3), keyArb);
  return fc.tuple(bad, fc.array(step, { maxLength: 5 }), jsonSafe).map(([leaf, steps, filler]) => {
    let value = leaf;
    for (const s of [...steps].reverse()) {
      if (typeof s === "number") value = [...Array.from({ length: s }, () => filler), value];
      else value = objectOf([...(s === "other" ? [] : [["other", filler] as [string, unknown]]), [s, value]]);
    }
    let where = "key" + steps.map(segment).join("");
    // A cycle is reported where it closes.
    if (leaf !== null && typeof leaf === "object" && "self" in leaf) where += ".self";
    return { value, where };
  });
}

function assertRefused(serializer: Serializer, value: unknown, where: string) {
  assert.throws(() => serializer.check!(value, "key"), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.ok(e.message.startsWith('Cannot set session key "key": '), e.message);
    assert.ok(e.message.includes(`: ${where} is `), `${where} in ${e.message}`);
    return true;
  });
}

test("jsonSerializer: every value check accepts round-trips deep-equal, with __proto__ keys kept as data", () => {
  fc.assert(
    fc.property(jsonSafe, (value) => {
      jsonSerializer.check!(value, "key");
      const back = jsonSerializer.parse(jsonSerializer.stringify(objectOf([["key", value]])));
      assert.deepEqual(back, { key: value });
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    }),
    RUNS,
  );
});

test("taggedSerializer: every value check accepts round-trips deep-equal", () => {
  fc.assert(
    fc.property(taggedSafe, (value) => {
      taggedSerializer.check!(value, "key");
      const back = taggedSerializer.parse(taggedSerializer.stringify(objectOf([["key", value]])));
      assert.deepEqual(back, { key: value });
    }),
    RUNS,
  );
});

test("jsonSerializer.check refuses a value holding anything JSON would change, at the right path", () => {
  fc.assert(fc.property(poisoned(notJsonSafe), ({ value, where }) => assertRefused(jsonSerializer, value, where)), RUNS);
});

test("taggedSerializer.check refuses a value holding anything it cannot keep, at the right path", () => {
  fc.assert(fc.property(poisoned(neverSafe), ({ value, where }) => assertRefused(taggedSerializer, value, where)), RUNS);
});
