/**
 * `createSessions()` options: their types, Django's defaults, validation, and the resolved
 * configuration the engine runs on. Every misconfiguration throws here, at construction, with a
 * message that names the option and the fix: a bad option never surfaces as a failed request.
 *
 * @module
 */
import { checkDomain, checkPath, isCookieName } from "./cookie.ts";
import type { CookieStore } from "./cookie_store.ts";
import type { SessionError, StoreOperation } from "./errors.ts";
import { memoryStore } from "./memory_store.ts";
import { resolveSerializer } from "./serializer.ts";
import type { Serializer } from "./serializer.ts";
import type { SessionStore } from "./types.ts";

/** A duration: a number of seconds, or a string with a unit: `"90s"`, `"30m"`, `"12h"`, `"14d"`. */
export type Duration = number | `${number}${"s" | "m" | "h" | "d"}`;

/** Cookie settings; each maps to Django's `SESSION_COOKIE_*`. */
export interface CookieOptions {
  /** @default "sessionid" */
  name?: string;
  /**
   * Seconds (or a string with a unit, `"14d"`); Django's `SESSION_COOKIE_AGE`. At most 400 days
   * (browsers clamp beyond). A whole number of minutes written in milliseconds (`3_600_000`, an
   * express-session habit) is refused with a message: write `3600` or `"1h"`.
   * @default 1209600 (2 weeks)
   */
  maxAge?: Duration;
  /** @default "/" */
  path?: string;
  /** Omitted: a host-only cookie. @default undefined */
  domain?: string | undefined;
  /** On by default, unlike Django: browsers treat localhost as secure, so development still works. @default true */
  secure?: boolean;
  /** @default true */
  httpOnly?: boolean;
  /** `false` sends no attribute. @default "Lax" */
  sameSite?: "Strict" | "Lax" | "None" | false;
  /** CHIPS; requires `secure`. @default false */
  partitioned?: boolean;
}

/** A lifecycle event, for logging and metrics. Never carries an id, a cookie value or data. */
export interface SessionEvent {
  type:
    | "session.created"
    | "session.cycled"
    | "session.flushed"
    | "session.expired"
    | "session.invalid"
    | "session.unknown"
    | "session.corrupt"
    | "session.conflict"
    | "store.failure";
  /** For `session.expired`: which limit ended it (`"credentials"`: the user's auth hash changed). */
  reason?: "expiry" | "idle" | "absolute" | "credentials";
  /** For `store.failure`: which store call failed. */
  operation?: StoreOperation;
  /** For `store.failure`: the sanitized `STORE_UNAVAILABLE` error (no id, key, data or secret). */
  error?: SessionError;
}

/** Options of `createSessions()`. */
export interface SessionsOptions {
  /** At least 32 characters; or `[current, ...fallbacks]` (Django's `SECRET_KEY_FALLBACKS`). */
  secret: string | readonly string[];
  /** Where sessions live. @default memoryStore() */
  store?: SessionStore | CookieStore;
  /** Cookie settings. */
  cookie?: CookieOptions;
  /** Django's `SESSION_EXPIRE_AT_BROWSER_CLOSE`. @default false */
  expireAtBrowserClose?: boolean;
  /** Django's `SESSION_SAVE_EVERY_REQUEST`. @default false */
  saveEveryRequest?: boolean;
  /** Inactivity after which the session ends (server-held last activity). @default undefined */
  idleTimeout?: Duration | undefined;
  /** Time after creation after which the session ends, whatever the activity. @default undefined */
  absoluteTimeout?: Duration | undefined;
  /** The clock, in epoch milliseconds. @default () => Date.now() */
  now?: () => number;
  /** `"json"`, `"tagged"` or your own `{ stringify, parse }`. @default "json" */
  serializer?: "json" | "tagged" | Serializer;
  /** Milliseconds a store call may take before it fails with `STORE_UNAVAILABLE`; `0` disables. @default 5000 */
  storeTimeout?: number;
  /**
   * What a plain read-then-write of a key does when another request changed that key in between
   * (server stores with compare-and-set). `"error"`: `commit` rejects with
   * `SessionError("SESSION_CONFLICT")`, answered 409 by `handle()` and the adapters, and nothing is
   * written. `"last-write-wins"`: this request's value replaces the other one, as in Django.
   * Either way, changes to *different* keys of one session merge, and `session.modify()` is
   * re-applied to the fresh value instead of conflicting.
   * @default "error"
   */
  conflicts?: "error" | "last-write-wins";
  /**
   * Which HMAC (and AES-GCM) implementation signs, verifies and hashes ids. `"auto"`: a synchronous
   * one where the runtime offers it (`node:crypto` on Node and Bun, satchel's own TypeScript HMAC on
   * Deno and on Workers with `nodejs_compat`, where it measured faster), WebCrypto elsewhere; with
   * a synchronous path the cookie store verifies a cookie only when the handler first touches the
   * session. `"webcrypto"`: always `crypto.subtle`. Both give byte-identical results.
   * @default "auto"
   */
  crypto?: "auto" | "webcrypto";
  /**
   * The user's current auth hash (Django's `get_session_auth_hash` input: the password hash, or any
   * credentials version), or `null` when the user no longer exists. When given, a loaded session
   * bound by `session.login()` whose remembered hash no longer matches ends (event
   * `session.expired`, reason `"credentials"`): changing a password logs out every other session,
   * on every store including the cookie store. Checked with every secret, like Django's `get_user`.
   * @default undefined
   */
  authHash?: ((userKey: string) => string | null | Promise<string | null>) | undefined;
  /** What `session.login()` writes as `_auth_user_backend` (Django reads it). @default "django.contrib.auth.backends.ModelBackend" */
  authBackend?: string;
  /**
   * Called for each lifecycle event. Without it, store failures are logged to the console, one
   * line per kind of failure per minute.
   * @default undefined
   */
  onEvent?: ((event: SessionEvent) => void) | undefined;
}

/** The resolved cookie settings. */
export type ResolvedCookie = Required<Omit<CookieOptions, "domain" | "maxAge">> & {
  domain: string | undefined;
  maxAge: number;
};

/** Everything the engine runs on, validated. */
export interface Config {
  secrets: string[];
  cookie: ResolvedCookie;
  store: SessionStore | CookieStore;
  cookieMode: boolean;
  serializer: Serializer;
  expireAtBrowserClose: boolean;
  saveEveryRequest: boolean;
  idleMs: number | undefined;
  absoluteMs: number | undefined;
  now: () => number;
  storeTimeout: number;
  conflicts: "error" | "last-write-wins";
  crypto: "auto" | "webcrypto";
  authHash: ((userKey: string) => string | null | Promise<string | null>) | undefined;
  authBackend: string;
  onEvent: ((event: SessionEvent) => void) | undefined;
}

/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis); so do `maxAge` and `setExpiry()`. */
export const MAX_AGE_LIMIT: number = 400 * 24 * 60 * 60;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds from a `Duration`, or `undefined` when not given. Throws naming `name`. */
export function seconds(name: string, value: Duration | undefined, max?: number): number | undefined {
  if (value === undefined) return undefined;
  let result: number = value as number;
  if (typeof value === "string") {
    const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value);
    if (!match) throw new TypeError(`Cannot create sessions: ${name} must be seconds or a string such as "30m", "12h" or "14d", received "${value}"`);
    result = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  } else if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Cannot create sessions: ${name} must be a positive number of seconds, received ${String(value)}`);
  } else if (value >= 1_000_000 && value % 60_000 === 0) {
    // 3_600_000 is an hour in milliseconds and 41 days in seconds: only the first is plausible.
    const over = max !== undefined && value > max ? ` (and at most 400 days, ${max} s)` : "";
    throw new RangeError(
      `Cannot create sessions: ${name} is in seconds${over}, and ${value} looks like milliseconds (${value / 1000} s). ` +
        `Write ${value / 1000} (or "${value / 60_000}m")` + (over ? "" : `; if you really mean ${value} seconds, write "${value / 60}m"`),
    );
  }
  if (!(result > 0)) throw new RangeError(`Cannot create sessions: ${name} must be positive, received "${value}"`);
  return result;
}

function resolveCookie(options: CookieOptions = {}): ResolvedCookie {
  const maxAge = seconds("cookie.maxAge", options.maxAge ?? 1_209_600, MAX_AGE_LIMIT)!;
  const cookie = {
    name: options.name ?? "sessionid",
    maxAge,
    path: options.path ?? "/",
    domain: options.domain,
    secure: options.secure ?? true,
    httpOnly: options.httpOnly ?? true,
    sameSite: options.sameSite ?? ("Lax" as const),
    partitioned: options.partitioned ?? false,
  };
  if (typeof cookie.name !== "string" || !isCookieName(cookie.name)) {
    throw new TypeError("Cannot create sessions: cookie.name must be a cookie token (letters, digits and !#$%&'*+-.^_`|~)");
  }
  if (cookie.maxAge > MAX_AGE_LIMIT) {
    throw new RangeError(`Cannot create sessions: cookie.maxAge must be at most 400 days (${MAX_AGE_LIMIT} s), received ${cookie.maxAge}`);
  }
  cookie.maxAge = Math.floor(cookie.maxAge);
  if (typeof cookie.path !== "string") throw new TypeError("Cannot create sessions: cookie.path must be a string");
  checkPath(cookie.path);
  if (cookie.domain !== undefined) {
    if (typeof cookie.domain !== "string") throw new TypeError("Cannot create sessions: cookie.domain must be a string");
    checkDomain(cookie.domain);
  }
  if (cookie.sameSite !== false && cookie.sameSite !== "Strict" && cookie.sameSite !== "Lax" && cookie.sameSite !== "None") {
    throw new TypeError(`Cannot create sessions: cookie.sameSite must be "Strict", "Lax", "None" or false`);
  }
  const lower = cookie.name.toLowerCase();
  if (cookie.sameSite === "None" && !cookie.secure) {
    throw new TypeError("Cannot create sessions: browsers drop SameSite=None cookies without Secure");
  }
  if (cookie.partitioned && !cookie.secure) {
    throw new TypeError("Cannot create sessions: browsers drop Partitioned cookies without Secure");
  }
  if ((lower.startsWith("__host-") || lower.startsWith("__secure-")) && !cookie.secure) {
    throw new TypeError("Cannot create sessions: browsers drop __Host- and __Secure- cookies without Secure");
  }
  if (lower.startsWith("__host-") && (cookie.domain !== undefined || cookie.path !== "/")) {
    throw new TypeError("Cannot create sessions: a __Host- cookie must have no domain and the path '/'");
  }
  return cookie;
}

function resolveSecrets(secret: unknown): string[] {
  const list = typeof secret === "string" ? [secret] : Array.isArray(secret) ? [...secret] : null;
  if (!list || list.length === 0 || !list.every((s) => typeof s === "string")) {
    throw new TypeError("Cannot create sessions: secret must be a string or a non-empty array of strings");
  }
  for (const s of list) {
    if (s.length < 32) throw new RangeError("Cannot create sessions: every secret must be at least 32 characters long");
  }
  return list;
}

/** `true` for the cookie store (it says `kind: "cookie"`). */
export function isCookieStore(store: SessionStore | CookieStore): store is CookieStore {
  return (store as CookieStore).kind === "cookie";
}

/** Validate `options` and fill in the defaults. */
export function resolveOptions(options: SessionsOptions): Config {
  if (typeof options !== "object" || options === null) throw new TypeError("Cannot create sessions: options are required");
  const secrets = resolveSecrets(options.secret);
  const cookie = resolveCookie(options.cookie);
  const idle = seconds("idleTimeout", options.idleTimeout);
  const absolute = seconds("absoluteTimeout", options.absoluteTimeout);
  const storeTimeout = options.storeTimeout ?? 5000;
  if (!(Number.isFinite(storeTimeout) && storeTimeout >= 0)) {
    throw new RangeError(`Cannot create sessions: storeTimeout must be a number of milliseconds >= 0, received ${storeTimeout}`);
  }
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError("Cannot create sessions: now must be a function");
  const conflicts = options.conflicts ?? "error";
  if (conflicts !== "error" && conflicts !== "last-write-wins") {
    throw new TypeError(`Cannot create sessions: conflicts must be "error" or "last-write-wins"`);
  }
  const cryptoMode = options.crypto ?? "auto";
  if (cryptoMode !== "auto" && cryptoMode !== "webcrypto") {
    throw new TypeError(`Cannot create sessions: crypto must be "auto" or "webcrypto"`);
  }
  if (options.authHash !== undefined && typeof options.authHash !== "function") {
    throw new TypeError("Cannot create sessions: authHash must be a function of the user key");
  }
  const authBackend = options.authBackend ?? "django.contrib.auth.backends.ModelBackend";
  if (typeof authBackend !== "string" || authBackend === "") throw new TypeError("Cannot create sessions: authBackend must be a non-empty string");
  const store = options.store ?? memoryStore();
  if (typeof store !== "object" || store === null) throw new TypeError("Cannot create sessions: store must be a store object");
  const cookieMode = isCookieStore(store);
  if (!cookieMode && !["load", "create", "save", "delete"].every((m) => typeof (store as unknown as Record<string, unknown>)[m] === "function")) {
    throw new TypeError("Cannot create sessions: store must have load, create, save and delete methods");
  }
  return {
    secrets,
    cookie,
    store,
    cookieMode,
    serializer: resolveSerializer(options.serializer),
    expireAtBrowserClose: options.expireAtBrowserClose ?? false,
    saveEveryRequest: options.saveEveryRequest ?? false,
    idleMs: idle === undefined ? undefined : idle * 1000,
    absoluteMs: absolute === undefined ? undefined : absolute * 1000,
    now,
    storeTimeout,
    conflicts,
    crypto: cryptoMode,
    authHash: options.authHash,
    authBackend,
    onEvent: options.onEvent,
  };
}
