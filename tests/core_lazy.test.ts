/**
 * Lazy verification (cookie store, synchronous crypto): a request that carries a session cookie
 * but never touches the session verifies nothing; the first touch verifies synchronously; the
 * idle-timeout, rotation and saveEveryRequest rules still read the cookie at commit. With
 * `crypto: "webcrypto"` the cookie is verified at load, as before.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cookieStore, createSessions } from "../mod.ts";
import type { SessionEvent, SessionsOptions } from "../mod.ts";
import { fakeClock } from "./_env.ts";

const SECRET = "lazy-test-secret-0123456789abcdefghijk";
const OLD = "lazy-test-old-secret-0123456789abcdefgh";
const req = (cookie?: string) => new Request("https://a.example/", { headers: cookie ? { cookie } : {} });

function setup(options: Partial<SessionsOptions> = {}) {
  const events: SessionEvent["type"][] = [];
  const clock = fakeClock();
  const sessions = createSessions<{ n: number }>({
    secret: SECRET,
    store: cookieStore(),
    now: clock.now,
    onEvent: (event) => events.push(event.type),
    ...options,
  });
  return { sessions, events, clock };
}

async function cookieFor(sessions: ReturnType<typeof setup>["sessions"]): Promise<string> {
  const response = await sessions.handle(req(), (_r, s) => (s.set("n", 1), new Response("ok")));
  return response.headers.getSetCookie()[0]!.split(";")[0]!;
}

/** The same cookie with its signature's first character changed. */
function tamper(cookie: string): string {
  const at = cookie.lastIndexOf(".") + 1;
  return cookie.slice(0, at) + (cookie[at] === "A" ? "B" : "A") + cookie.slice(at + 1);
}

test("an untouched request with a session cookie verifies nothing (a tampered cookie goes unnoticed and untouched)", async () => {
  const { sessions, events } = setup();
  const bad = tamper(await cookieFor(sessions));
  events.length = 0;
  const response = await sessions.handle(req(bad), () => new Response("static page"));
  assert.deepEqual(events, [], "no verification, so no session.invalid");
  assert.deepEqual(response.headers.getSetCookie(), [], "and no cookie change (Django: an unread session is not empty)");
  assert.equal(response.headers.get("vary"), null);
});

test("the first touch verifies synchronously: a good cookie reads, a tampered one is an empty session", async () => {
  const { sessions, events } = setup();
  const good = await cookieFor(sessions);
  const read = await sessions.handle(req(good), (_r, s) => new Response(String(s.get("n"))));
  assert.equal(await read.text(), "1");
  events.length = 0;
  const bad = await sessions.handle(req(tamper(good)), (_r, s) => new Response(String(s.get("n"))));
  assert.equal(await bad.text(), "undefined");
  assert.deepEqual(events, ["session.invalid"]);
});

test('crypto: "webcrypto" verifies at load, as before', async () => {
  const { sessions, events } = setup({ crypto: "webcrypto" });
  const bad = tamper(await cookieFor(sessions));
  events.length = 0;
  await sessions.handle(req(bad), () => new Response("static page"));
  assert.deepEqual(events, ["session.invalid"]);
  assert.throws(() => createSessions({ secret: SECRET, crypto: "fast" as never }), TypeError);
});

test("rules that need the cookie still read it at commit: idle timeout, rotation, saveEveryRequest", async () => {
  // Idle timeout: an untouched request past the touch interval still re-issues the cookie.
  const idle = setup({ idleTimeout: 600 });
  const cookie = await cookieFor(idle.sessions);
  idle.clock.advance(120_000);
  const touched = await idle.sessions.handle(req(cookie), () => new Response("static"));
  assert.equal(touched.headers.getSetCookie().length, 1, "activity recorded");
  // Rotation: a cookie signed with the old secret is re-issued under the new one, touched or not.
  const before = setup({ secret: OLD });
  const old = await cookieFor(before.sessions);
  const after = setup({ secret: [SECRET, OLD] });
  const reissued = await after.sessions.handle(req(old), () => new Response("static"));
  assert.equal(reissued.headers.getSetCookie().length, 1);
  // saveEveryRequest: saved even when untouched.
  const every = setup({ saveEveryRequest: true });
  const saved = await every.sessions.handle(req(await cookieFor(every.sessions)), () => new Response("static"));
  assert.equal(saved.headers.getSetCookie().length, 1);
});
