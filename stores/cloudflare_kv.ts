/**
 * Sessions in Cloudflare Workers KV, from the subpath export `@satchel/session/stores/cloudflare-kv`.
 *
 * Each session is one KV value under `prefix + key`, holding the record as JSON. The store
 * works with the `KVNamespace` binding of a Worker (or any object with the same `get`, `put`
 * and `delete`), and imports nothing.
 *
 * **Consistency: last writer wins.** KV is eventually consistent and has no compare-and-set,
 * and the store says so: its `consistency` property is `"last-writer-wins"`. What that means
 * for sessions:
 *
 * - A write is usually visible at once in the location that made it, but can take 60 seconds
 *   or more to reach other locations. A logout (delete) made in one location may therefore
 *   still let the old session load elsewhere for a minute or so. If revocation must be
 *   immediate everywhere, use `durableObjectStore()` (`@satchel/session/stores/durable-object`)
 *   instead, or keep sessions short.
 * - Negative lookups are cached too: a key read as missing may keep reading as missing in that
 *   location for up to a minute after another location created it.
 * - KV accepts about one write per second to the same key. The core writes only when a session
 *   changed (and throttles idle-timeout refreshes), which keeps normal traffic well below that.
 * - There is no compare-and-set. `save` reads the key to check that the session still exists,
 *   then writes it; two requests saving the same session at once both succeed and the last
 *   write wins (a change made only by the first is lost). `save` ignores `version`, `load`
 *   returns no version, and `cas` is `false` in the conformance suite.
 * - `save` never resurrects a session whose deletion it can see (it throws
 *   `SESSION_INTERRUPTED`), but the read and the write are two operations: a logout landing
 *   between them, or one made in another location that has not arrived yet, is overwritten
 *   and the session lives on until its `expires`.
 * - `create` is get-then-put, so insert-if-absent is best effort: two writers racing on one
 *   key between the get and the put would both succeed. Keys come from 32-character random
 *   session ids (about 165 bits, usually hashed by the core), so two sessions never draw the
 *   same key in practice; the check guards against a broken random source, not a race.
 *
 * **Expiry.** The record's absolute `expires` becomes the value's `expirationTtl`, so KV
 * deletes it eventually. KV refuses TTLs under 60 seconds, so the TTL is clamped to at least
 * 60 seconds; KV's expiry is only garbage collection, and `load` always re-checks
 * `expires > now` on the caller's clock, so a session is dead at its `expires` to the
 * millisecond whatever KV does. The TTL is computed from the Worker's `Date.now()`, which is
 * fine for garbage collection even when the sessions use an injected clock.
 *
 * The value's KV metadata is `{ expires }` (epoch milliseconds), so tools that `list()` the
 * namespace can see when each session ends without reading it.
 *
 * No `clearExpired`: KV expires keys itself.
 *
 * @example Use KV from a Worker
 * ```ts
 * import { createSessions } from "@satchel/session";
 * import { withSession } from "@satchel/session/fetch";
 * import { cloudflareKvStore } from "@satchel/session/stores/cloudflare-kv";
 * import type { KVNamespaceLike } from "@satchel/session/stores/cloudflare-kv";
 *
 * interface Env { SESSIONS_KV: KVNamespaceLike; SESSION_SECRET: string }
 *
 * const worker = {
 *   fetch: withSession(
 *     (env: Env) => createSessions<{ visits: number }>({
 *       secret: env.SESSION_SECRET,
 *       store: cloudflareKvStore({ namespace: env.SESSIONS_KV }),
 *     }),
 *     (_request, session) => {
 *       session.set("visits", session.get("visits", 0) + 1);
 *       return new Response(`visits: ${session.get("visits")}`);
 *     },
 *   ),
 * };
 * export default worker;
 * ```
 *
 * @module
 */

import type { LoadedRecord, SessionRecord, SessionStore } from "../core/types.ts";
import { SessionError, interrupted } from "../core/errors.ts";
import { decodeRecord, encodeRecord, isKey, requireKey, requireRecord } from "./_record.ts";

/** Options of `put` the store uses, as in Workers' `KVNamespacePutOptions`. */
export interface KVPutOptionsLike {
  /** Absolute expiry, in seconds since the epoch (not used by this store, listed for compatibility). */
  expiration?: number;
  /** Relative expiry, in seconds; at least 60. */
  expirationTtl?: number;
  /** Up to 1024 bytes of JSON-serializable metadata kept with the value. */
  metadata?: unknown;
}

/** The part of a Workers `KVNamespace` binding the store calls. */
export interface KVNamespaceLike {
  /** The value as text, or `null` when the key is missing. */
  get(key: string, type: "text"): Promise<string | null>;
  /** Write a value (creating or replacing it). */
  put(key: string, value: string, options?: KVPutOptionsLike): Promise<void>;
  /** Delete a key; a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** Options of `cloudflareKvStore()`. */
export interface CloudflareKvStoreOptions {
  /** The KV namespace binding (`env.SESSIONS_KV`). Required. */
  namespace: KVNamespaceLike;
  /**
   * Prepended to every key, so sessions can share a namespace with other data.
   * At most 400 bytes (KV keys are limited to 512 bytes).
   * @default "satchel:"
   */
  prefix?: string;
}

/** A session store over Workers KV. */
export interface CloudflareKvStore extends SessionStore {
  /** KV has no compare-and-set: concurrent saves of one session are last-writer-wins. */
  readonly consistency: "last-writer-wins";
  /** The namespace the store writes to, as an escape hatch. */
  readonly namespace: KVNamespaceLike;
  /** The key prefix in use. */
  readonly prefix: string;
}

/** KV refuses `expirationTtl` below this many seconds. */
const MIN_TTL_SECONDS = 60;
/** The format marker leading every stored value: `{ "v": 1, "data", "expires", "created", "active", "expiry"? }`. */
const FORMAT = { v: 1 } as const;

/** The stored record, or `null` when the value is not one (written by something else, or damaged). */
function decode(text: string): SessionRecord | null {
  const decoded = decodeRecord(text);
  return decoded !== null && decoded.extra.v === FORMAT.v ? decoded.record : null;
}

/** KV options for a record: a TTL that reaches `expires`, never below KV's 60-second minimum. */
function putOptions(record: SessionRecord): KVPutOptionsLike {
  const seconds = Math.ceil((record.expires - Date.now()) / 1000);
  return {
    expirationTtl: Math.max(MIN_TTL_SECONDS, seconds),
    metadata: { expires: record.expires },
  };
}

/**
 * A session store over a Cloudflare Workers KV namespace: eventually consistent,
 * last-writer-wins, no compare-and-set (see the module documentation).
 *
 * @param options `namespace` (required) and `prefix` (default `"satchel:"`)
 * @returns the store, with `consistency: "last-writer-wins"`
 * @throws {TypeError} when `namespace` lacks `get`, `put` or `delete`, or `prefix` is not a string
 * @throws {RangeError} when `prefix` is longer than 400 bytes
 *
 * @example Create the store from a binding
 * ```ts
 * import { cloudflareKvStore } from "@satchel/session/stores/cloudflare-kv";
 * const values = new Map<string, string>();
 * const namespace = {
 *   get: async (key: string) => values.get(key) ?? null,
 *   put: async (key: string, value: string) => void values.set(key, value),
 *   delete: async (key: string) => void values.delete(key),
 * };
 * const store = cloudflareKvStore({ namespace });
 * if (store.consistency !== "last-writer-wins") throw new Error("unexpected");
 * ```
 */
export function cloudflareKvStore(options: CloudflareKvStoreOptions): CloudflareKvStore {
  const { namespace, prefix = "satchel:" } = options ?? ({} as CloudflareKvStoreOptions);
  if (
    typeof namespace !== "object" || namespace === null || typeof namespace.get !== "function" ||
    typeof namespace.put !== "function" || typeof namespace.delete !== "function"
  ) {
    throw new TypeError("Cannot create the KV session store as namespace is not a KV namespace binding");
  }
  if (typeof prefix !== "string") {
    throw new TypeError(`Cannot create the KV session store as prefix must be a string: received ${typeof prefix}`);
  }
  const prefixBytes = new TextEncoder().encode(prefix).length;
  if (prefixBytes > 400) {
    throw new RangeError(
      `Cannot create the KV session store as prefix must be at most 400 bytes: received ${prefixBytes}`,
    );
  }

  return {
    kind: "server",
    consistency: "last-writer-wins",
    namespace,
    prefix,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      const text = await namespace.get(prefix + key, "text");
      if (text === null) return null;
      const record = decode(text);
      if (record === null || !(record.expires > now)) return null;
      return record;
    },

    async create(key: string, record: SessionRecord): Promise<void> {
      requireKey(key, "create");
      requireRecord(record, "create");
      // Best effort: KV cannot insert-if-absent atomically (see the module documentation).
      if ((await namespace.get(prefix + key, "text")) !== null) {
        throw new SessionError("SESSION_EXISTS", "Cannot create the session as its key is already taken");
      }
      await namespace.put(prefix + key, encodeRecord(record, FORMAT), putOptions(record));
    },

    async save(key: string, record: SessionRecord): Promise<void> {
      requireKey(key, "save");
      requireRecord(record, "save");
      // Not atomic: a delete landing between this read and the put below is overwritten.
      if ((await namespace.get(prefix + key, "text")) === null) {
        throw interrupted();
      }
      await namespace.put(prefix + key, encodeRecord(record, FORMAT), putOptions(record));
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      await namespace.delete(prefix + key);
    },
  };
}
