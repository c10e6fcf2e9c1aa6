/**
 * Sessions in Cloudflare Durable Objects, from the subpath export `@satchel/session/stores/durable-object`.
 *
 * Two exports work together:
 *
 * - `SessionObject`, the Durable Object class. Re-export it from your Worker's entry module and
 *   bind it in your Wrangler configuration (SQLite-backed classes are recommended and are the
 *   only kind the Workers Free plan offers; the legacy key-value backend works too):
 *
 *   ```toml
 *   [[durable_objects.bindings]]
 *   name = "SESSIONS"
 *   class_name = "SessionObject"
 *
 *   [[migrations]]
 *   tag = "v1"
 *   new_sqlite_classes = ["SessionObject"]
 *   ```
 *
 * - `durableObjectStore({ namespace })`, the `SessionStore` that talks to those objects.
 *
 * **One object per session.** The session under key `k` lives in the object
 * `namespace.idFromName(name + k)`, alone. Sessions never contend with each other, each object
 * holds at most one alarm (its session's expiry), and a deleted session leaves an empty object
 * that costs nothing. The price is that the store cannot enumerate sessions, which it does not
 * need: every session expires by itself. Each store call is one Durable Object request (billed
 * as such); a `load` of an unknown key wakes an empty object and writes nothing.
 *
 * **Consistency: strong, with compare-and-set.** A Durable Object runs one event at a time and
 * its storage is transactional and strongly consistent. Every read-modify-write in
 * `SessionObject` uses storage calls only, with no other `await` in between, so the runtime's
 * input gate delivers no other request in the middle: `create` is a true insert-if-absent,
 * and `save` checks that the session exists and that `version` (a counter bumped by every
 * write) still matches, atomically. `load` returns that version; the conformance suite runs
 * with `cas: true`. Writes are confirmed before the response leaves the object (output gates).
 *
 * **Errors cross the stub as codes.** The store and the object speak a small JSON protocol
 * over `stub.fetch()`; a collision, a vanished session or a stale version come back as
 * `SessionError` with code `SESSION_EXISTS`, `SESSION_INTERRUPTED` or `SESSION_CONFLICT`. Any
 * other failure (the object threw, was overloaded, or answered garbage) is a plain `Error`,
 * which the core reports as `STORE_UNAVAILABLE`. The protocol uses `fetch`, not RPC methods,
 * on purpose: RPC would need `import { DurableObject } from "cloudflare:workers"`, a module
 * only workerd can resolve, and this file must stay importable (and type-checkable) under
 * Node, Deno and Bun too.
 *
 * **Expiry.** Every write sets the object's alarm to the record's `expires`; when it fires
 * the object deletes its storage (and re-arms instead if the session was extended meanwhile).
 * Alarms are garbage collection on the platform's clock: `load` always re-checks
 * `expires > now` on the caller's clock.
 *
 * **Size.** The data is stored in chunks of 61,440 UTF-16 code units (at most 120 KiB each,
 * under the 128 KiB value limit of key-value-backed objects), so a session's serialized data
 * can be up to 3,932,160 code units long (64 chunks); more throws a `RangeError` before
 * anything is sent. Chunks are plain strings, so the data round-trips exactly.
 *
 * No `clearExpired`: alarms expire sessions.
 *
 * @example A Worker with Durable Object sessions
 * ```ts
 * import { createSessions } from "@satchel/session";
 * import { withSession } from "@satchel/session/fetch";
 * import { durableObjectStore } from "@satchel/session/stores/durable-object";
 * import type { DurableObjectNamespaceLike } from "@satchel/session/stores/durable-object";
 * export { SessionObject } from "@satchel/session/stores/durable-object";
 *
 * interface Env { SESSIONS: DurableObjectNamespaceLike; SESSION_SECRET: string }
 *
 * const worker = {
 *   fetch: withSession(
 *     (env: Env) => createSessions<{ visits: number }>({
 *       secret: env.SESSION_SECRET,
 *       store: durableObjectStore({ namespace: env.SESSIONS }),
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

import type { LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import type { SessionErrorCode } from "../core/errors.ts";
import { SessionError } from "../core/errors.ts";
import { copyRecord, isKey, isRecord, requireKey, requireRecord } from "./_record.ts";

// ---------------------------------------------------------------------------------------------
// Structural types of the Workers APIs used (no dependency on @cloudflare/workers-types).

/** What a Durable Object stub offers the store: `fetch`. */
export interface DurableObjectStubLike {
  /** Send a request to the object. */
  fetch(input: string, init: { method: string; headers: Record<string, string>; body: string }): Promise<Response>;
}

/** The part of a `DurableObjectNamespace` binding the store calls. */
export interface DurableObjectNamespaceLike {
  /** The id of the object with this name. */
  idFromName(name: string): unknown;
  /** A stub for the object with this id. */
  get(id: unknown): DurableObjectStubLike;
}

/** The part of `DurableObjectStorage` that `SessionObject` uses (both storage backends have it). */
export interface DurableObjectStorageLike {
  /** One value, or `undefined`. */
  get(key: string): Promise<unknown>;
  /** Several values at once (at most 128 keys). */
  get(keys: string[]): Promise<Map<string, unknown>>;
  /** Write several values atomically (at most 128 entries). */
  put(entries: Record<string, unknown>): Promise<void>;
  /** Delete several keys (at most 128). */
  delete(keys: string[]): Promise<number>;
  /** Delete everything the object stores. */
  deleteAll(): Promise<void>;
  /** Set the object's single alarm, in epoch milliseconds. */
  setAlarm(scheduledTime: number): Promise<void>;
  /** Remove the alarm. */
  deleteAlarm(): Promise<void>;
}

/** The part of `DurableObjectState` that `SessionObject` uses. */
export interface DurableObjectStateLike {
  /** The object's transactional storage. */
  readonly storage: DurableObjectStorageLike;
}

// ---------------------------------------------------------------------------------------------
// Shared between the store and the object.

/**
 * UTF-16 code units per stored chunk: 120 KiB when the string is stored two bytes per unit,
 * below the 128 KiB value limit of key-value-backed objects.
 */
const CHUNK_UNITS = 60 * 1024;
/** At most this many chunks per session (a `put` takes at most 128 entries). */
const MAX_CHUNKS = 64;
/** The longest `data` the store accepts, in UTF-16 code units. */
const MAX_DATA_UNITS = CHUNK_UNITS * MAX_CHUNKS;
const ORIGIN = "https://session-object.satchel";
const CODES: ReadonlySet<string> = new Set(["SESSION_EXISTS", "SESSION_INTERRUPTED", "SESSION_CONFLICT"]);
const MESSAGES: Record<string, string> = {
  SESSION_EXISTS: "Cannot create the session as its key is already taken",
  SESSION_INTERRUPTED:
    "The request's session was deleted before the request completed. The user may have logged out in a concurrent request, for example.",
  SESSION_CONFLICT: "Cannot save the session as another request saved it first",
};

type Op = "load" | "create" | "save" | "delete";
// A record travels over the stub as `copyRecord(record)`: exactly its fields, without a version.

// ---------------------------------------------------------------------------------------------
// The store.

/** Options of `durableObjectStore()`. */
export interface DurableObjectStoreOptions {
  /** The Durable Object namespace binding of `SessionObject` (`env.SESSIONS`). Required. */
  namespace: DurableObjectNamespaceLike;
  /**
   * Prefix of every object name: the session under key `k` lives in
   * `namespace.idFromName(name + k)`. Give two session sets that share one binding different
   * names and they never meet.
   * @default "satchel:"
   */
  name?: string;
}

/** A session store over Durable Objects. */
export interface DurableObjectStore extends SessionStore {
  /** Saves are compare-and-set: a stale `version` throws `SESSION_CONFLICT`. */
  readonly consistency: "strong";
  /** The namespace binding, as an escape hatch. */
  readonly namespace: DurableObjectNamespaceLike;
  /** The object-name prefix in use. */
  readonly name: string;
}

/** A valid record (see `requireRecord`) whose data fits in `MAX_CHUNKS` chunks. */
function checkRecord(record: unknown, action: string): asserts record is SessionRecord {
  requireRecord(record, action);
  if (record.data.length > MAX_DATA_UNITS) {
    throw new RangeError(
      `Cannot ${action} a session as its data exceeds the Durable Object store limit of ${MAX_DATA_UNITS} characters: received ${record.data.length}`,
    );
  }
}

/**
 * A session store over Durable Objects of class `SessionObject`, one object per session:
 * strongly consistent, with compare-and-set saves (see the module documentation).
 *
 * @param options `namespace` (required) and `name` (default `"satchel:"`)
 * @returns the store, with `consistency: "strong"`
 * @throws {TypeError} when `namespace` is not a Durable Object namespace binding or `name` is not a string
 * @throws {RangeError} when `name` is longer than 256 characters
 *
 * @example Create the store from a binding
 * ```ts
 * import { durableObjectStore } from "@satchel/session/stores/durable-object";
 * const namespace = {
 *   idFromName: (name: string) => name,
 *   get: () => ({ fetch: async () => Response.json({ ok: true }) }),
 * };
 * const store = durableObjectStore({ namespace });
 * if (store.consistency !== "strong") throw new Error("unexpected");
 * ```
 */
export function durableObjectStore(options: DurableObjectStoreOptions): DurableObjectStore {
  const { namespace, name = "satchel:" } = options ?? ({} as DurableObjectStoreOptions);
  if (
    typeof namespace !== "object" || namespace === null || typeof namespace.idFromName !== "function" ||
    typeof namespace.get !== "function"
  ) {
    throw new TypeError(
      "Cannot create the Durable Object session store as namespace is not a Durable Object namespace binding",
    );
  }
  if (typeof name !== "string") {
    throw new TypeError(
      `Cannot create the Durable Object session store as name must be a string: received ${typeof name}`,
    );
  }
  if (name.length > 256) {
    throw new RangeError(
      `Cannot create the Durable Object session store as name must be at most 256 characters: received ${name.length}`,
    );
  }

  async function call(key: string, op: Op, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const stub = namespace.get(namespace.idFromName(name + key));
    const response = await stub.fetch(`${ORIGIN}/${op}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let reply: unknown;
    try {
      reply = await response.json();
    } catch {
      reply = null;
    }
    if (typeof reply !== "object" || reply === null) {
      throw new Error(`The session Durable Object answered ${op} with status ${response.status} and no valid reply`);
    }
    const r = reply as Record<string, unknown>;
    if (r.ok === true) return r;
    if (typeof r.code === "string" && CODES.has(r.code)) {
      throw new SessionError(r.code as SessionErrorCode, MESSAGES[r.code]!);
    }
    throw new Error(`The session Durable Object refused ${op} with status ${response.status}`);
  }

  function version(reply: Record<string, unknown>): Version | undefined {
    return typeof reply.version === "number" ? reply.version : undefined;
  }

  return {
    kind: "server",
    consistency: "strong",
    namespace,
    name,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      const reply = await call(key, "load", {});
      if (reply.record === null || reply.record === undefined) return null;
      if (!isRecord(reply.record)) throw new Error("The session Durable Object answered load with a malformed record");
      if (!(reply.record.expires > now)) return null;
      return { ...copyRecord(reply.record), version: version(reply) };
    },

    async create(key: string, record: SessionRecord): Promise<Version | undefined> {
      requireKey(key, "create");
      checkRecord(record, "create");
      return version(await call(key, "create", { record: copyRecord(record) }));
    },

    async save(key: string, record: SessionRecord, expected?: Version): Promise<Version | undefined> {
      requireKey(key, "save");
      checkRecord(record, "save");
      if (expected !== undefined && typeof expected !== "number" && typeof expected !== "string") {
        throw new TypeError("Cannot save a session as the version must be a number or a string");
      }
      const body: Record<string, unknown> = { record: copyRecord(record) };
      if (expected !== undefined) body.version = expected;
      return version(await call(key, "save", body));
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      await call(key, "delete", {});
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The Durable Object.

/** What the object keeps under `meta`; the data lives in string chunks `d0`, `d1`, …. */
interface Meta {
  expires: number;
  created: number;
  active: number;
  expiry?: number | string;
  /** Bumped by every write; what `save` compares. */
  version: number;
  /** How many data chunks there are. */
  chunks: number;
}

function chunkKeys(count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) keys.push(`d${i}`);
  return keys;
}

function reply(status: number, body: Record<string, unknown>): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/**
 * The Durable Object class behind `durableObjectStore()`: one instance holds one session.
 *
 * Re-export it from your Worker's entry module (`export { SessionObject } from
 * "@satchel/session/stores/durable-object"`) and bind it as a Durable Object class. Its `fetch`
 * speaks only the store's internal protocol; do not route public traffic to it.
 *
 * @example Re-export the class from a Worker entry
 * ```ts ignore
 * export { SessionObject } from "@satchel/session/stores/durable-object";
 * ```
 */
export class SessionObject {
  /** The object's storage. */
  readonly #storage: DurableObjectStorageLike;

  /** Called by the runtime with the object's state and the Worker's environment. */
  constructor(state: DurableObjectStateLike, _env?: unknown) {
    this.#storage = state.storage;
  }

  /** Handle one store operation (`POST /load|create|save|delete` with a JSON body). */
  async fetch(request: Request): Promise<Response> {
    const op = new URL(request.url).pathname.slice(1);
    if (request.method !== "POST" || (op !== "load" && op !== "create" && op !== "save" && op !== "delete")) {
      return reply(404, { ok: false, error: "unknown operation" });
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = await request.json();
      if (typeof parsed !== "object" || parsed === null) throw new TypeError("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      return reply(400, { ok: false, error: "malformed request" });
    }
    // From here on, every await is a storage call: the input gate keeps other requests out
    // until the response is ready, so each operation below is atomic.
    if (op === "load") return this.#load();
    if (op === "delete") return this.#delete();
    const record = body.record;
    if (!isRecord(record)) return reply(400, { ok: false, error: "malformed record" });
    const expected = body.version;
    if (expected !== undefined && typeof expected !== "number" && typeof expected !== "string") {
      return reply(400, { ok: false, error: "malformed version" });
    }
    if (record.data.length > MAX_DATA_UNITS) return reply(413, { ok: false, error: "data too large" });
    return op === "create" ? this.#create(record) : this.#save(record, expected);
  }

  /** The alarm set at `expires`: delete the session, or re-arm if it was extended. */
  async alarm(): Promise<void> {
    const meta = (await this.#storage.get("meta")) as Meta | undefined;
    if (meta !== undefined && meta.expires > Date.now()) {
      await this.#storage.setAlarm(meta.expires);
      return;
    }
    await Promise.all([this.#storage.deleteAlarm(), this.#storage.deleteAll()]);
  }

  async #load(): Promise<Response> {
    const meta = (await this.#storage.get("meta")) as Meta | undefined;
    if (meta === undefined) return reply(200, { ok: true, record: null });
    const keys = chunkKeys(meta.chunks);
    const parts = keys.length === 0 ? new Map<string, unknown>() : await this.#storage.get(keys);
    let data = "";
    for (const k of keys) {
      const part = parts.get(k);
      if (typeof part !== "string") return reply(500, { ok: false, error: "damaged record" });
      data += part;
    }
    return reply(200, { ok: true, record: copyRecord({ ...meta, data }), version: meta.version });
  }

  async #create(record: SessionRecord): Promise<Response> {
    const existing = await this.#storage.get("meta");
    if (existing !== undefined) return reply(409, { ok: false, code: "SESSION_EXISTS" });
    await this.#write(record, 1, 0);
    return reply(200, { ok: true, version: 1 });
  }

  async #save(record: SessionRecord, expected: number | string | undefined): Promise<Response> {
    const meta = (await this.#storage.get("meta")) as Meta | undefined;
    if (meta === undefined) return reply(410, { ok: false, code: "SESSION_INTERRUPTED" });
    if (expected !== undefined && expected !== meta.version) return reply(409, { ok: false, code: "SESSION_CONFLICT" });
    const next = meta.version + 1;
    await this.#write(record, next, meta.chunks);
    return reply(200, { ok: true, version: next });
  }

  async #delete(): Promise<Response> {
    const storage = this.#storage;
    await Promise.all([storage.deleteAlarm(), storage.deleteAll()]);
    return reply(200, { ok: true });
  }

  /** Write meta, chunks and alarm with no await in between, so the writes commit together. */
  async #write(record: SessionRecord, version: number, previousChunks: number): Promise<void> {
    const data = record.data;
    const chunks = Math.ceil(data.length / CHUNK_UNITS);
    const meta: Meta = {
      expires: record.expires,
      created: record.created,
      active: record.active,
      version,
      chunks,
    };
    if (record.expiry !== undefined) meta.expiry = record.expiry;
    const entries: Record<string, unknown> = { meta };
    for (let i = 0; i < chunks; i++) entries[`d${i}`] = data.slice(i * CHUNK_UNITS, (i + 1) * CHUNK_UNITS);
    const writes: Promise<unknown>[] = [this.#storage.put(entries)];
    if (previousChunks > chunks) writes.push(this.#storage.delete(chunkKeys(previousChunks).slice(chunks)));
    writes.push(this.#storage.setAlarm(record.expires));
    await Promise.all(writes);
  }
}
