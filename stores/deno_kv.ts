/**
 * A session store on Deno KV (`Deno.Kv`: a local SQLite file, `:memory:`, or Deno Deploy's
 * managed KV). Import it from `@satchel/session/stores/deno-kv`.
 *
 * Deno only (Deno KV is not available on Node, Bun or Workers). You open the database and
 * pass it in; this module never calls `Deno.openKv` itself and never closes your handle.
 * Outside Deno Deploy, `Deno.openKv` needs the `--unstable-kv` flag (or `"unstable": ["kv"]`).
 *
 * **Layout.** A session under key `k` is a head entry `[...prefix, k, 0]` holding
 * `{ satchel: 1, expires, created, active, expiry?, user?, chunks, data? }`. Deno KV values are limited to
 * 64 KiB, so data longer than 30 000 UTF-16 code units (at most 60 000 bytes however it is
 * encoded) is split into chunks `[...prefix, k, 1]`, `[...prefix, k, 2]`, … written in the same
 * atomic operation as the head; stale chunks of a longer previous value are deleted in that
 * same operation. A load reads the head and its chunks with one `list()` call (one consistent
 * snapshot) and accepts the chunks only if they carry the head's versionstamp, so a reader never
 * stitches two versions together. One atomic operation may write at most 800 KiB
 * (`MAX_TOTAL_MUTATION_SIZE_BYTES`), which caps session data at roughly 780 KB of Latin-1 text
 * or half that of other text; larger data makes the write fail.
 *
 * **Per-user index.** A record bound to a user has an index entry `[...prefix, "user", user, k]`
 * (value `true`), set in the same atomic operation as the head, with the same `expireIn`, so the
 * two appear, live and expire together. A save reads the head first (its versionstamp and bound
 * user) and commits under a check of that versionstamp, so the operation that rebinds or
 * unbinds a record also deletes the old user's entry; `delete`, a tombstone save and
 * `clearExpired` delete the entry with the record, in one operation too. Deno KV stores a key
 * part as UTF-8, so an unpaired surrogate in a user key reads back as U+FFFD and two such users
 * can share entry keys: a listing reads the user from the record and yields exactly the one
 * asked for. Keys are limited to 2 KiB in all: a prefix is refused past 1 200 encoded bytes, so
 * that the entry of every user key `login()` accepts (at most 765 UTF-8 bytes) fits.
 *
 * **Listing.** `list({ user, now })` lists the entries under `[...prefix, "user", user]` and
 * reads each record they name. An entry whose record is gone or bound elsewhere (left by a
 * `delete` that kept losing races, or written by hand) is skipped and deleted under a check of
 * the head it was judged by, best effort. `list({ now })` walks the heads under the prefix (a
 * chunked record is read again in one snapshot); chunks and index entries are passed over.
 *
 * **Consistency.** Reads are strongly consistent (Deno KV's default). `create` commits with
 * `check({ key: head, versionstamp: null })`, so an existing key gives `SESSION_EXISTS`. The
 * version is the head's versionstamp: `save(key, record, version)` reads the head and commits
 * only under `check({ key: head, versionstamp: version })`, so a stale version gives
 * `SESSION_CONFLICT` and a deleted session gives `SESSION_INTERRUPTED` (nothing is ever
 * recreated). `save` without a version checks the versionstamp it read instead; either retries
 * a few times when another writer slips in between the read and the commit (with a version,
 * the next read then reports the conflict).
 * A save of a record already expired at its own last activity (`expires <= active`, such as the
 * core's tombstone `{ data: "", expires: 1, created: 0, active: now }`) deletes the head and
 * chunks in one atomic operation under the same versionstamp check instead of writing them (a
 * past expiry never reaches `expireIn`); afterwards every save throws `SESSION_INTERRUPTED`.
 *
 * **Expiry.** Every entry is written with `expireIn` = time left until `expires` on the
 * machine's clock plus one minute of slack for clock skew. Deno KV treats `expireIn` as the
 * earliest deletion time only, so `load(key, now)` always re-checks `expires > now` on the
 * caller's clock. `clearExpired(now)` is also provided: it lists the prefix and deletes the
 * sessions whose `expires <= now` with their index entries (each with a versionstamp check, so a
 * session saved meanwhile survives); native expiry makes running it optional.
 *
 * Options:
 * - `kv` (required): an open `Deno.Kv` (anything with the same `get`, `list` and `atomic`).
 * - `prefix` (default `["satchel"]`): the key prefix under which every session entry lives.
 *
 * @example
 * ```ts ignore
 * import { createSessions } from "@satchel/session";
 * import { denoKvStore } from "@satchel/session/stores/deno-kv";
 *
 * const kv = await Deno.openKv();
 * const sessions = createSessions({
 *   secret: Deno.env.get("SESSION_SECRET")!,
 *   store: denoKvStore({ kv, prefix: ["myapp", "sessions"] }),
 * });
 * Deno.serve((request) => sessions.handle(request, (_request, session) => new Response(String(session.get("user")))));
 * ```
 *
 * @module
 */

import type { ListedRecord, ListOptions, LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { SessionError, interrupted } from "../core/errors.ts";
import { copyRecord, isKey, isRecord, requireKey, requireRecord } from "./_record.ts";

/** A part of a Deno KV key (`Deno.KvKeyPart`). */
export type DenoKvKeyPart = Uint8Array | string | number | bigint | boolean | symbol;
/** A Deno KV key (`Deno.KvKey`). */
export type DenoKvKey = readonly DenoKvKeyPart[];

/** The part of `Deno.AtomicOperation` this store uses. */
export interface DenoKvAtomicLike {
  /** Require a key's versionstamp (`null`: the key must not exist). */
  check(...checks: { key: DenoKvKey; versionstamp: string | null }[]): DenoKvAtomicLike;
  /** Queue a write, with a time-to-live in milliseconds. */
  set(key: DenoKvKey, value: unknown, options?: { expireIn?: number }): DenoKvAtomicLike;
  /** Queue a deletion. */
  delete(key: DenoKvKey): DenoKvAtomicLike;
  /** Apply everything if every check holds. */
  commit(): Promise<{ ok: true; versionstamp: string } | { ok: false }>;
}

/** The part of `Deno.Kv` this store uses: `get`, `list` and `atomic`. */
export interface DenoKvLike {
  /** Read one entry (strongly consistent). */
  get(key: DenoKvKey): Promise<{ value: unknown; versionstamp: string | null }>;
  /** List the entries under a prefix. */
  list(
    selector: { prefix: DenoKvKey },
    options?: { limit?: number; batchSize?: number },
  ): AsyncIterable<{ key: DenoKvKey; value: unknown; versionstamp: string }>;
  /** Start an atomic operation. */
  atomic(): DenoKvAtomicLike;
}

/** Options of {@linkcode denoKvStore}. */
export interface DenoKvStoreOptions {
  /** An open `Deno.Kv`. Required. */
  readonly kv: DenoKvLike;
  /** Key prefix of every entry this store writes. @default ["satchel"] */
  readonly prefix?: DenoKvKey;
}

/** The store {@linkcode denoKvStore} returns. */
export interface DenoKvStore extends SessionStore {
  /** The `Deno.Kv` handle passed in (an escape hatch; the store never closes it). */
  readonly kv: DenoKvLike;
  /** Insert if absent; resolves to the new versionstamp. */
  create(key: string, record: SessionRecord): Promise<Version>;
  /** Update only, compare-and-set when `version` is given; resolves to the new versionstamp. */
  save(key: string, record: SessionRecord, version?: Version): Promise<Version>;
  /** Delete the sessions under the prefix whose `expires <= now`, with their index entries; resolves to the count. */
  clearExpired(now: number): Promise<number>;
  /** The live records: every head under the prefix, or with `user` the ones its index entries name. */
  list(options: ListOptions): AsyncIterable<ListedRecord>;
}

const FORMAT = 1;
/** UTF-16 code units per value: at most 60 000 bytes, whichever string encoding KV picks. */
const CHUNK = 30_000;
/** 819 200 bytes per atomic operation / 30 000 bytes per Latin-1 chunk, rounded up. */
const MAX_CHUNKS = 28;
/** Extra lifetime given to backend TTLs, for skew between the core's clock and the machine's. */
const TTL_SLACK_MS = 60_000;
const SAVE_ATTEMPTS = 8;
/** The key part under the prefix that holds the per-user index. */
const INDEX = "user";

/**
 * The longest prefix, in encoded key bytes, under which every index entry fits Deno KV's 2 048-byte
 * key limit: an entry adds "user" (6 bytes), the user (`login()` takes 255 UTF-16 units: at most
 * 765 UTF-8 bytes, no NUL, plus 2) and the store key (at most 64 characters, plus 2).
 */
const MAX_PREFIX_BYTES = 2048 - (6 + 767 + 66) - 9;
const utf8 = new TextEncoder();

/** A key's size as Deno KV encodes it (tuple layer: a type byte, the bytes with NUL escaped, a terminator). */
function keySize(parts: readonly DenoKvKeyPart[]): number {
  let size = 0;
  for (const part of parts) {
    if (typeof part === "string" || part instanceof Uint8Array) {
      const bytes = typeof part === "string" ? utf8.encode(part) : part;
      size += 2 + bytes.length + bytes.filter((byte) => byte === 0).length;
    } else if (typeof part === "number") size += 9;
    else if (typeof part === "bigint") size += 2 + Math.ceil((part < 0n ? -part : part).toString(16).length / 2);
    else size += 1;
  }
  return size;
}

/** A string as Deno KV keeps it in a key: UTF-8, so an unpaired surrogate becomes U+FFFD. */
function asKeyPart(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Whether two users share one index entry key (they are equal, or differ only in unpaired surrogates). */
function sameIndex(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && (a === b || asKeyPart(a) === asKeyPart(b));
}

interface Head {
  satchel: number;
  expires: number;
  created: number;
  active: number;
  expiry?: number | string;
  user?: string;
  chunks: number;
  data?: string;
}

/** A valid record (see `requireRecord`) whose data fits in one atomic operation. */
function checkRecord(record: unknown, action: string): asserts record is SessionRecord {
  requireRecord(record, action);
  if (Math.ceil(record.data.length / CHUNK) > MAX_CHUNKS) {
    throw new SessionError("SERIALIZATION_FAILED", "Cannot write a Deno KV session as its data exceeds what one atomic operation can hold");
  }
}

function isHead(value: unknown): value is Head {
  if (typeof value !== "object" || value === null) return false;
  const h = value as Record<string, unknown>;
  if (h.satchel !== FORMAT) return false;
  if (typeof h.chunks !== "number" || !Number.isInteger(h.chunks) || h.chunks < 0 || h.chunks > MAX_CHUNKS) return false;
  if (h.chunks === 0 ? typeof h.data !== "string" : h.data !== undefined) return false;
  // The record fields; a chunked head keeps its data in the chunks.
  return isRecord(h.chunks === 0 ? h : { ...h, data: "" });
}

/**
 * A store on Deno KV with compare-and-set saves (the versionstamp is the version), chunked
 * values, native expiry and an optional `clearExpired`.
 *
 * @param options see {@linkcode DenoKvStoreOptions}; `kv` is required
 * @returns a `SessionStore` (`cas: true`, `clearExpired: true`)
 * @throws {TypeError} when `kv` does not look like a `Deno.Kv` or `prefix` is not an array
 *
 * @example Sessions in a local KV file
 * ```ts ignore
 * import { denoKvStore } from "@satchel/session/stores/deno-kv";
 * const store = denoKvStore({ kv: await Deno.openKv("./sessions.sqlite3") });
 * ```
 */
export function denoKvStore(options: DenoKvStoreOptions): DenoKvStore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create denoKvStore as options must be an object");
  }
  const { kv, prefix = ["satchel"] } = options;
  if (typeof kv !== "object" || kv === null || typeof kv.get !== "function" || typeof kv.list !== "function" ||
    typeof kv.atomic !== "function") {
    throw new TypeError("Cannot create denoKvStore as kv must be an open Deno.Kv");
  }
  if (!Array.isArray(prefix)) {
    throw new TypeError("Cannot create denoKvStore as prefix must be an array of key parts");
  }
  const size = keySize(prefix);
  if (size > MAX_PREFIX_BYTES) {
    throw new TypeError(
      `Cannot create denoKvStore as prefix takes ${size} bytes as a key: with the longest user key login() accepts, ` +
        `its index entries would pass Deno KV's 2 KiB key limit; keep it under ${MAX_PREFIX_BYTES} bytes`,
    );
  }
  const base: DenoKvKeyPart[] = [...prefix];
  const headOf = (key: string): DenoKvKey => [...base, key, 0];
  const chunkOf = (key: string, index: number): DenoKvKey => [...base, key, index];
  const entryOf = (user: string, key: string): DenoKvKey => [...base, INDEX, user, key];

  /** Add the writes of `record` (head, chunks, removal of stale chunks, its index entry) to `op`. */
  function write(op: DenoKvAtomicLike, key: string, record: SessionRecord): DenoKvAtomicLike {
    const expireIn = Math.max(0, Math.ceil(record.expires - Date.now())) + TTL_SLACK_MS;
    const { data } = record;
    const chunks = data.length > CHUNK ? Math.ceil(data.length / CHUNK) : 0;
    const head: Head = {
      satchel: FORMAT,
      expires: record.expires,
      created: record.created,
      active: record.active,
      chunks,
    };
    if (record.expiry !== undefined) head.expiry = record.expiry;
    if (record.user !== undefined) head.user = record.user;
    if (chunks === 0) head.data = data;
    op.set(headOf(key), head, { expireIn });
    // The index entry lives exactly as long as the head: same operation, same expireIn.
    if (record.user !== undefined) op.set(entryOf(record.user, key), true, { expireIn });
    for (let i = 1; i <= chunks; i++) op.set(chunkOf(key, i), data.slice((i - 1) * CHUNK, i * CHUNK), { expireIn });
    for (let i = chunks + 1; i <= MAX_CHUNKS; i++) op.delete(chunkOf(key, i));
    return op;
  }

  /** Add the removal of the session (head, chunks, and the index entry of `user`, its bound user) to `op`. */
  function erase(op: DenoKvAtomicLike, key: string, user: string | undefined): DenoKvAtomicLike {
    op.delete(headOf(key));
    for (let i = 1; i <= MAX_CHUNKS; i++) op.delete(chunkOf(key, i));
    if (user !== undefined) op.delete(entryOf(user, key));
    return op;
  }

  /** The bound user of a head read from the store, if it is one of ours. */
  const userOf = (value: unknown): string | undefined => (isHead(value) ? value.user : undefined);

  /** Read a session's head and chunks in one snapshot; `null` when absent or inconsistent. */
  async function read(key: string): Promise<{ record: LoadedRecord; versionstamp: string } | null> {
    const limit = MAX_CHUNKS + 2;
    const entries: { key: DenoKvKey; value: unknown; versionstamp: string }[] = [];
    for await (const entry of kv.list({ prefix: [...base, key] }, { limit, batchSize: limit })) entries.push(entry);
    const first = entries[0];
    if (!first || first.key.length !== base.length + 2 || first.key[base.length + 1] !== 0) return null;
    const head = first.value;
    if (!isHead(head)) return null;
    let data: string;
    if (head.chunks === 0) {
      data = head.data!;
    } else {
      const parts: string[] = [];
      for (let i = 1; i <= head.chunks; i++) {
        const entry = entries[i];
        if (!entry || entry.key[base.length + 1] !== i || entry.versionstamp !== first.versionstamp) return null;
        if (typeof entry.value !== "string") return null;
        parts.push(entry.value);
      }
      data = parts.join("");
    }
    const record: LoadedRecord = { ...copyRecord({ ...head, data }), version: first.versionstamp };
    return { record, versionstamp: first.versionstamp };
  }

  /** Every live session: the heads under the prefix (chunks and index entries are passed over). */
  async function* listAll(now: number): AsyncGenerator<ListedRecord> {
    for await (const entry of kv.list({ prefix: base })) {
      const k = entry.key;
      if (k.length !== base.length + 2 || k[base.length + 1] !== 0) continue;
      const key = k[base.length];
      const head = entry.value;
      if (!isKey(key) || !isHead(head) || !(head.expires > now)) continue;
      // A chunked record is read again in one snapshot, so its parts are of one version.
      const record = head.chunks === 0 ? head as Head & { data: string } : (await read(key))?.record;
      if (record && record.expires > now) yield { key, record: copyRecord(record) };
    }
  }

  /** One user's live sessions, through the index entries `[...prefix, "user", user, key]`. */
  async function* listUser(user: string, now: number): AsyncGenerator<ListedRecord> {
    for await (const entry of kv.list({ prefix: [...base, INDEX, user] })) {
      const k = entry.key;
      const key = k[base.length + 2];
      if (k.length !== base.length + 3 || !isKey(key)) continue;
      const found = await read(key);
      const bound = found?.record.user;
      if (bound === user) {
        if (found!.record.expires > now) yield { key, record: copyRecord(found!.record) };
        continue; // an expired record keeps its entry: both expire together, or clearExpired takes both
      }
      // The entry is stale unless it is another user's that shares this entry key.
      if (!sameIndex(bound, user)) await sweep(k, key, user);
    }
  }

  /**
   * Delete a stale index entry, checked against the head it was judged by (a record bound to
   * `user` again meanwhile keeps it). Best effort: never throws.
   */
  async function sweep(entry: DenoKvKey, key: string, user: string): Promise<void> {
    try {
      const current = await kv.get(headOf(key));
      if (sameIndex(userOf(current.value), user)) return;
      await kv.atomic().check({ key: headOf(key), versionstamp: current.versionstamp }).delete(entry).commit();
    } catch {
      // Left for the next listing, or for its expireIn.
    }
  }

  return {
    kind: "server",
    kv,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      const found = await read(key);
      return found && found.record.expires > now ? found.record : null;
    },

    async create(key: string, record: SessionRecord): Promise<Version> {
      requireKey(key, "create");
      checkRecord(record, "create");
      const op = write(kv.atomic().check({ key: headOf(key), versionstamp: null }), key, record);
      const result = await op.commit();
      if (!result.ok) throw new SessionError("SESSION_EXISTS", "Cannot create the session as its key is already taken");
      return result.versionstamp;
    },

    async save(key: string, record: SessionRecord, version?: Version): Promise<Version> {
      requireKey(key, "save");
      checkRecord(record, "save");
      const head = headOf(key);
      const ending = record.expires <= record.active;
      // Read the head for its versionstamp and its bound user, then commit under a check of that
      // versionstamp: the old user's index entry goes in the same operation when the user changes.
      for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
        const current = await kv.get(head);
        if (current.versionstamp === null) throw interrupted();
        if (version !== undefined && current.versionstamp !== String(version)) {
          throw new SessionError("SESSION_CONFLICT", "Cannot save the session as another request changed it first");
        }
        const before = userOf(current.value);
        const op = kv.atomic().check({ key: head, versionstamp: current.versionstamp });
        // A tombstone (already expired at its own last activity) ends the record under the same
        // check instead of writing it: no entry with a past expiry, nothing a later save could find.
        if (ending) erase(op, key, before);
        else {
          write(op, key, record);
          if (before !== undefined && !sameIndex(before, record.user)) op.delete(entryOf(before, key));
        }
        const result = await op.commit();
        if (result.ok) return result.versionstamp;
        // Changed meanwhile: the next read tells a deleted record (interrupted) from a newer one.
      }
      throw new SessionError("SESSION_CONFLICT", "Cannot save the session as other requests kept changing it");
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      const head = headOf(key);
      // The record and its index entry in one operation, checked against the head that named the user.
      for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
        const current = await kv.get(head);
        const op = kv.atomic().check({ key: head, versionstamp: current.versionstamp });
        if ((await erase(op, key, userOf(current.value)).commit()).ok) return;
      }
      // Still changing: delete the record regardless (an index entry left behind is swept by list).
      await erase(kv.atomic(), key, undefined).commit();
    },

    async clearExpired(now: number): Promise<number> {
      if (typeof now !== "number" || Number.isNaN(now)) {
        throw new TypeError("Cannot clear expired Deno KV sessions as now must be a number");
      }
      const expired: { key: string; versionstamp: string; user: string | undefined }[] = [];
      for await (const entry of kv.list({ prefix: base })) {
        const k = entry.key;
        if (k.length !== base.length + 2 || k[base.length + 1] !== 0) continue;
        const key = k[base.length];
        if (!isKey(key) || !isHead(entry.value)) continue;
        if (entry.value.expires <= now) expired.push({ key, versionstamp: entry.versionstamp, user: entry.value.user });
      }
      let removed = 0;
      for (const { key, versionstamp, user } of expired) {
        const result = await erase(kv.atomic().check({ key: headOf(key), versionstamp }), key, user).commit();
        if (result.ok) removed += 1;
      }
      return removed;
    },

    async *list(options: ListOptions): AsyncIterable<ListedRecord> {
      const { user, now } = options ?? ({} as Partial<ListOptions>);
      if (typeof now !== "number" || Number.isNaN(now)) {
        throw new TypeError("Cannot list Deno KV sessions as now must be a number");
      }
      if (user !== undefined && typeof user !== "string") {
        throw new TypeError("Cannot list Deno KV sessions as user must be a string");
      }
      yield* user === undefined ? listAll(now) : listUser(user, now);
    },
  };
}
