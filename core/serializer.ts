/**
 * How session data becomes a string and back.
 *
 * - `"json"` (default): `JSON.stringify`/`JSON.parse`, what Django and every peer use.
 * - `"tagged"`: JSON with tagged values, so `Date`, `Map`, `Set`, `BigInt`, `Uint8Array`,
 *   `NaN`, `Infinity` and `-0` round-trip. Decoding only ever builds those types (plus plain
 *   objects and arrays) and rejects any unknown tag, so client or store data can never make it
 *   instantiate anything else. A plain object that has a `"$"` key of its own is escaped.
 * - any `{ stringify, parse }` pair of your own.
 *
 * Serialization errors (a class instance, a cycle, a 10⁵-deep value) surface as
 * `SessionError("SERIALIZATION_FAILED")` at commit, never as a bare `RangeError`.
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";
import { SessionError } from "./errors.ts";

/** Turns the session's key-value data into a string and back. `parse` may throw on bad input. */
export interface Serializer {
  stringify(data: Record<string, unknown>): string;
  parse(text: string): Record<string, unknown>;
}

/** The default: plain JSON. */
export const jsonSerializer: Serializer = Object.freeze({
  stringify: (data: Record<string, unknown>): string => JSON.stringify(data),
  parse: (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>,
});

/** How deep the tagged serializer follows nested values before refusing. */
export const MAX_DEPTH = 256;

function fail(message: string): never {
  throw new SessionError("SERIALIZATION_FAILED", message);
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
      return undefined;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = encode(value[i], depth + 1) ?? null;
        return out;
      }
      if (value instanceof Date) return { $: "Date", v: Number.isNaN(value.getTime()) ? null : value.getTime() };
      if (value instanceof Map) {
        return { $: "Map", v: Array.from(value, ([k, v]) => [encode(k, depth + 1), encode(v, depth + 1) ?? null]) };
      }
      if (value instanceof Set) return { $: "Set", v: Array.from(value, (v) => encode(v, depth + 1) ?? null) };
      if (value instanceof Uint8Array && value.constructor === Uint8Array) {
        return { $: "Uint8Array", v: encodeBase64Url(value) };
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) fail("Cannot serialize session data: it holds an unsupported object type");
      const entries = Object.entries(value as Record<string, unknown>);
      if (Object.hasOwn(value, "$")) {
        return { $: "Object", v: entries.map(([k, v]) => [k, encode(v, depth + 1) ?? null]) };
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) {
        const encoded = encode(v, depth + 1);
        if (encoded !== undefined) Object.defineProperty(out, k, { value: encoded, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      return fail(`Cannot serialize session data: a ${typeof value} cannot be stored`);
  }
}

const DIGITS = /^-?\d{1,4096}$/;

function revive(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, "$")) return value;
  const { $: tag, v } = value as { $: unknown; v: unknown };
  switch (tag) {
    case "Date":
      if (v === null) return new Date(Number.NaN);
      if (typeof v === "number") return new Date(v);
      break;
    case "Map":
      if (Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2)) return new Map(v as [unknown, unknown][]);
      break;
    case "Set":
      if (Array.isArray(v)) return new Set(v);
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
      if (Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === "string")) {
        const out: Record<string, unknown> = {};
        for (const [k, item] of v as [string, unknown][]) {
          Object.defineProperty(out, k, { value: item, enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      break;
  }
  throw new TypeError("Cannot parse session data: unknown or malformed tag");
}

/** JSON with tagged `Date`, `Map`, `Set`, `BigInt`, `Uint8Array` and non-finite numbers. */
export const taggedSerializer: Serializer = Object.freeze({
  stringify: (data: Record<string, unknown>): string => JSON.stringify(encode(data, 0)),
  parse: (text: string): Record<string, unknown> => JSON.parse(text, revive) as Record<string, unknown>,
});

/** Resolve the `serializer` option. */
export function resolveSerializer(option: "json" | "tagged" | Serializer | undefined): Serializer {
  if (option === undefined || option === "json") return jsonSerializer;
  if (option === "tagged") return taggedSerializer;
  if (typeof option === "object" && option !== null && typeof option.stringify === "function" && typeof option.parse === "function") {
    return option;
  }
  throw new TypeError("Cannot create sessions: serializer must be 'json', 'tagged' or an object with stringify and parse");
}
