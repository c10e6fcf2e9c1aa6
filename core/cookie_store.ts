/**
 * The cookie store: Django's `signed_cookies` engine. The session data lives in the cookie
 * itself, signed (HMAC-SHA256) with the expiry, creation and last-activity times inside the
 * signature, and deflate-compressed when that makes it smaller.
 *
 * What this means (the README says it too):
 * - The client can read the data unless `encrypt` is on: keep secrets out of a signed cookie.
 * - There is no server state, so `flush()` and `cycleKey()` cannot revoke a copy of an older
 *   cookie: a stolen cookie stays valid until its own signed expiry. Use a server-side store
 *   when logout must be final.
 * - Concurrent requests are last-writer-wins: each response carries the whole session.
 * - A cookie over 4096 bytes makes `commit` throw `SessionError("COOKIE_TOO_LARGE")` instead
 *   of sending a cookie the browser would silently drop. So does serialized data over
 *   `MAX_INFLATED` (256 KiB), even when it would deflate to a small cookie: the decoder refuses to
 *   inflate more than that (a decompression bomb guard), so such a cookie would be written and
 *   then read back as an empty session. The code is `COOKIE_TOO_LARGE`, not
 *   `SERIALIZATION_FAILED`: the data serialized fine, it is the cookie that cannot carry it, and the
 *   remedy (a server-side store, less data) is the same as for the 4096-byte limit.
 * - A tampered, truncated, expired or foreign cookie gives an empty session and is deleted
 *   (Django re-issues a signed empty cookie instead; deleting it is what a user expects).
 *
 * With `encrypt: true` the data is AES-256-GCM encrypted as well, so the client cannot read it.
 *
 * Format (signed): `<payload>.<meta>.<signature>`, three base64url segments. `payload` is the
 * serialized data (deflate-raw compressed when flagged), `meta` a small JSON array
 * `[version, flags, active, active - created, expires - active, expiry?]` (the cookie is issued
 * at the last activity), and the signature the HMAC of
 * `payload.meta` under a key derived for `cookie-store/<cookie name>`.
 * Format (encrypted): one base64url segment, `iv || AES-GCM(meta "\n" payload)` under a key
 * derived for `cookie-store/<cookie name>/aes-gcm`, with that label as additional data. With
 * `pad`, the payload ends in one 0x80 byte and as many zero bytes as make the plaintext a multiple
 * of `pad` bytes (ISO/IEC 7816-4 padding), and `meta` carries the `PADDED` flag.
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";
import type { Sealer, Signer } from "./signing.ts";
import { deflateRawSync, inflateRawSync } from "./crypto/platform.ts";
import { transform } from "./_streams.ts";
import { SessionError } from "./errors.ts";
import type { SessionRecord } from "./types.ts";

/** Options of `cookieStore()`. */
export interface CookieStoreOptions {
  /**
   * Compress payloads of at least this many bytes with deflate-raw, keeping the result only when
   * smaller; `false` never compresses.
   * @default 512
   */
  compress?: number | false;
  /**
   * How far in the future an issued-at time may lie before the cookie is refused (clock skew
   * between servers), in seconds.
   * @default 60
   */
  clockSkew?: number;
  /**
   * Encrypt the cookie with AES-256-GCM (a key derived from the secret for this purpose, a fresh
   * random IV per cookie) so the client cannot read the data. Encrypted payloads are never
   * compressed (compression before encryption can leak data through the cookie's length), so they
   * reach the 4096-byte limit sooner. Switching it on or off invalidates existing cookies.
   * @default false
   */
  encrypt?: boolean;
  /**
   * With `encrypt`, pad the plaintext to a multiple of this many bytes (an integer from 1 to 1024)
   * before sealing, so the cookie's length only tells which block of `pad` bytes the data's length
   * falls in, not the length itself (AES-GCM ciphertext is exactly as long as its plaintext). One
   * marker byte is always added, so the padding can be stripped unambiguously; the padding is
   * inside the AEAD, so changing it fails authentication like any other change. Larger blocks
   * hide more and reach the 4096-byte cookie limit sooner (base64url makes each 3 bytes 4
   * characters). Cookies are read whatever their padding, so turning `pad` on, off or changing it
   * keeps existing cookies valid. A `TypeError` without `encrypt` (a signed cookie is readable, so
   * there is no length to hide), a `RangeError` outside 1..1024.
   * @default undefined (no padding)
   */
  pad?: number;
  /**
   * `"django"`: read and write Django's `signed_cookies` session values exactly (salt
   * `django.contrib.sessions.backends.signed_cookies`, `salted_hmac` with SHA-256, base62 timestamp,
   * zlib compression, Python's JSON), so a Django app with the same `SECRET_KEY` (the first secret;
   * the others are `SECRET_KEY_FALLBACKS`) and cookie name shares the session. `cookie.maxAge` is
   * enforced on the signed timestamp as Django's `SESSION_COOKIE_AGE` is (a value exactly that old
   * is still valid). Signed only: not with `encrypt` or `pad`. Data must be JSON; satchel's own
   * bookkeeping (creation, last activity) is not in Django's format, so `idleTimeout` and
   * `absoluteTimeout` count from the cookie's signing time there.
   * @default "satchel"
   */
  format?: "satchel" | "django";
  /**
   * Opt in to sessions larger than one cookie: a value over 4096 bytes is split across the cookies
   * `<name>.0` … `<name>.<n-1>` (at most `chunks` of them, 2 to 4), verified as one signed (or
   * encrypted) value, and stale chunks of a previous, longer value are deleted. A value that fits
   * in one cookie is still sent as `<name>` alone. Past `chunks` cookies, `commit` throws
   * `COOKIE_TOO_LARGE`, as without chunking past one. Mind the request-header limits on the way
   * back: Node accepts 16 KiB of headers by default, nginx 8 KiB per header line; 4 chunks are
   * about 16 KiB of `Cookie`.
   * @default undefined (off: one cookie, `COOKIE_TOO_LARGE` beyond it)
   */
  chunks?: number;
}

/** The value `cookieStore()` returns; `createSessions` recognises it once, at construction. */
export interface CookieStore {
  readonly kind: "cookie";
  readonly compress: number | false;
  readonly clockSkew: number;
  readonly encrypt: boolean;
  /** Pad encrypted plaintext to a multiple of this many bytes; `false`: no padding. */
  readonly pad: number | false;
  /** `"django"`: Django's `signed_cookies` values, readable and writable by a Django app with the same `SECRET_KEY`. */
  readonly format: "satchel" | "django";
  /** The most cookies one session may be split across; `false`: one cookie, no chunking. */
  readonly chunks: number | false;
}

/**
 * Keep the whole session in a signed cookie (Django's `signed_cookies`).
 *
 * @example
 * ```ts
 * import { createSessions, cookieStore } from "@satchel/session";
 * const sessions = createSessions({ secret: "a-secret-of-at-least-32-characters!", store: cookieStore() });
 * const response = await sessions.handle(new Request("https://example.com/"), (_req, session) => {
 *   session.set("theme", "dark");
 *   return new Response("ok");
 * });
 * if (!response.headers.getSetCookie()[0]?.startsWith("sessionid=")) throw new Error("no cookie");
 * ```
 */
export function cookieStore(options: CookieStoreOptions = {}): CookieStore {
  const compress = options.compress ?? 512;
  const clockSkew = options.clockSkew ?? 60;
  if (compress !== false && !(Number.isInteger(compress) && compress >= 0)) {
    throw new RangeError(`Cannot create cookie store: compress must be false or a whole number of bytes >= 0, received ${compress}`);
  }
  if (!(Number.isFinite(clockSkew) && clockSkew >= 0)) {
    throw new RangeError(`Cannot create cookie store: clockSkew must be a number of seconds >= 0, received ${clockSkew}`);
  }
  const encrypt = options.encrypt ?? false;
  if (typeof encrypt !== "boolean") throw new TypeError("Cannot create cookie store: encrypt must be a boolean");
  const pad = options.pad ?? false;
  if (pad !== false) {
    if (typeof pad !== "number") throw new TypeError("Cannot create cookie store: pad must be a number of bytes");
    if (!encrypt) throw new TypeError("Cannot create cookie store: pad only applies with encrypt: true");
    if (!(Number.isInteger(pad) && pad >= 1 && pad <= MAX_PAD)) {
      throw new RangeError(`Cannot create cookie store: pad must be a whole number of bytes from 1 to ${MAX_PAD}, received ${pad}`);
    }
  }
  const format = options.format ?? "satchel";
  if (format !== "satchel" && format !== "django") throw new TypeError(`Cannot create cookie store: format must be "satchel" or "django"`);
  if (format === "django" && options.chunks !== undefined) {
    throw new TypeError("Cannot create cookie store: Django's signed_cookies format is one cookie: drop chunks");
  }
  if (format === "django" && (encrypt || pad !== false)) {
    throw new TypeError("Cannot create cookie store: Django's signed_cookies format is signed, not encrypted: drop encrypt and pad");
  }
  const chunks = options.chunks ?? false;
  if (chunks !== false && !(Number.isInteger(chunks) && chunks >= 2 && chunks <= MAX_CHUNKS)) {
    throw new RangeError(`Cannot create cookie store: chunks must be a whole number from 2 to ${MAX_CHUNKS}, received ${String(chunks)}`);
  }
  return Object.freeze({ kind: "cookie", compress, clockSkew, encrypt, pad, format, chunks });
}

const FORMAT = 1;
const COMPRESSED = 1;
const PADDED = 2;
const NEWLINE = 0x0a;
const PAD_MARKER = 0x80;
const MAX_PAD = 1024;
/** The most cookies a chunked session may use: about 16 KiB, Node's default request-header limit. */
export const MAX_CHUNKS = 4;
/**
 * Decompressed payloads larger than this are refused when read (a cookie is at most 4 KiB), so
 * serialized data larger than this is refused when written.
 */
export const MAX_INFLATED: number = 256 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A decoded cookie: the record and which secret verified it (0 = current). */
export interface DecodedCookie {
  record: SessionRecord;
  keyIndex: number;
}

/** Authenticated metadata, checked: what is left to do is unpadding (done) and inflating. */
interface Checked {
  payload: Uint8Array;
  compressed: boolean;
  record: Omit<SessionRecord, "data">;
  keyIndex: number;
}

/**
 * Encodes and decodes session cookies for one `createSessions()`.
 *
 * `decodeSync` gives the same answer as `decode` without a promise wherever the key ring has a
 * synchronous path (`node:crypto`: Node, Bun, Deno, Workers with `nodejs_compat`), inflating with
 * `node:zlib`'s `inflateRawSync` under the same {@link MAX_INFLATED} limit; it returns `undefined`
 * where a piece it needs is missing, and the caller awaits `decode` instead. `decode` itself tries
 * the synchronous path first.
 */
export class CookieCodec {
  #signer: Signer;
  #sealer: Sealer | null;
  #store: CookieStore;
  /** The signer authenticates signed cookies; with `encrypt`, the sealer encrypts and authenticates instead. */
  constructor(signer: Signer, sealer: Sealer | null, store: CookieStore) {
    this.#signer = signer;
    this.#sealer = store.encrypt ? sealer : null;
    this.#store = store;
  }

  /** Derive the keys now. */
  async ready(): Promise<void> {
    await (this.#sealer ? this.#sealer.ready() : this.#signer.ready());
  }

  /** One `sign` (or `encrypt`), synchronous inside where the runtime allows, plus a deflate for large signed payloads. */
  async encode(record: SessionRecord, now: number): Promise<string> {
    let bytes: Uint8Array = encoder.encode(record.data);
    if (bytes.length > MAX_INFLATED) {
      throw new SessionError(
        "COOKIE_TOO_LARGE",
        `Cannot store the session in a cookie: its serialized data is ${bytes.length} bytes, over the ${MAX_INFLATED}-byte limit a cookie is read back with`,
      );
    }
    let flags = 0;
    const threshold = this.#sealer ? false : this.#store.compress;
    if (threshold !== false && bytes.length >= threshold) {
      // node:zlib where the runtime has it (no stream round trips), CompressionStream elsewhere.
      const packed = deflateRawSync(bytes) ?? await transform(bytes, new CompressionStream("deflate-raw"), Number.POSITIVE_INFINITY);
      if (packed && packed.length < bytes.length) {
        bytes = packed;
        flags |= COMPRESSED;
      }
    }
    // Times relative to the last activity (which is also when this cookie is issued) keep it short.
    const pad = this.#sealer ? this.#store.pad : false;
    if (pad !== false) flags |= PADDED;
    const meta: unknown[] = [FORMAT, flags, now, now - record.created, record.expires - now];
    if (record.expiry !== undefined) meta.push(record.expiry);
    const metaBytes = encoder.encode(JSON.stringify(meta));
    if (this.#sealer) {
      // Encrypted: one base64url segment of iv || AES-GCM(meta "\n" data [0x80 0x00…]).
      const length = metaBytes.length + 1 + bytes.length;
      const plain = new Uint8Array(pad === false ? length : Math.ceil((length + 1) / pad) * pad);
      plain.set(metaBytes);
      plain[metaBytes.length] = NEWLINE;
      plain.set(bytes, metaBytes.length + 1);
      if (pad !== false) plain[length] = PAD_MARKER; // the rest is already zero
      return encodeBase64Url(await this.#sealer.seal(plain));
    }
    const body = `${encodeBase64Url(bytes)}.${encodeBase64Url(metaBytes)}`;
    return `${body}.${await this.#signer.sign(body)}`;
  }

  /**
   * `null` for anything but a live cookie of ours in the configured format (a signed cookie is
   * refused when encryption is on, and the other way round). One `verify` (or `decrypt`).
   * Never throws.
   */
  async decode(value: string, now: number): Promise<DecodedCookie | null> {
    const sync = this.decodeSync(value, now);
    if (sync !== undefined) return sync;
    try {
      const checked = this.#sealer
        ? this.#opened(await this.#sealer.open(this.#sealed(value) ?? EMPTY), now)
        : this.#signed(value, now, await this.#signer.verify(...this.#parts(value)));
      if (!checked) return null;
      const bytes = checked.compressed ? await transform(checked.payload, new DecompressionStream("deflate-raw"), MAX_INFLATED) : checked.payload;
      return bytes && build(checked, bytes);
    } catch {
      return null;
    }
  }

  /**
   * As {@link decode}, synchronously: the same result, or `undefined` when this runtime cannot
   * decode this value synchronously (no `node:crypto`, the ring forced to WebCrypto, or a compressed
   * payload and no `node:zlib`). Never throws.
   */
  decodeSync(value: string, now: number): DecodedCookie | null | undefined {
    try {
      let checked: Checked | null;
      if (this.#sealer) {
        const opened = this.#sealer.openSync(this.#sealed(value) ?? EMPTY);
        if (opened === undefined) return undefined;
        checked = this.#opened(opened, now);
      } else {
        const keyIndex = this.#signer.verifySync(...this.#parts(value));
        if (keyIndex === undefined) return undefined;
        checked = this.#signed(value, now, keyIndex);
      }
      if (!checked) return null;
      const bytes = checked.compressed ? inflateRawSync(checked.payload, MAX_INFLATED) : checked.payload;
      if (bytes === undefined) return undefined;
      return bytes && build(checked, bytes);
    } catch {
      return null;
    }
  }

  /** The bytes of an encrypted cookie value; `null` when it cannot be one (which then fails to open). */
  #sealed(value: string): Uint8Array | null {
    return value.length > 4096 * (this.#store.chunks || 2) || value.includes(".") ? null : decodeBase64Url(value);
  }

  /** `[body, signature]` of a signed cookie value; a value that cannot be one gives a body that never verifies. */
  #parts(value: string): [string, string] {
    const second = value.lastIndexOf(".");
    const first = second > 0 ? value.lastIndexOf(".", second - 1) : -1;
    if (value.length > 4096 * (this.#store.chunks || 2) || first <= 0) return ["", ""];
    return [value.slice(0, second), value.slice(second + 1)];
  }

  /** An opened encrypted cookie, checked. */
  #opened(opened: { plain: Uint8Array; keyIndex: number } | null, now: number): Checked | null {
    if (!opened) return null;
    const split = opened.plain.indexOf(NEWLINE);
    if (split < 0) return null;
    const meta: unknown = JSON.parse(decoder.decode(opened.plain.subarray(0, split)));
    return this.#check(meta, opened.plain.subarray(split + 1), opened.keyIndex, now);
  }

  /** A signed cookie whose signature check gave `keyIndex`, checked. */
  #signed(value: string, now: number, keyIndex: number): Checked | null {
    if (keyIndex < 0) return null;
    const second = value.lastIndexOf(".");
    const first = value.lastIndexOf(".", second - 1);
    const metaBytes = decodeBase64Url(value.slice(first + 1, second));
    const bytes = decodeBase64Url(value.slice(0, first));
    if (!metaBytes || !bytes) return null;
    return this.#check(JSON.parse(decoder.decode(metaBytes)), bytes, keyIndex, now);
  }

  /** Check authenticated metadata (format, expiry, clock skew) and strip the padding. */
  #check(meta: unknown, payload: Uint8Array, keyIndex: number, now: number): Checked | null {
    if (!Array.isArray(meta) || meta[0] !== FORMAT || (meta.length !== 5 && meta.length !== 6)) return null;
    const [, flags, active, age, remaining, expiry] = meta as unknown[];
    if (![flags, active, age, remaining].every((n) => typeof n === "number" && Number.isFinite(n))) return null;
    if (expiry !== undefined && typeof expiry !== "number" && typeof expiry !== "string") return null;
    const created = (active as number) - (age as number);
    const expires = (active as number) + (remaining as number);
    if (expires <= now) return null;
    if ((active as number) > now + this.#store.clockSkew * 1000) return null;
    let bytes = payload;
    if ((flags as number) & PADDED) {
      let end = bytes.length - 1;
      while (end >= 0 && bytes[end] === 0) end--;
      if (end < 0 || bytes[end] !== PAD_MARKER) return null;
      bytes = bytes.subarray(0, end);
    }
    const record = { created, active: active as number, expires, ...(expiry === undefined ? {} : { expiry: expiry as number | string }) };
    return { payload: bytes, compressed: ((flags as number) & COMPRESSED) !== 0, record, keyIndex };
  }
}

const EMPTY = new Uint8Array(0);

/** The decoded cookie from checked metadata and the (inflated) payload. */
function build(checked: Checked, bytes: Uint8Array): DecodedCookie {
  return { record: { data: decoder.decode(bytes), ...checked.record }, keyIndex: checked.keyIndex };
}

