/**
 * Adversarial review of the Redis store's per-user index after d0baa18 ("a logged-in session's
 * save is one round trip again": the stored value remembers the `until` its index entry covers,
 * the save script refuses when a rebind or a later expiry outgrows it, and the store then writes
 * the entry and repeats the save). Against the real Redis on 127.0.0.1:6379 (or $REDIS_URL),
 * driven through node-redis behind the generic `{ sendCommand }` shape, with a spy that can hold
 * one command to force an interleaving (no sleeps).
 *
 * Each attack asserts the correct behaviour: a test that fails names a bug found by the review.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createClient } from "redis";
import { createSessions } from "../mod.ts";
import { redisStore } from "../stores/redis.ts";
import type { RedisLike, RedisStore } from "../stores/redis.ts";
import { fakeClock, serviceAvailable } from "./_env.ts";
import { bound, keyMaker, keysOf, redisFixtures } from "./_store_fixtures.ts";
import type { NodeRedis } from "./_store_fixtures.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const { run: RUN, prefixFor, connect, up, dropPrefix } = redisFixtures({
  createClient,
  serviceAvailable,
  url: REDIS_URL,
  namespace: "review-index:",
});
const freshKey = keyMaker("r");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SECRET = "review-redis-index-secret-0123456789abcdef";
let users = 0;
const freshUser = (label = "u") => `${label}-${RUN}-${++users}`;


const req = (cookie?: string) => new Request("http://localhost/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => response.headers.getSetCookie().find((l) => l.startsWith("sessionid="))?.split(";")[0];

describe("review: redisStore() per-user index and the one-round-trip save", () => {
  let ok = false;
  let client: NodeRedis;
  /** Holds: each matching command waits for its gate before it is sent (first match only). */
  let holds: { match: (argv: string[]) => boolean; reached: () => void; gate: Promise<void> }[] = [];
  let spy: RedisLike;
  const raw = (...argv: string[]): Promise<unknown> => client.sendCommand(argv);
  const used = new Set<string>();
  const store = (name = "main"): RedisStore => {
    const p = prefixFor(name);
    used.add(p);
    return redisStore({ client: spy, prefix: p });
  };

  /** Hold the first command matching `match`: `reached` resolves when it is about to be sent, `release()` sends it. */
  const hold = (match: (argv: string[]) => boolean) => {
    let reached!: () => void;
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    holds.push({ match, reached, gate });
    return { arrived, release };
  };

  before(async () => {
    ok = await up();
    if (!ok) return;
    client = await connect();
    spy = {
      sendCommand: async (argv: string[]) => {
        const i = holds.findIndex((h) => h.match(argv));
        if (i >= 0) {
          const [h] = holds.splice(i, 1);
          h!.reached();
          await h!.gate;
        }
        return await client.sendCommand(argv);
      },
    };
  });
  after(async () => {
    if (!ok) return;
    for (const p of used) await dropPrefix(client, p);
    client.destroy();
  });
  const it = (title: string, fn: () => Promise<void>): void => {
    test(title, async (t) => {
      if (!ok) return t.skip("Redis unavailable");
      holds = [];
      await fn();
    });
  };

  /** The save script on `stored` (first attempt: ARGV[4] empty; the repeat: ARGV[4] the until). */
  const saveEval = (stored: string, repeat: boolean) => (argv: string[]) =>
    argv[0] === "EVAL" && argv[3] === stored && argv.length === 8 && (argv[7] !== "") === repeat;
  const indexEval = (at: string) => (argv: string[]) => argv[0] === "EVAL" && argv[3] === at;

  /** The invariant: a live record bound to `user` has an entry scored no earlier than its Redis expiry, in an index key that lives as long. */
  const assertCovered = async (s: RedisStore, key: string, user: string, now: number, message: string) => {
    const at = s.indexKey(user);
    const score = await raw("ZSCORE", at, key);
    const recordExpiry = Number(await raw("PEXPIRETIME", s.prefix + key));
    assert.notEqual(score, null, `${message}: the entry is missing`);
    assert.ok(Number(score) >= recordExpiry, `${message}: the entry (${score}) covers the record (${recordExpiry})`);
    assert.ok(Number(await raw("PEXPIRETIME", at)) >= Number(score), `${message}: the index key lives as long as its entry`);
    assert.ok((await keysOf(s.list({ user, now }))).includes(key), `${message}: listed for its user`);
  };

  // ----------------------------------------------------------------------------------------------
  // What the review found: a documented limit, and a fixed bug.

  it("a lost index entry (eviction, failover: the README's noeviction limit) hides its session only until a save outgrows what the entry covered, which writes it again", async () => {
    // A save within the remembered until never touches the index (that is the one round trip),
    // so an entry Redis lost stays lost until the session's expiry passes that until. The README
    // says so and asks for maxmemory-policy noeviction; this pins the bound it states.
    const s = store();
    const now = Date.now();
    const ada = freshUser("ada");
    const key = freshKey();
    await s.create(key, bound(now, ada, 2 * HOUR)); // covered until now + 4 h
    await raw("DEL", s.indexKey(ada)); // what an eviction of the index key, or a lost async-replicated write, leaves
    let version = "1";
    for (let i = 1; i <= 3; i++) version = await s.save(key, bound(now + i * 60_000, ada, 2 * HOUR - i * 60_000, `{"n":${i}}`), version);
    assert.deepEqual(await keysOf(s.list({ user: ada, now })), [], "within the cover: not listed (the documented limit)");
    version = await s.save(key, bound(now + 5 * 60_000, ada, 5 * HOUR), version); // expires past now + 4 h
    await assertCovered(s, key, ada, now, "the save that outgrew the cover wrote the entry again");
  });

  it("fixed bug (review, low): a save refused for outgrowing its until, whose record is deleted before the index write, leaves no orphan entry", async () => {
    // The save learns its record is gone (the repeat answers 0) right after it wrote an entry for
    // it: that entry can be removed safely (a gone key is never written again), yet it is left to
    // cost a GET in every listing of the user until its score passes (up to twice the lifetime).
    const s = store();
    const now = Date.now();
    const ada = freshUser("ada");
    const key = freshKey();
    await s.create(key, bound(now, ada, 60_000));
    const indexing = hold(indexEval(s.indexKey(ada)));
    const saving = s.save(key, bound(now, ada, 30 * DAY), "1");
    await indexing.arrived; // refused: the new expiry is past the entry's until
    await s.delete(key); // a logout: record and entry go
    indexing.release();
    await assert.rejects(saving, { code: "SESSION_INTERRUPTED" });
    assert.equal(await raw("EXISTS", s.prefix + key), 0);
    assert.equal(await raw("ZSCORE", s.indexKey(ada), key), null, "an entry for a record the save knows is gone");
  });

  // ----------------------------------------------------------------------------------------------
  // Attacks that held.

  it("a delete between the refusal and the repeat never resurrects the record (delete before the index write, and after it)", async () => {
    const s = store();
    const now = Date.now();
    for (const where of ["before-index", "before-repeat"] as const) {
      const ada = freshUser("ada");
      const key = freshKey();
      await s.create(key, bound(now, ada, 60_000));
      const h = hold(where === "before-index" ? indexEval(s.indexKey(ada)) : saveEval(s.prefix + key, true));
      const saving = s.save(key, bound(now, ada, 30 * DAY), "1");
      await h.arrived;
      await s.delete(key);
      h.release();
      await assert.rejects(saving, { code: "SESSION_INTERRUPTED" }, where);
      assert.equal(await raw("EXISTS", s.prefix + key), 0, `${where}: the record stays deleted`);
      assert.equal(await s.load(key, now), null, where);
      assert.deepEqual(await keysOf(s.list({ user: ada, now })), [], where);
    }
  });

  it("a rebind and an expiry extension of one record at the same version: one wins, its user's entry covers it, the other user lists nothing", async () => {
    const s = store();
    const now = Date.now();
    for (const winner of ["extend", "rebind"] as const) {
      const [ada, bob] = [freshUser("ada"), freshUser("bob")];
      const key = freshKey();
      const stored = s.prefix + key;
      await s.create(key, bound(now, ada, 60_000));
      // Both first attempts refused, both entries written, then the repeats in the chosen order.
      const repeatOf = (user: string) => (argv: string[]) => saveEval(stored, true)(argv) && argv[4]!.endsWith(`"user":${JSON.stringify(user)}}`);
      const extendRepeat = hold(repeatOf(ada));
      const rebindRepeat = hold(repeatOf(bob));
      const outcome = async (p: Promise<unknown>) => await p.then(() => "ok", (e: { code?: string }) => e.code);
      const extend = outcome(s.save(key, bound(now, ada, 20 * DAY, '{"x":1}'), "1"));
      const rebind = outcome(s.save(key, bound(now, bob, 2 * HOUR, '{"x":2}'), "1"));
      await Promise.all([extendRepeat.arrived, rebindRepeat.arrived]);
      const [first, second] = winner === "extend" ? [extendRepeat, rebindRepeat] : [rebindRepeat, extendRepeat];
      first.release();
      assert.equal(await (winner === "extend" ? extend : rebind), "ok", `${winner} wins`);
      second.release();
      assert.equal(await (winner === "extend" ? rebind : extend), "SESSION_CONFLICT", `${winner} won: the other conflicts`);
      const won = winner;
      const owner = won === "extend" ? ada : bob;
      const other = won === "extend" ? bob : ada;
      await assertCovered(s, key, owner, now, `${won} won`);
      assert.deepEqual(await keysOf(s.list({ user: other, now })), [], `${won} won: the other user lists nothing`);
      // The loser retries on the fresh version (as the core does): still covered.
      const fresh = (await s.load(key, now))!;
      const retried = won === "extend" ? bound(now, bob, 2 * HOUR) : bound(now, ada, 20 * DAY);
      await s.save(key, retried, fresh.version);
      await assertCovered(s, key, retried.user!, now, `${won} won, then the other retried`);
      assert.deepEqual(await keysOf(s.list({ user: retried.user === ada ? bob : ada, now })), []);
    }
  });

  it("revokeUser() between an expiry-extending request's refusal and its repeat ends the session", async () => {
    const s = store();
    const clock = fakeClock();
    const sessions = createSessions({ secret: SECRET, store: s, now: clock.now, cookie: { secure: false } });
    const user = freshUser("victim");
    const cookie = cookieOf(await sessions.handle(req(), async (_r, session) => (await session.login(user), new Response("in"))))!;
    assert.equal(await sessions.count({ user }), 1);
    const indexing = hold(indexEval(s.indexKey(user)));
    const extending = sessions.handle(req(cookie), async (_r, session) => {
      session.setExpiry(300 * 86_400); // "remember me": far past the entry's until
      session.set("n", 1);
      return new Response("extended");
    });
    await indexing.arrived;
    assert.equal(await sessions.revokeUser(user), 1);
    indexing.release();
    await extending;
    assert.equal((await sessions.load(req(cookie))).user, null, "the revoked session came back");
    assert.equal(await sessions.count({ user }), 0);
  });

  it("a rolling session (saveEveryRequest, 1 h idle) over three days on a fake clock: always covered, listed, and revoked", async () => {
    const s = store();
    const clock = fakeClock();
    const sessions = createSessions({ secret: SECRET, store: s, now: clock.now, saveEveryRequest: true, cookie: { secure: false, maxAge: 3600 } });
    const user = freshUser("roll");
    let cookie = cookieOf(await sessions.handle(req(), async (_r, session) => (await session.login(user), new Response("in"))))!;
    let rng = 11;
    const next = () => (rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let reindexed = 0;
    const key = (await keysOf(s.list({ user, now: clock.now() })))[0]!;
    const start = clock.now();
    for (let i = 0; i < 90; i++) {
      clock.advance(60_000 + Math.floor(next() * 58 * 60_000));
      const before = Number(await raw("ZSCORE", s.indexKey(user), key));
      const response = await sessions.handle(req(cookie), async (_r, session) => {
        if (next() < 0.2) session.set("i", i);
        return new Response("ok");
      });
      assert.equal(response.status, 200);
      cookie = cookieOf(response) ?? cookie;
      if (Number(await raw("ZSCORE", s.indexKey(user), key)) !== before) reindexed++;
      await assertCovered(s, key, user, clock.now(), `request ${i}`);
      assert.equal(await sessions.count({ user }), 1, `request ${i}`);
    }
    // About once per idle period (the README: "a rolling session of a day rewrites its entry about once a day").
    const periods = (clock.now() - start) / HOUR;
    assert.ok(reindexed >= 2 && reindexed <= periods + 1, `the entry was rewritten ${reindexed} times in ${periods.toFixed(1)} idle periods`);
    assert.equal(await sessions.revokeUser(user), 1);
    assert.equal((await sessions.load(req(cookie))).user, null);
  });

  it("a stored until that is garbage, not a whole number, or of a value bound to another user never lets a save skip the index", async () => {
    const s = store();
    const now = Date.now();
    const ada = freshUser("ada");
    const record = JSON.stringify(bound(now, ada, 60_000));
    const body = record.slice(1); // without the leading "{"
    const far = String(now + 100 * DAY);
    const values = [
      `1:{"until":"${far}",${body}`, // a string
      `1:{"until":${far}.5,${body}`, // a fraction
      `1:{"until":-1,${body}`,
      `1:{"until":1e99,${body}`,
      `1:{"until": ${far},${body}`, // a space
      `1:{"until":${far},${JSON.stringify(bound(now, freshUser("bob"), 60_000)).slice(1)}`, // another user's
      `1:${record}`, // the previous format: no until
    ];
    for (const value of values) {
      const key = freshKey();
      await raw("SET", s.prefix + key, value, "PX", "60000");
      assert.equal(await s.save(key, bound(now, ada, 120_000), "1"), "2", value);
      await assertCovered(s, key, ada, now, value);
    }
  });

  it("prefixes and users with hash tags, glob characters and '%': one record, rebound and extended, is always in exactly its user's index", async () => {
    const prefixes = [`${prefixFor("tag")}{x}:`, `${prefixFor("glob")}*?[a]\\`];
    // Escaped for KEYS in the cleanup.
    for (const p of prefixes) used.add(p.replace(/[\\*?[\]]/g, "\\$&"));
    const names = [`{${RUN}}`, `${RUN}}{`, `*${RUN}?`, `[${RUN}]`, `%7B${RUN}`, `u:${RUN}`];
    for (const p of prefixes) {
      const s = redisStore({ client: spy, prefix: p });
      const now = Date.now();
      const key = freshKey();
      await s.create(key, bound(now, undefined));
      let version = "1";
      let ttl = 60_000;
      for (const name of [...names, names[0]!]) {
        ttl += 2 * HOUR; // every save also outgrows the until
        version = await s.save(key, bound(now, name, ttl), version);
        await assertCovered(s, key, name, now, `${p} ${name}`);
        for (const other of names) if (other !== name) assert.deepEqual(await keysOf(s.list({ user: other, now })), [], `${p} ${other}`);
      }
      assert.deepEqual(await keysOf(s.list({ now })), [key]);
      await s.delete(key);
      assert.deepEqual(await keysOf(s.list({ user: names[0]!, now })), []);
    }
  });
});
