/**
 * A Redis session store, imported from `@satchel/session/stores/redis`.
 *
 * `redisStore({ client, prefix })` keeps each session as one Redis string under
 * `prefix + key`, and the sessions of each user in a per-user index under
 * `prefix + "u:" + <encoded user>`. It works with the client you already have, recognised by
 * its shape:
 *
 * | client | shape used | notes |
 * |---|---|---|
 * | ioredis (`new Redis()`, or `new Redis.Cluster(nodes)`) | `call(command, ...args)` | a cluster is recognised by `isCluster` and scanned through `nodes("master")`; tested with v6 |
 * | Bun (`Bun.redis`, `new Bun.RedisClient(url)`) | `send(command, args)` | Bun only |
 * | node-redis cluster (`createCluster()`, connected) | `sendCommand(key, false, argv)` | recognised by its `getSlotMaster()`; scanned through `masters` and `nodeClient()`; tested with v6 |
 * | node-redis (`createClient()`, connected) | `sendCommand(argv)` | tested with v6 |
 * | Upstash REST (`new Redis({ url, token })` from `@upstash/redis`) | `exec(argv)` | needs the generic `exec` method (tested with 1.39) |
 *
 * The shapes are tried in that order (`call`, then `send`, then `sendCommand` with
 * `getSlotMaster`, then `sendCommand`, then `exec`), so any other client fits by passing
 * `{ sendCommand: (argv) => ... }`: a function that sends one command, given as an array of
 * strings, and resolves to its reply. The client is never imported here: you install,
 * configure, connect and close it. Such a generic client is taken to be one server: `list()`
 * without a user `SCAN`s through it, which on a cluster behind it would see one node's keys.
 *
 * Keys: a record is `prefix + key`, where `key` is 8 to 64 characters of `[a-z0-9]`. A user's
 * index is `prefix + "u:" + encodeURIComponent(user)` (a lone UTF-16 surrogate, which
 * `encodeURIComponent` refuses, is written `%u` and its four hex digits), an injective encoding:
 * two users never share an index, and `"a"` and `"a:b"` are two unrelated keys. The `":"` after
 * the `u` never occurs in a record key, so the two kinds can never collide and a `SCAN` tells
 * them apart (its pattern already skips index keys). Do not give two stores prefixes of which
 * one extends the other (`"app:"` and `"app:u:"`): their keys would mix. Use `prefix` rather
 * than a client's own key prefix option (ioredis's `keyPrefix`), which `SCAN` does not apply.
 *
 * The per-user index: a sorted set whose members are the record keys (without the prefix),
 * each scored with an `until`, a time no earlier than the expiry of any record written under it
 * for that user; the set itself expires with its highest score. A bound record's stored value
 * remembers the `until` its entry covers (its user is the record's own `user`). Writing a record
 * bound to a user (`create`, or a `save` that needs it) first writes the entry, then the record:
 * there is no transaction across the two keys, which on a Redis Cluster sit in different slots.
 * `create` always writes the entry first. `save` sends its script alone, and the script refuses,
 * writing nothing, when the stored value's entry does not cover the new record: bound to another
 * user (or was anonymous), a new expiry past its `until`, or a value written without `until` (by
 * an earlier version of this store). The store then writes an entry for the new `until` and
 * repeats the save against the same expected version, telling the script that `until`. So a
 * logged-in session's save is one round trip, and two about once per lifetime of the session.
 * `until` is the record's expiry plus as much again as it had left to live after its `active`
 * (at least an hour): a rolling session of a day rewrites its entry about once a day, and an
 * index entry (and the index key) may outlive its record by as long again, a stale entry
 * that listings skip. The entry write is one `EVAL` on the index key alone: `ZADD GT` (a
 * score only grows, so a concurrent write that lands first with a later `until` is never
 * undercut), then `ZREMRANGEBYSCORE` drops the entries dead on the Redis clock (their records
 * are gone already), then `PEXPIREAT` sets the set's expiry to its highest score, so an index
 * never dies before one of its records.
 * - `delete` and a save that ends the record (a tombstone) remove the record, and then its entry
 *   (`ZREM`) from the index of the user the record was bound to, which the write's script
 *   reports. A key is never written again once its record is gone (a save never recreates, and
 *   the core creates only fresh random keys), so that removal cannot hit a newer entry.
 * - A save that rebinds a live record to another user (or to none) leaves the old user's entry:
 *   it is stale, skipped by `list()`, and goes when its score passes. Removing it after the save
 *   could remove the entry of a concurrent save binding the record back to that user.
 * - `list()` skips stale entries (record gone, expired, or bound elsewhere) and never removes
 *   them: while a login is between its index write and its record write, the entry points to
 *   nothing yet, and removing it then would leave the new session missing from the index for
 *   good (a later `revokeUser` would miss it). A crash between the two writes leaves such an
 *   entry; it costs one `GET` per listing until its score passes.
 * So every record bound to a user by a completed write is in that user's index, and an entry
 * disappears only after its record has (the store contract).
 *
 * `list({ user, now })` walks the index with `ZSCAN` (a cursor that never misses a member
 * present throughout, even while others come and go), skips entries scored at or before `now`,
 * and loads the rest with one `GET` each, sent together in batches of 100 (each `GET` names one
 * key, so on a cluster each goes to its own master). `list({ now })` walks the record keys with
 * `SCAN ... MATCH prefix* COUNT 1000` on every master (ioredis `Cluster#nodes("master")`,
 * node-redis `cluster.masters` through `cluster.nodeClient()`; the one server otherwise,
 * Upstash included) and loads them the same way: it walks the whole keyspace, so on a database
 * shared with much other data it takes a round trip per thousand keys of it (the core's
 * `storeTimeout` bounds the wait for each listed record). Listings are not snapshots: a key may
 * come twice, and a record written meanwhile may or may not appear.
 *
 * Redis Cluster: every command the store sends touches exactly one key, `argv[1]` (`argv[3]`
 * for `EVAL`, whose script declares that one key and touches no other), so each goes to the
 * master owning that key's slot and none is ever cross-slot; `SCAN` names no key and is sent to
 * each master in turn. ioredis's `Cluster` finds the key itself; node-redis's cluster is handed
 * it as the routing key, with `isReadonly` false, so reads go to the master even with
 * `useReplicas`: a replica may lag, and a read-your-writes miss would look like a lost session
 * or a spurious conflict. For the same reason keep ioredis's `scaleReads` at its default,
 * `"master"`. The default prefix has no hash tag, so sessions spread over all slots; a prefix
 * holding `{...}` would put every session and index in one slot (one master). The index needs no
 * hash tag of its own: it is one key. Tested on a three-master Redis 7 cluster with both clients.
 *
 * Round trips: `load` is one `GET`. `create` is one `SET ... NX PXAT`, after one index `EVAL`
 * when bound to a user. `save` is one `EVAL` of a short Lua script; when it binds the record to
 * another user or moves its expiry past its entry's `until`, that `EVAL` writes nothing and is
 * followed by one index `EVAL` and the save's `EVAL` again; one `ZREM` follows when it ends a
 * bound record. `delete` is one
 * `EVAL` (read the bound user, delete), followed by one `ZREM` when the record was bound. Needs
 * Redis 6.2 or later (for `PXAT` and `ZADD GT`), or a compatible server with those, Lua `EVAL`
 * and `TIME` in scripts.
 *
 * Consistency: strong, per key. `create` is insert-if-absent (a taken key throws
 * `SessionError("SESSION_EXISTS")`). `save` runs atomically on the server: it never recreates
 * a deleted record (`SESSION_INTERRUPTED`) and, given the version `load` or a previous write
 * returned, writes only if nobody wrote in between (`SESSION_CONFLICT`), so concurrent
 * requests that change different keys both land. Versions are decimal strings counting the
 * writes of a record. Errors from the client (connection refused, timeouts, a key holding
 * another type) propagate unchanged; the core reports them as `STORE_UNAVAILABLE`. Some carry
 * the command in their message or properties (Upstash's errors quote it, key and value), so
 * do not log a failure's `cause` verbatim.
 *
 * TTL: every write sets the key's absolute expiry to the record's `expires` with `PXAT`, so
 * Redis drops dead sessions itself and there is no `clearExpired`. That TTL is only garbage
 * collection on the Redis server's clock: `load` and `list` still compare `expires` with the
 * `now` the core passes, so a session is dead at its expiry on the sessions' clock even if the
 * key lingers. Keep server and application clocks in step; a Redis clock running ahead drops
 * keys early.
 *
 * Stored value: `<version>:<JSON>`, the JSON holding, for a bound record, first the `until` of
 * its index entry, then `data`, `expires`, `created`, `active` and, when set, `expiry` and
 * `user` (last). A value without `until` (an anonymous record, or one written by an earlier
 * version) loads the same; its first bound save rewrites the index entry. The leading version keeps the value from being
 * valid JSON, so clients that parse replies as JSON (Upstash's default) hand it back untouched.
 * A value under the prefix that is not in this format loads as no session.
 *
 * @example Node with node-redis
 * ```ts ignore
 * import { createClient } from "redis";
 * import { createSessions } from "@satchel/session";
 * import { redisStore } from "@satchel/session/stores/redis";
 *
 * const client = await createClient({ url: "redis://127.0.0.1:6379" }).connect();
 * const sessions = createSessions({
 *   secret: "a-secret-of-at-least-32-characters!",
 *   store: redisStore({ client, prefix: "myapp:session:" }),
 * });
 * ```
 *
 * @example The other clients
 * ```ts ignore
 * import { Redis as IORedis } from "ioredis";
 * import { Redis as Upstash } from "@upstash/redis";
 *
 * redisStore({ client: new IORedis("redis://127.0.0.1:6379") });
 * redisStore({ client: Bun.redis }); // under Bun
 * redisStore({ client: new Upstash({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN }) });
 * ```
 *
 * @module
 */
import { interrupted, SessionError } from "../core/errors.ts";
import type { ListedRecord, ListOptions, LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { copyRecord, decodeRecord, encodeRecord, isKey, requireKey, requireRecord } from "./_record.ts";

export type { ListedRecord, ListOptions, LoadedRecord, SessionRecord, SessionStore, Version };

/** node-redis (`createClient()`), or any object that sends one command given as an argv array. */
export interface NodeRedisLike {
  /** Send one command (`["GET", key]`) and resolve to its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * node-redis's cluster (`createCluster()`): `sendCommand(firstKey, isReadonly, argv)` routes
 * `argv` to the master of `firstKey`'s slot. Recognised by `getSlotMaster`, which a single-node
 * client lacks.
 */
export interface NodeRedisClusterLike {
  /** Send one command (`["GET", key]`), routed by `firstKey`, and resolve to its reply. */
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
  /** The master serving a hash slot (only its presence is used). */
  getSlotMaster(slot: number): unknown;
  /** The masters (node-redis 4 and later), for `list()` without a user. */
  readonly masters?: readonly unknown[];
  /** The connected client of one master (node-redis 4 and later), for `list()` without a user. */
  nodeClient?(node: never): NodeRedisLike | Promise<NodeRedisLike>;
}

/** ioredis (a single node or a `Cluster`): `redis.call("GET", key)`. */
export interface IORedisLike {
  /** Send one command and resolve to its reply. */
  call(command: string, ...args: string[]): Promise<unknown>;
  /** `true` on an ioredis `Cluster`. */
  readonly isCluster?: boolean;
  /** A `Cluster`'s node clients by role (`"master"`), for `list()` without a user. */
  nodes?(role: "master"): { call(command: string, ...args: string[]): Promise<unknown> }[];
}

/** Bun's built-in client: `Bun.redis.send("GET", [key])`. */
export interface BunRedisLike {
  /** Send one command and resolve to its reply. */
  send(command: string, args: string[]): Promise<unknown>;
}

/** Upstash's REST client: `redis.exec(["GET", key])`. */
export interface UpstashRedisLike {
  /** Send one command (`["GET", key]`) and resolve to its reply. */
  exec(args: [string, ...string[]]): Promise<unknown>;
}

/** Any client `redisStore()` can drive; see the module documentation for how it is recognised. */
export type RedisLike = IORedisLike | BunRedisLike | NodeRedisClusterLike | NodeRedisLike | UpstashRedisLike;

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** A connected client: node-redis or ioredis (a single node or a cluster), Bun's `RedisClient` or Upstash's REST client. */
  client: RedisLike;
  /** Prepended to every key (records and per-user indexes), to keep sessions apart from other data. @default "satchel:" */
  prefix?: string;
}

/** A Redis-backed `SessionStore`, with the client and prefix it uses. */
export interface RedisStore extends SessionStore {
  /** The client passed in, as an escape hatch. */
  readonly client: RedisLike;
  /** The key prefix in use. */
  readonly prefix: string;
  /** One `GET`: the live record with its version, or `null` (absent, expired on `now`, or not ours). */
  load(key: string, now: number): Promise<LoadedRecord | null>;
  /** One `SET NX PXAT` (after the index update when bound); throws `SESSION_EXISTS` when the key is taken. Resolves to version `"1"`. */
  create(key: string, record: SessionRecord): Promise<string>;
  /** One atomic `EVAL` (refused, then sent again after the index update, when the record's index entry does not cover it); throws `SESSION_INTERRUPTED` or `SESSION_CONFLICT`. Resolves to the new version. */
  save(key: string, record: SessionRecord, version?: Version): Promise<string>;
  /** One `EVAL` that deletes, then the index entry's `ZREM` when it was bound; a missing key is fine. */
  delete(key: string): Promise<void>;
  /** The live records, all of them (`SCAN` on every master) or one user's (`ZSCAN` of the index). */
  list(options: ListOptions): AsyncIterable<ListedRecord>;
  /** The Redis key of `user`'s index: `prefix + "u:" + encodeURIComponent(user)`. */
  indexKey(user: string): string;
}

/** Send one command; `key` is the one key it touches, for clients that route by it. */
type Send = (argv: [string, ...string[]], key: string) => Promise<unknown>;
/** Send one keyless command (`SCAN`) to one server. */
type SendTo = (argv: [string, ...string[]]) => Promise<unknown>;

interface Backend {
  send: Send;
  /** One sender per server holding part of the keyspace: every master of a cluster, else the one server. */
  servers(): Promise<SendTo[]>;
}

const VALUE = /^(\d{1,15}):/;
/** How many `GET`s a listing sends at once. */
const BATCH = 100;

// The tail of a stored value from its `,"user":` on: `user` is the last field `encodeRecord`
// writes, and inside the JSON strings before it every quote is escaped, so the first match is
// the field itself. The store parses the tail; anything else in it is ignored.
const TAIL = `local function usertail(value)
  local at = string.find(value, ',"user":', 1, true)
  if at then return string.sub(value, at + 1) end
  return ''
end
`;

// KEYS[1] the session key; ARGV[1] the encoded record (no `until`), ARGV[2] PXAT, ARGV[3] the
// expected version ("" for none), ARGV[4] the `until` of an index entry just written for the
// record's user ("" or absent for none). Returns 0 when the key is gone, -1 on a version mismatch,
// -2 (writing nothing) when the record is bound and the stored value's index entry does not cover
// it (another user, `expires` past its `until`, or a value without `until`) and it would still be
// live on the server clock, else { new version, the old value's user tail when this write ended
// the record (a PXAT already past deletes the key), else "" }. A bound value keeps the `until` it
// is covered by as its first JSON field. It reads and writes KEYS[1] only, so on a Redis Cluster
// it runs on that key's master.
const SAVE_SCRIPT = `${TAIL}local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local version = string.match(current, '^(%d+):')
if ARGV[3] ~= '' and version ~= ARGV[3] then return -1 end
local tail = usertail(ARGV[1])
local cover = ARGV[4] or ''
if tail ~= '' and cover == '' then
  cover = string.match(current, '^%d+:{"until":(%d+),') or ''
  if cover == '' or tail ~= usertail(current) or tonumber(ARGV[2]) > tonumber(cover) then
    local t = redis.call('TIME')
    if tonumber(ARGV[2]) > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then return -2 end
    cover = ''
  end
end
local body = ARGV[1]
if tail ~= '' and cover ~= '' then body = '{"until":' .. cover .. ',' .. string.sub(body, 2) end
local bumped = (tonumber(version) or 0) + 1
redis.call('SET', KEYS[1], string.format('%d', bumped) .. ':' .. body, 'PXAT', ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return { bumped, usertail(current) } end
return { bumped, '' }`;

// KEYS[1] the session key. Deletes it (whatever its type) and returns the user tail of the value
// it held ("" when none, or not a string).
const DELETE_SCRIPT = `${TAIL}local tail = ''
if redis.call('TYPE', KEYS[1])['ok'] == 'string' then tail = usertail(redis.call('GET', KEYS[1])) end
redis.call('DEL', KEYS[1])
return tail`;

// KEYS[1] a user's index; ARGV[1] the entry's `until` (ms), ARGV[2] the record key. Adds or raises
// the entry, drops the entries dead on the server clock (TIME: their records are gone, Redis
// expired them on the same clock), and sets the index to expire with its latest entry.
const INDEX_SCRIPT = `redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1`;

/** `PXAT` wants a positive whole number of milliseconds. */
function pxat(expires: number): string {
  return String(Math.max(1, Math.ceil(expires)));
}

/** The least margin an index entry's `until` keeps past the record's expiry. */
const HOUR_MS = 3_600_000;
/** The latest `until` (the largest valid `Date`). */
const MAX_TIME = 8_640_000_000_000_000;

/**
 * The `until` (whole ms) of an index entry written for a bound `record`: its `PXAT` expiry plus
 * as much again as the record has left to live after its `active` (at least an hour), capped at
 * `MAX_TIME`; never before the record's expiry.
 */
function indexUntil(record: SessionRecord): number {
  const expires = Number(pxat(record.expires));
  const slack = Math.max(HOUR_MS, Math.ceil(expires - record.active));
  return Math.max(expires, Math.min(expires + slack, MAX_TIME));
}

const utf8 = new TextDecoder();

function text(reply: unknown): string | null {
  if (typeof reply === "string") return reply;
  if (reply instanceof Uint8Array) return utf8.decode(reply);
  return null;
}

/**
 * A key, member, score or cursor out of a reply. Upstash's client parses replies as JSON, so a
 * string of digits comes back a number; it does so only when the number prints back as the
 * same string, so `String` restores it exactly.
 */
function word(reply: unknown): string | null {
  if (typeof reply === "number") return String(reply);
  return text(reply);
}

/** A stored `<version>:<JSON>` value as a live record, or `null` (not ours, damaged, or expired on `now`). */
function decode(reply: unknown, now: number): LoadedRecord | null {
  const value = text(reply);
  if (value === null) return null;
  const match = VALUE.exec(value);
  if (!match) return null;
  const decoded = decodeRecord(value.slice(match[0].length));
  if (decoded === null || !(decoded.record.expires > now)) return null;
  return { ...decoded.record, version: match[1] };
}

/** The user named by a script's user tail (`"user":"ada"}`), or `null`. */
function tailUser(reply: unknown): string | null {
  const tail = text(reply);
  if (!tail) return null;
  try {
    const user = (JSON.parse(`{${tail}`) as { user?: unknown }).user;
    return typeof user === "string" ? user : null;
  } catch {
    return null;
  }
}

/** A `SCAN`/`ZSCAN` reply: the next cursor and the page. */
function page(reply: unknown, command: string): { cursor: string; items: unknown[] } {
  const parts: unknown[] = Array.isArray(reply) ? reply : [];
  const cursor = word(parts[0]);
  const items = parts[1];
  if (cursor === null || !Array.isArray(items)) {
    throw new Error(`Cannot list sessions: Redis answered ${command} unexpectedly`);
  }
  return { cursor, items };
}

/**
 * `user` as a key part: `encodeURIComponent`, code point by code point, with a lone surrogate
 * (which it refuses) written `%u` and four hex digits. After a `%`, `encodeURIComponent` writes
 * only hex digits, so the two forms never meet and the encoding stays injective.
 */
function encodeUser(user: string): string {
  let out = "";
  for (const char of user) {
    const unit = char.charCodeAt(0);
    out += char.length === 1 && unit >= 0xd800 && unit <= 0xdfff
      ? `%u${unit.toString(16)}`
      : encodeURIComponent(char);
  }
  return out;
}

/** `prefix` as a literal `SCAN MATCH` pattern. */
function globEscape(prefix: string): string {
  return prefix.replace(/[\\*?[\]]/g, "\\$&");
}

function adapt(client: RedisLike): Backend {
  type Any = IORedisLike & BunRedisLike & NodeRedisLike & UpstashRedisLike & { getSlotMaster: unknown };
  const c = client as Partial<Any> | null;
  if (c === null || (typeof c !== "object" && typeof c !== "function")) {
    throw new TypeError("Cannot create Redis store: client must be a Redis client");
  }
  const one = (to: SendTo): Backend => ({ send: (argv) => to(argv), servers: async () => [to] });
  if (typeof c.call === "function") {
    const backend = one(([command, ...args]) => c.call!(command, ...args));
    if (c.isCluster !== true) return backend;
    return {
      send: backend.send,
      async servers() {
        if (typeof c.nodes !== "function") throw new TypeError("Cannot list sessions: this ioredis Cluster has no nodes()");
        return c.nodes("master").map((node) => ([command, ...args]: [string, ...string[]]) => node.call(command, ...args));
      },
    };
  }
  if (typeof c.send === "function") return one(([command, ...args]) => c.send!(command, args));
  if (typeof c.sendCommand === "function" && typeof c.getSlotMaster === "function") {
    const cluster = c as unknown as NodeRedisClusterLike & { getMasters?: () => readonly unknown[] };
    return {
      send: (argv, key) => cluster.sendCommand(key, false, argv),
      async servers() {
        const masters = cluster.masters ?? cluster.getMasters?.();
        if (!Array.isArray(masters) || typeof cluster.nodeClient !== "function") {
          throw new TypeError("Cannot list sessions: this node-redis cluster has no masters and nodeClient() (node-redis 4 or later has)");
        }
        const nodes = await Promise.all(masters.map((master) => cluster.nodeClient!(master as never)));
        return nodes.map((node) => (argv: [string, ...string[]]) => node.sendCommand(argv));
      },
    };
  }
  if (typeof c.sendCommand === "function") return one((argv) => c.sendCommand!(argv));
  if (typeof c.exec === "function") return one((argv) => c.exec!(argv));
  throw new TypeError(
    "Cannot create Redis store: client has none of call(), send(), sendCommand() or exec(); see the redisStore() documentation",
  );
}

/**
 * Keep sessions in Redis, with native expiry, compare-and-set saves and a per-user index.
 *
 * @param options the connected `client` and an optional key `prefix`
 * @returns a `SessionStore` for `createSessions({ store })`
 * @throws {TypeError} when the client has no recognised shape or the prefix is not a string
 *
 * @example
 * ```ts ignore
 * import { Redis as IORedis } from "ioredis";
 * import { createSessions } from "@satchel/session";
 * import { redisStore } from "@satchel/session/stores/redis";
 *
 * const store = redisStore({ client: new IORedis(), prefix: "shop:sess:" });
 * const sessions = createSessions({ secret: "a-secret-of-at-least-32-characters!", store });
 * ```
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot create Redis store: options must be an object with a client");
  }
  const { client, prefix = "satchel:" } = options;
  if (typeof prefix !== "string") throw new TypeError("Cannot create Redis store: prefix must be a string");
  const { send, servers } = adapt(client);
  const indexKey = (user: string): string => `${prefix}u:${encodeUser(user)}`;
  // Record keys only: the second character of an index key's suffix is its ":".
  const pattern = `${globEscape(prefix)}${"[a-z0-9]".repeat(8)}*`;

  /** Add or raise `key`'s entry in `user`'s index to `until` (before the record write). */
  const index = async (user: string, key: string, until: number): Promise<void> => {
    const at = indexKey(user);
    await send(["EVAL", INDEX_SCRIPT, "1", at, String(until), key], at);
  };
  /** Remove `key`'s entry from the index of the user a script's tail names (after the record went). */
  const unindex = async (tail: unknown, key: string): Promise<void> => {
    const user = tailUser(tail);
    if (user === null) return;
    const at = indexKey(user);
    await send(["ZREM", at, key], at);
  };

  /** Load `keys` (`GET`s sent a batch at a time) and yield the live ones, of `user` when given. */
  async function* loadAll(keys: string[], now: number, user: string | undefined): AsyncGenerator<ListedRecord> {
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      const replies = await Promise.all(batch.map((key) => send(["GET", prefix + key], prefix + key)));
      for (let j = 0; j < batch.length; j++) {
        const loaded = decode(replies[j], now);
        if (loaded === null || (user !== undefined && loaded.user !== user)) continue;
        yield { key: batch[j]!, record: copyRecord(loaded) };
      }
    }
  }

  async function* listUser(user: string, now: number): AsyncGenerator<ListedRecord> {
    const at = indexKey(user);
    let cursor = "0";
    do {
      const step = page(await send(["ZSCAN", at, cursor, "COUNT", "250"], at), "ZSCAN");
      cursor = step.cursor;
      const keys: string[] = [];
      for (let i = 0; i + 1 < step.items.length; i += 2) {
        const member = word(step.items[i]);
        if (member !== null && isKey(member) && Number(word(step.items[i + 1])) > now) keys.push(member);
      }
      yield* loadAll(keys, now, user);
    } while (cursor !== "0");
  }

  async function* listEvery(now: number): AsyncGenerator<ListedRecord> {
    for (const server of await servers()) {
      let cursor = "0";
      do {
        const step = page(await server(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"]), "SCAN");
        cursor = step.cursor;
        const keys: string[] = [];
        for (const item of step.items) {
          const stored = word(item);
          if (stored === null || !stored.startsWith(prefix)) continue;
          const key = stored.slice(prefix.length);
          if (isKey(key)) keys.push(key);
        }
        yield* loadAll(keys, now, undefined);
      } while (cursor !== "0");
    }
  }

  return {
    kind: "server",
    client,
    prefix,
    indexKey,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      return decode(await send(["GET", prefix + key], prefix + key), now);
    },

    async create(key: string, record: SessionRecord): Promise<string> {
      requireKey(key, "create");
      requireRecord(record, "create");
      let value = encodeRecord(record);
      if (record.user !== undefined) {
        const until = indexUntil(record);
        await index(record.user, key, until);
        value = encodeRecord(record, { until });
      }
      const stored = prefix + key;
      const reply = await send(["SET", stored, `1:${value}`, "NX", "PXAT", pxat(record.expires)], stored);
      if (reply === null || reply === undefined) {
        throw new SessionError("SESSION_EXISTS", "Cannot create session: the key is already taken");
      }
      return "1";
    },

    async save(key: string, record: SessionRecord, version?: Version): Promise<string> {
      requireKey(key, "save");
      requireRecord(record, "save");
      const expected = version === undefined || version === null ? "" : String(version);
      const stored = prefix + key;
      const value = encodeRecord(record);
      const expiry = pxat(record.expires);
      let reply = await send(["EVAL", SAVE_SCRIPT, "1", stored, value, expiry, expected, ""], stored);
      let indexed = false;
      if (Number(reply) === -2 && record.user !== undefined) {
        // The stored value's index entry does not cover this record: write one that does, then
        // repeat the save (still against `expected`), telling the script which `until` it covers.
        const until = indexUntil(record);
        await index(record.user, key, until);
        indexed = true;
        reply = await send(["EVAL", SAVE_SCRIPT, "1", stored, value, expiry, expected, String(until)], stored);
      }
      const [code, tail] = Array.isArray(reply) ? reply : [reply, ""];
      const saved = Number(code);
      if (saved === 0) {
        // The record went (a logout) after this save wrote its entry: take the entry back (a gone
        // key is never written again), rather than leave it for every listing of the user to skip.
        if (indexed) {
          const at = indexKey(record.user!);
          await send(["ZREM", at, key], at);
        }
        throw interrupted();
      }
      if (saved === -1) {
        throw new SessionError("SESSION_CONFLICT", "Cannot save session: it was changed by a concurrent request");
      }
      if (!(saved > 0)) throw new Error("Cannot save session: Redis answered the save script unexpectedly");
      await unindex(tail, key);
      return String(saved);
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      const stored = prefix + key;
      await unindex(await send(["EVAL", DELETE_SCRIPT, "1", stored], stored), key);
    },

    list(options: ListOptions): AsyncIterable<ListedRecord> {
      if (options === null || typeof options !== "object" || !Number.isFinite(options.now)) {
        throw new TypeError("Cannot list sessions: options.now must be a finite number");
      }
      const { user, now } = options;
      if (user !== undefined && typeof user !== "string") {
        throw new TypeError("Cannot list sessions: options.user must be a string");
      }
      return user === undefined ? listEvery(now) : listUser(user, now);
    },
  };
}
