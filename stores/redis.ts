/**
 * A Redis session store, imported from `@satchel/session/stores/redis`.
 *
 * `redisStore({ client, prefix })` keeps each session as one Redis string under
 * `prefix + key`. It works with the client you already have, recognised by its shape:
 *
 * | client | shape used | notes |
 * |---|---|---|
 * | ioredis (`new Redis()`, or `new Redis.Cluster(nodes)`) | `call(command, ...args)` | tested with v6 |
 * | Bun (`Bun.redis`, `new Bun.RedisClient(url)`) | `send(command, args)` | Bun only |
 * | node-redis cluster (`createCluster()`, connected) | `sendCommand(key, false, argv)` | recognised by its `getSlotMaster()`; tested with v6 |
 * | node-redis (`createClient()`, connected) | `sendCommand(argv)` | tested with v6 |
 * | Upstash REST (`new Redis({ url, token })` from `@upstash/redis`) | `exec(argv)` | needs the generic `exec` method (tested with 1.39) |
 *
 * The shapes are tried in that order (`call`, then `send`, then `sendCommand` with
 * `getSlotMaster`, then `sendCommand`, then `exec`), so any other client fits by passing
 * `{ sendCommand: (argv) => ... }`: a function that sends one command, given as an array of
 * strings, and resolves to its reply. The client is never imported here: you install,
 * configure, connect and close it.
 *
 * Redis Cluster: every command the store sends touches exactly one key, `argv[1]` (`argv[3]`
 * for `EVAL`, whose script declares that one key and touches no other), so each goes to the
 * master owning that key's slot and none is ever cross-slot. ioredis's `Cluster` finds the key
 * itself; node-redis's cluster is handed it as the routing key, with `isReadonly` false, so
 * reads go to the master even with `useReplicas`: a replica may lag, and a read-your-writes
 * miss would look like a lost session or a spurious conflict. For the same reason keep
 * ioredis's `scaleReads` at its default, `"master"`. The default prefix has no hash tag, so
 * sessions spread over all slots; a prefix holding `{...}` would put every session in one slot
 * (one master). Tested on a three-master Redis 7 cluster with both clients.
 *
 * Round trips: `load` is one `GET`; `create` is one `SET ... NX PXAT`; `save` is one `EVAL` of
 * a short Lua script; `delete` is one `DEL`. Needs Redis 6.2 or later (for `PXAT`), or a
 * compatible server with `PXAT` and Lua `EVAL`.
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
 * collection on the Redis server's clock: `load` still compares `expires` with the `now` the
 * core passes, so a session is dead at its expiry on the sessions' clock even if the key
 * lingers. Keep server and application clocks in step; a Redis clock running ahead drops keys
 * early.
 *
 * Stored value: `<version>:<JSON>`, the JSON holding `data`, `expires`, `created`, `active`
 * and, when set, `expiry`. The leading version keeps the value from being valid JSON, so
 * clients that parse replies as JSON (Upstash's default) hand it back untouched. A value under
 * the prefix that is not in this format loads as no session.
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
import type { LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { decodeRecord, encodeRecord, isKey, requireKey, requireRecord } from "./_record.ts";

export type { LoadedRecord, SessionRecord, SessionStore, Version };

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
}

/** ioredis (a single node or a `Cluster`): `redis.call("GET", key)`. */
export interface IORedisLike {
  /** Send one command and resolve to its reply. */
  call(command: string, ...args: string[]): Promise<unknown>;
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
  /** Prepended to every key, to keep sessions apart from other data. @default "satchel:" */
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
  /** One `SET NX PXAT`; throws `SESSION_EXISTS` when the key is taken. Resolves to version `"1"`. */
  create(key: string, record: SessionRecord): Promise<string>;
  /** One atomic `EVAL`; throws `SESSION_INTERRUPTED` or `SESSION_CONFLICT`. Resolves to the new version. */
  save(key: string, record: SessionRecord, version?: Version): Promise<string>;
  /** One `DEL`; a missing key is fine. */
  delete(key: string): Promise<void>;
}

/** Send one command; `key` is the one key it touches, for clients that route by it. */
type Send = (argv: [string, ...string[]], key: string) => Promise<unknown>;

const VALUE = /^(\d{1,15}):/;

// KEYS[1] the session key; ARGV[1] the encoded record, ARGV[2] PXAT, ARGV[3] the expected version
// ("" for none). Returns 0 when the key is gone, -1 on a version mismatch, else the new version.
// It reads and writes KEYS[1] only, so on a Redis Cluster it runs on that key's master.
// A future per-user index: keys share a slot only through a hash tag (only the part in braces
// is hashed), so every key of one user's index would be named `<prefix>{u:<user hash>}:...` and
// each index command would address that one slot. Session records stay untagged, to spread over
// the cluster, so an index update is its own single-slot command, not atomic with the save.
const SAVE_SCRIPT = `local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local version = string.match(current, '^(%d+):')
if ARGV[3] ~= '' and version ~= ARGV[3] then return -1 end
local bumped = (tonumber(version) or 0) + 1
redis.call('SET', KEYS[1], string.format('%d', bumped) .. ':' .. ARGV[1], 'PXAT', ARGV[2])
return bumped`;

/** `PXAT` wants a positive whole number of milliseconds. */
function pxat(expires: number): string {
  return String(Math.max(1, Math.ceil(expires)));
}

function text(reply: unknown): string | null {
  if (typeof reply === "string") return reply;
  if (reply instanceof Uint8Array) return new TextDecoder().decode(reply);
  return null;
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

function adapt(client: RedisLike): Send {
  type Any = IORedisLike & BunRedisLike & NodeRedisLike & UpstashRedisLike & { getSlotMaster: unknown };
  const c = client as Partial<Any> | null;
  if (c === null || (typeof c !== "object" && typeof c !== "function")) {
    throw new TypeError("Cannot create Redis store: client must be a Redis client");
  }
  if (typeof c.call === "function") return ([command, ...args]) => c.call!(command, ...args);
  if (typeof c.send === "function") return ([command, ...args]) => c.send!(command, args);
  if (typeof c.sendCommand === "function" && typeof c.getSlotMaster === "function") {
    const cluster = c as unknown as NodeRedisClusterLike;
    return (argv, key) => cluster.sendCommand(key, false, argv);
  }
  if (typeof c.sendCommand === "function") return (argv) => c.sendCommand!(argv);
  if (typeof c.exec === "function") return (argv) => c.exec!(argv);
  throw new TypeError(
    "Cannot create Redis store: client has none of call(), send(), sendCommand() or exec(); see the redisStore() documentation",
  );
}

/**
 * Keep sessions in Redis, with native expiry and compare-and-set saves.
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
  const send = adapt(client);

  return {
    kind: "server",
    client,
    prefix,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      return decode(await send(["GET", prefix + key], prefix + key), now);
    },

    async create(key: string, record: SessionRecord): Promise<string> {
      requireKey(key, "create");
      requireRecord(record, "create");
      const stored = prefix + key;
      const reply = await send(["SET", stored, `1:${encodeRecord(record)}`, "NX", "PXAT", pxat(record.expires)], stored);
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
      const reply = Number(
        await send(["EVAL", SAVE_SCRIPT, "1", stored, encodeRecord(record), pxat(record.expires), expected], stored),
      );
      if (reply === 0) throw interrupted();
      if (reply === -1) {
        throw new SessionError("SESSION_CONFLICT", "Cannot save session: it was changed by a concurrent request");
      }
      if (!(reply > 0)) throw new Error("Cannot save session: Redis answered the save script unexpectedly");
      return String(reply);
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      await send(["DEL", prefix + key], prefix + key);
    },
  };
}
