/**
 * `createSessions()`: options, loading a session from a `Request`, and committing it to a
 * `Response` exactly as Django's `SessionMiddleware.process_response` does.
 *
 * @module
 */
import { checkDomain, checkPath, getCookie, isCookieName, serializeCookie } from "./cookie.ts";
import type { CookieAttributes } from "./cookie.ts";
import { CookieCodec } from "./cookie_store.ts";
import type { CookieStore } from "./cookie_store.ts";
import { SessionError, interrupted } from "./errors.ts";
import { isWellFormedId, newSessionId } from "./id.ts";
import { memoryStore } from "./memory_store.ts";
import { resolveSerializer } from "./serializer.ts";
import type { Serializer } from "./serializer.ts";
import { DELETED, SessionState, expireAtBrowserClose, expiryAge, newSession, sessionState } from "./session.ts";
import type { Session, SessionData, SessionHost } from "./session.ts";
import { KeyRing, Sealer, Signer, toHex } from "./signing.ts";
import type { LoadedRecord, SessionRecord, SessionStore } from "./types.ts";

/** Cookie settings; each maps to Django's `SESSION_COOKIE_*`. */
export interface CookieOptions {
  /** @default "sessionid" */
  name?: string;
  /** Seconds; Django's `SESSION_COOKIE_AGE`. At most 400 days (browsers clamp beyond). @default 1209600 (2 weeks) */
  maxAge?: number;
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
  /** For `session.expired`: which limit ended it. */
  reason?: "expiry" | "idle" | "absolute";
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
  /** Seconds of inactivity after which the session ends (server-held last activity). @default undefined */
  idleTimeout?: number | undefined;
  /** Seconds after creation after which the session ends, whatever the activity. @default undefined */
  absoluteTimeout?: number | undefined;
  /** The clock, in epoch milliseconds. @default () => Date.now() */
  now?: () => number;
  /** `"json"`, `"tagged"` or your own `{ stringify, parse }`. @default "json" */
  serializer?: "json" | "tagged" | Serializer;
  /** Milliseconds a store call may take before it fails with `STORE_UNAVAILABLE`; `0` disables. @default 5000 */
  storeTimeout?: number;
  /** Called for each lifecycle event. @default undefined */
  onEvent?: ((event: SessionEvent) => void) | undefined;
}

/** What `createSessions()` returns. */
export interface Sessions<T extends object = SessionData> {
  /** The cookie name in use. */
  readonly cookieName: string;
  /** Read the session of a request: one store read (or one signature check), only when it carries a well-formed cookie. */
  load(request: Request): Promise<Session<T>>;
  /** Save if needed and set the cookie and `Vary` headers on `response` (Django's `process_response`). */
  commit(session: Session<T>, response: Response): Promise<Response>;
  /** `load`, run `handler`, `commit`; answers 400 for an interrupted session and 503 when the store is down. */
  handle(
    request: Request,
    handler: (request: Request, session: Session<T>) => Response | Promise<Response>,
  ): Promise<Response>;
  /** Remove expired records from the store (Django's `clearsessions`); throws `TypeError` when the store cannot. */
  clearExpired(): Promise<number>;
  /** Import and derive the keys now instead of on the first request. */
  ready(): Promise<void>;
}

const MAX_AGE_LIMIT = 400 * 24 * 60 * 60;
const CREATE_ATTEMPTS = 10;
const SAVE_ATTEMPTS = 5;

function positive(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Cannot create sessions: ${name} must be a positive number of seconds, received ${value}`);
  }
}

function resolveCookie(options: CookieOptions = {}): Required<Omit<CookieOptions, "domain">> & { domain: string | undefined } {
  const cookie = {
    name: options.name ?? "sessionid",
    maxAge: options.maxAge ?? 1_209_600,
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
  positive("cookie.maxAge", cookie.maxAge);
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

function isCookieStore(store: SessionStore | CookieStore): store is CookieStore {
  return (store as CookieStore).kind === "cookie";
}

/**
 * Create the session machinery for an app.
 *
 * @example
 * ```ts
 * import { createSessions } from "@satchel/session";
 * const sessions = createSessions<{ visits: number }>({ secret: "a-secret-of-at-least-32-characters!" });
 * const visit = (cookie?: string) =>
 *   sessions.handle(new Request("https://example.com/", { headers: cookie ? { cookie } : {} }), (_req, session) => {
 *     session.set("visits", session.get("visits", 0) + 1);
 *     return new Response(String(session.get("visits")));
 *   });
 * const first = await visit();
 * const cookie = first.headers.getSetCookie()[0]!.split(";")[0]!;
 * if ((await (await visit(cookie)).text()) !== "2") throw new Error("not counted");
 * ```
 */
export function createSessions<T extends object = SessionData>(options: SessionsOptions): Sessions<T> {
  if (typeof options !== "object" || options === null) throw new TypeError("Cannot create sessions: options are required");
  const secrets = resolveSecrets(options.secret);
  const cookie = resolveCookie(options.cookie);
  positive("idleTimeout", options.idleTimeout);
  positive("absoluteTimeout", options.absoluteTimeout);
  const storeTimeout = options.storeTimeout ?? 5000;
  if (!(Number.isFinite(storeTimeout) && storeTimeout >= 0)) {
    throw new RangeError(`Cannot create sessions: storeTimeout must be a number of milliseconds >= 0, received ${storeTimeout}`);
  }
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError("Cannot create sessions: now must be a function");
  const store = options.store ?? memoryStore();
  if (typeof store !== "object" || store === null) throw new TypeError("Cannot create sessions: store must be a store object");
  const cookieMode = isCookieStore(store);
  if (!cookieMode && !["load", "create", "save", "delete"].every((m) => typeof (store as unknown as Record<string, unknown>)[m] === "function")) {
    throw new TypeError("Cannot create sessions: store must have load, create, save and delete methods");
  }
  return new Engine<T>({
    secrets,
    cookie,
    store,
    cookieMode,
    serializer: resolveSerializer(options.serializer),
    expireAtBrowserClose: options.expireAtBrowserClose ?? false,
    saveEveryRequest: options.saveEveryRequest ?? false,
    idleMs: options.idleTimeout === undefined ? undefined : options.idleTimeout * 1000,
    absoluteMs: options.absoluteTimeout === undefined ? undefined : options.absoluteTimeout * 1000,
    now,
    storeTimeout,
    onEvent: options.onEvent,
  });
}

interface Config {
  secrets: string[];
  cookie: ReturnType<typeof resolveCookie>;
  store: SessionStore | CookieStore;
  cookieMode: boolean;
  serializer: Serializer;
  expireAtBrowserClose: boolean;
  saveEveryRequest: boolean;
  idleMs: number | undefined;
  absoluteMs: number | undefined;
  now: () => number;
  storeTimeout: number;
  onEvent: ((event: SessionEvent) => void) | undefined;
}

class Engine<T extends object> implements Sessions<T>, SessionHost {
  readonly cookieName: string;
  readonly maxAge: number;
  readonly expireAtBrowserClose: boolean;
  readonly serverSide: boolean;
  #c: Config;
  #store: SessionStore | null;
  #codec: CookieCodec | null;
  #idHasher: Signer | null;
  #touchAfter: number;
  #deleteAttributes: CookieAttributes;

  constructor(config: Config) {
    this.#c = config;
    this.cookieName = config.cookie.name;
    this.maxAge = config.cookie.maxAge;
    this.expireAtBrowserClose = config.expireAtBrowserClose;
    this.serverSide = !config.cookieMode;
    const ring = new KeyRing(config.secrets);
    this.#store = config.cookieMode ? null : (config.store as SessionStore);
    const purpose = `cookie-store/${config.cookie.name}`;
    this.#codec = config.cookieMode
      ? new CookieCodec(new Signer(ring, purpose), new Sealer(ring, `${purpose}/aes-gcm`), config.store as CookieStore)
      : null;
    this.#idHasher = !config.cookieMode && !(config.store as SessionStore).rawIds ? new Signer(ring, "store-key") : null;
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

  now(): number {
    return this.#c.now();
  }

  toJSON(): string {
    return "[Sessions]";
  }

  async ready(): Promise<void> {
    await this.#idHasher?.keys();
    await this.#codec?.ready();
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

  /** Run a store call under the timeout; anything but the store's own contract errors becomes STORE_UNAVAILABLE. */
  async #call<R>(op: () => Promise<R>, ms: number = this.#c.storeTimeout): Promise<R> {
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
      if (error instanceof SessionError) {
        if (error.code === "STORE_UNAVAILABLE") this.#emit("store.failure");
        throw error;
      }
      this.#emit("store.failure");
      throw new SessionError("STORE_UNAVAILABLE", "The session store failed", { cause: error });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  async #storeKey(id: string, index = 0): Promise<string> {
    return this.#idHasher ? toHex(await this.#idHasher.mac(id, index)) : id;
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

  #adopt(s: SessionState, record: SessionRecord, data: Map<string, unknown>, now: number): void {
    s.data = data;
    s.live = true;
    s.created = record.created;
    s.active = record.active;
    s.expiry = record.expiry;
    s.touchDue = now - record.active >= this.#touchAfter;
  }

  async load(request: Request): Promise<Session<T>> {
    const state = new SessionState(this);
    const found = getCookie(request.headers.get("cookie"), this.cookieName);
    state.hadCookie = found.present;
    const value = found.value;
    if (!value) return newSession<T>(state);
    const now = this.#c.now();
    if (this.#codec) {
      const decoded = await this.#codec.decode(value, now);
      if (!decoded) {
        this.#emit("session.invalid");
        return newSession<T>(state);
      }
      const reason = this.#ended(decoded.record, now);
      if (reason) {
        this.#emit("session.expired", reason);
        return newSession<T>(state);
      }
      const data = this.#parse(decoded.record.data);
      if (!data) {
        this.#emit("session.corrupt");
        return newSession<T>(state);
      }
      this.#adopt(state, decoded.record, data, now);
      state.reissue = decoded.keyIndex > 0;
      return newSession<T>(state);
    }
    if (!isWellFormedId(value)) {
      this.#emit("session.invalid");
      return newSession<T>(state);
    }
    const store = this.#store!;
    let record: LoadedRecord | null = null;
    let key = "";
    const tries = this.#idHasher ? this.#c.secrets.length : 1;
    for (let index = 0; index < tries && !record; index++) {
      key = await this.#storeKey(value, index);
      record = await this.#call(() => store.load(key, now));
      state.keyIndex = index;
    }
    if (!record || record.expires <= now) {
      this.#emit("session.unknown");
      state.stale = true;
      return newSession<T>(state);
    }
    const reason = this.#ended(record, now);
    if (reason) {
      this.#emit("session.expired", reason);
      await this.#call(() => store.delete(key)).catch(() => {});
      state.stale = true;
      return newSession<T>(state);
    }
    const data = this.#parse(record.data);
    if (!data) this.#emit("session.corrupt");
    // Django keeps the key of a record that fails to decode, so the next save overwrites it.
    this.#adopt(state, record, data ?? new Map(), now);
    state.id = value;
    state.storeKey = key;
    state.version = record.version;
    // Found through a fallback secret's id hash: move it under the current secret's key on this
    // response, so removing the old secret later does not end the session.
    state.reissue = state.keyIndex > 0;
    return newSession<T>(state);
  }

  /** Build the record to store at `now` (the expiry is Django's `get_expiry_date`, capped by the absolute timeout). */
  #record(data: Map<string, unknown>, created: number, expiry: number | string | undefined, now: number): SessionRecord {
    let expires = typeof expiry === "string" ? Date.parse(expiry) : now + (expiry || this.maxAge) * 1000;
    if (this.#c.absoluteMs !== undefined) expires = Math.min(expires, created + this.#c.absoluteMs);
    const record: SessionRecord = { data: this.#serialize(data), expires, created, active: now };
    return expiry === undefined ? record : { ...record, expiry };
  }

  async deleteRecord(storeKey: string): Promise<void> {
    const store = this.#store!;
    await this.#call(() => store.delete(storeKey));
    this.#emit("session.flushed");
  }

  async cycle(s: SessionState): Promise<void> {
    if (!this.#store) return; // the cookie store just re-signs
    const oldKey = s.live ? s.storeKey : null;
    await this.#create(s, this.#c.now());
    if (oldKey !== null) {
      const store = this.#store;
      await this.#call(() => store.delete(oldKey));
    }
    s.changes = new Map();
    s.cleared = false;
    s.manual = false;
    s.expiryChanged = false;
    s.persisted = true;
    this.#emit("session.cycled");
  }

  /** Insert the session under a fresh id, retrying on collision (Django's `create`). */
  async #create(s: SessionState, now: number): Promise<void> {
    const store = this.#store!;
    const record = this.#record(s.data, s.created, s.expiry, now);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const id = newSessionId();
      const key = await this.#storeKey(id);
      try {
        const version = await this.#call(() => store.create(key, record));
        s.id = id;
        s.storeKey = key;
        s.keyIndex = 0;
        s.version = version ?? undefined;
        s.live = true;
        s.active = now;
        this.#emit("session.created");
        return;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === "SESSION_EXISTS")) throw error;
      }
    }
    throw new SessionError("STORE_UNAVAILABLE", "Unable to create a new session key: the store reports every new key as taken");
  }

  /** Write a live session back, merging per key when another request changed it meanwhile. */
  async #update(s: SessionState, now: number): Promise<void> {
    const store = this.#store!;
    if (s.keyIndex > 0) return this.#rekey(s, now);
    let data = s.data;
    let version = s.version;
    let created = s.created;
    let expiry = s.expiry;
    for (let attempt = 0; ; attempt++) {
      const record = this.#record(data, created, expiry, now);
      try {
        const next = await this.#call(() => store.save(s.storeKey!, record, version));
        s.version = next ?? undefined;
        s.data = data;
        s.created = created;
        s.expiry = expiry;
        s.active = now;
        return;
      } catch (error) {
        if (!(error instanceof SessionError && error.code === "SESSION_CONFLICT") || attempt + 1 >= SAVE_ATTEMPTS) throw error;
      }
      this.#emit("session.conflict");
      const fresh = await this.#call(() => store.load(s.storeKey!, now));
      if (!fresh) throw interrupted();
      data = this.#merge(s, this.#parse(fresh.data) ?? new Map());
      version = fresh.version;
      created = fresh.created;
      expiry = s.expiryChanged ? s.expiry : fresh.expiry;
    }
  }

  /** Store the session under the current secret's hash of the same id, then drop the old record. */
  async #rekey(s: SessionState, now: number): Promise<void> {
    const store = this.#store!;
    const oldKey = s.storeKey!;
    const key = await this.#storeKey(s.id!);
    const record = this.#record(s.data, s.created, s.expiry, now);
    const version = await this.#call(() => store.create(key, record));
    await this.#call(() => store.delete(oldKey));
    s.storeKey = key;
    s.keyIndex = 0;
    s.version = version ?? undefined;
    s.active = now;
  }

  /** Replay this request's changes onto the data another request saved. */
  #merge(s: SessionState, base: Map<string, unknown>): Map<string, unknown> {
    const merged = s.cleared ? new Map<string, unknown>() : base;
    for (const [key, value] of s.changes) {
      if (value === DELETED) merged.delete(key);
      else merged.set(key, value);
    }
    if (s.manual) {
      const keys = s.readKeys ?? new Set([...s.data.keys(), ...base.keys()]);
      for (const key of keys) {
        if (s.data.has(key)) merged.set(key, s.data.get(key));
        else merged.delete(key);
      }
    }
    return merged;
  }

  /** Refresh the last-activity time of an unchanged session (idle timeout), best effort. */
  async #touch(s: SessionState, now: number): Promise<void> {
    const store = this.#store!;
    const current = s.storeKey!;
    try {
      const fresh = this.#record(s.data, s.created, s.expiry, now);
      const next = await this.#call(() => store.save(current, fresh, s.version));
      s.version = next ?? undefined;
      s.active = now;
    } catch {
      // A conflict means another request just wrote (and so recorded activity); a vanished
      // record means the session ended. Neither should fail a read-only request.
    }
  }

  async commit(session: Session<T>, response: Response): Promise<Response> {
    const s = sessionState(session as unknown as Session<SessionData>);
    const cookies: string[] = [];
    let vary = false;
    const empty = session.isEmpty;
    if (s.hadCookie && empty) {
      cookies.push(serializeCookie(this.cookieName, "", this.#deleteAttributes));
      vary = true;
    } else {
      vary = s.accessed;
      // The cookie store records idle activity, and re-signs under the current secret, by re-issuing.
      const reissue = s.reissue || (this.#codec !== null && s.touchDue && s.live);
      let save = (s.modified || this.#c.saveEveryRequest || reissue) && !empty;
      if (save && !s.live && s.data.size === 0) {
        // saveEveryRequest with an unknown cookie: Django would create an empty record here,
        // against its own docs; we never create empty sessions and delete the cookie instead.
        save = false;
        if (s.hadCookie) cookies.push(serializeCookie(this.cookieName, "", this.#deleteAttributes));
        vary = true;
      }
      const ok = response.status < 500;
      if (save && ok) {
        const now = this.#c.now();
        const browserClose = expireAtBrowserClose(s);
        let maxAge = browserClose ? undefined : expiryAge(s);
        if (maxAge !== undefined && this.#c.absoluteMs !== undefined) {
          maxAge = Math.min(maxAge, Math.floor((s.created + this.#c.absoluteMs - now) / 1000));
        }
        let value: string;
        if (this.#codec) {
          s.active = now;
          value = await this.#codec.encode(this.#record(s.data, s.created, s.expiry, now), now);
          s.live = true;
          s.reissue = false;
        } else {
          if (!s.live) await this.#create(s, now);
          else if (!s.persisted) await this.#update(s, now);
          value = s.id!;
        }
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
        cookies.push(serializeCookie(this.cookieName, value, attributes));
        vary = true;
      } else if (!save && ok && s.touchDue && s.live && this.#store) {
        await this.#touch(s, this.#c.now());
      }
    }
    s.touchDue = false;
    if (cookies.length === 0 && !vary) return response;
    return applyHeaders(response, cookies, vary);
  }

  async handle(
    request: Request,
    handler: (request: Request, session: Session<T>) => Response | Promise<Response>,
  ): Promise<Response> {
    let session: Session<T>;
    try {
      session = await this.load(request);
    } catch (error) {
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
    const response = await handler(request, session);
    try {
      return await this.commit(session, response);
    } catch (error) {
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
  }

  async clearExpired(): Promise<number> {
    const store = this.#store;
    if (!store || typeof store.clearExpired !== "function") {
      throw new TypeError("Session store doesn't support clearing expired sessions.");
    }
    const now = this.#c.now();
    // A sweep of a large store may take long: no request is waiting on it, so no timeout.
    return await this.#call(() => store.clearExpired!(now), 0);
  }
}

/**
 * The answer for a session condition, wherever it was thrown (load, the handler, commit): 400 for
 * an interrupted session (Django's `SessionInterrupted`), 409 for a conflicting concurrent change,
 * 503 for a store outage; `null` for anything else. Never sets a cookie.
 */
export function errorResponse(error: unknown): Response | null {
  if (!(error instanceof SessionError)) return null;
  if (error.code === "SESSION_INTERRUPTED") return new Response("Bad Request: the session ended during the request.", { status: 400 });
  if (error.code === "SESSION_CONFLICT") {
    return new Response("Conflict: the session was changed by a concurrent request; retry.", { status: 409 });
  }
  if (error.code === "STORE_UNAVAILABLE") return new Response("Service Unavailable: the session store is unavailable.", { status: 503 });
  return null;
}

/** Merge a header list value case-insensitively (Django's `patch_vary_headers`). */
export function patchVary(existing: string | null, add: string): string {
  if (!existing) return add;
  const items = existing.split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (items.includes("*")) return "*";
  const lower = add.toLowerCase();
  if (!items.some((v) => v.toLowerCase() === lower)) items.push(add);
  return items.join(", ");
}

function writeHeaders(headers: Headers, cookies: string[], vary: boolean): void {
  if (vary) headers.set("vary", patchVary(headers.get("vary"), "Cookie"));
  for (const line of cookies) headers.append("set-cookie", line);
  // A response that sets the session cookie must not be stored by shared caches.
  if (cookies.length > 0 && !headers.has("cache-control")) headers.set("cache-control", "private, no-store");
}

function applyHeaders(response: Response, cookies: string[], vary: boolean): Response {
  try {
    writeHeaders(response.headers, cookies, vary);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  // Immutable headers (Response.redirect(), a fetch() result): copy the response once.
  const copy = new Response(response.body, response);
  writeHeaders(copy.headers, cookies, vary);
  return copy;
}
