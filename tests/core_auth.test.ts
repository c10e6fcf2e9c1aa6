/**
 * Django's login, logout and session auth hash on satchel sessions: `session.login()`,
 * `session.user`, `session.logout()`, the `authHash` option (a changed password ends the other
 * sessions) and `session.refreshAuth()` (Django's update_session_auth_hash), on a server store and
 * on the cookie store. Real Django checks the same keys in tests/django_live.test.ts.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { cookieStore, createSessions, memoryStore } from "../mod.ts";
import type { SessionEvent, SessionStore, SessionsOptions } from "../mod.ts";
import { SESSION_AUTH_HASH_SALT, sessionAuthHash } from "../core/django.ts";
import { fakeClock } from "./_env.ts";

const SECRET = "auth-test-secret-0123456789abcdefghijk";
const OLD = "auth-test-old-secret-0123456789abcdefgh";
const req = (cookie?: string) => new Request("https://a.example/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => response.headers.getSetCookie()[0]?.split(";")[0];

/** Django's get_session_auth_hash, computed independently with node:crypto. */
function djangoHash(password: string, secret: string): string {
  const key = createHash("sha256").update(SESSION_AUTH_HASH_SALT + secret).digest();
  return createHmac("sha256", key).update(password).digest("hex");
}

const STORES: [string, () => SessionStore | ReturnType<typeof cookieStore>][] = [
  ["memory store", () => memoryStore()],
  ["cookie store", () => cookieStore()],
];

for (const [name, makeStore] of STORES) {
  describe(`login and logout on the ${name}`, () => {
    const passwords = new Map([["42", "pbkdf2_sha256$1$salt$first"]]);
    function setup(options: Partial<SessionsOptions> = {}) {
      const events: SessionEvent[] = [];
      const sessions = createSessions<{ cart: string[] }>({
        secret: SECRET,
        store: makeStore(),
        now: fakeClock().now,
        authHash: (user) => passwords.get(user) ?? null,
        onEvent: (event) => events.push(event),
        ...options,
      });
      return { sessions, events };
    }
    /** Run one request; the cookie to send next (the new one, or the same when none was set). */
    async function visit(sessions: ReturnType<typeof setup>["sessions"], cookie: string | undefined, handler: Parameters<typeof sessions.handle>[1]) {
      const response = await sessions.handle(req(cookie), handler);
      const next = cookieOf(response);
      return { response, cookie: next === undefined ? cookie : next.endsWith("=") ? undefined : next };
    }

    test("login binds the user as Django does, on a new key; the data stays for the same user", async () => {
      passwords.set("42", "pbkdf2_sha256$1$salt$first");
      const { sessions } = setup();
      const anon = await visit(sessions, undefined, (_r, s) => (s.set("cart", ["sku"]), new Response("")));
      const login = await visit(sessions, anon.cookie, async (_r, s) => {
        assert.equal(s.user, null);
        await s.login("42");
        return new Response(String(s.user));
      });
      assert.equal(await login.response.text(), "42");
      if (name === "memory store") assert.notEqual(login.cookie, anon.cookie, "the key was cycled");
      const seen = await visit(sessions, login.cookie, (_r, s) =>
        Response.json({ user: s.user, cart: s.get("cart"), backend: s.get("_auth_user_backend" as never), hash: s.get("_auth_user_hash" as never) }));
      assert.deepEqual(await seen.response.json(), {
        user: "42",
        cart: ["sku"],
        backend: "django.contrib.auth.backends.ModelBackend",
        hash: djangoHash("pbkdf2_sha256$1$salt$first", SECRET),
      });
      if (name === "memory store") {
        const old = await visit(sessions, anon.cookie, (_r, s) => new Response(String(s.user)));
        assert.equal(await old.response.text(), "null", "the pre-login id is dead");
      }
    });

    test("logging in as another user flushes the previous user's data; logout ends the session", async () => {
      passwords.set("42", "pbkdf2_sha256$1$salt$first");
      passwords.set("7", "pbkdf2_sha256$1$salt$other");
      const { sessions } = setup();
      const first = await visit(sessions, undefined, async (_r, s) => (await s.login("42"), s.set("cart", ["private"]), new Response("")));
      const other = await visit(sessions, first.cookie, async (_r, s) => (await s.login("7"), new Response(JSON.stringify(s.get("cart") ?? null))));
      assert.equal(await other.response.text(), "null", "another user never sees the cart");
      const out = await visit(sessions, other.cookie, async (_r, s) => (await s.logout(), new Response(String(s.user))));
      assert.equal(await out.response.text(), "null");
      assert.match(out.response.headers.getSetCookie()[0]!, /Max-Age=0/);
      const after = await visit(sessions, other.cookie, (_r, s) => new Response(String(s.user)));
      assert.equal(await after.response.text(), name === "memory store" ? "null" : "7", name === "memory store"
        ? "the record is gone"
        : "a cookie session cannot revoke an old copy of its cookie (documented): the authHash check is what ends it");
    });

    test("a changed password ends every other session of the user; refreshAuth keeps the one that changed it", async () => {
      passwords.set("42", "pbkdf2_sha256$1$salt$first");
      const { sessions, events } = setup();
      const laptop = await visit(sessions, undefined, async (_r, s) => (await s.login("42"), new Response("")));
      const phone = await visit(sessions, undefined, async (_r, s) => (await s.login("42"), new Response("")));
      const changed = await visit(sessions, laptop.cookie, async (_r, s) => {
        passwords.set("42", "pbkdf2_sha256$1$salt$second");
        await s.refreshAuth("pbkdf2_sha256$1$salt$second");
        return new Response(String(s.user));
      });
      assert.equal(await changed.response.text(), "42");
      events.length = 0;
      const stale = await visit(sessions, phone.cookie, (_r, s) => new Response(String(s.user)));
      assert.equal(await stale.response.text(), "null", "the other device is logged out");
      assert.deepEqual(events.filter((e) => e.type === "session.expired").map((e) => e.reason), ["credentials"]);
      const kept = await visit(sessions, changed.cookie, (_r, s) => new Response(String(s.user)));
      assert.equal(await kept.response.text(), "42", "the session that changed the password stays logged in");
      passwords.delete("42");
      const gone = await visit(sessions, changed.cookie, (_r, s) => new Response(String(s.user)));
      assert.equal(await gone.response.text(), "null", "a deleted user is logged out");
    });

    test("a hash remembered under a fallback secret is accepted and rewritten under the current one", async () => {
      passwords.set("42", "pbkdf2_sha256$1$salt$first");
      const store = makeStore();
      const before = createSessions({ secret: OLD, store, authHash: (u) => passwords.get(u) ?? null });
      const login = await visit(before as never, undefined, async (_r, s) => (await s.login("42"), new Response("")));
      const after = createSessions({ secret: [SECRET, OLD], store, authHash: (u) => passwords.get(u) ?? null });
      const first = await visit(after as never, login.cookie, (_r, s) => new Response(String(s.user)));
      assert.equal(await first.response.text(), "42");
      const check = await visit(after as never, first.cookie, (_r, s) => new Response(String(s.get("_auth_user_hash" as never))));
      assert.equal(await check.response.text(), djangoHash("pbkdf2_sha256$1$salt$first", SECRET));
    });
  });
}

test("sessionAuthHash() is Django's get_session_auth_hash (salted_hmac, SHA-256, hex)", async () => {
  for (const [password, secret] of [["pbkdf2_sha256$260000$abc$def=", SECRET], ["", "x"], ["é€😀", "django-insecure-key"]]) {
    assert.equal(await sessionAuthHash(password!, secret!), djangoHash(password!, secret!));
  }
});

test("login() validates the user key; options are validated at construction", async () => {
  const sessions = createSessions({ secret: SECRET });
  const session = await sessions.load(req());
  await assert.rejects(session.login(""), TypeError);
  await assert.rejects(session.login(42 as never), TypeError);
  assert.throws(() => createSessions({ secret: SECRET, authHash: "x" as never }), TypeError);
  assert.throws(() => createSessions({ secret: SECRET, authBackend: "" }), TypeError);
});

test("an authHash lookup that fails (the app's database is down) answers 503, logged without the user key", async () => {
  const store = memoryStore();
  const up = createSessions({ secret: SECRET, store, authHash: () => "hash" });
  const login = await up.handle(req(), async (_r, s) => (await s.login("user-7"), new Response("")));
  const cookie = cookieOf(login)!;
  const events: SessionEvent[] = [];
  const down = createSessions({
    secret: SECRET,
    store,
    authHash: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5432")),
    onEvent: (event) => events.push(event),
  });
  let ran = false;
  const response = await down.handle(req(cookie), () => ((ran = true), new Response("")));
  assert.equal(response.status, 503);
  assert.equal(ran, false);
  const failure = events.find((event) => event.type === "store.failure");
  assert.ok(failure?.error && /ECONNREFUSED/.test(failure.error.message));
});
