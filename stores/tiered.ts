/**
 * A cache in front of a durable store, imported from `@satchel/session/stores/tiered`:
 * Django's `cached_db` engine for any two `SessionStore`s.
 *
 * `tieredStore({ cache, store, onCacheError })` reads through the cache and writes through to
 * both, the durable `store` first. The usual pairing is `redisStore()` as the cache in front of
 * `sqlStore()`, but any two stores fit.
 *
 * - `load` asks the cache; on a hit the durable store is not read at all. On a miss (or a cache
 *   failure, which counts as a miss) it reads the durable store and, when that has a live
 *   record, puts it into the cache (only if the cache has no entry by then, so a slow reader
 *   never overwrites a newer entry; not after a failed cache read, so an outage costs one
 *   failed call and one report per load).
 * - `create` and `save` write the durable store first: its errors (`SESSION_EXISTS`,
 *   `SESSION_INTERRUPTED`, `SESSION_CONFLICT`, outages) fail the call and the cache is not
 *   written. Then the cache entry is replaced (the cache's `save` without a version, or `create`
 *   when there is none). A cache failure here is reported through `onCacheError` and does not
 *   fail the request (Django 5.1's "Error saving to cache").
 * - When the durable store answers a `save` with `SESSION_INTERRUPTED` or `SESSION_CONFLICT`, the
 *   cache entry is evicted, so the next `load` (the core's retry) reads the durable record.
 * - `delete` deletes from the durable store, then from the cache. Unlike the writes, a cache
 *   failure here **fails the call** (as in Django): a cache entry that survives a logout would
 *   keep the session alive until its TTL, so the logout must not be reported as done.
 * - Every cache call is bounded by `cacheTimeout` (default 1000 ms): a cache that hangs, as
 *   clients that queue commands while reconnecting do, counts as failed, like one that refuses.
 *   A timed-out write may still land later.
 *
 * Versions: the returned versions are always the durable store's. The cache keeps the durable
 * version next to the data inside its own record, so a cache hit can be saved with
 * compare-and-set against the durable store. Compare-and-set is therefore as strong as the
 * durable store's.
 *
 * Consistency (the cache is trusted, as in Django): a record deleted or changed in the durable
 * store directly, behind this store's back, stays visible through the cache until the cache
 * entry expires or the next write through this store (which fails with `SESSION_INTERRUPTED` or
 * `SESSION_CONFLICT` and evicts it). To revoke sessions, delete through this store (or from both
 * tiers). A failed cache write leaves the previous cache entry in place until that next write.
 * Concurrent cache refills can race a write in rare interleavings; the stale entry that may
 * result is caught the same way by the durable store's version check.
 *
 * TTL: the cache entry carries the durable record's absolute `expires`, so it lives exactly as
 * long (each store maps it to its own TTL). `clearExpired` is forwarded to the durable store when
 * it has one (Django's `clearsessions`); cache entries expire on their own.
 *
 * Keys: the tiered store asks the core for raw ids when the durable store does (`rawIds`), and
 * hands both tiers the same key.
 *
 * @example
 * ```ts ignore
 * import { createClient } from "redis";
 * import { createSessions } from "@satchel/session";
 * import { redisStore } from "@satchel/session/stores/redis";
 * import { sqlStore } from "@satchel/session/stores/sql";
 * import { tieredStore } from "@satchel/session/stores/tiered";
 *
 * const redis = await createClient().connect();
 * const store = tieredStore({
 *   cache: redisStore({ client: redis, prefix: "sess-cache:" }),
 *   store: sqlStore(sqlOptions), // the durable tier: any server-side store
 *   cacheTimeout: 250,
 *   onCacheError: ({ operation, error }) => metrics.increment(`session_cache_${operation}_error`),
 * });
 * const sessions = createSessions({ secret: "a-secret-of-at-least-32-characters!", store });
 * ```
 *
 * @module
 */
import { SessionError } from "../core/errors.ts";
import type { LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { isKey, requireKey } from "./_record.ts";

export type { LoadedRecord, SessionRecord, SessionStore, Version };

/** What failed in the cache tier; the request went on without it. */
export interface CacheErrorEvent {
  /**
   * - `"load"`: reading the cache (the request fell back to the durable store);
   * - `"fill"`: putting a durable record into the cache after a miss;
   * - `"write"`: updating the cache after a successful `create` or `save`;
   * - `"evict"`: dropping a cache entry after the durable store refused a `save`.
   */
  readonly operation: "load" | "fill" | "write" | "evict";
  /** What the cache threw. Its message may carry backend details; log it with care. */
  readonly error: unknown;
}

/** Options of `tieredStore()`. */
export interface TieredStoreOptions {
  /** The fast tier, e.g. `redisStore()`. Its failures degrade to the durable store. */
  cache: SessionStore;
  /** The durable tier and the source of truth, e.g. `sqlStore()`. Its failures fail the request. */
  store: SessionStore;
  /**
   * Milliseconds each cache call may take before it counts as failed (a `TimeoutError`), so a
   * cache that hangs (a client queueing commands while it reconnects) degrades like one that
   * refuses. `0` waits as long as the cache does. Keep it well below the sessions' `timeout`.
   * @default 1000
   */
  cacheTimeout?: number;
  /**
   * Called once per cache failure that was absorbed (see `CacheErrorEvent`).
   * @default a one-line `console.error` naming the operation and the error's name and code
   * (never keys, ids, data or the error's message)
   */
  onCacheError?: (event: CacheErrorEvent) => void;
}

/** A tiered `SessionStore`, with its two tiers. */
export interface TieredStore extends SessionStore {
  /** The cache tier passed in. */
  readonly cache: SessionStore;
  /** The durable tier passed in. */
  readonly store: SessionStore;
  /** The cache's record on a hit, else the durable record (then cached); versions are the durable store's. */
  load(key: string, now: number): Promise<LoadedRecord | null>;
  /** Create in the durable store, then cache. Resolves to the durable store's version. */
  create(key: string, record: SessionRecord): Promise<Version | undefined>;
  /** Save to the durable store (compare-and-set with `version`), then cache. Resolves to the durable version. */
  save(key: string, record: SessionRecord, version?: Version): Promise<Version | undefined>;
  /** Delete from the durable store, then from the cache; a cache failure here rejects. */
  delete(key: string): Promise<void>;
}

function isStore(value: unknown): value is SessionStore {
  if (value === null || typeof value !== "object") return false;
  const s = value as Record<string, unknown>;
  return s.kind !== "cookie" && typeof s.load === "function" && typeof s.create === "function" &&
    typeof s.save === "function" && typeof s.delete === "function";
}

/** A `SessionError` with this code (also one from another copy of this package). */
function codeOf(error: unknown, code: string): boolean {
  if (error instanceof SessionError) return error.code === code;
  return error instanceof Error && error.name === "SessionError" && (error as { code?: unknown }).code === code;
}

/** The default `onCacheError`: one line, no keys, ids, data or messages. */
function logCacheError(event: CacheErrorEvent): void {
  const { error } = event;
  let what: string = typeof error;
  if (error !== null && typeof error === "object") {
    const { name, code } = error as { name?: unknown; code?: unknown };
    what = typeof name === "string" ? name : "error";
    if (typeof code === "string") what += ` ${code}`;
  }
  console.error(`[satchel] tieredStore: cache ${event.operation} failed (${what}); continuing with the durable store`);
}

/** The cache keeps the durable version with the data: `{"v": version, "d": data}`. */
function wrap(record: SessionRecord, version: Version | undefined): SessionRecord {
  const envelope = JSON.stringify(version === undefined ? { d: record.data } : { v: version, d: record.data });
  const { data: _data, version: _version, ...rest } = record as LoadedRecord;
  return { ...rest, data: envelope };
}

function unwrap(cached: LoadedRecord): LoadedRecord | null {
  let envelope: unknown;
  try {
    envelope = JSON.parse(cached.data);
  } catch {
    return null;
  }
  if (envelope === null || typeof envelope !== "object") return null;
  const { v, d } = envelope as { v?: unknown; d?: unknown };
  if (typeof d !== "string" || (v !== undefined && typeof v !== "string" && typeof v !== "number")) return null;
  const { data: _data, version: _version, ...rest } = cached;
  return v === undefined ? { ...rest, data: d } : { ...rest, data: d, version: v };
}

function versionOf(value: Version | undefined | void): Version | undefined {
  return typeof value === "string" || typeof value === "number" ? value : undefined;
}

/**
 * Put a cache in front of a durable store (Django's `cached_db`).
 *
 * @param options the `cache` and durable `store`, and an optional `onCacheError` hook
 * @returns a `SessionStore` whose versions are the durable store's
 * @throws {TypeError} when `cache` or `store` is not a server-side `SessionStore`, or they are the same
 * @throws {RangeError} when `cacheTimeout` is not a number of milliseconds >= 0
 *
 * @example
 * ```ts ignore
 * import { memoryStore } from "@satchel/session";
 * import { tieredStore } from "@satchel/session/stores/tiered";
 *
 * // A memory cache in front of a durable store, for a single process only: caches in separate
 * // processes never see each other's writes or deletes, so a logout in one would not reach another.
 * const store = tieredStore({ cache: memoryStore({ maxEntries: 500 }), store: durableStore });
 * ```
 */
export function tieredStore(options: TieredStoreOptions): TieredStore {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot create tiered store: options must be an object with a cache and a store");
  }
  const { cache, store, cacheTimeout = 1000, onCacheError = logCacheError } = options;
  if (!isStore(cache)) throw new TypeError("Cannot create tiered store: cache must be a server-side session store");
  if (!isStore(store)) throw new TypeError("Cannot create tiered store: store must be a server-side session store");
  if (cache === store) throw new TypeError("Cannot create tiered store: cache and store must be different stores");
  if (typeof onCacheError !== "function") {
    throw new TypeError("Cannot create tiered store: onCacheError must be a function");
  }
  if (!(typeof cacheTimeout === "number" && cacheTimeout >= 0 && cacheTimeout <= 2_147_483_647)) {
    throw new RangeError(
      `Cannot create tiered store: cacheTimeout must be a number of milliseconds >= 0, received ${cacheTimeout}`,
    );
  }

  /** Run one cache call, failing it with a `TimeoutError` past `cacheTimeout`. */
  const bounded = <T>(call: () => Promise<T>): Promise<T> => {
    const pending = Promise.resolve().then(call);
    if (cacheTimeout === 0) return pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new DOMException("The session cache did not answer in time", "TimeoutError")),
        cacheTimeout,
      );
    });
    return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  };

  const report = (operation: CacheErrorEvent["operation"], error: unknown): void => {
    try {
      onCacheError({ operation, error });
    } catch {
      // A throwing hook must not turn an absorbed cache failure into a failed request.
    }
  };

  /** Drop the cache entry, reporting a failure. */
  const evict = async (key: string): Promise<void> => {
    try {
      await bounded(() => cache.delete(key));
    } catch (error) {
      report("evict", error);
    }
  };

  /** Replace the cache entry with a durable record, whatever the cache holds. */
  const write = async (
    key: string,
    record: SessionRecord,
    version: Version | undefined,
    operation: "write" | "fill" = "write",
  ): Promise<void> => {
    const entry = wrap(record, version);
    try {
      try {
        await bounded(() => cache.save(key, entry));
        return;
      } catch (error) {
        if (!codeOf(error, "SESSION_INTERRUPTED")) throw error;
      }
      try {
        await bounded(() => cache.create(key, entry));
      } catch (error) {
        // A concurrent refill got in between: its data may be older than ours, so drop it.
        if (!codeOf(error, "SESSION_EXISTS")) throw error;
        await bounded(() => cache.delete(key));
      }
    } catch (error) {
      report(operation, error);
    }
  };

  const tiered: TieredStore = {
    kind: "server",
    ...(store.rawIds === true ? { rawIds: true } : {}),
    cache,
    store,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      let cached: LoadedRecord | null = null;
      let cacheDown = false;
      try {
        cached = await bounded(() => cache.load(key, now));
      } catch (error) {
        report("load", error);
        cacheDown = true;
      }
      const hit = cached ? unwrap(cached) : null;
      if (hit && hit.expires > now) return hit;
      const durable = await store.load(key, now);
      if (!durable || !(durable.expires > now)) return null;
      // The cache just failed: do not wait on it again (and log twice) for the refill.
      if (cacheDown) return durable;
      if (cached) {
        // The cache holds something this store did not write: replace it.
        await write(key, durable, durable.version, "fill");
        return durable;
      }
      try {
        await bounded(() => cache.create(key, wrap(durable, durable.version)));
      } catch (error) {
        // An entry appeared meanwhile (a write or another refill): keep it, it is at least as new.
        if (!codeOf(error, "SESSION_EXISTS")) report("fill", error);
      }
      return durable;
    },

    async create(key: string, record: SessionRecord): Promise<Version | undefined> {
      requireKey(key, "create");
      const version = versionOf(await store.create(key, record));
      await write(key, record, version);
      return version;
    },

    async save(key: string, record: SessionRecord, version?: Version): Promise<Version | undefined> {
      requireKey(key, "save");
      let saved: Version | undefined;
      try {
        saved = versionOf(await store.save(key, record, version));
      } catch (error) {
        if (codeOf(error, "SESSION_INTERRUPTED") || codeOf(error, "SESSION_CONFLICT")) await evict(key);
        throw error;
      }
      await write(key, record, saved);
      return saved;
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      await store.delete(key);
      await bounded(() => cache.delete(key));
    },
  };
  if (typeof store.clearExpired === "function") {
    const clearExpired = store.clearExpired.bind(store);
    tiered.clearExpired = (now: number): Promise<number> => clearExpired(now);
  }
  return tiered;
}
