/**
 * `@satchel/session/django`: Django's own session encodings, byte for byte, so a Django project and
 * a satchel app can share sessions.
 *
 * - {@linkcode encodeSessionData} / {@linkcode decodeSessionData}: the `session_data` column of
 *   `django_session` (and the file engine's files): `signing.dumps(data,
 *   salt="django.contrib.sessions.SessionStore", compress=True)` with Django's JSON serializer.
 * - {@linkcode encodeSignedCookie} / {@linkcode decodeSignedCookie}: the cookie value of the
 *   `signed_cookies` engine (salt `django.contrib.sessions.backends.signed_cookies`), with
 *   `SESSION_COOKIE_AGE` enforced on the signed timestamp.
 * - {@linkcode djangoDumps} / {@linkcode djangoLoads}: `django.core.signing.dumps`/`loads` for any salt.
 *
 * The format (Django 3.1 and later): `<payload>:<timestamp>:<signature>`.
 * - `payload` is base64url without padding of the JSON bytes, or of their zlib (RFC 1950) stream
 *   with a `.` in front when that is at least 2 bytes shorter (Django's rule).
 * - `timestamp` is the signing time in whole seconds, in base62 (`0-9A-Za-z`).
 * - `signature` is base64url without padding of HMAC-SHA256(key, `payload:timestamp`), where
 *   key = SHA-256(salt + "signer" + secret): Django's `salted_hmac`, whose derived key is a plain
 *   hash of the concatenation, not an HMAC. Checked in constant time against the current secret,
 *   then each fallback in order (Django 4.1's `SECRET_KEY_FALLBACKS`); signing uses the first.
 * - The JSON is Python's `json.dumps(obj, separators=(",", ":"))`: compact, every character
 *   outside printable ASCII written as a lower-case `\uXXXX` escape (a surrogate pair above the BMP),
 *   non-integral floats in Python's `repr` form (`1.5e-05`), `NaN`/`Infinity` as Python writes them.
 *   It is read back as Python does: bytes as latin-1, then JSON that also takes `NaN`, `Infinity`
 *   and `-Infinity`.
 *
 * Decisions, where exactly matching Django is impossible or unwise:
 * - Decoding returns `null` where Django would give an empty session: bad signature, expired, bad
 *   base64 or zlib, bad JSON, and (for sessions) JSON that is not an object.
 * - Django ≤ 3.2 also accepted the pre-3.1 format and SHA-1 signatures, and Python's base64 decoder
 *   skips stray characters; satchel, like Django ≥ 4.0, reads only canonical SHA-256 values. Only a
 *   holder of the secret can produce the others, and nothing writes them today.
 * - Numbers: JavaScript cannot tell `1.0` from `1`, so an integral number is written as an
 *   integer (`1`, never `1.0`); Django reads the same value. JSON object keys that look like array
 *   indexes come back first (JavaScript's property order), the values are unchanged.
 * - The signature is checked before anything is base64-decoded, inflated or parsed, so a
 *   decompression bomb needs the secret (Django's own argument for signing the `.`).
 *
 * Everything here is WebCrypto and `CompressionStream`: it runs on Node, Deno, Bun and Workers.
 *
 * @example Read a session row Django wrote, and write one Django reads
 * ```ts
 * import { decodeSessionData, encodeSessionData } from "@satchel/session/django";
 *
 * const secret = "django-insecure-example-secret-key";
 * const blob = await encodeSessionData({ cart: ["sku-1"], _session_expiry: 300 }, secret);
 * const data = await decodeSessionData(blob, [secret, "an-older-secret"]);
 * if (JSON.stringify(data) !== '{"cart":["sku-1"],"_session_expiry":300}') throw new Error("round trip");
 * ```
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";
import { transform } from "./_streams.ts";
import type { SessionRecord } from "./types.ts";

/** The salt of `session_data` for every built-in server-side engine (`"django.contrib.sessions." + "SessionStore"`). */
export const SESSION_STORE_SALT = "django.contrib.sessions.SessionStore";
/** The salt of the `signed_cookies` engine's cookie value. */
export const SIGNED_COOKIES_SALT = "django.contrib.sessions.backends.signed_cookies";
/** Django's default `SESSION_COOKIE_AGE`: two weeks, in seconds. */
export const DEFAULT_COOKIE_AGE = 1_209_600;

const encoder = new TextEncoder();
const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256" } as const;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// ---------------------------------------------------------------------------------------------
// Keys and signatures (django.utils.crypto.salted_hmac, django.core.signing.Signer)

/** Derived keys by salt and secret; a handful per process (one salt per purpose, a few secrets). */
const keyCache = new Map<string, Promise<CryptoKey>>();
const KEY_CACHE_LIMIT = 64;

/** Django's `Signer` key: `salted_hmac`'s key for the key salt `salt + "signer"`. */
function signerKey(salt: string, secret: string): Promise<CryptoKey> {
  return saltedKey(`${salt}signer`, secret);
}

/** Django's `salted_hmac` key: SHA-256 of UTF-8 (`keySalt + secret`), imported for HMAC-SHA256. */
function saltedKey(keySalt: string, secret: string): Promise<CryptoKey> {
  const id = `${keySalt}\u0000${secret}`;
  let key = keyCache.get(id);
  if (!key) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
    const material = encoder.encode(`${keySalt}${secret}`);
    key = crypto.subtle.digest("SHA-256", material)
      .then((digest) => crypto.subtle.importKey("raw", digest, HMAC_SHA256, false, ["sign"]));
    key.catch(() => keyCache.delete(id));
    keyCache.set(id, key);
  }
  return key;
}

/** The key salt of Django's `AbstractBaseUser.get_session_auth_hash()`. */
export const SESSION_AUTH_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/**
 * Django's `user.get_session_auth_hash()` for a user whose `password` field is `password`:
 * `salted_hmac(SESSION_AUTH_HASH_SALT, password, secret, algorithm="sha256").hexdigest()`, the
 * value Django keeps as `_auth_user_hash` (Django ≥ 3.1).
 */
export async function sessionAuthHash(password: string, secret: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await saltedKey(SESSION_AUTH_HASH_SALT, secret), encoder.encode(password));
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `Signer(key=secret, salt=salt).signature(value)`: 43 characters of base64url. */
async function signature(value: string, secret: string, salt: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await signerKey(salt, secret), encoder.encode(value));
  return encodeBase64Url(new Uint8Array(mac));
}

/** Constant-time string equality (the time depends on the lengths only). */
function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

function secretList(secret: string | readonly string[], what: string): readonly string[] {
  const list = typeof secret === "string" ? [secret] : secret;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw new TypeError(`Cannot ${what}: the secret must be a non-empty string or a non-empty array of them`);
  }
  return list;
}

/**
 * Django's `Signer(key=secret, salt=salt).sign(value)`: `value + ":" + signature`.
 * The default salt is `Signer`'s own (`"django.core.signing.Signer"`).
 *
 * @example
 * ```ts
 * import { signValue } from "@satchel/session/django";
 * // From Django's own test suite:
 * if (await signValue("foo", "predictable-secret") !== "foo:jZQoX_FtSO70jX9HLRGg2A_2s4kdDBxz1QoO_OpEQb0") throw new Error("mismatch");
 * ```
 */
export async function signValue(value: string, secret: string, salt: string = "django.core.signing.Signer"): Promise<string> {
  return `${value}:${await signature(value, secretList(secret, "sign a value")[0]!, salt)}`;
}

// ---------------------------------------------------------------------------------------------
// base62 timestamps

function b62Encode(n: number): string {
  if (n === 0) return "0";
  let out = "";
  let rest = Math.abs(n);
  while (rest > 0) {
    out = BASE62[rest % 62]! + out;
    rest = Math.floor(rest / 62);
  }
  return n < 0 ? `-${out}` : out;
}

/** Django's `b62_decode`; `null` where it would raise. */
function b62Decode(text: string): number | null {
  if (text === "") return null;
  let sign = 1;
  let digits = text;
  if (digits[0] === "-") {
    sign = -1;
    digits = digits.slice(1);
  }
  let n = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = BASE62.indexOf(digits[i]!);
    if (d < 0) return null;
    n = n * 62 + d;
  }
  return sign * n;
}

// ---------------------------------------------------------------------------------------------
// Python's json module, as Django's JSONSerializer uses it

const MAX_DEPTH = 1000; // CPython's default recursion limit: deeper data fails there as well

/** `repr(float)` for a JavaScript number, or the integer's digits when it is integral. */
function pyNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Number.isInteger(x)) return Math.abs(x) < 1e21 ? String(x === 0 ? 0 : x) : BigInt(x).toString();
  const [mantissa, exponent] = x.toExponential().split("e") as [string, string];
  const e = Number(exponent);
  if (e >= -4 && e < 16) return String(x); // JavaScript writes these in positional form, as Python does
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** A JSON string literal with `ensure_ascii`: every character outside U+0020..U+007E escaped, lower-case hex. */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function pyJson(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return pyString(value);
    case "number":
      return pyNumber(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (depth >= MAX_DEPTH) throw new TypeError(`Cannot encode Django session data: nested deeper than ${MAX_DEPTH} levels (or a cycle)`);
      if (Array.isArray(value)) {
        return `[${value.map((item) => (item === undefined || typeof item === "function" || typeof item === "symbol" ? "null" : pyJson(item, depth + 1))).join(",")}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError("Cannot encode Django session data: only plain objects, arrays, strings, numbers, booleans and null are JSON");
      }
      const parts: string[] = [];
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || typeof item === "function" || typeof item === "symbol") continue; // as JSON.stringify
        parts.push(`${pyString(key)}:${pyJson(item, depth + 1)}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      throw new TypeError(`Cannot encode Django session data: a ${typeof value} is not JSON`);
  }
}

/** `json.dumps(value, separators=(",", ":"))` as ASCII text (so its latin-1 bytes are its UTF-8 bytes). */
export function pythonJson(value: unknown): string {
  return pyJson(value, 0);
}

/** The tokens Python's `json.loads` accepts and `JSON.parse` does not, outside strings. */
const PY_CONSTANTS = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

/** `json.loads(text)`; throws `SyntaxError` where Python raises. */
function pyParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (!/NaN|Infinity/.test(text)) throw error;
  }
  // Replace each bare constant with a unique marker string, then turn the markers back into numbers.
  const nonce = crypto.getRandomValues(new Uint32Array(2)).join("-");
  const marks: Record<string, number> = { [`\u0000${nonce}NaN`]: NaN, [`\u0000${nonce}Infinity`]: Infinity, [`\u0000${nonce}-Infinity`]: -Infinity };
  const rewritten = text.replace(PY_CONSTANTS, (token) => (token[0] === '"' ? token : JSON.stringify(`\u0000${nonce}${token}`)));
  return JSON.parse(rewritten, (_key, v: unknown) => (typeof v === "string" && Object.hasOwn(marks, v) ? marks[v] : v));
}

/** Bytes as latin-1 text (each byte one code point), as `bytes.decode("latin-1")`. Not `TextDecoder("latin1")`, which is windows-1252. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

// ---------------------------------------------------------------------------------------------
// signing.dumps / signing.loads

/** Options of {@linkcode djangoDumps}. */
export interface DumpsOptions {
  /** `SECRET_KEY`, or `[SECRET_KEY, ...fallbacks]` (only the first signs). */
  secret: string | readonly string[];
  /** The namespace. @default "django.core.signing" */
  salt?: string | undefined;
  /** Compress with zlib when that saves at least 2 bytes. @default false (as `signing.dumps`) */
  compress?: boolean | undefined;
  /** The signing time, epoch milliseconds (floored to seconds). @default Date.now() */
  nowMs?: number | undefined;
}

/**
 * Django's `signing.dumps(value, key=secret, salt=salt, compress=compress)` with its JSONSerializer.
 *
 * @throws {TypeError} for a value Django's JSON serializer cannot write (a `Date`, a `Map`, a class
 *   instance, a bigint, a cycle), or an empty secret
 */
export async function djangoDumps(value: unknown, options: DumpsOptions): Promise<string> {
  const secret = secretList(options.secret, "sign Django data")[0]!;
  const nowMs = options.nowMs ?? Date.now();
  if (!Number.isFinite(nowMs)) throw new TypeError("Cannot sign Django data: nowMs must be a finite number of epoch milliseconds");
  let bytes: Uint8Array = encoder.encode(pythonJson(value)); // ASCII, so UTF-8 and latin-1 agree
  let dot = "";
  if (options.compress) {
    const packed = await transform(bytes, new CompressionStream("deflate"), Infinity);
    if (packed && packed.length < bytes.length - 1) {
      bytes = packed;
      dot = ".";
    }
  }
  const signed = `${dot}${encodeBase64Url(bytes)}:${b62Encode(Math.floor(nowMs / 1000))}`;
  return `${signed}:${await signature(signed, secret, options.salt ?? "django.core.signing")}`;
}

/** Options of {@linkcode djangoLoads}. */
export interface LoadsOptions {
  /** `SECRET_KEY`, or `[SECRET_KEY, ...SECRET_KEY_FALLBACKS]`, tried in order. */
  secret: string | readonly string[];
  /** The namespace. @default "django.core.signing" */
  salt?: string | undefined;
  /** Refuse values signed more than this many seconds ago (`age > maxAge`; `age == maxAge` passes). @default no limit */
  maxAge?: number | undefined;
  /** The current time, epoch milliseconds (Django uses the fractional `time.time()`). @default Date.now() */
  nowMs?: number | undefined;
  /** Refuse a compressed payload that inflates to more bytes than this. @default no limit (as Django) */
  maxInflated?: number | undefined;
}

/** What {@linkcode djangoLoads} found. */
export interface Loaded {
  /** The deserialized value. */
  value: unknown;
  /** Which secret verified it: 0 for the current one, 1 for the first fallback, ... */
  keyIndex: number;
  /** The signing time, epoch seconds. */
  signedAt: number;
}

/**
 * Django's `signing.loads(text, key=..., salt=..., max_age=..., fallback_keys=...)`. Resolves
 * `null` wherever Django raises (bad signature, expired, malformed); never rejects for bad input.
 */
export async function djangoLoads(text: string, options: LoadsOptions): Promise<Loaded | null> {
  const secrets = secretList(options.secret, "verify Django data");
  if (typeof text !== "string") return null;
  const salt = options.salt ?? "django.core.signing";
  // Signer.unsign: split at the last ":", check the signature under each secret in order.
  const cut = text.lastIndexOf(":");
  if (cut < 0) return null;
  const signed = text.slice(0, cut);
  const given = text.slice(cut + 1);
  let keyIndex = -1;
  for (let i = 0; i < secrets.length; i++) {
    if (sameText(given, await signature(signed, secrets[i]!, salt))) {
      keyIndex = i;
      break;
    }
  }
  if (keyIndex < 0) return null;
  // TimestampSigner.unsign: the timestamp after the last ":" of what was signed.
  const tsCut = signed.lastIndexOf(":");
  if (tsCut < 0) return null;
  const signedAt = b62Decode(signed.slice(tsCut + 1));
  if (signedAt === null) return null;
  const nowMs = options.nowMs ?? Date.now();
  if (options.maxAge !== undefined && nowMs - signedAt * 1000 > options.maxAge * 1000) return null;
  // unsign_object: "." means zlib; base64url; latin-1 JSON.
  let payload = signed.slice(0, tsCut);
  const compressed = payload.startsWith(".");
  if (compressed) payload = payload.slice(1);
  let bytes = decodeBase64Url(payload);
  if (!bytes) return null;
  if (compressed) {
    bytes = await transform(bytes, new DecompressionStream("deflate"), options.maxInflated ?? Infinity);
    if (!bytes) return null;
  }
  try {
    return { value: pyParse(latin1(bytes)), keyIndex, signedAt };
  } catch {
    return null;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkData(data: unknown, what: string): void {
  if (!isPlainObject(data)) throw new TypeError(`Cannot ${what}: the session data must be a plain object`);
}

// ---------------------------------------------------------------------------------------------
// Sessions

/**
 * Encode session data for Django's `session_data` column (db, cached_db) or a file-engine file.
 *
 * @param data the session dict, bookkeeping included (`_session_expiry`, `_auth_user_id`, ...)
 * @param secret Django's `SECRET_KEY` (with an array, the first one signs)
 * @param nowMs the signing time, epoch milliseconds. @default Date.now()
 * @throws {TypeError} for data that is not a plain object or that Django's JSON cannot hold
 */
export function encodeSessionData(data: object, secret: string | readonly string[], nowMs?: number): Promise<string> {
  checkData(data, "encode Django session data");
  return djangoDumps(data, { secret, salt: SESSION_STORE_SALT, compress: true, nowMs });
}

/**
 * Decode Django's `session_data`. The embedded timestamp is ignored, as Django does: a row's
 * lifetime is its `expire_date`.
 *
 * @param value the column's text
 * @param secret `SECRET_KEY`, or `[SECRET_KEY, ...SECRET_KEY_FALLBACKS]`
 * @returns the session dict, or `null` where Django logs "Session data corrupted" (or fails silently) and uses `{}`
 */
export async function decodeSessionData(value: string, secret: string | readonly string[]): Promise<Record<string, unknown> | null> {
  const loaded = await djangoLoads(value, { secret, salt: SESSION_STORE_SALT });
  return loaded && isPlainObject(loaded.value) ? loaded.value : null;
}

/**
 * Encode a `signed_cookies` session cookie value.
 *
 * @param data the session dict
 * @param secret `SECRET_KEY` (with an array, the first one signs)
 * @param nowMs the signing time, epoch milliseconds. @default Date.now()
 */
export function encodeSignedCookie(data: object, secret: string | readonly string[], nowMs?: number): Promise<string> {
  checkData(data, "encode a Django signed cookie");
  return djangoDumps(data, { secret, salt: SIGNED_COOKIES_SALT, compress: true, nowMs });
}

/**
 * Decode a `signed_cookies` session cookie value as Django's `SessionStore.load()` does:
 * the signature under any of the secrets, and an age of at most `maxAgeSeconds`
 * (`SESSION_COOKIE_AGE`) since it was signed. Django ignores a custom `_session_expiry` here (#19201).
 *
 * @returns the session dict, or `null` where Django starts an empty session
 */
export async function decodeSignedCookie(
  value: string,
  secret: string | readonly string[],
  maxAgeSeconds: number = DEFAULT_COOKIE_AGE,
  nowMs?: number,
): Promise<Record<string, unknown> | null> {
  const loaded = await djangoLoads(value, { secret, salt: SIGNED_COOKIES_SALT, maxAge: maxAgeSeconds, nowMs });
  return loaded && isPlainObject(loaded.value) ? loaded.value : null;
}

// ---------------------------------------------------------------------------------------------
// Bridges to satchel's records (used by sqlStore's Django layout and cookieStore({ format: "django" }))

/** Django's `_session_expiry` key. */
export const EXPIRY_KEY = "_session_expiry";

/** An ISO date as Python's `datetime.isoformat()` writes an aware UTC time (`...T03:18:15.764000+00:00`); other text unchanged. */
export function pythonIsoDate(text: string): string {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return text;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = iso.slice(20, 23);
  return `${iso.slice(0, 19)}${fraction === "000" ? "" : `.${fraction}000`}+00:00`;
}

/** The Django session dict for a satchel record: its data plus `_session_expiry`. `record.data` must be JSON of an object. */
export function recordToDjango(record: Pick<SessionRecord, "data" | "expiry">): Record<string, unknown> {
  const parsed: unknown = JSON.parse(record.data);
  if (!isPlainObject(parsed)) throw new TypeError("Cannot encode Django session data: the serialized data is not a JSON object");
  const dict: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(parsed)) if (key !== EXPIRY_KEY) dict[key] = parsed[key];
  const { expiry } = record;
  if (expiry !== undefined) dict[EXPIRY_KEY] = typeof expiry === "string" ? pythonIsoDate(expiry) : expiry;
  return dict;
}

/**
 * Split a Django session dict into satchel's data text and expiry override. `_session_expiry`
 * becomes the override when it is a finite number, or a date string, which is normalised to
 * JavaScript's `toISOString()` form (the millisecond is kept, the microseconds are dropped, as
 * satchel's clock has none); `None`, absent or anything else means the global policy.
 */
export function djangoToRecord(dict: Record<string, unknown>): { data: string; expiry?: number | string } {
  const rest: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(dict)) if (key !== EXPIRY_KEY) rest[key] = dict[key];
  const expiry = dict[EXPIRY_KEY];
  const data = JSON.stringify(rest);
  if (typeof expiry === "number" && Number.isFinite(expiry)) return { data, expiry };
  const at = typeof expiry === "string" ? Date.parse(expiry) : Number.NaN;
  return Number.isFinite(at) ? { data, expiry: new Date(at).toISOString() } : { data };
}

/** A decoded Django cookie as the core's cookie codec returns it. */
export interface DjangoDecodedCookie {
  record: SessionRecord;
  keyIndex: number;
}

/**
 * The hook for `cookieStore({ format: "django" })`: the same `encode(record, now)` /
 * `decode(value, now)` shape as the core's cookie codec, over Django's `signed_cookies` format.
 *
 * Lifetime: Django accepts a cookie until `SESSION_COOKIE_AGE` after it was signed and ignores
 * `_session_expiry` on the server (#19201). satchel also honours a shorter `_session_expiry`
 * (seconds after signing, or an absolute date): a cookie refused only by that rule is one Django
 * would still accept, never the other way round. The record's `created` and `active` are the
 * signing time (Django keeps neither).
 *
 * @param secret `SECRET_KEY`, or `[SECRET_KEY, ...fallbacks]`
 * @param maxAgeSeconds `SESSION_COOKIE_AGE`
 */
export function djangoCookieCodec(secret: string | readonly string[], maxAgeSeconds: number = DEFAULT_COOKIE_AGE): {
  ready(): Promise<void>;
  encode(record: SessionRecord, now: number): Promise<string>;
  decode(value: string, now: number): Promise<DjangoDecodedCookie | null>;
} {
  const secrets = secretList(secret, "create the Django cookie codec");
  if (!(Number.isFinite(maxAgeSeconds) && maxAgeSeconds >= 0)) {
    throw new RangeError(`Cannot create the Django cookie codec: maxAgeSeconds must be a number >= 0, received ${maxAgeSeconds}`);
  }
  return {
    async ready(): Promise<void> {
      await Promise.all(secrets.map((s) => signerKey(SIGNED_COOKIES_SALT, s)));
    },
    encode(record: SessionRecord, now: number): Promise<string> {
      return encodeSignedCookie(recordToDjango(record), secrets, now);
    },
    async decode(value: string, now: number): Promise<DjangoDecodedCookie | null> {
      try {
        if (typeof value !== "string" || value.length > 8192) return null;
        const loaded = await djangoLoads(value, { secret: secrets, salt: SIGNED_COOKIES_SALT, maxAge: maxAgeSeconds, nowMs: now, maxInflated: 256 * 1024 });
        if (!loaded || !isPlainObject(loaded.value)) return null;
        const { data, expiry } = djangoToRecord(loaded.value);
        const signedMs = loaded.signedAt * 1000;
        let expires = signedMs + maxAgeSeconds * 1000 + 1; // live while age <= maxAge
        if (typeof expiry === "string") {
          const at = Date.parse(expiry);
          if (Number.isFinite(at)) expires = Math.min(expires, at);
        } else if (typeof expiry === "number" && expiry !== 0) {
          expires = Math.min(expires, signedMs + expiry * 1000);
        }
        if (!(expires > now)) return null;
        const record: SessionRecord = { data, expires, created: signedMs, active: signedMs, ...(expiry === undefined ? {} : { expiry }) };
        return { record, keyIndex: loaded.keyIndex };
      } catch {
        return null;
      }
    },
  };
}
