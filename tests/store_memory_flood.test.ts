/**
 * memoryStore() under a flood of anonymous one-shot sessions, through createSessions() and real
 * Requests on a fake clock: users who logged in and came back (a later request that loaded their
 * session) keep their sessions while ten times `maxEntries` anonymous sessions are created.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSessions, memoryStore } from "../mod.ts";
import { fakeClock } from "./_env.ts";

const SECRET = "memory-flood-test-secret-0123456789abcdef";

function cookieOf(response: Response): string {
  const line = response.headers.getSetCookie().find((l) => l.startsWith("sessionid="));
  assert.ok(line, "a session cookie was set");
  return line.split(";")[0]!.slice("sessionid=".length);
}

function req(id?: string): Request {
  return new Request("http://localhost/", id === undefined ? {} : { headers: { cookie: `sessionid=${id}` } });
}

test("memoryStore() keeps returning users through a flood of 10x maxEntries one-shot sessions", async () => {
  const maxEntries = 100;
  const store = memoryStore({ maxEntries });
  const clock = fakeClock();
  const sessions = createSessions<{ user?: string; csrf?: number }>({
    secret: SECRET,
    store,
    now: clock.now,
    cookie: { secure: false },
  });
  const login = async (user: string): Promise<string> =>
    cookieOf(await sessions.handle(req(), (_r, s) => {
      s.set("user", user);
      return new Response("in");
    }));
  const whoami = async (id: string): Promise<string> =>
    (await sessions.handle(req(id), (_r, s) => new Response(String(s.get("user"))))).text();

  // 60 users log in and come back once (a load hit after the create): they are in use.
  const users: [string, string][] = [];
  for (let i = 0; i < 60; i++) {
    clock.advance(1);
    const user = `user-${i}`;
    users.push([user, await login(user)]);
  }
  for (const [user, id] of users) {
    clock.advance(1);
    assert.equal(await whoami(id), user);
  }
  // 30 more log in and never come back: nothing protects them from the flood.
  const oneTime: string[] = [];
  for (let i = 0; i < 30; i++) oneTime.push(await login(`once-${i}`));

  // The flood: 1,000 anonymous requests, each leaving a session that is never presented again.
  for (let i = 0; i < 10 * maxEntries; i++) {
    clock.advance(1);
    const response = await sessions.handle(req(), (_r, s) => {
      s.set("csrf", i);
      return new Response("anon");
    });
    assert.equal(response.status, 200);
  }
  assert.equal(store.size, maxEntries, "the store stays at its bound");

  for (const [user, id] of users) assert.equal(await whoami(id), user, `${user} is still logged in`);
  let survivors = 0;
  for (const id of oneTime) if ((await whoami(id)) !== "undefined") survivors++;
  assert.equal(survivors, 0, "sessions never used again are what the flood evicts");
});

test("memoryStore() keeps a user who keeps coming back during the flood, as long as protected has room", async () => {
  const maxEntries = 50; // protected part: 40 sessions
  const store = memoryStore({ maxEntries });
  const clock = fakeClock();
  const sessions = createSessions<{ n?: number }>({ secret: SECRET, store, now: clock.now, cookie: { secure: false } });
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    ids.push(cookieOf(await sessions.handle(req(), (_r, s) => {
      s.set("n", i);
      return new Response("ok");
    })));
  }
  for (const id of ids) await sessions.handle(req(id), (_r, s) => new Response(String(s.get("n"))));
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < maxEntries; i++) {
      clock.advance(1);
      await sessions.handle(req(), (_r, s) => {
        s.set("n", -1);
        return new Response("anon");
      });
    }
    for (const [i, id] of ids.entries()) {
      const seen = await (await sessions.handle(req(id), (_r, s) => new Response(String(s.get("n"))))).text();
      assert.equal(seen, String(i), `session ${i} after round ${round}`);
    }
  }
});
