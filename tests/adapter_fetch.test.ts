/** @satchel/session/fetch: withSession for Workers-, Deno.serve- and Bun.serve-style handlers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSessions, memoryStore } from "../mod.ts";
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

test("withSession() calls a sessions factory once per env object, not per request", async () => {
  let calls = 0;
  const store = memoryStore();
  const fetch = withSession(
    (env: { SECRET: string }) => { calls++; return createSessions<{ n: number }>({ secret: env.SECRET, store }); },
    (_req, session) => { session.set("n", 1); return new Response("ok"); },
  );
  const env = { SECRET };
  for (let i = 0; i < 5; i++) await fetch(request(undefined), env);
  assert.equal(calls, 1);
  await fetch(request(undefined), { SECRET });
  assert.equal(calls, 2, "a different env object gets its own sessions");
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
