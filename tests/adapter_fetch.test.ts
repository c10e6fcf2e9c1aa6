/** @satchel/session/fetch: withSession for Workers-, Deno.serve- and Bun.serve-style handlers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSessions, memoryStore, SessionError } from "../mod.ts";
import type { SessionRecord, SessionStore } from "../mod.ts";
import { withSession } from "../adapters/fetch.ts";
import { SECRET, cookieValue, request } from "./_http.ts";

test("withSession() passes the session and the runtime's extra arguments through", async () => {
  const sessions = createSessions<{ n: number }>({ secret: SECRET });
  const seen: unknown[] = [];
  const handler = withSession(sessions, (req: Request, session, env: { name: string }, ctx: { id: number }) => {
    seen.push(env.name, ctx.id, req.url);
    session.set("n", session.get("n", 0) + 1);
    return new Response(String(session.get("n")));
  });
  const first = await handler(request(undefined), { name: "env" }, { id: 7 });
  assert.equal(await first.text(), "1");
  const second = await handler(request(cookieValue(first)), { name: "env" }, { id: 8 });
  assert.equal(await second.text(), "2");
  assert.deepEqual(seen.slice(0, 2), ["env", 7]);
});

test("withSession() calls a sessions factory once per process outside workerd, whatever the extra arguments", async () => {
  let calls = 0;
  const store = memoryStore();
  const fetch = withSession(
    (env: { SECRET: string }) => { calls++; return createSessions<{ n: number }>({ secret: env.SECRET, store }); },
    (_req, session) => { session.set("n", 1); return new Response("ok"); },
  );
  const env = { SECRET };
  for (let i = 0; i < 5; i++) await fetch(request(undefined), env);
  assert.equal(calls, 1);
  // Deno.serve and @hono/node-server pass a new object per request: it must not rebuild the sessions.
  await fetch(request(undefined), { SECRET });
  assert.equal(calls, 1);
});

test("withSession() answers 400 for an interrupted session and 503 for a failing store", async () => {
  const store = memoryStore();
  const sessions = createSessions<{ n: number }>({ secret: SECRET, store });
  const first = await withSession(sessions, (_r, s) => { s.set("n", 1); return new Response("ok"); })(request(undefined));
  const id = cookieValue(first)!;
  const racing = withSession(sessions, async (_r, s) => { await store.delete(id); s.set("n", 2); return new Response("ok"); });
  assert.equal((await racing(request(id))).status, 400);
  const down = createSessions({ secret: SECRET, store: { load: () => Promise.reject(new Error("x")), create: async () => {}, save: async () => {}, delete: async () => {} } });
  assert.equal((await withSession(down, () => new Response("never"))(request(id))).status, 503);
});

test("withSession() refuses bad arguments", () => {
  assert.throws(() => withSession({} as never, () => new Response()), TypeError);
  assert.throws(() => withSession(createSessions({ secret: SECRET }), undefined as never), TypeError);
});

/** A memory store whose delete (flush, cycleKey) can be made to fail. */
function flakyStore(): SessionStore & { failDeletes: boolean } {
  const inner = memoryStore();
  const store = {
    rawIds: true,
    failDeletes: false,
    load: (key: string, now: number) => inner.load(key, now),
    create: (key: string, record: SessionRecord) => inner.create(key, record),
    save: (key: string, record: SessionRecord, version?: unknown) => inner.save(key, record, version as never),
    delete: (key: string) => (store.failDeletes ? Promise.reject(new Error("store down")) : inner.delete(key)),
  };
  return store;
}

test("withSession() answers a SessionError thrown by the handler like one at load or commit, without a cookie", async () => {
  const store = flakyStore();
  const sessions = createSessions<{ n: number }>({ secret: SECRET, store });
  const first = await withSession(sessions, (_r, s) => { s.set("n", 1); return new Response("ok"); })(request(undefined));
  const id = cookieValue(first)!;
  store.failDeletes = true;
  const logout = withSession(sessions, async (_r, s) => { await s.flush(); return new Response("out"); });
  const down = await logout(request(id));
  assert.equal(down.status, 503);
  assert.deepEqual(down.headers.getSetCookie(), []);
  for (const [code, status] of [["SESSION_INTERRUPTED", 400], ["SESSION_CONFLICT", 409], ["STORE_UNAVAILABLE", 503]] as const) {
    const handler = withSession(sessions, (_r, s) => {
      s.set("n", 2);
      throw new SessionError(code, "thrown by the handler");
    });
    const response = await handler(request(id));
    assert.equal(response.status, status, code);
    assert.deepEqual(response.headers.getSetCookie(), [], code);
  }
  await assert.rejects(withSession(sessions, () => { throw new RangeError("app bug"); })(request(id)), RangeError);
});
