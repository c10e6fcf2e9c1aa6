/** The Session mapping API and Django's accessed/modified flags (django.md §3.3–3.6). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { memoryStore } from "../mod.ts";
import { cookieValue, run, setup } from "./_http.ts";

type Data = { a: number; b: string; cart: string[]; n: number };

async function loaded(data: Partial<Data> = { a: 1 }) {
  const env = setup<Data>({ store: memoryStore() });
  const first = await run(env.sessions, undefined, (s) => s.update(data));
  const id = cookieValue(first)!;
  const session = await env.sessions.load(new Request("https://x/", { headers: { cookie: `sessionid=${id}` } }));
  return { ...env, session, id };
}

describe("Session flags (Django §3.3)", () => {
  test("a fresh session is neither accessed nor modified, and empty", async () => {
    const { session } = await loaded();
    assert.equal(session.accessed, false);
    assert.equal(session.modified, false);
    assert.equal(session.isEmpty, false);
    const { sessions } = setup();
    const anonymous = await sessions.load(new Request("https://x/"));
    assert.equal(anonymous.isEmpty, true);
    assert.equal(anonymous.id, null);
  });

  test("get, has, keys, values, entries set accessed only", async () => {
    for (const read of [
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.get("a"),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.get("b", "fallback"),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.has("a"),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.keys(),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.values(),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.entries(),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.getExpiryAge(),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.getExpiryDate(),
      (s: Awaited<ReturnType<typeof loaded>>["session"]) => s.getExpireAtBrowserClose(),
    ]) {
      const { session } = await loaded();
      read(session);
      assert.equal(session.accessed, true);
      assert.equal(session.modified, false);
    }
  });

  test("get returns the value, the fallback, or undefined", async () => {
    const { session } = await loaded({ a: 1 });
    assert.equal(session.get("a"), 1);
    assert.equal(session.get("b"), undefined);
    assert.equal(session.get("b", "x"), "x");
    assert.equal(session.get("a", 5), 1);
  });

  test("set always sets modified, even with the same value", async () => {
    const { session } = await loaded({ a: 1 });
    session.set("a", 1);
    assert.equal(session.modified, true);
    assert.equal(session.accessed, true);
  });

  test("delete sets modified only when the key was present", async () => {
    const { session } = await loaded({ a: 1 });
    assert.equal(session.delete("b"), false);
    assert.equal(session.modified, false);
    assert.equal(session.accessed, true);
    assert.equal(session.delete("a"), true);
    assert.equal(session.modified, true);
    assert.equal(session.has("a"), false);
  });

  test("pop with a fallback on a missing key leaves modified alone; on a present key sets it", async () => {
    const { session } = await loaded({ a: 1 });
    assert.equal(session.pop("b", "fb"), "fb");
    assert.equal(session.pop("b"), undefined);
    assert.equal(session.modified, false);
    assert.equal(session.pop("a"), 1);
    assert.equal(session.modified, true);
    assert.equal(session.has("a"), false);
  });

  test("setDefault on an existing key does not modify; on a missing key it stores", async () => {
    const { session } = await loaded({ a: 1 });
    assert.equal(session.setDefault("a", 9), 1);
    assert.equal(session.modified, false);
    assert.equal(session.setDefault("n", 3), 3);
    assert.equal(session.modified, true);
    assert.equal(session.get("n"), 3);
  });

  test("update({}) sets modified", async () => {
    const { session } = await loaded({ a: 1 });
    session.update({});
    assert.equal(session.modified, true);
    assert.equal(session.accessed, true);
    session.update({ b: "x", n: 2 });
    assert.deepEqual(session.entries().sort(), [["a", 1], ["b", "x"], ["n", 2]]);
  });

  test("keys, values and entries are arrays of the data only (no bookkeeping)", async () => {
    const { session } = await loaded({ a: 1, b: "two" });
    session.setExpiry(300);
    assert.deepEqual(session.keys(), ["a", "b"]);
    assert.deepEqual(session.values(), [1, "two"]);
    assert.deepEqual(session.entries(), [["a", 1], ["b", "two"]]);
    assert.equal(session.get("_session_expiry" as "a"), undefined);
  });

  test("clear keeps the id, empties the data and sets both flags", async () => {
    const { session, id } = await loaded({ a: 1 });
    session.clear();
    assert.equal(session.id, id);
    assert.deepEqual(session.keys(), []);
    assert.equal(session.modified, true);
    assert.equal(session.isEmpty, false, "it still has a key");
  });

  test("flush deletes the record, drops the id and empties the session", async () => {
    const { session } = await loaded({ a: 1 });
    await session.flush();
    assert.equal(session.id, null);
    assert.equal(session.isEmpty, true);
    assert.equal(session.modified, true);
    assert.equal(session.accessed, true);
  });

  test("modified is settable for nested mutation", async () => {
    const { sessions, session, id } = await loaded({ cart: ["a"] });
    session.get("cart")!.push("b");
    assert.equal(session.modified, false, "nested mutation is invisible, as in Django");
    session.modified = true;
    await sessions.commit(session, new Response("ok"));
    const again = await sessions.load(new Request("https://x/", { headers: { cookie: `sessionid=${id}` } }));
    assert.deepEqual(again.get("cart"), ["a", "b"]);
  });

  test("id is read-only", async () => {
    const { session } = await loaded();
    assert.throws(() => { (session as unknown as { id: string }).id = "x"; }, TypeError);
  });
});

describe("expiry API (Django §7)", () => {
  test("defaults: age is the cookie age, date is now + age, browser close follows the option", async () => {
    const { session, clock } = await loaded();
    assert.equal(session.getExpiryAge(), 1_209_600);
    assert.equal(session.getExpiryDate().getTime(), clock.now() + 1_209_600_000);
    assert.equal(session.getExpireAtBrowserClose(), false);
    const { sessions } = setup({ expireAtBrowserClose: true });
    assert.equal((await sessions.load(new Request("https://x/"))).getExpireAtBrowserClose(), true);
  });

  test("setExpiry(seconds) is returned unchanged; 0 means browser close with the full server age", async () => {
    const { session } = await loaded();
    session.setExpiry(300);
    assert.equal(session.getExpiryAge(), 300);
    assert.equal(session.getExpireAtBrowserClose(), false);
    session.setExpiry(0);
    assert.equal(session.getExpireAtBrowserClose(), true);
    assert.equal(session.getExpiryAge(), 1_209_600);
  });

  test("setExpiry(Date) floors the age, like Django's 99-for-100", async () => {
    const { session, clock } = await loaded();
    session.setExpiry(new Date(clock.now() + 100_000));
    clock.advance(1);
    assert.equal(session.getExpiryAge(), 99);
    assert.equal(session.getExpiryDate().getTime(), clock.now() - 1 + 100_000);
  });

  test("setExpiry(null) without a custom expiry does not modify", async () => {
    const { session } = await loaded();
    session.setExpiry(null);
    assert.equal(session.modified, false);
    assert.equal(session.accessed, true);
    session.setExpiry(60);
    session.modified = false;
    session.setExpiry(null);
    assert.equal(session.modified, true);
    assert.equal(session.getExpiryAge(), 1_209_600);
  });

  test("setExpiry rejects garbage", async () => {
    const { session } = await loaded();
    assert.throws(() => session.setExpiry(Number.NaN), RangeError);
    assert.throws(() => session.setExpiry(new Date("nope")), TypeError);
    assert.throws(() => session.setExpiry("60" as unknown as number), TypeError);
  });

  test("the custom expiry survives a round trip through the store", async () => {
    const { sessions, session, id } = await loaded();
    session.setExpiry(600);
    await sessions.commit(session, new Response("ok"));
    const again = await sessions.load(new Request("https://x/", { headers: { cookie: `sessionid=${id}` } }));
    assert.equal(again.getExpiryAge(), 600);
  });
});
