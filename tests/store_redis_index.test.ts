/**
 * redisStore()'s per-user index and list(), against the real Redis on 127.0.0.1:6379 (or
 * $REDIS_URL): what the index keys look like, which commands each write sends and in which
 * order, how the index expires, and the interleavings a listing must survive (a login between
 * its index write and its record write, a crash there). The shared listing suite
 * (tests/_store_suite_list.ts) runs from tests/store_redis.test.ts for every client; these are
 * the Redis-specific checks, driven through node-redis behind the generic `{ sendCommand }`
 * shape (Upstash's digit-string replies are checked in tests/store_redis.test.ts, by its shim).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createClient } from "redis";
import { createSessions } from "../mod.ts";
import { redisStore } from "../stores/redis.ts";
import type { RedisLike, RedisStore } from "../stores/redis.ts";
import { serviceAvailable } from "./_env.ts";
import { bound, keyMaker, keysOf, redisFixtures } from "./_store_fixtures.ts";
import type { NodeRedis } from "./_store_fixtures.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const { run: RUN, prefixFor, connect, up, dropPrefix } = redisFixtures({
  createClient,
  serviceAvailable,
  url: REDIS_URL,
  namespace: "index:",
});
const freshKey = keyMaker("i");
const HOUR = 3_600_000;
let users = 0;
const freshUser = (label = "u") => `${label}:{${RUN}.${++users}}`;


/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("redisStore() per-user index", () => {
  let ok = false;
  let client: NodeRedis;
  let sent: string[][];
  /** When it returns a promise for a command, the command waits for it before it is sent. */
  let pause: ((argv: string[]) => Promise<void> | undefined) | undefined;
  let spy: RedisLike;
  const prefix = prefixFor("specific");
  const raw = (...argv: string[]): Promise<unknown> => client.sendCommand(argv);
  /** Every prefix a store of this file used, for the cleanup. */
  const used = new Set<string>();
  const store = (p = prefix): RedisStore => (used.add(p), redisStore({ client: spy, prefix: p }));

  before(async () => {
    ok = await up();
    if (!ok) return;
    client = await connect();
    spy = {
      sendCommand: async (argv: string[]) => {
        const waiting = pause?.(argv);
        if (waiting) await waiting;
        sent.push(argv);
        return await client.sendCommand(argv);
      },
    };
  });
  after(async () => {
    if (!ok) return;
    // Escaped: one prefix holds glob characters.
    for (const p of used) await dropPrefix(client, p.replace(/[\\*?[\]]/g, "\\$&"));
    client.destroy();
  });
  const it = (title: string, fn: () => Promise<void>): void => {
    test(`redisStore() ${title}`, async (t) => {
      if (!ok) return t.skip("Redis unavailable");
      sent = [];
      pause = undefined;
      await fn();
    });
  };

  it("keeps a user's index at prefix + 'u:' + encodeURIComponent(user), the record keys as members scored by their until", async () => {
    const s = store();
    const now = Date.now();
    const user = `a:{b}/c ${RUN}`;
    const key = freshKey();
    await s.create(key, bound(now, user));
    const at = `${prefix}u:${encodeURIComponent(user)}`;
    assert.equal(s.indexKey(user), at);
    assert.equal(await raw("TYPE", at), "zset");
    assert.deepEqual(await raw("ZRANGE", at, "0", "-1"), [key]);
    assert.equal(Number(await raw("ZSCORE", at, key)), now + 60_000 + HOUR, "expires plus at least an hour");
    assert.equal(await raw("EXISTS", prefix + key), 1, "the record key is unchanged");
    assert.match(String(await raw("GET", prefix + key)), new RegExp(`^1:\\{"until":${now + 60_000 + HOUR},"data":`));
  });

  it("writes the index before the record, each command naming one key; anonymous records touch no index", async () => {
    const s = store();
    const now = Date.now();
    const user = freshUser();
    const at = s.indexKey(user);
    const key = freshKey();
    await s.create(key, bound(now, user));
    await s.save(key, bound(now, user, 120_000), "1");
    const keysOfCommand = (argv: string[]) => (argv[0] === "EVAL" ? argv.slice(3, 3 + Number(argv[2])) : [argv[1]]);
    await s.save(key, bound(now, user, 2 * HOUR), "2");
    await s.delete(key);
    assert.deepEqual(sent.map((argv) => [argv[0], ...keysOfCommand(argv)]), [
      ["EVAL", at],
      ["SET", prefix + key],
      ["EVAL", prefix + key], // within the entry's until: the save alone
      ["EVAL", prefix + key], // past it: refused, then the index, then the save again
      ["EVAL", at],
      ["EVAL", prefix + key],
      ["EVAL", prefix + key],
      ["ZREM", at],
    ]);
    sent.length = 0;
    const anonymous = freshKey();
    await s.create(anonymous, bound(now, undefined));
    await s.save(anonymous, bound(now, undefined, 120_000), "1");
    await s.delete(anonymous);
    assert.deepEqual(sent.map((argv) => argv[0]), ["SET", "EVAL", "EVAL"]);
  });

  it("the index expires with its latest entry, and a score never goes down", async () => {
    const s = store();
    const now = Date.now();
    const user = freshUser();
    const at = s.indexKey(user);
    const [a, b] = [freshKey(), freshKey()];
    await s.create(a, bound(now, user, 60_000));
    assert.equal(await raw("PEXPIRETIME", at), now + 60_000 + HOUR);
    await s.create(b, bound(now, user, 300_000));
    assert.equal(await raw("PEXPIRETIME", at), now + 300_000 + HOUR, "a later record extends the index");
    await s.save(a, bound(now, user, 2 * HOUR), "1");
    assert.equal(await raw("PEXPIRETIME", at), now + 4 * HOUR, "a save past its until extends the index: as much again");
    await s.save(a, bound(now, user, 90_000), "2");
    assert.equal(Number(await raw("ZSCORE", at, a)), now + 4 * HOUR, "a shorter save keeps the higher score");
    assert.equal(await raw("PEXPIRETIME", at), now + 4 * HOUR);
    assert.equal(await raw("PEXPIRETIME", prefix + a), now + 90_000);
    assert.deepEqual(await keysOf(s.list({ user, now: now + 100_000 })), [b], "a is listed by its record's expiry, not the score");
  });

  it("an index write drops the entries already dead on the Redis clock", async () => {
    const s = store();
    const now = Date.now();
    const user = freshUser();
    const at = s.indexKey(user);
    const dead = freshKey();
    await raw("ZADD", at, String(now - 10_000), dead);
    const live = freshKey();
    await s.create(live, bound(now, user));
    assert.equal(await raw("ZSCORE", at, dead), null);
    assert.equal(await raw("ZCARD", at), 1);
  });

  it("delete() and a save that ends the record remove the entry; a rebinding save leaves a stale one that is never listed", async () => {
    const s = store();
    const now = Date.now();
    const ada = freshUser("ada");
    const bob = freshUser("bob");
    const [deleted, retired, moved, unbound] = [freshKey(), freshKey(), freshKey(), freshKey()];
    for (const key of [deleted, retired, moved, unbound]) await s.create(key, bound(now, ada));
    await s.delete(deleted);
    await s.save(retired, { data: "", expires: 1, created: 0, active: now }, "1");
    await s.save(moved, bound(now, bob), "1");
    await s.save(unbound, bound(now, undefined), "1");
    const at = s.indexKey(ada);
    assert.deepEqual(((await raw("ZRANGE", at, "0", "-1")) as string[]).sort(), [moved, unbound].sort());
    assert.deepEqual(await keysOf(s.list({ user: ada, now })), []);
    assert.deepEqual(await keysOf(s.list({ user: bob, now })), [moved]);
    // delete() of a key holding another type still deletes it, and touches no index.
    const odd = freshKey();
    await raw("HSET", prefix + odd, "f", "v");
    sent.length = 0;
    await s.delete(odd);
    assert.equal(await raw("EXISTS", prefix + odd), 0);
    assert.deepEqual(sent.map((argv) => argv[0]), ["EVAL"]);
  });

  it("an entry whose record was never written (a crash after the index write) is skipped, and kept until its score passes", async () => {
    const s = store();
    const now = Date.now();
    const user = freshUser();
    const at = s.indexKey(user);
    const orphan = freshKey();
    await raw("ZADD", at, String(now + 60_000), orphan);
    const live = freshKey();
    await s.create(live, bound(now, user));
    sent.length = 0;
    assert.deepEqual(await keysOf(s.list({ user, now })), [live]);
    assert.deepEqual(sent.map((argv) => argv[0]).sort(), ["GET", "GET", "ZSCAN"]);
    assert.equal(Number(await raw("ZSCORE", at, orphan)), now + 60_000, "a listing removes nothing");
    // A malformed member or score is skipped too.
    await raw("ZADD", at, String(now + 60_000), "NOT A KEY");
    await raw("ZADD", at, "-inf", freshKey());
    assert.deepEqual(await keysOf(s.list({ user, now })), [live]);
  });

  it("a listing during a login's two writes cannot drop the new session from the index", async () => {
    const s = store();
    const now = Date.now();
    const user = freshUser();
    const at = s.indexKey(user);
    const indexed = async () => {
      while (!sent.some((argv) => argv[0] === "EVAL" && argv[3] === at)) await new Promise((r) => setTimeout(r, 1));
    };
    // A login: its index write lands, then its record write waits while the user is listed.
    const key = freshKey();
    const created = gate();
    pause = (argv) => (argv[0] === "SET" && argv[1] === prefix + key ? created.wait : undefined);
    const login = s.create(key, bound(now, user));
    await indexed();
    assert.deepEqual(await keysOf(s.list({ user, now })), [], "the record is not written yet");
    created.open();
    await login;
    assert.deepEqual(await keysOf(s.list({ user, now })), [key], "once written, it is in its user's index");

    // A save binding an existing record to the user, listed between its two writes.
    const other = freshKey();
    await s.create(other, bound(now, freshUser("before")));
    sent.length = 0;
    const saved = gate();
    // The save's first EVAL is refused (another user); its repeat, after the index write, waits.
    pause = (argv) => (argv[0] === "EVAL" && argv[3] === prefix + other && argv[7] !== "" ? saved.wait : undefined);
    const rebinding = s.save(other, bound(now, user), "1");
    await indexed();
    assert.deepEqual(await keysOf(s.list({ user, now })), [key], "the record is still bound to someone else");
    saved.open();
    await rebinding;
    assert.deepEqual(await keysOf(s.list({ user, now })), [key, other].sort());
  });

  it("a bound save within its entry's until is one command; a rebind, a past-until save or an old-format value sends index + save", async () => {
    const s = store();
    const now = Date.now();
    const [ada, bob] = [freshUser("ada"), freshUser("bob")];
    const key = freshKey();
    await s.create(key, bound(now, ada, 60_000));
    const commands = async (fn: () => Promise<unknown>): Promise<string[][]> => {
      sent.length = 0;
      await fn();
      return sent.map((argv) => [argv[0]!, argv[0] === "EVAL" ? argv[3]! : argv[1]!]);
    };
    const one = [["EVAL", prefix + key]];
    const two = (user: string) => [["EVAL", prefix + key], ["EVAL", s.indexKey(user)], ["EVAL", prefix + key]];
    for (let i = 2; i <= 6; i++) {
      assert.deepEqual(await commands(() => s.save(key, bound(now + i * 1000, ada, 60_000, `{"n":${i}}`), String(i - 1))), one);
    }
    assert.deepEqual(await commands(() => s.save(key, bound(now, ada, HOUR + 60_000), "6")), one, "exactly at until");
    assert.deepEqual(await commands(() => s.save(key, bound(now, ada, HOUR + 60_001), "7")), two(ada), "past until");
    assert.deepEqual(await commands(() => s.save(key, bound(now, bob), "8")), two(bob), "a rebind");
    assert.deepEqual(await commands(() => s.save(key, bound(now, undefined), "9")), one, "anonymous");
    assert.deepEqual(await commands(() => s.save(key, bound(now, bob), "10")), two(bob), "bound again after anonymous");
    assert.equal((await s.load(key, now))?.version, "11");
    assert.deepEqual(await keysOf(s.list({ user: bob, now })), [key]);
    // A value written by the previous format (no until) is reindexed on its first bound save.
    const old = freshKey();
    await raw("SET", prefix + old, `4:${JSON.stringify(bound(now, ada))}`, "PX", "60000");
    assert.deepEqual((await s.load(old, now))?.user, ada);
    sent.length = 0;
    assert.equal(await s.save(old, bound(now, ada), "4"), "5");
    assert.deepEqual(sent.map((argv) => argv[0]), ["EVAL", "EVAL", "EVAL"]);
    assert.deepEqual(await keysOf(s.list({ user: ada, now })), [old]);
    sent.length = 0;
    await s.save(old, bound(now, ada), "5");
    assert.deepEqual(sent.map((argv) => argv[0]), ["EVAL"], "then one command again");
    // A refused first attempt still checks the version: a conflict writes no index entry.
    sent.length = 0;
    await assert.rejects(s.save(old, bound(now, bob), "1"), { code: "SESSION_CONFLICT" });
    assert.equal(await raw("EXISTS", s.indexKey(bob) + "x"), 0);
    assert.deepEqual(sent.map((argv) => argv[0]), ["EVAL"]);
    // A save of a gone record sends no index write either.
    sent.length = 0;
    await assert.rejects(s.save(freshKey(), bound(now, bob), "1"), { code: "SESSION_INTERRUPTED" });
    assert.deepEqual(sent.map((argv) => argv[0]), ["EVAL"]);
  });

  it("after many saves, rolling forward and back, rebinding and going anonymous, a bound record's entry always covers it", async () => {
    const s = store();
    const start = Date.now();
    const users = [freshUser("a"), freshUser("b"), undefined];
    const key = freshKey();
    await s.create(key, bound(start, users[0]));
    let version = "1";
    let rng = 7;
    const next = () => (rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let reindexed = 0;
    for (let i = 0; i < 120; i++) {
      const now = start + i * 60_000;
      const user = next() < 0.1 ? users[Math.floor(next() * 3)] : (await s.load(key, now))?.user;
      const ttl = 60_000 + Math.floor(next() * 3 * HOUR);
      sent.length = 0;
      version = await s.save(key, bound(now, user, ttl, `{"i":${i}}`), version);
      if (sent.length > 1) reindexed++;
      if (user === undefined) continue;
      const at = s.indexKey(user);
      const score = Number(await raw("ZSCORE", at, key));
      const recordExpiry = Number(await raw("PEXPIRETIME", prefix + key));
      assert.equal(recordExpiry, now + ttl);
      assert.ok(score >= recordExpiry, `save ${i}: the entry (${score}) covers the record (${recordExpiry})`);
      assert.ok(Number(await raw("PEXPIRETIME", at)) >= score, `save ${i}: the index key lives as long as its highest score`);
      assert.deepEqual(await keysOf(s.list({ user, now })), [key]);
    }
    assert.ok(reindexed > 0 && reindexed < 60, `most saves are one command (${reindexed} of 120 reindexed)`);
  });

  it("through createSessions(): revokeUser() right after 30 logins of one user ends all of them", async () => {
    const s = store();
    const sessions = createSessions({ secret: "index-suite-secret-0123456789abcdefghij", store: s, cookie: { secure: false } });
    const user = freshUser();
    for (let i = 0; i < 30; i++) {
      await sessions.handle(new Request("http://localhost/"), async (_r, session) => {
        await session.login(user);
        return new Response("ok");
      });
    }
    assert.equal(await sessions.count({ user }), 30);
    assert.equal(await sessions.revokeUser(user), 30);
    assert.equal(await sessions.count({ user }), 0);
    assert.equal(await raw("EXISTS", s.indexKey(user)), 0, "each delete removed its entry: the emptied index is gone");
  });

  it("index keys are injective over any string: lone surrogates, '%', ':' and a prefix of another user", async () => {
    const s = store();
    const now = Date.now();
    const tag = RUN;
    const names = [`\ud800${tag}`, `\udc00${tag}`, `\ud800\udc00${tag}`, `%u${tag}`, `%25${tag}`, `%${tag}`, `a${tag}`, `a${tag}:b`, `a${tag}%3Ab`];
    assert.equal(new Set(names.map((n) => s.indexKey(n))).size, names.length);
    const keys = new Map<string, string>();
    for (const name of names) {
      const key = freshKey();
      keys.set(name, key);
      await s.create(key, bound(now, name));
    }
    for (const name of names) assert.deepEqual(await keysOf(s.list({ user: name, now })), [keys.get(name)]);
  });

  it("list() without a user walks the record keys under the prefix only, never an index key, whatever the prefix holds", async () => {
    const odd = prefixFor("glob[1]*?\\");
    const s = store(odd);
    const sibling = store(prefixFor("glob1"));
    const now = Date.now();
    const user = freshUser();
    const mine = [freshKey(), freshKey()];
    await s.create(mine[0]!, bound(now, user));
    await s.create(mine[1]!, bound(now, undefined));
    await sibling.create(freshKey(), bound(now, user));
    await raw("SET", `${odd}u:${freshKey()}`, "1:{}"); // shaped like neither
    await raw("SET", `${odd}short`, "x");
    sent.length = 0;
    assert.deepEqual(await keysOf(s.list({ now })), [...mine].sort());
    assert.equal(sent.filter((argv) => argv[0] === "GET").length, 2, "index keys and foreign keys are never loaded");
    const scan = sent.find((argv) => argv[0] === "SCAN")!;
    assert.equal(scan[3], `${odd.replace(/[\\*?[\]]/g, "\\$&")}${"[a-z0-9]".repeat(8)}*`);
  });

  it("list() walks every page of a large index and of SCAN", async () => {
    const s = store(prefixFor("large"));
    const now = Date.now();
    const user = freshUser();
    const keys: string[] = [];
    for (let i = 0; i < 1200; i++) keys.push(freshKey());
    await Promise.all(keys.map((key, i) => s.create(key, bound(now, i % 2 === 0 ? user : undefined))));
    const theirs = keys.filter((_, i) => i % 2 === 0).sort();
    sent.length = 0;
    assert.deepEqual([...new Set(await keysOf(s.list({ user, now })))].sort(), theirs);
    assert.ok(sent.filter((argv) => argv[0] === "ZSCAN").length > 1, "more than one ZSCAN page");
    sent.length = 0;
    assert.deepEqual([...new Set(await keysOf(s.list({ now })))].sort(), [...keys].sort());
    assert.ok(sent.filter((argv) => argv[0] === "SCAN").length > 1, "more than one SCAN page");
  });

  it("list() validates its options", async () => {
    const s = store();
    assert.throws(() => s.list({ now: Number.NaN }), TypeError);
    assert.throws(() => s.list(null as unknown as { now: number }), TypeError);
    assert.throws(() => s.list({ now: 1, user: 5 as unknown as string }), TypeError);
  });
});
