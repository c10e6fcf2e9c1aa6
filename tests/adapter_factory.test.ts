/**
 * The sessions factory shared by the fetch and Hono adapters (`adapters/_resolve.ts`): in workerd
 * it runs once per `env` object; everywhere else once per process, whatever the per-request
 * second argument is. workerd is recognised by `navigator.userAgent`, which these tests stub to
 * exercise the Workers rule under Node, Deno and Bun (tests/workerd/fetch_adapter.test.ts checks
 * the real thing: one build across requests).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createSessions, memoryStore } from "../mod.ts";
import type { Session, Sessions } from "../mod.ts";
import { inWorkerd, sessionsResolver } from "../adapters/_resolve.ts";
import { withSession } from "../adapters/fetch.ts";
import { session } from "../adapters/hono.ts";
import type { SessionVariables } from "../adapters/hono.ts";
import { SECRET, cookieValue, request } from "./_http.ts";

type Env = { SECRET: string };

/** Run `fn` with `navigator.userAgent` reading as in workerd, then restore the runtime's own. */
function asWorkerd<R>(fn: () => R): R {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  Object.defineProperty(globalThis, "navigator", { value: { userAgent: "Cloudflare-Workers" }, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (saved) Object.defineProperty(globalThis, "navigator", saved);
    else delete (globalThis as { navigator?: unknown }).navigator;
  }
}

function counting(): { factory: (env: Env) => Sessions<{ n: number }>; calls: () => number } {
  let calls = 0;
  const store = memoryStore();
  return {
    factory: (env) => {
      calls++;
      return createSessions<{ n: number }>({ secret: env.SECRET, store });
    },
    calls: () => calls,
  };
}

describe("sessionsResolver", () => {
  test("outside workerd the factory runs once per process, whatever the first argument", () => {
    assert.equal(inWorkerd(), false);
    const { factory, calls } = counting();
    const resolve = sessionsResolver(factory, "test");
    const first = resolve({ SECRET });
    assert.equal(resolve({ SECRET }), first, "a per-request info object does not rebuild");
    assert.equal(resolve({ SECRET }), first);
    assert.equal(calls(), 1);
  });

  test("in workerd the factory runs once per env object", () => {
    assert.equal(asWorkerd(inWorkerd), true);
    const { factory, calls } = counting();
    const resolve = asWorkerd(() => sessionsResolver(factory, "test"));
    const env = { SECRET };
    const first = resolve(env);
    for (let i = 0; i < 3; i++) assert.equal(resolve(env), first);
    assert.equal(calls(), 1);
    assert.notEqual(resolve({ SECRET }), first, "other bindings get their own sessions");
    assert.equal(calls(), 2);
  });

  test("in workerd, without an env object, the factory runs once", () => {
    let calls = 0;
    const resolve = sessionsResolver(() => { calls++; return createSessions({ secret: SECRET }); }, "test", true);
    resolve(undefined as never);
    resolve(undefined as never);
    assert.equal(calls, 1);
  });

  test("a factory that returns something else is a TypeError naming the caller", () => {
    const resolve = sessionsResolver((() => ({})) as never, "wrap handler");
    assert.throws(() => resolve(undefined), (error: unknown) => error instanceof TypeError && /wrap handler/.test(error.message));
  });
});

describe("adapters with a sessions factory", () => {
  const visit = (n: number) => (_req: Request, session: Session<{ n: number }>) => {
    session.set("n", session.get("n", 0) + n);
    return new Response(String(session.get("n", 0)));
  };

  test("withSession(): a new info object per request keeps one sessions object outside workerd", async () => {
    const { factory, calls } = counting();
    const fetch = withSession(factory, visit(1));
    const first = await fetch(request(undefined), { SECRET });
    const second = await fetch(request(cookieValue(first)), { SECRET });
    assert.equal(await second.text(), "2");
    assert.equal(calls(), 1);
  });

  test("withSession(): one sessions object per env in workerd", async () => {
    const { factory, calls } = counting();
    const fetch = asWorkerd(() => withSession(factory, visit(1)));
    const env = { SECRET };
    const first = await fetch(request(undefined), env);
    const second = await fetch(request(cookieValue(first)), env);
    assert.equal(await second.text(), "2");
    assert.equal(calls(), 1);
    await fetch(request(undefined), { SECRET });
    assert.equal(calls(), 2);
  });

  for (const workerd of [false, true]) {
    test(`Hono session(factory of c.env) ${workerd ? "in workerd: once per env" : "elsewhere: once per process"}`, async () => {
      const { factory, calls } = counting();
      const app = new Hono<{ Bindings: Env; Variables: SessionVariables<{ n: number }> }>();
      app.use(workerd ? asWorkerd(() => session(factory)) : session(factory));
      app.get("/", (c) => {
        const n = c.var.session.get("n", 0) + 1;
        c.var.session.set("n", n);
        return c.text(String(n));
      });
      const env: Env = { SECRET };
      const first = await app.request("/", {}, env);
      const second = await app.request("/", { headers: { cookie: `sessionid=${cookieValue(first)}` } }, env);
      assert.equal(await second.text(), "2");
      assert.equal(calls(), 1);
      await app.request("/", {}, { SECRET });
      assert.equal(calls(), workerd ? 2 : 1);
    });
  }
});
