/**
 * Helpers the store tests share: fresh keys, records, a `SessionError` code check, and the
 * node-redis plumbing of the Redis-backed tests.
 *
 * The workerd checks (tests/workerd/_checks_*.ts) import this file too and are bundled into a
 * worker, so at run time it imports only ../core/errors.ts: no `node:*` module (not even through
 * ./_env.ts) and no client. `rejectsCode` checks by hand instead of with `node:assert`, and the
 * Redis helpers take node-redis's `createClient` and `serviceAvailable` from their caller (only
 * their types are imported here, and types vanish from the bundle).
 */
import type { createClient } from "redis";
import { SessionError } from "../core/errors.ts";
import type { ListedRecord, SessionRecord } from "../core/types.ts";
import { encodeBase64Url } from "../core/_base64.ts";
import type { serviceAvailable } from "./_env.ts";

/**
 * A generator of fresh, valid 32-character keys starting with `tag`, distinct across calls and
 * across runs (a counter and a random UUID).
 */
export function keyMaker(tag: string): () => string {
  let serial = 0;
  return () => {
    serial += 1;
    return `${tag}${serial.toString(36)}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 32);
  };
}

/** A record live for `ttl` ms from `now`, created and active at `now`, without an expiry override. */
export function rec(now: number, data = '{"a":1}', ttl = 60_000): SessionRecord {
  return { data, expires: now + ttl, created: now, active: now };
}

/** `rec(now, data, ttl)`, bound to `user` when one is given. */
export function bound(now: number, user: string | undefined, ttl = 60_000, data = "{}"): SessionRecord {
  return user === undefined ? rec(now, data, ttl) : { ...rec(now, data, ttl), user };
}

/** The keys a listing yields, sorted. */
export async function keysOf(iterable: AsyncIterable<ListedRecord>): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of iterable) keys.push(key);
  return keys.sort();
}

/** base64url(SHA-256(user)): how the Durable Object and Cloudflare KV stores name a user's index. */
export async function userTag(user: string): Promise<string> {
  return encodeBase64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(user))));
}

/** Resolve when `promise` rejects with a `SessionError` of `code`; throw otherwise. */
export async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  const outcome = await promise.then(
    () => ({ rejected: false as const }),
    (error: unknown) => ({ rejected: true as const, error }),
  );
  if (!outcome.rejected) throw new Error(`expected a rejection with SessionError ${code}, but the promise resolved`);
  const { error } = outcome;
  if (!(error instanceof SessionError)) throw new Error(`expected a SessionError, got ${String(error)}`, { cause: error });
  if (error.code !== code) throw new Error(`expected SessionError ${code}, got ${error.code}`, { cause: error });
}

/** A connected node-redis client. */
export type NodeRedis = ReturnType<typeof createClient>;

/** What the Redis-backed tests share; see `redisFixtures`. */
export interface RedisFixtures {
  /** This run's unique tag (base 36), for prefixes and keys. */
  readonly run: string;
  /** A key prefix of its own for `name`: `satchel-test:<run>:<namespace><name>:`. */
  prefixFor(name: string): string;
  /** A connected node-redis client that fails fast (no reconnects, 2 s connect timeout). */
  connect(): Promise<NodeRedis>;
  /** Probe Redis once: in CI a missing Redis fails the run, elsewhere one loud skip line and `false`. */
  up(): Promise<boolean>;
  /** Delete every key under `prefix`. */
  dropPrefix(client: NodeRedis, prefix: string): Promise<void>;
}

/** What `redisFixtures` needs from its caller. */
export interface RedisFixtureOptions {
  /** node-redis's `createClient` (passed in so this file imports no client). */
  readonly createClient: typeof createClient;
  /** `serviceAvailable` of ./_env.ts (passed in so this file imports no `node:*` module). */
  readonly serviceAvailable: typeof serviceAvailable;
  /** The server, e.g. `process.env.REDIS_URL ?? "redis://127.0.0.1:6379"`. */
  readonly url: string;
  /** Put between the run and the name in every prefix, to keep files apart. @default "" */
  readonly namespace?: string;
}

/** The Redis plumbing of one test file, over the real server at `options.url`. */
export function redisFixtures(options: RedisFixtureOptions): RedisFixtures {
  const { createClient: create, serviceAvailable: available, url, namespace = "" } = options;
  const run = `${Date.now().toString(36)}${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
  const connect = async (): Promise<NodeRedis> => {
    const client = create({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } });
    client.on("error", () => {});
    await client.connect();
    return client as NodeRedis;
  };
  let probe: Promise<boolean> | undefined;
  return {
    run,
    prefixFor: (name) => `satchel-test:${run}:${namespace}${name}:`,
    connect,
    up() {
      probe ??= available(`Redis (${url})`, async () => {
        const client = await connect();
        try {
          await client.sendCommand(["PING"]);
        } finally {
          client.destroy();
        }
      });
      return probe;
    },
    async dropPrefix(client, prefix) {
      const keys = (await client.sendCommand(["KEYS", `${prefix}*`])) as string[];
      if (keys.length > 0) await client.sendCommand(["DEL", ...keys]);
    },
  };
}
