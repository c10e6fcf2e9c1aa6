/** Construction-time validation: misuse throws TypeError or RangeError with a clear message. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSessions, cookieStore, memoryStore } from "../mod.ts";
import type { SessionsOptions } from "../mod.ts";
import { SECRET } from "./_http.ts";

const make = (options: Partial<SessionsOptions>) => () => createSessions({ secret: SECRET, ...options } as SessionsOptions);

test("createSessions() accepts the defaults and reports the cookie name", () => {
  assert.equal(createSessions({ secret: SECRET }).cookieName, "sessionid");
  assert.equal(createSessions({ secret: [SECRET, SECRET + "-old"], cookie: { name: "__Host-sid" } }).cookieName, "__Host-sid");
});

test("createSessions() refuses short, empty or non-string secrets", () => {
  assert.throws(make({ secret: "short" }), RangeError);
  assert.throws(make({ secret: "x".repeat(31) }), /at least 32 characters/);
  assert.throws(make({ secret: [] }), TypeError);
  assert.throws(make({ secret: [SECRET, "short"] }), RangeError);
  assert.throws(make({ secret: 42 as unknown as string }), TypeError);
  assert.throws(() => createSessions(undefined as unknown as SessionsOptions), TypeError);
});

test("createSessions() refuses cookies a browser would drop", () => {
  assert.throws(make({ cookie: { sameSite: "None", secure: false } }), /SameSite=None/);
  assert.throws(make({ cookie: { name: "__Host-sid", domain: "example.com" } }), /__Host-/);
  assert.throws(make({ cookie: { name: "__host-sid", path: "/app" } }), /__Host-/);
  assert.throws(make({ cookie: { name: "__Secure-sid", secure: false } }), TypeError);
  assert.throws(make({ cookie: { partitioned: true, secure: false } }), /Partitioned/);
});

test("createSessions() refuses invalid cookie fields (no attribute injection)", () => {
  for (const cookie of [
    { name: "a=b; Max-Age=999; x" },
    { name: "sid\r\nSet-Cookie: x=1" },
    { name: "" },
    { name: "séance" },
    { path: "/;SameSite=None" },
    { path: "no-slash" },
    { path: "/\u0000" },
    { domain: "evil.com; Secure" },
    { domain: "ex ample.com" },
    { sameSite: "Lax; Domain=evil" },
    { sameSite: "lax" },
    { sameSite: true },
  ]) {
    assert.throws(make({ cookie: cookie as never }), TypeError, JSON.stringify(cookie));
  }
});

test("createSessions() refuses negative, zero, non-finite or over-long ages and timeouts", () => {
  assert.throws(make({ cookie: { maxAge: -1 } }), RangeError);
  assert.throws(make({ cookie: { maxAge: 0 } }), RangeError);
  assert.throws(make({ cookie: { maxAge: Number.POSITIVE_INFINITY } }), RangeError);
  assert.throws(make({ cookie: { maxAge: 500 * 86400 } }), /400 days/);
  assert.throws(make({ idleTimeout: -5 }), RangeError);
  assert.throws(make({ absoluteTimeout: 0 }), RangeError);
  assert.throws(make({ idleTimeout: Number.NaN }), RangeError);
  assert.throws(make({ storeTimeout: -1 }), RangeError);
});

test("createSessions() refuses malformed stores, serializers and clocks", () => {
  assert.throws(make({ store: {} as never }), TypeError);
  assert.throws(make({ serializer: "yaml" as never }), TypeError);
  assert.throws(make({ now: 5 as never }), TypeError);
  assert.throws(() => memoryStore({ maxEntries: 0 }), RangeError);
  assert.throws(() => cookieStore({ compress: -1 }), RangeError);
});

test("no error message contains the secret", () => {
  const secret = "s".repeat(20);
  try {
    createSessions({ secret });
    assert.fail("should throw");
  } catch (error) {
    assert.ok(!(error as Error).message.includes(secret));
  }
  const sessions = createSessions({ secret: SECRET });
  assert.ok(!JSON.stringify(sessions).includes(SECRET));
});

test("neither inspecting nor serializing the sessions object shows a secret", async () => {
  const { inspect } = await import("node:util");
  const sessions = createSessions({ secret: [SECRET, SECRET + "-old"], store: cookieStore() });
  await sessions.ready();
  for (const text of [inspect(sessions, { showHidden: true, depth: 10 }), JSON.stringify(sessions), String(sessions)]) {
    assert.ok(!text.includes(SECRET), text);
  }
});
