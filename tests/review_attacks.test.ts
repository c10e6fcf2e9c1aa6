/**
 * Adversarial review of the session engine's guarantees (README "No lost updates", "Security
 * model", "Errors"). Every attack tried is here as a test asserting the guaranteed behaviour:
 * those that pass are regression tests; those that fail on the current engine document a bug
 * and are marked `{ todo: "BUG: ..." }` so the suite stays green.
 *
 * Interleavings are deterministic: sessions are loaded and committed by hand in a chosen order,
 * or a store wrapper pauses one chosen store call on a deferred promise. Memory store only (the
 * real-backend races live in tests/concurrency_stores.test.ts); rotation uses a memory store
 * wrapped as a hashed-key store so that each secret has its own store key.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieStore, createSessions, memoryStore, SessionError } from "../mod.ts";
import type { LoadedRecord, Session, SessionEvent, SessionRecord, SessionStore, SessionsOptions, Version } from "../mod.ts";
import { fakeClock } from "./_env.ts";

const SECRET = "review-attack-secret-0123456789abcdefgh";
const OLD = "review-attack-old-secret-0123456789abcd";

type Data = { cart: string[]; n: number; user: string; [k: string]: unknown };
type Sessions = ReturnType<typeof createSessions<Data>>;

const req = (cookie?: string) => new Request("https://shop.example/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => response.headers.getSetCookie()[0]?.split(";")[0];
const isCode = (code: string) => (e: unknown) => e instanceof SessionError && e.code === code;

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

type Op = "load" | "create" | "save" | "delete";

/**
 * A store wrapper whose calls can be paused: `pauseNext(match)` arms a gate; the first call it
 * matches waits (after `reached` resolves) until `release()` is called.
 */
function pausable(inner: SessionStore, rawIds: boolean) {
  const gates: { match: (op: Op, key: string, record?: SessionRecord) => boolean; reached: () => void; release: Promise<void> }[] = [];
  const log: Op[] = [];
  const gate = async (op: Op, key: string, record?: SessionRecord) => {
    log.push(op);
    const index = gates.findIndex((g) => g.match(op, key, record));
    if (index < 0) return;
    const [g] = gates.splice(index, 1);
    g!.reached();
    await g!.release;
  };
  const store: SessionStore = {
    rawIds,
    load: async (k, n) => (await gate("load", k), inner.load(k, n)),
    create: async (k, r) => (await gate("create", k, r), inner.create(k, r)),
    save: async (k, r, v) => (await gate("save", k, r), inner.save(k, r, v)),
    delete: async (k) => (await gate("delete", k), inner.delete(k)),
  };
  return {
    store,
    log,
    pauseNext(match: (op: Op, key: string, record?: SessionRecord) => boolean) {
      const reached = deferred();
      const release = deferred();
      gates.push({ match, reached: () => reached.resolve(), release: release.promise });
      return { reached: reached.promise, release: () => release.resolve() };
    },
  };
}

function setup(options: Partial<SessionsOptions> = {}) {
  const clock = fakeClock();
  const store = (options.store as SessionStore | undefined) ?? memoryStore();
  const sessions = createSessions<Data>({ secret: SECRET, now: clock.now, ...options, store });
  return { sessions, store, clock };
}

async function seed(sessions: Sessions, data: Partial<Data>): Promise<string> {
  const response = await sessions.handle(req(), (_r, s) => {
    s.update(data);
    return new Response("seeded");
  });
  return cookieOf(response)!;
}

const load = (sessions: Sessions, cookie: string) => sessions.load(req(cookie));
const commit = (sessions: Sessions, session: Session<Data>) => sessions.commit(session, new Response("ok"));
/** Commit and give the status `handle()` would answer (200, or 400/409/503 for a session condition). */
async function status(sessions: Sessions, session: Session<Data>): Promise<number> {
  try {
    await commit(sessions, session);
    return 200;
  } catch (error) {
    if (!(error instanceof SessionError)) throw error;
    return { SESSION_INTERRUPTED: 400, SESSION_CONFLICT: 409, STORE_UNAVAILABLE: 503 }[error.code as string] ?? 500;
  }
}

// ---------------------------------------------------------------------------------------------
describe("guarantee 1: no silent lost update", () => {
  test("pop racing a modify of the same key: 409 for the pop, or both effects visible", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: ["x"] });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.pop("cart");
    b.modify("cart", (c = []) => [...c, "y"]);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 409, "the pop read a value that changed meanwhile");
    assert.deepEqual((await load(sessions, cookie)).get("cart"), ["x", "y"]);
  });

  test("delete racing a delete of the same key is not a conflict", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: ["x"], user: "u" });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.delete("cart");
    b.delete("cart");
    assert.equal(await status(sessions, a), 200);
    assert.equal(await status(sessions, b), 200);
    assert.equal((await load(sessions, cookie)).has("cart"), false);
  });

  test("setDefault on an absent key racing a set of it: set-if-absent, never an overwrite", async () => {
    // setDefault is re-applied like modify(): when the key was set meanwhile, the stored value stays.
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "u" });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.setDefault("n", 1);
    b.set("n", 2);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    assert.equal((await load(sessions, cookie)).get("n"), 2);
  });

  test("update() is a blind write: it merges with a concurrent change of another key", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "u", n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.update({ user: "v" });
    b.modify("n", (n = 0) => n + 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    const after = await load(sessions, cookie);
    assert.equal(after.get("user"), "v");
    assert.equal(after.get("n"), 1);
  });

  test("keys() then set of a key changed meanwhile: 409", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "u", n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.keys();
    a.set("n", 5);
    b.set("n", 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 409);
    assert.equal((await load(sessions, cookie)).get("n"), 1);
  });

  test("entries() then set of another, unchanged key still merges", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "u", n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.entries();
    a.set("user", "v");
    b.set("n", 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    const after = await load(sessions, cookie);
    assert.deepEqual([after.get("user"), after.get("n")], ["v", 1]);
  });

  test("modify returning undefined deletes, and is re-applied on the fresh value", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 1 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    // Remove n only when it is 1: re-run on the fresh 2, it keeps it.
    a.modify("n", (n) => (n === 1 ? undefined : n));
    b.modify("n", (n = 0) => n + 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    assert.equal((await load(sessions, cookie)).get("n"), 2);
  });

  test("set then modify of the same key (anchored) then a concurrent modify: 200 both, blind set semantics", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.set("n", 10);
    a.modify("n", (n = 0) => n + 1);
    b.modify("n", (n = 0) => n + 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    assert.equal((await load(sessions, cookie)).get("n"), 11, "a blind set then +1: 11");
  });

  test("set derived from modify()'s result, racing a modify of the same key: 409 or both updates", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: [] });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    const cart = a.modify("cart", (c) => c ?? [])!;
    a.set("cart", [...cart, "a"]);
    b.modify("cart", (c = []) => [...c, "b"]);
    assert.equal(await status(sessions, b), 200);
    const sa = await status(sessions, a);
    const after = (await load(sessions, cookie)).get("cart")!;
    if (sa === 200) assert.deepEqual([...after].sort(), ["a", "b"], "b's acknowledged add vanished");
    else assert.equal(sa, 409);
  });

  test("modified = true after mutating a value from values(): a concurrent change of that key is a 409", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: ["x"] });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    (a.values()[0] as string[]).push("a");
    a.modified = true;
    b.modify("cart", (c = []) => [...c, "b"]);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 409);
    assert.deepEqual((await load(sessions, cookie)).get("cart"), ["x", "b"]);
  });

  test("clear() racing a write of another key: 409 for the clear, or the other write survives", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "u" });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.clear();
    a.set("user", "fresh");
    b.modify("cart", (c = []) => [...c, "b"]);
    assert.equal(await status(sessions, b), 200);
    const sa = await status(sessions, a);
    const after = await load(sessions, cookie);
    if (sa === 200) assert.deepEqual(after.get("cart"), ["b"], "b's acknowledged cart vanished");
    else assert.equal(sa, 409);
  });

  test('clear() under conflicts: "last-write-wins" wins outright (documented Django behaviour)', async () => {
    const { sessions } = setup({ conflicts: "last-write-wins" });
    const cookie = await seed(sessions, { user: "u" });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.clear();
    b.set("n", 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    assert.equal((await load(sessions, cookie)).has("n"), false);
  });

  test("three-way race: one get-then-set and two modify() of one key: no acknowledged update lost", async () => {
    for (const order of [[0, 1, 2], [1, 0, 2], [1, 2, 0], [2, 1, 0]]) {
      const { sessions } = setup();
      const cookie = await seed(sessions, { cart: [] });
      const s = await Promise.all([0, 1, 2].map(() => load(sessions, cookie)));
      s[0]!.set("cart", [...s[0]!.get("cart", []), "g"]);
      s[1]!.modify("cart", (c = []) => [...c, "m1"]);
      s[2]!.modify("cart", (c = []) => [...c, "m2"]);
      const statuses: number[] = [];
      for (const i of order) statuses[i] = await status(sessions, s[i]!);
      const cart = (await load(sessions, cookie)).get("cart")!;
      const expected = ["g", "m1", "m2"].filter((_, i) => statuses[i] === 200);
      assert.deepEqual([...cart].sort(), expected.sort(), `order ${order}: statuses ${statuses}`);
      assert.equal(statuses[1], 200);
      assert.equal(statuses[2], 200);
    }
  });

  test("saveEveryRequest: a read-only request racing a write keeps the write", async () => {
    const { sessions } = setup({ saveEveryRequest: true });
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.get("n");
    b.modify("n", (n = 0) => n + 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    assert.equal((await load(sessions, cookie)).get("n"), 1);
  });

  test("saveEveryRequest: a read-only save landing first does not turn the other's get-then-set into a 409", async () => {
    const { sessions } = setup({ saveEveryRequest: true });
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.get("n");
    b.set("n", b.get("n", 0) + 1);
    assert.equal(await status(sessions, a), 200);
    assert.equal(await status(sessions, b), 200);
    assert.equal((await load(sessions, cookie)).get("n"), 1);
  });

  test("an idle-timeout touch racing a write never loses the write (either order)", async () => {
    for (const touchFirst of [true, false]) {
      const { sessions, clock } = setup({ idleTimeout: 600 });
      const cookie = await seed(sessions, { n: 0 });
      clock.advance(120_000); // past the touch throttle (60 s)
      const reader = await load(sessions, cookie);
      const writer = await load(sessions, cookie);
      reader.get("n");
      writer.set("n", writer.get("n", 0) + 1);
      if (touchFirst) {
        assert.equal(await status(sessions, reader), 200);
        assert.equal(await status(sessions, writer), 200);
      } else {
        assert.equal(await status(sessions, writer), 200);
        assert.equal(await status(sessions, reader), 200);
      }
      assert.equal((await load(sessions, cookie)).get("n"), 1, `touchFirst=${touchFirst}`);
    }
  });

  test("a concurrent setExpiry(0) is kept in the record, and the other response's cookie follows it", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.setExpiry(0);
    b.modify("n", (n = 0) => n + 1);
    await commit(sessions, a);
    const response = await commit(sessions, b);
    const after = await load(sessions, cookie);
    assert.equal(after.getExpireAtBrowserClose(), true, "the record keeps the browser-close expiry");
    assert.equal(after.get("n"), 1);
    assert.doesNotMatch(response.headers.getSetCookie()[0]!, /Max-Age/i, "the last response must not make the cookie persistent again");
  });

  test("setExpiry() on one request and a data write on the other both land", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.setExpiry(60);
    b.modify("n", (n = 0) => n + 1);
    assert.equal(await status(sessions, b), 200);
    assert.equal(await status(sessions, a), 200);
    const after = await load(sessions, cookie);
    assert.equal(after.getExpiryAge(), 60);
    assert.equal(after.get("n"), 1);
  });

  test("the cookie store is last-writer-wins, as the README documents (both 200, one change lost)", async () => {
    const clock = fakeClock();
    const sessions = createSessions<Data>({ secret: SECRET, store: cookieStore(), now: clock.now });
    const seeded = await sessions.handle(req(), (_r, s) => (s.set("n", 0), new Response("x")));
    const cookie = cookieOf(seeded)!;
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.modify("n", (n = 0) => n + 1);
    b.modify("n", (n = 0) => n + 1);
    await commit(sessions, a);
    const last = cookieOf(await commit(sessions, b))!;
    assert.equal((await load(sessions, last)).get("n"), 1, "no compare-and-set: documented in README 'What \"last writer wins\" means'");
  });
});

// ---------------------------------------------------------------------------------------------
describe("guarantee 2: cycleKey() is conditional", () => {
  test("a modify() of the same key racing a cycleKey() that also modified it: both items in the new session", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: [] });
    const login = await load(sessions, cookie);
    const other = await load(sessions, cookie);
    login.modify("cart", (c = []) => [...c, "a"]);
    other.modify("cart", (c = []) => [...c, "b"]);
    assert.equal(await status(sessions, other), 200, "b's add is acknowledged on the pre-login session");
    await login.cycleKey();
    const fresh = cookieOf(await commit(sessions, login))!;
    assert.deepEqual([...(await load(sessions, fresh)).get("cart")!].sort(), ["a", "b"]);
  });

  test("an in-place change (modified = true) racing a cycleKey: 409, or both changes in the new session", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { cart: ["x"] });
    const login = await load(sessions, cookie);
    const other = await load(sessions, cookie);
    login.get("cart")!.push("a");
    login.modified = true;
    other.modify("cart", (c = []) => [...c, "b"]);
    assert.equal(await status(sessions, other), 200);
    let code = 200;
    try {
      await login.cycleKey();
      await commit(sessions, login);
    } catch (error) {
      assert.ok(error instanceof SessionError);
      code = error.code === "SESSION_CONFLICT" ? 409 : 400;
    }
    if (code === 200) {
      const fresh = await load(sessions, `sessionid=${login.id}`);
      assert.deepEqual([...fresh.get("cart")!].sort(), ["a", "b", "x"]);
    } else {
      assert.equal((await load(sessions, cookie)).get("cart")!.length, 2, "a failed login leaves the old session as it was");
    }
  });

  test("a write landing on the old record after the move fails loudly (400), and is not in either session", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "anon" });
    const late = await load(sessions, cookie);
    const login = await sessions.handle(req(cookie), async (_r, s) => {
      await s.cycleKey();
      s.set("user", "ada");
      return new Response("in");
    });
    assert.equal(login.status, 200);
    late.set("cart", ["sku"]);
    assert.equal(await status(sessions, late), 400);
    assert.equal((await load(sessions, cookieOf(login)!)).get("cart"), undefined);
    assert.equal((await load(sessions, cookie)).id, null, "the pre-login id is dead");
  });

  test("double login (two cycleKey() at once): one wins, the other fails loudly, the old id is dead", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "anon" });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    await a.cycleKey();
    await assert.rejects(b.cycleKey(), isCode("SESSION_INTERRUPTED"));
    assert.equal((await load(sessions, cookie)).id, null);
    assert.equal((await load(sessions, `sessionid=${a.id}`)).get("user"), "anon");
  });

  test("a mutation made while cycleKey() is pending (a missing await) is saved, or refused loudly", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "anon" });
    let refused = false;
    const response = await sessions.handle(req(cookie), async (_r, s) => {
      const pending = s.cycleKey();
      try {
        s.set("user", "ada");
      } catch {
        refused = true;
      }
      await pending;
      return new Response("in");
    });
    if (refused) return;
    assert.equal(response.status, 200);
    assert.equal((await load(sessions, cookieOf(response)!)).get("user"), "ada", "an acknowledged login write vanished");
  });

  test("a logout racing cycleKey(): the new id is dead too (no resurrection)", async () => {
    const { sessions, store } = setup();
    const cookie = await seed(sessions, { user: "ada" });
    const p = pausable(store, true);
    const paused = createSessions<Data>({ secret: SECRET, store: p.store });
    const login = await paused.load(req(cookie));
    // Pause the retire (tombstone save of the old record) after the new record exists.
    const gate = p.pauseNext((op, _k, r) => op === "save" && r?.data === "");
    const cycling = login.cycleKey().then(() => 200, (e) => (isCode("SESSION_INTERRUPTED")(e) ? 400 : 500));
    await gate.reached;
    const newId = login.id;
    const logout = await paused.load(req(cookie));
    await logout.flush();
    gate.release();
    assert.equal(await cycling, 400);
    assert.equal((await paused.load(req(cookie))).id, null);
    if (newId) assert.equal((await paused.load(req(`sessionid=${newId}`))).id, null, "the new record was deleted");
  });
});

// ---------------------------------------------------------------------------------------------
describe("guarantee 3: secret rotation", () => {
  async function rotated() {
    const inner = memoryStore();
    const p = pausable(inner, false); // hashed keys: 64 hex, which the memory store accepts
    const before = createSessions<Data>({ secret: OLD, store: p.store });
    const after = createSessions<Data>({ secret: [SECRET, OLD], store: p.store });
    const cookie = await seed(before, { user: "ada" });
    return { p, after, cookie, inner };
  }

  test("two first requests after rotation, one paused between its create and its retire: the session survives with the other's write", async () => {
    const { p, after, cookie } = await rotated();
    const writer = await after.load(req(cookie)); // found under the old secret's key
    const gate = p.pauseNext((op, _k, r) => op === "save" && r?.data === "");
    const reader = after.handle(req(cookie), (_r, s) => new Response(String(s.get("user"))));
    await gate.reached; // the reader created the new record and is about to retire the old one
    writer.set("cart", ["sku"]);
    assert.equal(await status(after, writer), 200, "the writer's change is acknowledged");
    gate.release();
    assert.equal((await reader).status, 200);
    const now = await after.load(req(cookie));
    assert.equal(now.get("user"), "ada", "a read during rotation logged the user out");
    assert.deepEqual(now.get("cart"), ["sku"], "an acknowledged write vanished");
  });

  test("two read-only first requests after rotation, interleaved the same way: the session survives", async () => {
    const { p, after, cookie } = await rotated();
    const second = await after.load(req(cookie));
    second.get("user");
    const gate = p.pauseNext((op, _k, r) => op === "save" && r?.data === "");
    const first = after.handle(req(cookie), (_r, s) => new Response(String(s.get("user"))));
    await gate.reached;
    await commit(after, second);
    gate.release();
    assert.equal((await first).status, 200);
    assert.equal((await after.load(req(cookie))).get("user"), "ada");
  });

  test("logout during a paused move: the session ends, neither key comes back", async () => {
    const { p, after, cookie } = await rotated();
    const gate = p.pauseNext((op, _k, r) => op === "save" && r?.data === "");
    const reader = after.handle(req(cookie), (_r, s) => new Response(String(s.get("user"))));
    await gate.reached;
    const out = await after.handle(req(cookie), async (_r, s) => (await s.flush(), new Response("bye")));
    gate.release();
    assert.equal(out.status, 200);
    assert.ok([200, 400].includes((await reader).status));
    assert.equal((await after.load(req(cookie))).get("user"), undefined);
  });

  test("a write loaded under the old key, saved after a completed move and a logout, does not resurrect", async () => {
    const { after, cookie } = await rotated();
    const late = await after.load(req(cookie));
    await after.handle(req(cookie), (_r, s) => new Response(String(s.get("user")))); // moves it
    await after.handle(req(cookie), async (_r, s) => (await s.flush(), new Response("bye"))); // found under the new key
    late.set("cart", ["sku"]);
    assert.equal(await status(after, late), 400);
    assert.equal((await after.load(req(cookie))).id, null);
  });

  test("a logout from an old-secret-only process during a move still ends the session", async () => {
    const { p, after, cookie } = await rotated();
    const oldOnly = createSessions<Data>({ secret: OLD, store: p.store });
    const gate = p.pauseNext((op, _k, r) => op === "save" && r?.data === "");
    const reader = after.handle(req(cookie), (_r, s) => new Response(String(s.get("user"))));
    await gate.reached;
    await oldOnly.handle(req(cookie), async (_r, s) => (await s.flush(), new Response("bye")));
    gate.release();
    await reader;
    assert.equal((await after.load(req(cookie))).get("user"), undefined);
  });

  test("concurrent first requests after rotation never answer 500 (ten at once, mixed reads and writes)", async () => {
    const { after, cookie } = await rotated();
    const sessions = await Promise.all(Array.from({ length: 10 }, () => after.load(req(cookie))));
    sessions.forEach((s, i) => (i % 2 ? s.modify("n", (n = 0) => n + 1) : s.get("user")));
    const statuses = await Promise.all(sessions.map((s) => status(after, s)));
    assert.ok(statuses.every((c) => c === 200), statuses.join());
    assert.equal((await after.load(req(cookie))).get("n"), 5);
  });
});

// ---------------------------------------------------------------------------------------------
describe("guarantee 4: errors, the committed session, setExpiry, Response.error()", () => {
  test("after commit, setDefault of an absent key throws; of a present key it is just a read", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { user: "ada" });
    const session = await load(sessions, cookie);
    await commit(sessions, session);
    assert.throws(() => session.setDefault("n", 1), /already committed/);
    assert.equal(session.setDefault("user", "x"), "ada");
    assert.throws(() => session.delete("nope"), /already committed/);
    assert.throws(() => session.pop("nope"), /already committed/);
    assert.throws(() => session.setExpiry(null), /already committed/);
  });

  test("setExpiry() refuses strings, invalid Dates and objects with a TypeError", async () => {
    const { sessions } = setup();
    const session = await sessions.load(req());
    for (const bad of ["60", new Date(Number.NaN), {}, undefined, true]) {
      assert.throws(() => session.setExpiry(bad as never), TypeError, String(bad));
    }
    assert.equal(session.modified, false, "a refused call changes nothing");
  });

  test("setExpiry(past Date) on a live session: the session ends, no 500 and no live cookie", async () => {
    const { sessions, clock } = setup();
    const cookie = await seed(sessions, { user: "ada" });
    const response = await sessions.handle(req(cookie), (_r, s) => {
      s.setExpiry(new Date(clock.now() - 1000));
      return new Response("expired");
    });
    assert.ok(response.status < 500);
    assert.equal((await load(sessions, cookie)).get("user"), undefined);
    const set = response.headers.getSetCookie()[0];
    if (set) assert.match(set, /Max-Age=(0|-\d+)/, "any cookie sent is a deletion");
  });

  test("Response.error() after a session change saves nothing and the session is then closed", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 0 });
    const session = await load(sessions, cookie);
    session.set("n", 1);
    const answer = await sessions.commit(session, Response.error());
    assert.equal(answer.type, "error");
    assert.equal((await load(sessions, cookie)).get("n"), 0);
    assert.throws(() => session.set("n", 2), /already committed/);
  });

  test("a conflict, an interruption and an outage thrown from the handler, load or commit answer 409/400/503", async () => {
    const inner = memoryStore();
    let failLoad = false;
    const flaky: SessionStore = {
      rawIds: true,
      load: (k, n) => (failLoad ? Promise.reject(new Error("boom")) : inner.load(k, n)),
      create: (k, r) => inner.create(k, r),
      save: (k, r, v) => inner.save(k, r, v),
      delete: (k) => inner.delete(k),
    };
    const { sessions } = setup({ store: flaky, onEvent: () => {} });
    const cookie = await seed(sessions, { n: 0 });
    failLoad = true;
    assert.equal((await sessions.handle(req(cookie), () => new Response("x"))).status, 503);
    failLoad = false;
    for (const [code, expected] of [["SESSION_CONFLICT", 409], ["SESSION_INTERRUPTED", 400], ["STORE_UNAVAILABLE", 503]] as const) {
      const r = await sessions.handle(req(cookie), () => {
        throw new SessionError(code, "from the handler");
      });
      assert.equal(r.status, expected);
      assert.deepEqual(r.headers.getSetCookie(), []);
    }
  });

  test("a modify() whose fn throws when re-applied surfaces as a session error, not a 500", async () => {
    const { sessions } = setup();
    const cookie = await seed(sessions, { n: 0 });
    const a = await load(sessions, cookie);
    const b = await load(sessions, cookie);
    a.modify("n", (n) => {
      if (typeof n !== "number") throw new TypeError("not a number");
      return n + 1;
    });
    b.set("n", "oops" as unknown as number);
    await commit(sessions, b);
    await assert.rejects(commit(sessions, a), (e: unknown) => e instanceof SessionError);
  });
});

// ---------------------------------------------------------------------------------------------
describe("guarantee 5: store failures never leak an id, a key, data or a secret", () => {
  const DATA = "cart-item-visible-only-to-its-owner";

  function leakyStore(inner: SessionStore, leak: (op: Op, key: string, record?: SessionRecord) => unknown) {
    const state = { on: false };
    const store: SessionStore = {
      rawIds: false,
      load: (k, n) => (state.on ? Promise.reject(leak("load", k)) : inner.load(k, n)),
      create: (k, r) => (state.on ? Promise.reject(leak("create", k, r)) : inner.create(k, r)),
      save: (k, r, v) => (state.on ? Promise.reject(leak("save", k, r)) : inner.save(k, r, v)),
      delete: (k) => (state.on ? Promise.reject(leak("delete", k)) : inner.delete(k)),
    };
    return { store, state };
  }

  /** Everything a logger could print of an error: message, stack, cause chain, JSON and inspection. */
  function printable(error: unknown): string {
    const parts: string[] = [];
    let e: unknown = error;
    for (let depth = 0; depth < 5 && e; depth++) {
      if (typeof e === "object" && e !== null) {
        parts.push(String((e as Error).message), String((e as Error).stack), JSON.stringify(e), String(e));
        for (const k of Object.keys(e)) parts.push(`${k}=${String((e as Record<string, unknown>)[k])}`);
        e = (e as { cause?: unknown }).cause;
      } else {
        parts.push(String(e));
        break;
      }
    }
    return parts.join("\n");
  }

  async function attack(leak: (op: Op, key: string, record?: SessionRecord) => unknown) {
    const inner = memoryStore();
    const { store, state } = leakyStore(inner, leak);
    const events: SessionEvent[] = [];
    const lines: string[] = [];
    const sessions = createSessions<Data>({ secret: SECRET, store, onEvent: (e) => events.push(e) });
    const silent = createSessions<Data>({ secret: SECRET, store });
    const cookie = await seed(sessions, { user: DATA, cart: [DATA] });
    const id = cookie.split("=")[1]!;
    const original = { error: console.error, warn: console.warn, log: console.log };
    console.error = console.warn = console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    const thrown: unknown[] = [];
    try {
      state.on = true;
      for (const s of [sessions, silent]) {
        for (const step of [
          () => s.load(req(cookie)),
          async () => {
            state.on = false;
            const session = await s.load(req(cookie));
            state.on = true;
            session.set("user", DATA);
            return await s.commit(session, new Response("x"));
          },
          async () => {
            state.on = false;
            const session = await s.load(req(cookie));
            state.on = true;
            await session.flush();
          },
        ]) await step().catch((e) => thrown.push(e));
      }
    } finally {
      Object.assign(console, original);
      state.on = false;
    }
    const text = [...thrown.map(printable), ...events.map((e) => printable(e.error) + JSON.stringify(e)), ...lines].join("\n");
    return { text, id, thrown, events, lines };
  }

  test("a driver echoing the store key, the id and the data in message, code and nested causes: none of it escapes", async () => {
    let lastKey = "";
    const { text, id, thrown } = await attack((op, key, record) => {
      lastKey = key;
      const deep = new Error(`deep ${key} ${record?.data ?? ""} ${SECRET}`);
      const mid = Object.assign(new Error(`mid key=${key}`, { cause: deep }), { code: key, parameters: [key, record?.data] });
      return Object.assign(new Error(`ERR failed ${op} on sess:${key}`, { cause: mid }), { args: [key, record?.data], detail: DATA });
    });
    assert.ok(thrown.length >= 6);
    assert.ok(thrown.every((e) => e instanceof SessionError && e.code === "STORE_UNAVAILABLE"));
    assert.ok(!text.includes(lastKey), "store key leaked");
    assert.ok(!text.includes(id), "session id leaked");
    assert.ok(!text.includes(SECRET), "secret leaked");
    assert.ok(!text.includes(DATA), "data leaked");
  });

  test("a driver message quoting a short data value (a field of the record) does not leak it", async () => {
    // Only calls that carry a record can quote its values (a load or a delete passes none).
    const { text } = await attack((op, _key, record) => new Error(`${op} rejected value "${record ? JSON.parse(record.data).user : "(none)"}"`));
    assert.ok(!text.includes(DATA), "session data leaked");
    assert.match(text, /rejected value/, "the driver's message is still there");
  });

  test("a store's own contract error (SESSION_INTERRUPTED) naming the key and carrying the driver error is sanitized too", async () => {
    const inner = memoryStore();
    let on = false;
    let seen = "";
    const store: SessionStore = {
      rawIds: false,
      load: (k, n) => inner.load(k, n),
      create: (k, r) => inner.create(k, r),
      save: (k, r, v) => {
        seen = k;
        return on ? Promise.reject(new SessionError("SESSION_INTERRUPTED", `record gone: ${k}`, { cause: { args: [k, r.data] } })) : inner.save(k, r, v);
      },
      delete: (k) => inner.delete(k),
    };
    const sessions = createSessions<Data>({ secret: SECRET, store });
    const cookie = await seed(sessions, { user: DATA });
    const session = await load(sessions, cookie);
    session.set("user", "x");
    on = true;
    const error = await commit(sessions, session).catch((e) => e);
    assert.ok(error instanceof SessionError);
    const text = `${error.message} ${JSON.stringify((error as { cause?: unknown }).cause ?? null)}`;
    assert.ok(!text.includes(seen) && !text.includes(DATA));
  });

  test("a timeout is a sanitized 503 with no key in it, and onEvent gets no id", async () => {
    const inner = memoryStore();
    const events: SessionEvent[] = [];
    let hang = false;
    const store: SessionStore = {
      rawIds: true,
      load: (k, n) => (hang ? new Promise<LoadedRecord | null>(() => {}) : inner.load(k, n)),
      create: (k, r) => inner.create(k, r),
      save: (k, r, v?: Version) => inner.save(k, r, v),
      delete: (k) => inner.delete(k),
    };
    const sessions = createSessions<Data>({ secret: SECRET, store, storeTimeout: 5, onEvent: (e) => events.push(e) });
    const cookie = await seed(sessions, { user: DATA });
    hang = true;
    const response = await sessions.handle(req(cookie), () => new Response("x"));
    assert.equal(response.status, 503);
    const id = cookie.split("=")[1]!;
    assert.ok(events.some((e) => e.type === "store.failure"));
    for (const e of events) assert.ok(!JSON.stringify({ ...e, m: e.error?.message }).includes(id));
  });
});
