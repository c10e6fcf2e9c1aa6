/**
 * `Session<T>`: one request's session, Django's `SessionBase` shaped for JavaScript.
 *
 * The mapping members are synchronous: `sessions.load()` has already read the store (or
 * verified the cookie) before the handler runs. Each member sets `accessed` and `modified`
 * exactly as Django does (see the table in DESIGN.md and django.md §3.3). `flush()` and
 * `cycleKey()` are async because they talk to the store.
 *
 * Bookkeeping (expiry override, creation and last-activity times) never shows through
 * `get`, `keys()` or `entries()`: it travels beside the data in the stored record.
 *
 * @module
 */
import type { Version } from "./types.ts";

/** The shape of session data: string keys, serializable values. */
export type SessionData = Record<string, unknown>;

/** What the core needs from its owner while a session is live (implemented by `createSessions`). */
export interface SessionHost {
  now(): number;
  readonly maxAge: number;
  readonly expireAtBrowserClose: boolean;
  readonly serverSide: boolean;
  deleteRecord(storeKey: string): Promise<void>;
  cycle(state: SessionState): Promise<void>;
}

/** A tracked change, replayed onto a fresh record when a compare-and-set save conflicts. */
export const DELETED: unique symbol = Symbol("deleted");

/** Internal state of a session; only the core reads it. */
export class SessionState {
  host: SessionHost;
  data: Map<string, unknown>;
  /** The id known to the store (server stores); `null` until created. */
  id: string | null = null;
  /** What the store is keyed by (the id or its HMAC). */
  storeKey: string | null = null;
  /** Index of the secret the store key was derived with (0 = current). */
  keyIndex = 0;
  /** A live record or a valid cookie backs this session (Django: it has a session key). */
  live = false;
  /**
   * The request carried a well-formed id the store does not know. Django keeps such a key
   * until the data is first accessed, so an untouched request leaves the cookie alone.
   */
  stale = false;
  /** The request carried the session cookie at all, whatever its value. */
  hadCookie = false;
  version: Version | undefined = undefined;
  created: number;
  active: number;
  expiry: number | string | undefined = undefined;
  accessed = false;
  modified = false;
  /** `modified` was set by the caller (nested mutation): merges rewrite every key read. */
  manual = false;
  cleared = false;
  expiryChanged = false;
  changes: Map<string, unknown> = new Map();
  /** Keys read through `get`/`has`/...; `null` means all of them (keys(), entries(), ...). */
  readKeys: Set<string> | null = new Set();
  /** The stored record already equals this state (set by cycleKey, cleared by any change). */
  persisted = false;
  /** The cookie verified under a fallback secret and should be re-issued. */
  reissue = false;
  /** The idle-timeout activity stamp is due for a refresh. */
  touchDue = false;

  constructor(host: SessionHost, data: Map<string, unknown> = new Map()) {
    this.host = host;
    this.data = data;
    this.created = this.active = host.now();
  }

  /** Record a write (for merges) and mark the session modified. */
  write(key: string, value: unknown): void {
    this.changes.set(key, value);
    this.modified = true;
    this.persisted = false;
  }
}

let stateOf: (session: Session<SessionData>) => SessionState;
let createSession: <T extends object>(state: SessionState) => Session<T>;

/** Internal: the state behind a session. */
export function sessionState(session: Session<SessionData>): SessionState {
  return stateOf(session);
}

/** Internal: wrap a state in a `Session`. */
export function newSession<T extends object>(state: SessionState): Session<T> {
  return createSession<T>(state);
}

/**
 * One request's session. Get one from `sessions.load(request)` or `sessions.handle()`.
 *
 * @typeParam T the shape of the data, e.g. `{ userId: string; cart: string[] }`
 */
export class Session<T extends object = SessionData> {
  #s: SessionState;

  static {
    stateOf = (session) => session.#s;
    createSession = <T extends object>(state: SessionState) => new Session<T>(state);
  }

  /** @internal Sessions come from `sessions.load()`. */
  private constructor(state: SessionState) {
    this.#s = state;
  }

  /** The session id (Django's `session_key`): `null` until the first save, and always for the cookie store. */
  get id(): string | null {
    return this.#s.id;
  }

  /** The data was read or written during this request (drives `Vary: Cookie`). */
  get accessed(): boolean {
    return this.#s.accessed;
  }
  set accessed(value: boolean) {
    this.#s.accessed = value;
  }

  /**
   * The data changed during this request (drives the save). Set it to `true` yourself after
   * mutating a nested value in place, as in Django: `session.get("cart")!.push(x); session.modified = true`.
   */
  get modified(): boolean {
    return this.#s.modified;
  }
  set modified(value: boolean) {
    const s = this.#s;
    s.modified = value;
    if (value) {
      s.manual = true;
      s.persisted = false;
    }
  }

  /** Django's `is_empty()`: no session key and no data. Does not count as access. */
  get isEmpty(): boolean {
    const s = this.#s;
    if (s.live || (s.stale && !s.accessed)) return false;
    return s.data.size === 0;
  }

  #read(key: string): void {
    const s = this.#s;
    s.accessed = true;
    if (s.stale) s.stale = false;
    s.readKeys?.add(key);
  }

  #readAll(): void {
    const s = this.#s;
    s.accessed = true;
    s.stale = false;
    s.readKeys = null;
  }

  /** The value under `key`, or `fallback` (default `undefined`). Sets `accessed`. */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  get<K extends keyof T & string>(key: K, fallback: T[K]): T[K];
  get<K extends keyof T & string>(key: K, ...fallback: [T[K]?]): T[K] | undefined {
    this.#read(key);
    const data = this.#s.data;
    if (data.has(key)) return data.get(key) as T[K];
    return fallback[0];
  }

  /** Store `value` under `key`. Sets `accessed` and `modified`, even when the value is the same. */
  set<K extends keyof T & string>(key: K, value: T[K]): void {
    this.#read(key);
    this.#s.data.set(key, value);
    this.#s.write(key, value);
  }

  /** Whether `key` is present (Django's `in`). Sets `accessed`. */
  has(key: keyof T & string): boolean {
    this.#read(key);
    return this.#s.data.has(key);
  }

  /** Remove `key`; `true` when it was there. Sets `modified` only then (Django's `del`). */
  delete(key: keyof T & string): boolean {
    this.#read(key);
    const s = this.#s;
    if (!s.data.delete(key)) return false;
    s.write(key, DELETED);
    return true;
  }

  /**
   * Remove `key` and return its value, or `fallback` (default `undefined`) when it is missing.
   * Sets `modified` only when the key was present.
   */
  pop<K extends keyof T & string>(key: K): T[K] | undefined;
  pop<K extends keyof T & string>(key: K, fallback: T[K]): T[K];
  pop<K extends keyof T & string>(key: K, ...fallback: [T[K]?]): T[K] | undefined {
    this.#read(key);
    const s = this.#s;
    if (!s.data.has(key)) return fallback[0];
    const value = s.data.get(key) as T[K];
    s.data.delete(key);
    s.write(key, DELETED);
    return value;
  }

  /** The value under `key`; when absent, store `value` first (then `modified` is set). */
  setDefault<K extends keyof T & string>(key: K, value: T[K]): T[K] {
    this.#read(key);
    const s = this.#s;
    if (s.data.has(key)) return s.data.get(key) as T[K];
    s.data.set(key, value);
    s.write(key, value);
    return value;
  }

  /** Store every own key of `values`. Always sets `modified`, even for `{}` (Django's `update`). */
  update(values: Partial<T>): void {
    const s = this.#s;
    s.accessed = true;
    s.stale = false;
    for (const key of Object.keys(values)) {
      const value = (values as Record<string, unknown>)[key];
      s.readKeys?.add(key);
      s.data.set(key, value);
      s.write(key, value);
    }
    s.modified = true;
    s.persisted = false;
  }

  /** The keys, as an array. Sets `accessed`. */
  keys(): (keyof T & string)[] {
    this.#readAll();
    return Array.from(this.#s.data.keys()) as (keyof T & string)[];
  }

  /** The values, as an array. Sets `accessed`. */
  values(): T[keyof T][] {
    this.#readAll();
    return Array.from(this.#s.data.values()) as T[keyof T][];
  }

  /** The `[key, value]` pairs, as an array. Sets `accessed`. */
  entries(): [keyof T & string, T[keyof T]][] {
    this.#readAll();
    return Array.from(this.#s.data.entries()) as [keyof T & string, T[keyof T]][];
  }

  /** Remove all data but keep the session (and its id): `{}` is saved. Not a logout: see `flush()`. */
  clear(): void {
    const s = this.#s;
    s.accessed = true;
    s.stale = false;
    s.data = new Map();
    s.changes = new Map();
    s.cleared = true;
    s.modified = true;
    s.persisted = false;
  }

  /**
   * Log out: delete the stored record, start a new empty session without an id, and have the
   * response delete the cookie (when the request sent one).
   */
  async flush(): Promise<void> {
    const s = this.#s;
    this.clear();
    const key = s.storeKey;
    if (key !== null && s.host.serverSide) await s.host.deleteRecord(key);
    s.id = null;
    s.storeKey = null;
    s.live = false;
    s.stale = false;
    s.version = undefined;
    s.created = s.active = s.host.now();
    s.expiry = undefined;
    s.expiryChanged = false;
    s.reissue = false;
    s.touchDue = false;
  }

  /**
   * Keep the data under a new id and kill the old one (call it at login, against fixation).
   * Server stores persist the new record at once and delete the old; the absolute timeout still
   * counts from the original creation. For the cookie store the cookie is simply re-signed.
   */
  async cycleKey(): Promise<void> {
    const s = this.#s;
    s.accessed = true;
    s.stale = false;
    await s.host.cycle(s);
    s.modified = true;
  }

  /**
   * Set this session's expiry (Django's `set_expiry`): a number of seconds of inactivity
   * (`0` = until the browser closes; the server keeps it for the cookie age), a `Date`, or
   * `null` to return to the global policy.
   */
  setExpiry(value: number | Date | null): void {
    const s = this.#s;
    s.accessed = true;
    s.stale = false;
    if (value === null) {
      if (s.expiry === undefined) return;
      s.expiry = undefined;
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new RangeError(`Cannot set expiry: seconds must be finite, received ${value}`);
      s.expiry = value;
    } else if (value instanceof Date && !Number.isNaN(value.getTime())) {
      s.expiry = value.toISOString();
    } else {
      throw new TypeError("Cannot set expiry: expected a number of seconds, a valid Date or null");
    }
    s.expiryChanged = true;
    s.modified = true;
    s.persisted = false;
  }

  /** Seconds until the session expires, counted from now (Django's `get_expiry_age`). */
  getExpiryAge(): number {
    this.#s.accessed = true;
    return expiryAge(this.#s);
  }

  /** When the session expires (Django's `get_expiry_date`). */
  getExpiryDate(): Date {
    const s = this.#s;
    s.accessed = true;
    if (typeof s.expiry === "string") return new Date(s.expiry);
    return new Date(s.host.now() + (s.expiry || s.host.maxAge) * 1000);
  }

  /** Whether the cookie lasts only until the browser closes (Django's `get_expire_at_browser_close`). */
  getExpireAtBrowserClose(): boolean {
    const s = this.#s;
    s.accessed = true;
    return expireAtBrowserClose(s);
  }
}

/** Seconds until expiry, floored (a date 100 s ahead computed a moment later gives 99, as in Django). */
export function expiryAge(s: SessionState): number {
  const expiry = s.expiry;
  if (!expiry) return s.host.maxAge;
  if (typeof expiry === "number") return expiry;
  return Math.floor((Date.parse(expiry) - s.host.now()) / 1000);
}

/** Whether the cookie should be a browser-session cookie. */
export function expireAtBrowserClose(s: SessionState): boolean {
  return s.expiry === undefined ? s.host.expireAtBrowserClose : s.expiry === 0;
}
