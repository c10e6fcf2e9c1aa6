/** commit() = Django's SessionMiddleware.process_response (django.md §8), plus timeouts and failures. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, createSessions, memoryStore } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { SECRET, cookieValue, request, run, setCookies, setup, spyStore } from "./_http.ts";

/** A memory store that counts calls by method. */
function counted() {
  const store = spyStore();
  return { store, calls: store.calls };
}

async function withSession(options: Parameters<typeof setup>[0] = {}) {
  const { store, calls } = counted();
  const env = setup({ store, ...options });
  const first = await run(env.sessions, undefined, (s) => s.set("k", "v"));
  const id = cookieValue(first)!;
  calls.create = calls.save = calls.load = calls.delete = 0;
  return { ...env, store, calls, id };
}

const STALE = "unknownsessionid0123456789abcdef";

describe("process_response, request without a cookie", () => {
  test("untouched: no Set-Cookie, no Vary, no store call", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, undefined, () => {});
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), null);
    assert.deepEqual(calls, { load: 0, create: 0, save: 0, delete: 0 });
  });

  test("read only: Vary: Cookie, no Set-Cookie, no write", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, undefined, (s) => { s.get("k"); });
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(calls.create + calls.save, 0);
  });

  test("written: a new 32-character id, Set-Cookie, Vary, one create", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, undefined, (s) => s.set("k", 1));
    assert.match(cookieValue(response)!, /^[a-z0-9]{32}$/);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(calls.create, 1);
    assert.equal(calls.save, 0);
  });

  test("written then removed again: nothing saved, no cookie, Vary", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, undefined, (s) => { s.set("k", 1); s.delete("k"); });
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(calls.create + calls.save, 0);
    assert.equal(store.size, 0);
  });

  test("flush on an anonymous request writes nothing and sets no cookie (CVE-2015-5963)", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, undefined, (s) => s.flush());
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.deepEqual(calls, { load: 0, create: 0, save: 0, delete: 0 });
  });
});

describe("process_response, request with a valid cookie", () => {
  test("untouched: nothing at all", async () => {
    const { sessions, id, calls } = await withSession();
    const response = await run(sessions, id, () => {});
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), null);
    assert.equal(calls.save + calls.create, 0);
  });

  test("read: Vary only", async () => {
    const { sessions, id, calls } = await withSession();
    const response = await run(sessions, id, (s) => { assert.equal(s.get("k"), "v"); });
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(calls.save, 0);
  });

  for (const [name, fn] of [
    ["deleting the last key", (s: { delete(k: string): boolean }) => { s.delete("k"); }],
    ["clear()", (s: { clear(): void }) => s.clear()],
  ] as const) {
    test(`${name} saves {} under the same id and resends the cookie`, async () => {
      const { sessions, id, calls } = await withSession();
      const response = await run(sessions, id, fn as never);
      assert.equal(cookieValue(response), id);
      assert.equal(response.headers.get("vary"), "Cookie");
      assert.equal(calls.save, 1);
      const again = await sessions.load(request(id));
      assert.equal(again.id, id);
      assert.deepEqual(again.keys(), []);
    });
  }

  test("flush deletes the record and sends a deletion cookie; the old cookie is dead", async () => {
    const { sessions, id, store } = await withSession();
    const response = await run(sessions, id, (s) => s.flush());
    const [deletion] = setCookies(response);
    assert.equal(deletion!.name, "sessionid");
    assert.equal(deletion!.value, "");
    assert.equal(deletion!.attributes["max-age"], "0");
    assert.equal(deletion!.attributes.expires, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(deletion!.attributes.path, "/");
    assert.equal(deletion!.attributes.samesite, "Lax");
    assert.equal(deletion!.attributes.httponly, undefined, "Django never sends HttpOnly on deletion");
    assert.equal(deletion!.attributes.secure, undefined, "nor Secure, for an unprefixed Lax cookie");
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(store.size, 0);
    const replay = await run(sessions, id, (s) => { assert.equal(s.get("k"), undefined); });
    assert.equal(setCookies(replay)[0]?.value, "", "the replayed stale cookie is deleted once read");
  });

  test("a modified session on 500 or 503 is not saved and gets no cookie, but Vary", async () => {
    for (const status of [500, 503]) {
      const { sessions, id, calls } = await withSession();
      const response = await run(sessions, id, (s) => s.set("k", "changed"), status);
      assert.deepEqual(response.headers.getSetCookie(), []);
      assert.equal(response.headers.get("vary"), "Cookie");
      assert.equal(calls.save, 0);
      assert.equal((await sessions.load(request(id))).get("k"), "v");
    }
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const fresh = await run(sessions, undefined, (s) => s.set("k", 1), 502);
    assert.deepEqual(fresh.headers.getSetCookie(), []);
    assert.equal(calls.create, 0);
  });

  test("flush on a 5xx still sends the deletion cookie", async () => {
    const { sessions, id } = await withSession();
    const response = await run(sessions, id, (s) => s.flush(), 500);
    assert.equal(cookieValue(response), "");
  });

  test("a handler that throws saves nothing", async () => {
    const { sessions, id, calls } = await withSession();
    await assert.rejects(sessions.handle(request(id), (_r, s) => { s.set("k", "x"); throw new Error("boom"); }), /boom/);
    assert.equal(calls.save, 0);
  });
});

describe("process_response, unknown or malformed cookies (fixation)", () => {
  test("unknown id, untouched: nothing, and no write", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, STALE, () => {});
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(calls.create + calls.save + calls.delete, 0);
  });

  test("unknown id, read: deletion cookie and Vary, no write (CVE-2015-5143)", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store });
    const response = await run(sessions, STALE, (s) => { s.get("k"); });
    assert.equal(cookieValue(response), "");
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(calls.create + calls.save, 0);
  });

  test("unknown id, written: a new id is issued, the client's id is never adopted", async () => {
    const { store } = counted();
    const { sessions, clock } = setup({ store });
    const response = await run(sessions, STALE, (s) => s.set("k", 1));
    const issued = cookieValue(response)!;
    assert.match(issued, /^[a-z0-9]{32}$/);
    assert.notEqual(issued, STALE);
    assert.equal(await store.load(STALE, clock.now()), null);
  });

  test("a short or malformed cookie is deleted even when the session is untouched, with no store read", async () => {
    for (const bad of ["abc", "ABCDEFGHIJKLMNOP", "abc-def-ghi", "x".repeat(65), "%2e%2e%2fabcdefgh"]) {
      const { store, calls } = counted();
      const { sessions } = setup({ store });
      const response = await run(sessions, bad, () => {});
      assert.equal(cookieValue(response), "", bad);
      assert.equal(response.headers.get("vary"), "Cookie");
      assert.equal(calls.load, 0);
    }
  });

  test("an empty cookie value counts as having the cookie", async () => {
    const { sessions } = setup();
    const response = await run(sessions, "", () => {});
    assert.equal(cookieValue(response), "");
  });

  test("cycleKey: same data under a new id, the old id dead", async () => {
    const { sessions, id, store, clock } = await withSession();
    const response = await run(sessions, id, (s) => s.cycleKey());
    const next = cookieValue(response)!;
    assert.notEqual(next, id);
    assert.equal(await store.load(id, clock.now()), null);
    assert.equal((await sessions.load(request(next))).get("k"), "v");
    assert.equal((await sessions.load(request(id))).get("k"), undefined);
  });

  test("cycleKey then one write costs one create and one save, and an unchanged cycle costs no save", async () => {
    const { sessions, id, calls } = await withSession();
    // cycleKey retires the old record conditionally: a compare-and-set save of a tombstone at the
    // loaded version (so a concurrent write cannot vanish), then a delete.
    await run(sessions, id, async (s) => { await s.cycleKey(); s.set("user", "ada"); });
    assert.equal(calls.create, 1);
    assert.equal(calls.save, 2);
    assert.equal(calls.delete, 1);
    const again = await withSession();
    await run(again.sessions, again.id, (s) => s.cycleKey());
    assert.equal(again.calls.create, 1);
    assert.equal(again.calls.save, 1);
  });

  test("cycleKey on an anonymous session creates one (Django's login on a new visitor)", async () => {
    const { sessions } = setup();
    const response = await run(sessions, undefined, (s) => s.cycleKey());
    assert.match(cookieValue(response)!, /^[a-z0-9]{32}$/);
  });
});

describe("cookie attributes", () => {
  test("the default cookie, with Max-Age and Expires from the expiry age", async () => {
    const { sessions, clock } = setup();
    const response = await run(sessions, undefined, (s) => s.set("k", 1));
    const [cookie] = setCookies(response);
    assert.equal(cookie!.raw,
      `sessionid=${cookie!.value}; Max-Age=1209600; Expires=${new Date(clock.now() + 1_209_600_000).toUTCString()}; Path=/; Secure; HttpOnly; SameSite=Lax`);
    assert.equal(response.headers.get("cache-control"), "private, no-store");
  });

  test("custom domain, path, SameSite, Secure and HttpOnly; the deletion cookie mirrors the scope", async () => {
    const { sessions } = setup({ cookie: { name: "sid", domain: ".example.local", path: "/example/", sameSite: "Strict", secure: false, httpOnly: false } });
    const response = await sessions.handle(request(undefined), (_r, s) => { s.set("k", 1); return new Response("ok"); });
    const [cookie] = setCookies(response);
    assert.equal(cookie!.attributes.domain, ".example.local");
    assert.equal(cookie!.attributes.path, "/example/");
    assert.equal(cookie!.attributes.samesite, "Strict");
    assert.equal(cookie!.attributes.secure, undefined);
    assert.equal(cookie!.attributes.httponly, undefined);
    const logout = await sessions.handle(request(cookie!.value, { name: "sid" }), async (_r, s) => { await s.flush(); return new Response("ok"); });
    assert.equal(setCookies(logout)[0]!.raw, "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=.example.local; Path=/example/; SameSite=Strict");
  });

  test("sameSite false sends no attribute; __Host- and SameSite=None deletion cookies carry Secure; Partitioned is repeated", async () => {
    const plain = setup({ cookie: { sameSite: false } }).sessions;
    assert.equal(setCookies(await run(plain, undefined, (s) => s.set("k", 1)))[0]!.attributes.samesite, undefined);
    const host = setup({ cookie: { name: "__Host-sid", sameSite: "None", partitioned: true } }).sessions;
    const first = await host.handle(request(undefined), (_r, s) => { s.set("k", 1); return new Response("ok"); });
    const value = cookieValue(first, "__Host-sid")!;
    assert.ok(setCookies(first)[0]!.attributes.partitioned);
    const logout = await host.handle(request(value, { name: "__Host-sid" }), async (_r, s) => { await s.flush(); return new Response("ok"); });
    const deletion = setCookies(logout)[0]!;
    assert.equal(deletion.attributes.secure, true);
    assert.equal(deletion.attributes.partitioned, true);
    assert.equal(deletion.attributes.samesite, "None");
  });

  test("setExpiry(0) gives a browser-session cookie: no Max-Age, no Expires", async () => {
    const { sessions } = setup();
    const response = await run(sessions, undefined, (s) => { s.set("k", 1); s.setExpiry(0); });
    const [cookie] = setCookies(response);
    assert.equal(cookie!.attributes["max-age"], undefined);
    assert.equal(cookie!.attributes.expires, undefined);
  });

  test("expireAtBrowserClose gives session cookies unless setExpiry overrides it", async () => {
    const { sessions } = setup({ expireAtBrowserClose: true });
    const a = setCookies(await run(sessions, undefined, (s) => s.set("k", 1)))[0]!;
    assert.equal(a.attributes["max-age"], undefined);
    const b = setCookies(await run(sessions, undefined, (s) => { s.set("k", 1); s.setExpiry(10); }))[0]!;
    assert.equal(b.attributes["max-age"], "10");
  });

  test("a Date expiry gives a floored Max-Age and the matching Expires", async () => {
    const { sessions, clock } = setup();
    const response = await run(sessions, undefined, (s) => { s.set("k", 1); s.setExpiry(new Date(clock.now() + 100_500)); });
    assert.equal(setCookies(response)[0]!.attributes["max-age"], "100");
  });

  test("Vary is merged case-insensitively; * stays *", async () => {
    const { sessions } = setup();
    const cases: [string | null, string][] = [
      ["Accept-Encoding", "Accept-Encoding, Cookie"],
      ["accept-encoding, cookie", "accept-encoding, cookie"],
      ["*", "*"],
      [null, "Cookie"],
    ];
    for (const [existing, expected] of cases) {
      const response = await sessions.handle(request(undefined), (_r, s) => {
        s.get("k");
        return new Response("ok", existing ? { headers: { vary: existing } } : {});
      });
      assert.equal(response.headers.get("vary"), expected);
    }
  });

  test("each cookie is its own Set-Cookie header, and other cookies survive", async () => {
    const { sessions } = setup();
    const response = await sessions.handle(request(undefined), (_r, s) => {
      s.set("k", 1);
      const headers = new Headers();
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT");
      return new Response("ok", { headers });
    });
    assert.equal(response.headers.getSetCookie().length, 3);
  });

  test("an immutable response (Response.redirect) is copied once, not failed", async () => {
    const { sessions } = setup();
    const response = await sessions.handle(request(undefined), (_r, s) => { s.set("k", 1); return Response.redirect("https://example.test/next", 303); });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "https://example.test/next");
    assert.match(cookieValue(response)!, /^[a-z0-9]{32}$/);
  });

  test("an explicit Cache-Control from the handler is kept", async () => {
    const { sessions } = setup();
    const response = await sessions.handle(request(undefined), (_r, s) => { s.set("k", 1); return new Response("ok", { headers: { "cache-control": "no-cache" } }); });
    assert.equal(response.headers.get("cache-control"), "no-cache");
  });
});

describe("saveEveryRequest", () => {
  test("no cookie and untouched: nothing is created", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store, saveEveryRequest: true });
    const response = await run(sessions, undefined, () => {});
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(calls.create, 0);
  });

  test("a valid cookie, untouched: saved again and the cookie resent with a fresh Max-Age", async () => {
    const { sessions, id, calls, clock } = await withSession({ saveEveryRequest: true });
    clock.advance(60_000);
    const response = await run(sessions, id, () => {});
    const [cookie] = setCookies(response);
    assert.equal(cookie!.value, id);
    assert.equal(cookie!.attributes.expires, new Date(clock.now() + 1_209_600_000).toUTCString());
    assert.equal(calls.save, 1);
    assert.equal(response.headers.get("vary"), "Cookie");
  });

  test("a stale cookie, untouched: deleted, never an empty record (a documented difference from Django)", async () => {
    const { store, calls } = counted();
    const { sessions } = setup({ store, saveEveryRequest: true });
    const response = await run(sessions, STALE, () => {});
    assert.equal(cookieValue(response), "");
    assert.equal(calls.create, 0);
    assert.equal(store.size, 0);
  });
});

describe("idle and absolute timeouts (django-session-timeout, §16)", () => {
  test("idle timeout: valid at the limit, gone one second after; the record is deleted", async () => {
    const { sessions, id, clock, store } = await withSession({ idleTimeout: 600 });
    clock.advance(600_000);
    assert.equal((await sessions.load(request(id))).get("k"), "v");
    const again = await withSession({ idleTimeout: 600 });
    again.clock.advance(601_000);
    assert.equal((await again.sessions.load(request(again.id))).get("k"), undefined);
    assert.equal(again.store.size, 0);
    assert.ok(store.size >= 1);
  });

  test("idle activity is refreshed from the server record, throttled: many reads, one write", async () => {
    const { sessions, id, clock, calls } = await withSession({ idleTimeout: 600 });
    for (let i = 0; i < 100; i++) {
      clock.advance(500);
      await run(sessions, id, (s) => { s.get("k"); });
    }
    assert.equal(calls.save, 0, "50 s of reads stay inside the 60 s throttle window");
    clock.advance(11_000);
    const response = await run(sessions, id, () => {});
    assert.equal(calls.save, 1, "the first request past the window records activity");
    assert.deepEqual(response.headers.getSetCookie(), [], "a touch sends no cookie");
    // Keep touching every 5 minutes for an hour: the session stays alive past the idle window.
    for (let i = 0; i < 12; i++) {
      clock.advance(300_000);
      await run(sessions, id, () => {});
    }
    assert.equal((await sessions.load(request(id))).get("k"), "v");
  });

  test("the cookie's own lifetime is not trusted: replaying it after the idle window fails", async () => {
    const { sessions, id, clock } = await withSession({ idleTimeout: 60 });
    clock.advance(61_000);
    const response = await run(sessions, id, (s) => { assert.equal(s.get("k"), undefined); });
    assert.equal(cookieValue(response), "");
  });

  test("absolute timeout counts from creation; activity and cycleKey never extend it", async () => {
    const { sessions, id, clock } = await withSession({ absoluteTimeout: 3600, idleTimeout: 1200 });
    let current = id;
    for (let i = 0; i < 5; i++) {
      clock.advance(600_000);
      const response = await run(sessions, current, async (s) => {
        assert.equal(s.get("k"), "v", `alive at ${(i + 1) * 600} s`);
        if (i === 2) await s.cycleKey();
        s.set("n", i);
      });
      current = cookieValue(response) ?? current;
    }
    clock.advance(599_999);
    assert.equal((await sessions.load(request(current))).get("k"), "v", "alive one millisecond before the limit");
    clock.advance(1);
    assert.equal((await sessions.load(request(current))).get("k"), undefined, "gone at creation + absoluteTimeout");
  });

  test("the cookie Max-Age never outlives the absolute timeout", async () => {
    const { sessions, id, clock } = await withSession({ absoluteTimeout: 3600 });
    clock.advance(1000_000);
    const response = await run(sessions, id, (s) => s.set("k", "again"));
    assert.equal(setCookies(response)[0]!.attributes["max-age"], "2600");
  });
});

describe("failures", () => {
  test("a save racing a logout is interrupted: commit rejects, handle answers 400, nothing resurrected", async () => {
    const { sessions, id, store, clock } = await withSession();
    const late = await sessions.load(request(id));
    await run(sessions, id, (s) => s.flush());
    late.set("k", "late");
    await assert.rejects(sessions.commit(late, new Response("x")), (e: unknown) => e instanceof SessionError && e.code === "SESSION_INTERRUPTED");
    assert.equal(await store.load(id, clock.now()), null);
    const viaHandle = await withSession();
    const response = await viaHandle.sessions.handle(request(viaHandle.id), async (_r, s) => {
      await viaHandle.store.delete(viaHandle.id);
      s.set("k", "late");
      return new Response("ok");
    });
    assert.equal(response.status, 400);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("concurrent requests changing different keys both land (compare-and-set + merge)", async () => {
    const { sessions, id } = await withSession();
    const a = await sessions.load(request(id));
    const b = await sessions.load(request(id));
    const c = await sessions.load(request(id));
    a.set("x", 1);
    b.set("y", 2);
    c.delete("k");
    await sessions.commit(a, new Response("a"));
    await sessions.commit(b, new Response("b"));
    await sessions.commit(c, new Response("c"));
    const check = await sessions.load(request(id));
    assert.deepEqual(check.entries().sort(), [["x", 1], ["y", 2]]);
  });

  test("a manual modified=true merge rewrites the keys this request read", async () => {
    const { sessions, id } = await withSession();
    await run(sessions, id, (s) => s.set("cart", ["a"]));
    const a = await sessions.load(request(id));
    const b = await sessions.load(request(id));
    (a.get("cart") as string[]).push("b");
    a.modified = true;
    b.set("other", true);
    await sessions.commit(b, new Response("b"));
    await sessions.commit(a, new Response("a"));
    const check = await sessions.load(request(id));
    assert.deepEqual(check.get("cart"), ["a", "b"]);
    assert.equal(check.get("other"), true);
  });

  test("a store that rejects: load fails closed with 503, no cookie, not logged in", async () => {
    const broken: SessionStore = {
      load: () => Promise.reject(new Error(`connection refused while loading ${STALE}`)),
      create: () => Promise.reject(new Error("down")),
      save: () => Promise.reject(new Error("down")),
      delete: () => Promise.reject(new Error("down")),
    };
    const events: string[] = [];
    const { sessions } = setup({ store: broken, onEvent: (e) => events.push(e.type) });
    let ran = false;
    const response = await sessions.handle(request(STALE), () => { ran = true; return new Response("secret page"); });
    assert.equal(response.status, 503);
    assert.equal(ran, false);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.ok(events.includes("store.failure"));
    const error = await sessions.load(request(STALE)).catch((e: unknown) => e);
    assert.ok(error instanceof SessionError && error.code === "STORE_UNAVAILABLE");
    assert.ok(!error.message.includes(STALE), "the id in the driver's message is redacted");
    assert.match(error.message, /connection refused/, "the driver's message is kept");
    const write = await run(sessions, undefined, (s) => s.set("k", 1));
    assert.equal(write.status, 503, "a failed create sends no cookie for an unsaved id");
    assert.deepEqual(write.headers.getSetCookie(), []);
  });

  test("a store that hangs fails fast with STORE_UNAVAILABLE after storeTimeout", async () => {
    const hanging: SessionStore = {
      load: () => new Promise(() => {}),
      create: () => new Promise(() => {}),
      save: () => new Promise(() => {}),
      delete: () => new Promise(() => {}),
    };
    const { sessions } = setup({ store: hanging, storeTimeout: 30 });
    const started = performance.now();
    const response = await run(sessions, STALE, () => {});
    assert.equal(response.status, 503);
    assert.ok(performance.now() - started < 2000);
  });

  test("clearExpired removes exactly the expired records and needs a capable store", async () => {
    const { sessions, clock } = setup({ store: memoryStore() });
    await run(sessions, undefined, (s) => { s.set("k", 1); s.setExpiry(60); });
    await run(sessions, undefined, (s) => { s.set("k", 2); });
    clock.advance(61_000);
    assert.equal(await sessions.clearExpired(), 1);
    assert.equal(await sessions.clearExpired(), 0);
    const bare: SessionStore = { load: async () => null, create: async () => {}, save: async () => {}, delete: async () => {} };
    await assert.rejects(createSessions({ secret: SECRET, store: bare }).clearExpired(), TypeError);
  });

  test("unserializable data is refused at set() (TypeError naming the key), or at commit for custom serializers", async () => {
    const { sessions } = setup();
    for (const value of [10n, new Date(0), new Map(), { self: null as unknown }]) {
      if (typeof value === "object" && value && "self" in value) (value as { self: unknown }).self = value;
      await assert.rejects(run(sessions, undefined, (s) => s.set("k", value)), (e: unknown) => e instanceof TypeError && /"k"/.test(e.message));
    }
    const custom = setup({ serializer: { stringify: (v: unknown) => JSON.stringify(v), parse: JSON.parse } });
    await assert.rejects(run(custom.sessions, undefined, (s) => s.set("k", 10n)), (e: unknown) => e instanceof SessionError && e.code === "SERIALIZATION_FAILED");
  });
});
