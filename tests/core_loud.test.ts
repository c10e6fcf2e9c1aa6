/**
 * Loud, not silent: the first-hour mistakes each give one message that names the fix, through
 * `createSessions()` itself (the pieces are unit-tested in tests/core_errors.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createSessions, memoryStore, SessionError } from "../mod.ts";
import type { SessionEvent, SessionStore } from "../mod.ts";

const SECRET = "loud-test-secret-0123456789abcdefghij";
const ID = "abcdefghij0123456789abcdefghij01";

/** Capture console.error / console.warn lines while `body` runs. */
async function capture(body: () => Promise<void>): Promise<{ errors: string[]; warnings: string[] }> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const { error, warn } = console;
  console.error = (...args: unknown[]) => errors.push(args.map(String).join(" "));
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(" "));
  try {
    await body();
  } finally {
    console.error = error;
    console.warn = warn;
  }
  return { errors, warnings };
}

const down: SessionStore = {
  load: () => Promise.reject(Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:6390 while loading ${ID}`), { code: "ECONNREFUSED" })),
  create: () => Promise.reject(new Error("down")),
  save: () => Promise.reject(new Error("down")),
  delete: () => Promise.reject(new Error("down")),
};

test("a store failure without onEvent is logged once, naming the operation and the driver's code, never the id", async () => {
  const sessions = createSessions({ secret: SECRET, store: down });
  const { errors } = await capture(async () => {
    for (let i = 0; i < 5; i++) {
      const response = await sessions.handle(new Request("https://a.example/", { headers: { cookie: `sessionid=${ID}` } }), () => new Response("x"));
      assert.equal(response.status, 503);
    }
  });
  assert.equal(errors.length, 1, "rate-limited: one line for five identical failures");
  assert.match(errors[0]!, /^satchel: .*load.*ECONNREFUSED/);
  assert.ok(!errors[0]!.includes(ID));
});

test("onEvent receives store.failure with the operation and the sanitized error; nothing is logged", async () => {
  const events: SessionEvent[] = [];
  const sessions = createSessions({ secret: SECRET, store: down, onEvent: (event) => events.push(event) });
  const { errors } = await capture(async () => {
    await sessions.handle(new Request("https://a.example/", { headers: { cookie: `sessionid=${ID}` } }), () => new Response("x"));
  });
  assert.deepEqual(errors, []);
  const failure = events.find((event) => event.type === "store.failure")!;
  assert.equal(failure.operation, "load");
  assert.ok(failure.error instanceof SessionError && failure.error.code === "STORE_UNAVAILABLE");
  assert.ok(!JSON.stringify(failure.error).includes(ID) && !failure.error.message.includes(ID));
});

test("a Secure cookie set over plain HTTP to a non-local host warns once, naming cookie.secure and the host", async () => {
  const sessions = createSessions({ secret: SECRET, store: memoryStore() });
  const set = (url: string, headers: Record<string, string> = {}) =>
    sessions.handle(new Request(url, { headers }), (_r, s) => (s.set("k", 1), new Response("ok")));
  const quiet = await capture(async () => {
    await set("http://localhost:8000/");
    await set("http://127.0.0.1:8000/");
    await set("http://[::1]:8000/");
    await set("https://shop.example/");
    await set("http://shop.example/", { "x-forwarded-proto": "https" });
  });
  assert.deepEqual(quiet.warnings, []);
  const loud = await capture(async () => {
    await set("http://shop.example/cart?token=secret");
    await set("http://shop.example/");
  });
  assert.equal(loud.warnings.length, 1);
  assert.match(loud.warnings[0]!, /cookie\.secure/);
  assert.match(loud.warnings[0]!, /shop\.example/);
  assert.ok(!loud.warnings[0]!.includes("token"));
  const insecure = createSessions({ secret: SECRET, cookie: { secure: false } });
  const none = await capture(async () => {
    await insecure.handle(new Request("http://shop.example/"), (_r, s) => (s.set("k", 1), new Response("ok")));
  });
  assert.deepEqual(none.warnings, []);
});

test("cookie.maxAge in milliseconds by mistake is refused with the fix; durations with a unit are accepted", () => {
  assert.throws(() => createSessions({ secret: SECRET, cookie: { maxAge: 3_600_000 } }), /milliseconds.*Write 3600/);
  assert.throws(() => createSessions({ secret: SECRET, idleTimeout: 1_800_000 }), /milliseconds/);
  assert.throws(() => createSessions({ secret: SECRET, cookie: { maxAge: "2 weeks" as never } }), TypeError);
  const sessions = createSessions({ secret: SECRET, cookie: { maxAge: "1h" }, idleTimeout: "30m", absoluteTimeout: "1d" });
  assert.equal(sessions.cookieName, "sessionid");
  // Real second counts that are not whole minutes in milliseconds stay accepted.
  for (const maxAge of [1_209_600, 2_592_000, 31_536_000, 86_400, 3600]) createSessions({ secret: SECRET, cookie: { maxAge } });
});
