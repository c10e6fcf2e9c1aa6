/**
 * How session data becomes a string and back.
 *
 * - `"json"` (default): `JSON.stringify`/`JSON.parse`, what Django and every peer use.
 * - `"tagged"`: JSON with tagged values, so `Date`, `Map`, `Set`, `BigInt`, `Uint8Array`,
 *   `undefined`, `NaN`, `Infinity` and `-0` round-trip. Decoding only ever builds those types (plus
 *   plain objects and arrays) and rejects any unknown tag, so client or store data can never make
 *   it instantiate anything else. A plain object that has a `"$"` key of its own is escaped.
 * - any `{ stringify, parse, check? }` of your own.
 *
 * "What you set is what you get back": both built-in serializers have a `check(value, key)` that
 * `session.set()` calls, so a value the serializer would change or drop (a `Date` under JSON, a
 * class instance under either) is refused with a `TypeError` at the line that set it, naming the
 * key, the path inside the value and the type, never the value itself. `check` walks the value once
 * and does not stringify it. Serialization errors that still happen at commit (a custom serializer
 * without `check`, data mutated in place after `set`) surface as `SessionError("SERIALIZATION_FAILED")`.
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";
import { SessionError } from "./errors.ts";

/** Turns the session's key-value data into a string and back. `parse` may throw on bad input. */
export interface Serializer {
  stringify(data: Record<string, unknown>): string;
  parse(text: string): Record<string, unknown>;
  /**
   * Throw a `TypeError` when `value`, stored under `key`, would not come back from
   * `parse(stringify(…))` as it went in. Called by `session.set()`, `update()` and `setDefault()`;
   * optional for custom serializers. The message must not contain the value (it may be secret).
   */
  check?(value: unknown, key: string): void;
}

/** How deep both built-in serializers follow nested values before refusing (`check` and the tagged format). */
export const MAX_DEPTH = 256;

// ---------------------------------------------------------------------------------------------
// check: one walk of the value; on success it allocates two short arrays and an Object.keys per object.

type Rules = "json" | "tagged";

/** What a value is, for a message: its type, never its content. */
function describe(value: unknown): string {
  switch (typeof value) {
    case "undefined": return "undefined";
    case "function": return "a function";
    case "symbol": return "a symbol";
    case "bigint": return "a bigint";
    case "number": return Number.isNaN(value) ? "NaN" : String(value); // only ever ±Infinity or NaN here
  }
  let proto: object | null;
  try {
    proto = Object.getPrototypeOf(value);
  } catch {
    return "an object";
  }
  if (proto === Date.prototype) return "a Date";
  if (proto === Map.prototype) return "a Map";
  if (proto === Set.prototype) return "a Set";
  const ctor = proto && Object.hasOwn(proto, "constructor") ? (proto as { constructor: unknown }).constructor : undefined;
  const name = typeof ctor === "function" && typeof ctor.name === "string" && /^[\w$]{1,64}$/.test(ctor.name) ? ctor.name : "";
  return name ? `an instance of ${name}` : "an object with a custom prototype";
}

/** One step of a path: an object key, an array index, or a Map entry / Set item (by position). */
type Step = string | number | { readonly in: "Map entry" | "Set item"; readonly at: number; readonly part?: "key" | "value" };

/** `.name` for identifier keys, `["…"]` otherwise, `[i]` for indexes. Keys are names chosen by code, not values. */
function format(step: Step): string {
  if (typeof step === "number") return `[${step}]`;
  if (typeof step === "object") return `[${step.in} #${step.at}${step.part ? ` ${step.part}` : ""}]`;
  return /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step.length > 64 ? step.slice(0, 64) + "…" : step)}]`;
}

/**
 * Walk `value`; on the first value the rules cannot keep, leave `path` pointing at it and return
 * its description. Nothing is formatted until something fails. `open` holds the containers on the
 * current path (a cycle), not every one seen (a shared reference is fine: it comes back as two
 * equal copies); it is at most `MAX_DEPTH` long and usually a handful, so a linear scan beats a Set.
 */
function walk(value: unknown, rules: Rules, path: Step[], open: object[]): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return rules === "tagged" || Number.isFinite(value) ? null : describe(value);
    case "bigint":
    case "undefined":
      return rules === "tagged" ? null : describe(value);
    case "object":
      break;
    default:
      return describe(value);
  }
  if (value === null) return null;
  if (open.includes(value)) return "a cycle (a value that contains itself)";
  if (open.length >= MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} levels`;
  const proto = Object.getPrototypeOf(value);
  open.push(value);
  let fault: string | null = null;
  if (proto === Array.prototype) {
    const array = value as unknown[];
    for (let i = 0; i < array.length; i++) {
      const item = array[i];
      if (typeof item === "string" || typeof item === "boolean" || item === null) continue;
      path.push(i);
      fault = item === undefined && !(i in array) ? "an empty array slot" : walk(item, rules, path, open);
      if (fault !== null) break;
      path.pop();
    }
  } else if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      const item = (value as Record<string, unknown>)[keys[i]!];
      if (typeof item === "string" || typeof item === "boolean" || item === null) continue;
      path.push(keys[i]!);
      fault = walk(item, rules, path, open);
      if (fault !== null) break;
      path.pop();
    }
    if (fault === null && Object.getOwnPropertySymbols(value).length > 0) fault = "an object with symbol-keyed properties (they are dropped)";
  } else if (rules === "tagged" && proto === Map.prototype) {
    let at = 0;
    for (const [k, v] of value as Map<unknown, unknown>) {
      path.push({ in: "Map entry", at, part: "key" });
      fault = walk(k, rules, path, open);
      if (fault !== null) break;
      path[path.length - 1] = { in: "Map entry", at, part: "value" };
      fault = walk(v, rules, path, open);
      if (fault !== null) break;
      path.pop();
      at++;
    }
  } else if (rules === "tagged" && proto === Set.prototype) {
    let at = 0;
    for (const item of value as Set<unknown>) {
      path.push({ in: "Set item", at });
      fault = walk(item, rules, path, open);
      if (fault !== null) break;
      path.pop();
      at++;
    }
  } else if (!(rules === "tagged" && (proto === Date.prototype || proto === Uint8Array.prototype))) {
    fault = describe(value);
  }
  open.pop();
  return fault;
}

function checker(rules: Rules): (value: unknown, key: string) => void {
  const advice = rules === "json"
    ? `JSON cannot store it as it is: convert it first, or use serializer: "tagged" (which also keeps Date, Map, Set, BigInt, Uint8Array, undefined and non-finite numbers)`
    : "the tagged serializer cannot store it as it is: convert it to plain data first";
  return function check(value: unknown, key: string): void {
    if (typeof value === "string" || typeof value === "boolean" || value === null || Number.isFinite(value)) return;
    const path: Step[] = [String(key)];
    const fault = walk(value, rules, path, []);
    if (fault === null) return;
    const where = path.map(format).join("").replace(/^\./, "");
    throw new TypeError(`Cannot set session key ${JSON.stringify(String(key))}: ${where} is ${fault}; ${advice}`);
  };
}

/** The default: plain JSON. `check` refuses what JSON would change (`-0` passes: it comes back as `0`, which `===` it). */
export const jsonSerializer: Serializer = Object.freeze({
  stringify: (data: Record<string, unknown>): string => JSON.stringify(data),
  parse: (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>,
  check: checker("json"),
});

// ---------------------------------------------------------------------------------------------
// The tagged format.

function fail(message: string): never {
  throw new SessionError("SERIALIZATION_FAILED", message);
}

const UNDEFINED = Object.freeze({ $: "undefined" });

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function encode(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) fail(`Cannot serialize session data: nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { $: "Number", v: Object.is(value, -0) ? "-0" : String(value) };
    case "bigint":
      return { $: "BigInt", v: value.toString() };
    case "undefined":
      return UNDEFINED;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = encode(value[i], depth + 1);
        return out;
      }
      if (value instanceof Date) return { $: "Date", v: Number.isNaN(value.getTime()) ? null : value.getTime() };
      if (value instanceof Map) {
        return { $: "Map", v: Array.from(value, ([k, v]) => [encode(k, depth + 1), encode(v, depth + 1)]) };
      }
      if (value instanceof Set) return { $: "Set", v: Array.from(value, (v) => encode(v, depth + 1)) };
      if (value instanceof Uint8Array && value.constructor === Uint8Array) {
        return { $: "Uint8Array", v: encodeBase64Url(value) };
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) fail("Cannot serialize session data: it holds an unsupported object type");
      const entries = Object.entries(value as Record<string, unknown>);
      if (Object.hasOwn(value, "$")) {
        return { $: "Object", v: entries.map(([k, v]) => [k, encode(v, depth + 1)]) };
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) define(out, k, encode(v, depth + 1));
      return out;
    }
    default:
      return fail(`Cannot serialize session data: a ${typeof value} cannot be stored`);
  }
}

const DIGITS = /^-?\d{1,4096}$/;

function isPairs(v: unknown): v is [unknown, unknown][] {
  return Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2);
}

/**
 * Rebuild tagged values from parsed JSON. A walk of our own rather than a `JSON.parse` reviver:
 * a reviver that returns `undefined` deletes the property (and leaves a hole in an array), so
 * `undefined` could not come back. Plain objects and arrays are rewritten in place (an own
 * `"__proto__"` key that `JSON.parse` created stays an own data property on assignment).
 */
function decode(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > MAX_DEPTH) throw new TypeError(`Cannot parse session data: nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decode(value[i], depth + 1);
    return value;
  }
  const record = value as Record<string, unknown>;
  if (!Object.hasOwn(record, "$")) {
    for (const key of Object.keys(record)) record[key] = decode(record[key], depth + 1);
    return record;
  }
  const { $: tag, v } = record;
  switch (tag) {
    case "undefined":
      if (Object.keys(record).length === 1) return undefined;
      break;
    case "Date":
      if (v === null) return new Date(Number.NaN);
      if (typeof v === "number") return new Date(v);
      break;
    case "Map":
      if (isPairs(v)) return new Map(v.map(([k, item]) => [decode(k, depth + 1), decode(item, depth + 1)]));
      break;
    case "Set":
      if (Array.isArray(v)) return new Set(v.map((item) => decode(item, depth + 1)));
      break;
    case "BigInt":
      if (typeof v === "string" && DIGITS.test(v)) return BigInt(v);
      break;
    case "Number":
      if (v === "NaN") return Number.NaN;
      if (v === "Infinity") return Number.POSITIVE_INFINITY;
      if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
      if (v === "-0") return -0;
      break;
    case "Uint8Array": {
      const bytes = typeof v === "string" ? decodeBase64Url(v) : null;
      if (bytes) return bytes;
      break;
    }
    case "Object":
      if (isPairs(v) && v.every((e) => typeof e[0] === "string")) {
        const out: Record<string, unknown> = {};
        for (const [k, item] of v as [string, unknown][]) define(out, k, decode(item, depth + 1));
        return out;
      }
      break;
  }
  throw new TypeError("Cannot parse session data: unknown or malformed tag");
}

/**
 * JSON with tagged `Date`, `Map`, `Set`, `BigInt`, `Uint8Array`, `undefined` and non-finite numbers.
 * `undefined` round-trips exactly (a key holding it stays, an array element stays an element, not
 * a hole). `check` refuses class instances (subclasses of `Date`, `Map`, `Set` and `Uint8Array`
 * included: they would come back as the base class), other typed arrays, functions, symbols,
 * symbol-keyed properties, array holes, cycles and nesting deeper than `MAX_DEPTH`.
 */
export const taggedSerializer: Serializer = Object.freeze({
  stringify: (data: Record<string, unknown>): string => JSON.stringify(encode(data, 0)),
  parse: (text: string): Record<string, unknown> => decode(JSON.parse(text), 0) as Record<string, unknown>,
  check: checker("tagged"),
});

/** Resolve the `serializer` option. */
export function resolveSerializer(option: "json" | "tagged" | Serializer | undefined): Serializer {
  if (option === undefined || option === "json") return jsonSerializer;
  if (option === "tagged") return taggedSerializer;
  if (typeof option === "object" && option !== null && typeof option.stringify === "function" && typeof option.parse === "function") {
    if (option.check !== undefined && typeof option.check !== "function") {
      throw new TypeError("Cannot create sessions: serializer.check must be a function when given");
    }
    return option;
  }
  throw new TypeError("Cannot create sessions: serializer must be 'json', 'tagged' or an object with stringify and parse");
}
