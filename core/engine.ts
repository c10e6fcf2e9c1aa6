/**
 * The engine behind `createSessions()`: `load` (read the session of a request), `commit` (Django's
 * `SessionMiddleware.process_response`, row by row) and `handle` (both around a handler, answering
 * session conditions with 400/409/503). Store-backed details live in `server.ts`, cookie encoding
 * in `cookie_store.ts`, the options in `options.ts`.
 *
 * @module
 */
import { getCookie, MAX_COOKIE_BYTES, parseCookie, serializeCookie } from "./cookie.ts";
import type { CookieAttributes } from "./cookie.ts";
import { CookieCodec, MAX_CHUNKS } from "./cookie_store.ts";
import { djangoCookieCodec, sessionAuthHash } from "./django.ts";
import type { CookieStore } from "./cookie_store.ts";
import { contractError, SessionError, storeFailure } from "./errors.ts";
import { applyHeaders, errorResponse } from "./response.ts";
import type { StoreOperation } from "./errors.ts";
import { isWellFormedId } from "./id.ts";
import type { Config, SessionEvent } from "./options.ts";
import { insecureCookieWarning, Reporter } from "./report.ts";
import { ServerSessions } from "./server.ts";
import type { Kit } from "./server.ts";
import { HASH_KEY, indexableUser, SessionState, USER_KEY, userOf, expireAtBrowserClose, expiryAge, newSession, sessionState } from "./session.ts";
import type { Session, SessionData, SessionHost } from "./session.ts";
import { KeyRing, Sealer, Signer } from "./signing.ts";
import { Operator } from "./operations.ts";
import type { SessionInfo } from "./operations.ts";
import { builtin } from "./crypto/platform.ts";
import type { SessionRecord, SessionStore } from "./types.ts";

/** What `createSessions()` returns. */
export interface Sessions<T extends object = SessionData> {
  /** The cookie name in use. */
  readonly cookieName: string;
  /** Read the session of a request: one store read (or one signature check), only when it carries a well-formed cookie. */
  load(request: Request): Promise<Session<T>>;
  /** Save if needed and set the cookie and `Vary` headers on `response` (Django's `process_response`). */
  commit(session: Session<T>, response: Response): Promise<Response>;
  /**
   * `load`, run `handler`, `commit`. A `SessionError` from any of the three is answered without a
   * cookie change: 400 for an interrupted session, 409 for a conflicting concurrent change, 503
   * when the store is unavailable. Other errors propagate.
   */
  handle(
    request: Request,
    handler: (request: Request, session: Session<T>) => Response | Promise<Response>,
  ): Promise<Response>;
  /** Remove expired records from the store (Django's `clearsessions`); throws `TypeError` when the store cannot. */
  clearExpired(): Promise<number>;
  /** Import and derive the keys now instead of on the first request. */
  ready(): Promise<void>;
  /** `true` when the store keeps records in this process only (the memory store): another process, a CLI say, sees none of them. */
  readonly inProcessStore: boolean;
  /** `false` for the cookie store (the session lives in the cookie), `true` for every server-side store. */
  readonly serverSide: boolean;
  /**
   * Read-only: what a cookie value (or a session id, for server stores) holds, for operators'
   * tools (`satchel decode`). Never writes, never moves, never extends.
   */
  inspect(value: string): Promise<Inspection>;
  /**
   * The live sessions, or those of one user (through the store's per-user index): an "active
   * devices" page. With `current`, each item says whether it is that session. Server stores only
   * (a `TypeError` for the cookie store, whose sessions live in the browsers).
   */
  list(options?: { user?: string; current?: Session<T> }): AsyncIterable<SessionInfo>;
  /** How many live sessions `list()` would yield. */
  count(options?: { user?: string }): Promise<number>;
  /**
   * End the session a `list()` handle names; `false` when it had ended already. With `user`, only
   * if it is that user's session (an account page passes the logged-in user). A handle these
   * secrets did not make is a `TypeError`.
   */
  revoke(handle: string, options?: { user?: string }): Promise<boolean>;
  /**
   * "Log out everywhere": end every session bound to `user` (but `except`, "log out other
   * devices") and return how many live ones ended. A request of one of them still in flight fails
   * with `SESSION_INTERRUPTED` when it saves. The cookie store cannot reach its sessions: it throws
   * a `TypeError` saying how to end them through the `authHash` option.
   */
  revokeUser(user: string, options?: { except?: Session<T> }): Promise<number>;
}

/** What `sessions.inspect()` finds. `expires` is the stored absolute expiry (epoch ms). */
export type Inspection =
  | { status: "live"; data: Record<string, unknown>; expires: number }
  | { status: "unknown" | "bad-signature" | "expired" | "malformed" };

/** Constant-time string equality (the time depends on the lengths only). */
function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/** What the engine needs of a cookie codec: satchel's own, or Django's `signed_cookies`. */
interface Codec {
  ready(): Promise<void>;
  encode(record: SessionRecord, now: number): Promise<string>;
  decode(value: string, now: number): Promise<{ record: SessionRecord; keyIndex: number } | null>;
  decodeSync?(value: string, now: number): { record: SessionRecord; keyIndex: number } | null | undefined;
}

/** The engine: one per `createSessions()`. */
export class Engine<T extends object> implements Sessions<T>, SessionHost {
  readonly cookieName: string;
  readonly maxAge: number;
  readonly expireAtBrowserClose: boolean;
  readonly serverSide: boolean;
  readonly authBackend: string;
  readonly inProcessStore: boolean;
  #c: Config;
  #server: ServerSessions | null;
  #operator: Operator | null;
  #codec: Codec | null;
  #touchAfter: number;
  #deleteAttributes: CookieAttributes;
  #reporter: Reporter;
  /** Cookie store with synchronous verification: verify on first touch, not at load. */
  #lazy: boolean;
  /** Cookie store: the most chunk cookies, or `false`. */
  #chunks: number | false;
  /** An untouched lazily loaded session still needs its cookie read at commit (idle timeout, rotation, saveEveryRequest). */
  #readAtCommit: boolean;

  constructor(config: Config) {
    this.#c = config;
    this.cookieName = config.cookie.name;
    this.maxAge = config.cookie.maxAge;
    this.expireAtBrowserClose = config.expireAtBrowserClose;
    this.serverSide = !config.cookieMode;
    this.authBackend = config.authBackend;
    this.inProcessStore = !config.cookieMode && (config.store as SessionStore).inProcess === true;
    this.#reporter = new Reporter({ onEvent: config.onEvent, now: config.now });
    const ring = new KeyRing(config.secrets, { crypto: config.crypto });
    const purpose = `cookie-store/${config.cookie.name}`;
    const cookieStore = config.cookieMode ? config.store as CookieStore : null;
    this.#codec = cookieStore === null
      ? null
      : cookieStore.format === "django"
      ? djangoCookieCodec(config.secrets, config.cookie.maxAge)
      : new CookieCodec(new Signer(ring, purpose), new Sealer(ring, `${purpose}/aes-gcm`), cookieStore);
    this.#server = config.cookieMode ? null : new ServerSessions(this.#kit(), config.store as SessionStore, ring);
    this.#operator = config.cookieMode ? null : new Operator({
      store: config.store as SessionStore,
      sealer: new Sealer(ring, `session-handle/${config.cookie.name}`),
      now: () => this.#c.now(),
      call: (operation, op, sensitive, ms) => this.#call(operation, op, sensitive, ms),
      ended: (record, now, lookups) => this.#recordEnded(record, now, lookups),
      storeKey: (session) => sessionState(session as unknown as Session<SessionData>).storeKey,
    });
    // Lazy only where decoding can never need a promise: sync crypto, and sync inflate when compressing.
    // The authHash check needs the data before the handler runs.
    this.#lazy = cookieStore !== null && cookieStore.format !== "django" && config.authHash === undefined && ring.sync !== undefined &&
      (cookieStore.encrypt || builtin("node:zlib") !== undefined);
    this.#chunks = cookieStore?.chunks ?? false;
    this.#readAtCommit = config.saveEveryRequest || config.idleMs !== undefined || config.secrets.length > 1;
    // Idle activity is written at most every tenth of the idle window (1 s to 60 s).
    this.#touchAfter = config.idleMs === undefined ? Number.POSITIVE_INFINITY : Math.max(1000, Math.min(60_000, config.idleMs / 10));
    const { path, domain, sameSite, partitioned } = config.cookie;
    const lower = config.cookie.name.toLowerCase();
    // Django's delete_cookie: no HttpOnly; Secure only where the browser insists on it.
    this.#deleteAttributes = {
      maxAge: 0,
      expires: new Date(0),
      path,
      domain,
      sameSite,
      partitioned,
      secure: lower.startsWith("__secure-") || lower.startsWith("__host-") || sameSite === "None" || partitioned,
    };
  }

  #kit(): Kit {
    const config = this.#c;
    return {
      config,
      call: (operation, op, sensitive, ms) => this.#call(operation, op, sensitive, ms),
      emit: (type, reason) => this.#emit(type, reason),
      record: (data, created, expiry, now) => this.#record(data, created, expiry, now),
      parse: (text) => this.#parse(text),
      encode: (key, value) => {
        const one = Object.create(null) as Record<string, unknown>;
        one[key] = value;
        return this.#c.serializer.stringify(one);
      },
    };
  }

  now(): number {
    return this.#c.now();
  }

  toJSON(): string {
    return "[Sessions]";
  }

  async ready(): Promise<void> {
    await this.#server?.ready();
    await this.#codec?.ready();
  }

  check(key: string, value: unknown): void {
    this.#c.serializer.check?.(value, key);
  }

  #emit(type: SessionEvent["type"], reason?: SessionEvent["reason"]): void {
    const listener = this.#c.onEvent;
    if (!listener) return;
    try {
      listener(reason ? { type, reason } : { type });
    } catch {
      // A failing listener must not fail the request.
    }
  }

  /**
   * Run a store call under the timeout. The store's own contract errors pass through; anything
   * else becomes a sanitized `STORE_UNAVAILABLE` (no driver object, id, key or data in it), which
   * is reported: to `onEvent`, or logged when there is none.
   */
  async #call<R>(
    operation: StoreOperation,
    op: () => Promise<R>,
    sensitive?: () => string[],
    ms: number = this.#c.storeTimeout,
  ): Promise<R> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (ms === 0) return await op();
      return await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SessionError("STORE_UNAVAILABLE", `The session store did not answer within ${ms} ms`)), ms);
        }),
      ]);
    } catch (error) {
      // A store's own contract errors keep their code, with a fixed message and no cause.
      if (error instanceof SessionError && error.code !== "STORE_UNAVAILABLE") throw contractError(error);
      const failure = storeFailure(operation, error, sensitive?.() ?? []);
      this.#reporter.storeFailure(operation, failure);
      throw failure;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  #parse(text: string): Map<string, unknown> | null {
    try {
      const value: unknown = this.#c.serializer.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
      const data = new Map<string, unknown>();
      for (const key of Object.keys(value)) data.set(key, (value as Record<string, unknown>)[key]);
      return data;
    } catch {
      return null;
    }
  }

  #serialize(data: Map<string, unknown>): string {
    // A null-prototype object: assigning "__proto__" creates an own key, never a prototype.
    const plain = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of data) plain[key] = value;
    try {
      return this.#c.serializer.stringify(plain);
    } catch (error) {
      if (error instanceof SessionError) throw error;
      throw new SessionError("SERIALIZATION_FAILED", "Cannot serialize session data", { cause: error });
    }
  }

  /** Which limit, if any, has ended a record at `now`. */
  #ended(record: { expires: number; created: number; active: number }, now: number): SessionEvent["reason"] | null {
    if (record.expires <= now) return "expiry";
    const { absoluteMs, idleMs } = this.#c;
    // The absolute limit is the record's hard expiry (alive strictly before it); the idle limit
    // follows django-session-timeout (alive at exactly the limit).
    if (absoluteMs !== undefined && now - record.created >= absoluteMs) return "absolute";
    if (idleMs !== undefined && now - record.active > idleMs) return "idle";
    return null;
  }

  /** Take a decoded cookie into the state, or leave the state empty (with the event) when it is not a live session. */
  #adoptCookie(state: SessionState, decoded: { record: SessionRecord; keyIndex: number } | null, now: number): void {
    if (!decoded) {
      this.#emit("session.invalid");
      return;
    }
    const reason = this.#ended(decoded.record, now);
    if (reason) {
      this.#emit("session.expired", reason);
      return;
    }
    const data = this.#parse(decoded.record.data);
    if (!data) {
      this.#emit("session.corrupt");
      return;
    }
    this.#adopt(state, decoded.record, data, now);
    state.reissue = decoded.keyIndex > 0;
  }

  /**
   * With the `authHash` option, whether a session bound to a user still carries the user's current
   * auth hash (Django's `get_user`): checked under every secret; a match under a fallback secret
   * is rewritten under the current one. `false` (the session ends) when it does not match, is
   * missing, or the user is gone.
   */
  async #authValid(s: SessionState): Promise<boolean> {
    const lookup = this.#c.authHash;
    const user = s.data.get(USER_KEY);
    if (!lookup || user === undefined) return true;
    const current = await this.#lookupAuth(lookup, String(user));
    const index = await this.#authIndex(current, s.data.get(HASH_KEY));
    if (index > 0) {
      const fresh = await sessionAuthHash(current!, this.#c.secrets[0]!);
      s.data.set(HASH_KEY, fresh);
      s.write(HASH_KEY, fresh);
    }
    if (index >= 0) return true;
    this.#emit("session.expired", "credentials");
    return false;
  }

  /**
   * The `authHash` option's answer for `user`. When the app's user lookup fails (its database is
   * down, say), it is answered like a store outage: `STORE_UNAVAILABLE` (503), reported once,
   * with the user key scrubbed.
   */
  async #lookupAuth(lookup: NonNullable<Config["authHash"]>, user: string): Promise<string | null> {
    try {
      return await lookup(user);
    } catch (error) {
      const failure = storeFailure("load", error, [user]);
      this.#reporter.storeFailure("load", failure);
      throw failure;
    }
  }

  /** Under which secret `stored` is the HMAC of the user's `current` auth hash, or -1. */
  async #authIndex(current: string | null, stored: unknown): Promise<number> {
    if (typeof current !== "string" || typeof stored !== "string") return -1;
    const secrets = this.#c.secrets;
    for (let index = 0; index < secrets.length; index++) {
      if (sameText(await sessionAuthHash(current, secrets[index]!), stored)) return index;
    }
    return -1;
  }

  /** For listings: whether a stored record is no longer a live session (time limits, then credentials). */
  async #recordEnded(record: SessionRecord, now: number, lookups: Map<string, Promise<string | null>>): Promise<boolean> {
    if (this.#ended(record, now) !== null) return true;
    const lookup = this.#c.authHash;
    const user = record.user;
    if (!lookup || user === undefined) return false;
    const data = this.#parse(record.data);
    if (!data) return true;
    let current = lookups.get(user);
    if (!current) {
      // Under the store timeout, reported, and with the user key scrubbed, like a listing step.
      current = this.#call("list", async () => await lookup(user), () => [user]);
      lookups.set(user, current);
    }
    return (await this.#authIndex(await current, data.get(HASH_KEY))) < 0;
  }

  /** A fresh empty state for the same request (the cookies it sent and its URL kept, so commit deletes them). */
  #emptied(state: SessionState): SessionState {
    const fresh = new SessionState(this);
    fresh.hadCookie = state.hadCookie;
    fresh.plainCookie = state.plainCookie;
    fresh.chunkMask = state.chunkMask;
    fresh.url = state.url;
    return fresh;
  }

  async authDigest(userKey: string, authHash: string | null | undefined): Promise<string | null> {
    let hash: string | null | undefined = authHash;
    if (hash === undefined) hash = this.#c.authHash ? await this.#lookupAuth(this.#c.authHash, userKey) : null;
    if (hash === null || hash === undefined) return null;
    if (typeof hash !== "string") throw new TypeError("Cannot log in: the auth hash must be a string");
    return await sessionAuthHash(hash, this.#c.secrets[0]!);
  }

  materialize(s: SessionState): void {
    const value = s.pending;
    if (value === null) return;
    s.pending = null;
    const now = this.#c.now();
    // Never undefined here: the engine is lazy only where decoding is synchronous.
    this.#adoptCookie(s, this.#codec!.decodeSync?.(value, now) ?? null, now);
  }

  #adopt(s: SessionState, record: SessionRecord, data: Map<string, unknown>, now: number): void {
    s.data = data;
    s.live = true;
    s.created = record.created;
    s.active = record.active;
    s.expiry = record.expiry;
    s.base = record.data;
    s.touchDue = now - record.active >= this.#touchAfter;
  }

  async load(request: Request): Promise<Session<T>> {
    const state = new SessionState(this);
    const url = request.url;
    // Only plain-HTTP URLs are kept, for the insecure-cookie warning at commit (not behind a
    // proxy that ended TLS and says so).
    if (url.charCodeAt(4) === 58 /* "http:" */ && request.headers.get("x-forwarded-proto") !== "https") state.url = url;
    const header = request.headers.get("cookie");
    const found = getCookie(header, this.cookieName);
    state.hadCookie = state.plainCookie = found.present;
    let value = found.value;
    if (this.#chunks !== false && header !== null && header.includes(`${this.cookieName}.`)) {
      // A chunked session: <name>.0, <name>.1, ... joined, verified as one value.
      const jar = parseCookie(header);
      const parts: string[] = [];
      // Chunks past today's cap (left by a larger `chunks` before) are noted, to be deleted, never joined.
      for (let index = 0; index < MAX_CHUNKS; index++) {
        const part = jar[`${this.cookieName}.${index}`];
        if (part === undefined) continue;
        state.chunkMask |= 1 << index;
        if (parts.length === index && index < this.#chunks) parts.push(part);
      }
      if (!found.present && parts.length > 0) {
        value = parts.join("");
        state.hadCookie = true;
      }
    }
    if (!value) return newSession<T>(state);
    const now = this.#c.now();
    if (this.#codec) {
      if (this.#lazy) state.pending = value;
      else this.#adoptCookie(state, await this.#codec.decode(value, now), now);
      if (state.live && !(await this.#authValid(state))) return newSession<T>(this.#emptied(state));
      return newSession<T>(state);
    }
    if (!isWellFormedId(value)) {
      this.#emit("session.invalid");
      return newSession<T>(state);
    }
    const server = this.#server!;
    const hit = await server.find(value, now);
    if (!hit || hit.record.expires <= now) {
      this.#emit("session.unknown");
      state.stale = true;
      return newSession<T>(state);
    }
    const { record, key, index } = hit;
    const reason = this.#ended(record, now);
    if (reason) {
      this.#emit("session.expired", reason);
      await server.drop(key).catch(() => {});
      state.stale = true;
      return newSession<T>(state);
    }
    const data = this.#parse(record.data);
    if (!data) this.#emit("session.corrupt");

    // Django keeps the key of a record that fails to decode, so the next save overwrites it.
    this.#adopt(state, record, data ?? new Map(), now);
    state.id = value;
    state.storeKey = key;
    state.keyIndex = index;
    state.version = record.version;
    // Found through a fallback secret's id hash: move it under the current secret's key on this
    // response, so removing the old secret later does not end the session.
    state.reissue = index > 0;
    if (!(await this.#authValid(state))) {
      // Credentials changed: the session is over, as Django's get_user flushes it.
      await server.drop(key).catch(() => {});
      const ended = this.#emptied(state);
      ended.stale = true;
      return newSession<T>(ended);
    }
    return newSession<T>(state);
  }

  /** Build the record to store at `now` (the expiry is Django's `get_expiry_date`, capped by the absolute timeout). */
  #record(data: Map<string, unknown>, created: number, expiry: number | string | undefined, now: number): SessionRecord {
    let expires = typeof expiry === "string" ? Date.parse(expiry) : now + (expiry || this.maxAge) * 1000;
    if (this.#c.absoluteMs !== undefined) expires = Math.min(expires, created + this.#c.absoluteMs);
    const record: { -readonly [K in keyof SessionRecord]: SessionRecord[K] } = { data: this.#serialize(data), expires, created, active: now };
    if (expiry !== undefined) record.expiry = expiry;
    // The bound user travels with the record, so stores can index it (sessions.list/revokeUser).
    // login() refuses keys no store can index exactly (over 255 characters, NUL, lone surrogates); one
    // set directly in the data is not indexed rather than failing every save, and list() and
    // revokeUser() refuse such a key with a TypeError instead of answering 0.
    const user = userOf(data.get(USER_KEY));
    if (indexableUser(user)) record.user = user;
    return record;
  }

  async end(s: SessionState): Promise<void> {
    await this.#server!.end(s);
  }

  async cycle(s: SessionState): Promise<void> {
    if (!this.#server) return; // the cookie store just re-signs
    s.cycling = true;
    try {
      await this.#server.cycle(s);
    } finally {
      s.cycling = false;
    }
    s.changes = new Map();
    s.replays = new Map();
    s.observed = new Set();
    s.cleared = false;
    s.manual = false;
    s.expiryChanged = false;
    s.persisted = true;
  }

  async commit(session: Session<T>, response: Response): Promise<Response> {
    const s = sessionState(session as unknown as Session<SessionData>);
    s.committed = true;
    // A network error (`Response.error()`, status 0) is no answer: nothing to save or set.
    if (response.status === 0) return response;
    // A cookie the handler never touched is never verified, unless a rule needs what it holds.
    if (s.pending !== null) {
      if (!this.#readAtCommit) return response;
      this.materialize(s);
    }
    const cookies: string[] = [];
    let vary = false;
    const empty = session.isEmpty;
    if (s.hadCookie && empty) {
      if (s.plainCookie || s.chunkMask === 0) cookies.push(serializeCookie(this.cookieName, "", this.#deleteAttributes));
      this.#deleteChunks(s, 0, cookies);
      vary = true;
    } else {
      vary = s.accessed;
      // The cookie store records idle activity, and re-signs under the current secret, by re-issuing.
      const reissue = s.reissue || (this.#codec !== null && s.touchDue && s.live);
      const wanted = s.modified || this.#c.saveEveryRequest;
      let save = (wanted || reissue) && !empty;
      if (save && !s.live && s.data.size === 0) {
        // saveEveryRequest with an unknown cookie: Django would create an empty record here,
        // against its own docs; we never create empty sessions and delete the cookie instead.
        save = false;
        if (s.hadCookie) cookies.push(serializeCookie(this.cookieName, "", this.#deleteAttributes));
        this.#deleteChunks(s, 0, cookies);
        vary = true;
      }
      // Django saves below 500 (and only real statuses: 100 and up).
      const ok = response.status >= 100 && response.status < 500;
      if (save && ok) {
        const now = this.#c.now();
        let value: string | null;
        if (this.#codec) {
          s.active = now;
          value = await this.#codec.encode(this.#record(s.data, s.created, s.expiry, now), now);
          s.live = true;
          s.reissue = false;
        } else {
          value = await this.#persist(s, now, wanted);
        }
        // After the save: a merge may have taken another request's expiry.
        const browserClose = expireAtBrowserClose(s);
        let maxAge = browserClose ? undefined : expiryAge(s);
        if (maxAge !== undefined && this.#c.absoluteMs !== undefined) {
          maxAge = Math.min(maxAge, Math.floor((s.created + this.#c.absoluteMs - now) / 1000));
        }
        if (value !== null) {
          const attributes: CookieAttributes = {
            path: this.#c.cookie.path,
            domain: this.#c.cookie.domain,
            secure: this.#c.cookie.secure,
            httpOnly: this.#c.cookie.httpOnly,
            sameSite: this.#c.cookie.sameSite,
            partitioned: this.#c.cookie.partitioned,
          };
          if (maxAge !== undefined) {
            attributes.maxAge = maxAge;
            attributes.expires = new Date(now + maxAge * 1000);
          }
          this.#setCookie(s, value, attributes, cookies);
          vary = true;
          if (s.url !== null) this.#warnInsecure(s.url);
        }
      } else if (!save && ok && s.touchDue && s.live && this.#server) {
        await this.#server.touch(s, this.#c.now());
      }
    }
    s.touchDue = false;
    if (cookies.length === 0 && !vary) return response;
    return applyHeaders(response, cookies, vary);
  }

  /** Save a server-side session; the cookie value, or `null` when a move that nobody asked for lost a race. */
  async #persist(s: SessionState, now: number, wanted: boolean): Promise<string | null> {
    const server = this.#server!;
    if (!s.live) {
      await server.create(s, now);
      return s.id!;
    }
    if (s.persisted) return s.id!;
    try {
      await server.save(s, now);
    } catch (error) {
      // A read-only request moving its record to the current secret's key met a logout or a
      // concurrent change: nothing of its own was lost, so it just leaves the cookie alone.
      const raced = error instanceof SessionError && (error.code === "SESSION_INTERRUPTED" || error.code === "SESSION_CONFLICT");
      if (!wanted && raced) return null;
      throw error;
    }
    return s.id!;
  }

  /** The Set-Cookie lines for the session value: one cookie, or chunks when it is too long and chunking is on. */
  #setCookie(s: SessionState, value: string, attributes: CookieAttributes, cookies: string[]): void {
    const name = this.cookieName;
    const chunks = this.#chunks;
    if (chunks === false || name.length + value.length <= MAX_COOKIE_BYTES) {
      cookies.push(serializeCookie(name, value, attributes));
      this.#deleteChunks(s, 0, cookies);
      return;
    }
    const parts: string[] = [];
    for (let at = 0; at < value.length;) {
      const size = MAX_COOKIE_BYTES - (name.length + 1 + String(parts.length).length);
      parts.push(value.slice(at, at + size));
      at += size;
    }
    if (parts.length > chunks) {
      throw new SessionError(
        "COOKIE_TOO_LARGE",
        `Cannot send the session: it needs ${parts.length} cookies of 4096 bytes and cookieStore({ chunks }) allows ${chunks}`,
      );
    }
    parts.forEach((part, index) => cookies.push(serializeCookie(`${name}.${index}`, part, attributes)));
    // Always, not only when this request sent one: a concurrent request that shrank the session
    // to one cookie may land first, and the plain cookie would then win over these chunks.
    cookies.push(serializeCookie(name, "", this.#deleteAttributes));
    this.#deleteChunks(s, parts.length, cookies);
  }

  /** Delete the chunk cookies the request sent from index `from` on (stale parts of a longer value). */
  #deleteChunks(s: SessionState, from: number, cookies: string[]): void {
    for (let index = from; s.chunkMask >>> index !== 0; index++) {
      if (s.chunkMask & (1 << index)) cookies.push(serializeCookie(`${this.cookieName}.${index}`, "", this.#deleteAttributes));
    }
  }

  #warnInsecure(url: string): void {
    const message = insecureCookieWarning(url, this.#c.cookie.secure);
    if (message) this.#reporter.warnOnce("insecure-cookie", message);
  }

  async handle(
    request: Request,
    handler: (request: Request, session: Session<T>) => Response | Promise<Response>,
  ): Promise<Response> {
    let session: Session<T>;
    let response: Response;
    try {
      session = await this.load(request);
      response = await handler(request, session);
      return await this.commit(session, response);
    } catch (error) {
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
  }

  async inspect(value: string): Promise<Inspection> {
    if (typeof value !== "string" || value === "") return { status: "malformed" };
    const now = this.#c.now();
    const plain = (data: Map<string, unknown>) => Object.fromEntries(data);
    if (this.#codec) {
      const decoded = await this.#codec.decode(value, now);
      if (!decoded) return { status: "bad-signature" };
      if (this.#ended(decoded.record, now)) return { status: "expired" };
      const data = this.#parse(decoded.record.data);
      return data ? { status: "live", data: plain(data), expires: decoded.record.expires } : { status: "malformed" };
    }
    if (!isWellFormedId(value)) return { status: "malformed" };
    const hit = await this.#server!.find(value, now);
    if (!hit) return { status: "unknown" };
    if (this.#ended(hit.record, now)) return { status: "expired" };
    const data = this.#parse(hit.record.data);
    return data ? { status: "live", data: plain(data), expires: hit.record.expires } : { status: "malformed" };
  }

  list(options: { user?: string; current?: Session<T> } = {}): AsyncIterable<SessionInfo> {
    return this.#operations("list").list(options as { user?: string; current?: Session<never> });
  }

  async count(options: { user?: string } = {}): Promise<number> {
    return await this.#operations("count").count(options);
  }

  async revoke(handle: string, options: { user?: string } = {}): Promise<boolean> {
    return await this.#operations("revoke").revoke(handle, options);
  }

  async revokeUser(user: string, options: { except?: Session<T> } = {}): Promise<number> {
    if (!this.#operator) {
      throw new TypeError(
        "Cannot revoke a user's sessions with the cookie store: they live in the browsers, out of the server's reach. " +
          "End them through the authHash option: change what authHash(user) returns (the new password hash, or a bumped " +
          "credentials version) and every cookie session of the user ends on its next request; keep this one with " +
          "session.refreshAuth(newHash).",
      );
    }
    return await this.#operator.revokeUser(user, options as { except?: Session<never> });
  }

  #operations(what: string): Operator {
    if (!this.#operator) {
      throw new TypeError(`Cannot ${what} sessions with the cookie store: its sessions live in the browsers, not on the server.`);
    }
    return this.#operator;
  }

  async clearExpired(): Promise<number> {
    if (!this.#server) throw new TypeError("Session store doesn't support clearing expired sessions.");
    return await this.#server.clearExpired(this.#c.now());
  }
}
