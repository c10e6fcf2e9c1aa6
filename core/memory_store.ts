/**
 * The in-process memory store: the embedded default.
 *
 * Records live in a `Map` inside this process (or isolate): they are not shared between
 * processes, workers or isolates and vanish on restart, so it suits development, tests, demos
 * and single-process apps. Expired records are dropped when read, by a bounded sweep on each
 * write (at most `sweepBatch` of the least recently written entries) and by `clearExpired()`;
 * there is no timer per key. Past `maxEntries` the least recently written session is evicted.
 * Every save is a compare-and-set on a version number, so concurrent requests that change
 * different keys both land.
 *
 * @module
 */
import { SessionError, interrupted } from "./errors.ts";
import type { LoadedRecord, SessionRecord, SessionStore, Version } from "./types.ts";

/** Options of `memoryStore()`. */
export interface MemoryStoreOptions {
  /** The most sessions kept; past it the least recently written is evicted. @default 10000 */
  maxEntries?: number;
  /** How many of the oldest entries each write inspects for expiry. @default 8 */
  sweepBatch?: number;
}

/** A memory store, with its size for inspection. */
export interface MemoryStore extends SessionStore {
  readonly rawIds: true;
  /** How many records are held, live or not yet swept. */
  readonly size: number;
  clearExpired(now: number): Promise<number>;
}

interface Entry {
  record: SessionRecord;
  version: number;
}

const KEY = /^[a-z0-9]{8,64}$/;

function checkKey(key: string): void {
  if (typeof key !== "string" || !KEY.test(key)) throw new TypeError("Cannot use session key: it is not well-formed");
}

/**
 * Keep sessions in this process's memory.
 *
 * @example
 * ```ts
 * import { createSessions, memoryStore } from "@satchel/session";
 * const store = memoryStore({ maxEntries: 1000 });
 * const sessions = createSessions({ secret: "a-secret-of-at-least-32-characters!", store });
 * const response = await sessions.handle(new Request("https://example.com/"), (_req, session) => {
 *   session.set("n", 1);
 *   return new Response("ok");
 * });
 * if (store.size !== 1 || response.headers.getSetCookie().length !== 1) throw new Error("not saved");
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const maxEntries = options.maxEntries ?? 10_000;
  const sweepBatch = options.sweepBatch ?? 8;
  if (!(Number.isInteger(maxEntries) && maxEntries > 0)) {
    throw new RangeError(`Cannot create memory store: maxEntries must be a whole number > 0, received ${maxEntries}`);
  }
  if (!(Number.isInteger(sweepBatch) && sweepBatch >= 0)) {
    throw new RangeError(`Cannot create memory store: sweepBatch must be a whole number >= 0, received ${sweepBatch}`);
  }
  const map = new Map<string, Entry>();

  const sweep = (now: number): void => {
    let seen = 0;
    for (const [key, entry] of map) {
      if (seen++ >= sweepBatch) break;
      if (entry.record.expires <= now) map.delete(key);
    }
  };
  const put = (key: string, record: SessionRecord, version: number): number => {
    map.delete(key);
    map.set(key, { record: copy(record), version });
    sweep(record.active);
    while (map.size > maxEntries) map.delete(map.keys().next().value!);
    return version;
  };

  return {
    rawIds: true,
    get size(): number {
      return map.size;
    },
    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (typeof key !== "string" || !KEY.test(key)) return null;
      const entry = map.get(key);
      if (!entry) return null;
      if (entry.record.expires <= now) {
        map.delete(key);
        return null;
      }
      return { ...entry.record, version: entry.version };
    },
    async create(key: string, record: SessionRecord): Promise<Version> {
      checkKey(key);
      const entry = map.get(key);
      if (entry && entry.record.expires > record.active) {
        throw new SessionError("SESSION_EXISTS", "Cannot create session: the key is taken");
      }
      return put(key, record, 1);
    },
    async save(key: string, record: SessionRecord, version?: Version): Promise<Version> {
      checkKey(key);
      const entry = map.get(key);
      if (!entry) throw interrupted();
      if (version !== undefined && version !== entry.version) {
        throw new SessionError("SESSION_CONFLICT", "Cannot save session: it changed since it was loaded");
      }
      return put(key, record, entry.version + 1);
    },
    async delete(key: string): Promise<void> {
      checkKey(key);
      map.delete(key);
    },
    async clearExpired(now: number): Promise<number> {
      let removed = 0;
      for (const [key, entry] of map) {
        if (entry.record.expires <= now) {
          map.delete(key);
          removed++;
        }
      }
      return removed;
    },
  };
}

function copy(record: SessionRecord): SessionRecord {
  const { data, expires, created, active, expiry } = record;
  return expiry === undefined ? { data, expires, created, active } : { data, expires, created, active, expiry };
}
