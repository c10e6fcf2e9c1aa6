/**
 * Types of the Hono and Elysia adapters. The checks are compile-time: `tsc -p . --noEmit` (run by
 * the test script) and `deno test` (which type-checks) fail when a `// @ts-expect-error` line
 * stops being an error or an `Exact<...>` assertion stops holding. At run time the same apps
 * answer one request each, so the file also proves the typed code paths run.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { Elysia } from "elysia";
import { createSessions, memoryStore } from "../mod.ts";
import type { Session, Sessions } from "../mod.ts";
import { session as honoSession } from "../adapters/hono.ts";
import type { SessionVariables } from "../adapters/hono.ts";
import { session as elysiaSession } from "../adapters/elysia.ts";
import type { SessionPlugin } from "../adapters/elysia.ts";
import { SECRET } from "./_http.ts";

type Cart = { cart: string[]; user: string };

/** `true` only when A and B are the same type. */
type Exact<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
/** Compiles only when its type argument is `true`. */
function assertType<T extends true>(..._proof: T extends true ? [] : [never]): void {}

const sessions: Sessions<Cart> = createSessions<Cart>({ secret: SECRET, store: memoryStore() });

// ----- Hono ------------------------------------------------------------------------------

const middleware = honoSession(sessions);
assertType<Exact<typeof middleware, MiddlewareHandler<{ Variables: SessionVariables<Cart> }>>>();
assertType<Exact<SessionVariables<Cart>["session"], Session<Cart>>>();

const honoApp = new Hono().use(honoSession(sessions)).get("/", (c) => {
  const viaGet = c.get("session");
  assertType<Exact<typeof viaGet, Session<Cart>>>();
  assertType<Exact<typeof c.var.session, Session<Cart>>>();
  const cart = viaGet.get("cart", []);
  assertType<Exact<typeof cart, string[]>>();
  const user = viaGet.get("user");
  assertType<Exact<typeof user, string | undefined>>();
  viaGet.set("user", "alice");
  // @ts-expect-error a key that is not in Cart
  viaGet.get("nope");
  // @ts-expect-error a key that is not in Cart
  c.var.session.set("nope", 1);
  // @ts-expect-error a value of the wrong type
  viaGet.set("cart", "apple");
  // @ts-expect-error a fallback of the wrong type
  viaGet.get("user", 42);
  return c.text(cart.join(","));
});

// Declaring the variables on the app instead of inferring them from `use` works the same.
const declared = new Hono<{ Variables: SessionVariables<Cart> }>();
declared.use(honoSession(sessions));
declared.get("/", (c) => {
  assertType<Exact<typeof c.var.session, Session<Cart>>>();
  return c.text(String(c.var.session.get("user") ?? ""));
});

// Without the middleware there is no session variable.
new Hono().get("/", (c) => {
  // @ts-expect-error no session middleware: `session` is not a variable of this app
  c.var.session.get("cart");
  return c.text("");
});

// A factory of the Workers env is typed by its parameter.
type WorkerEnv = { SESSION_SECRET: string };
const fromEnv = honoSession((env: WorkerEnv) => createSessions<Cart>({ secret: env.SESSION_SECRET }));
assertType<Exact<typeof fromEnv, MiddlewareHandler<{ Variables: SessionVariables<Cart> }>>>();
/** Misuse the compiler must reject; run by the last test, where it must throw too. */
function honoMisuse(): void {
  // @ts-expect-error not sessions and not a factory
  honoSession("sessions");
}
// @ts-expect-error a factory must return sessions
honoSession((_env: WorkerEnv) => "sessions");

// ----- Elysia ----------------------------------------------------------------------------

const plugin = elysiaSession(sessions);
assertType<Exact<ReturnType<typeof plugin>, SessionPlugin<Cart>>>();

const elysiaApp = new Elysia().use(elysiaSession(sessions)).get("/", ({ session }) => {
  assertType<Exact<typeof session, Session<Cart>>>();
  const cart = session.get("cart", []);
  assertType<Exact<typeof cart, string[]>>();
  session.set("user", "alice");
  // @ts-expect-error a key that is not in Cart
  session.get("nope");
  // @ts-expect-error a value of the wrong type
  session.set("user", 42);
  return cart.join(",");
});

// Without the plugin there is no `session` in the context.
new Elysia().get("/", (context) => {
  // @ts-expect-error no session plugin: `session` is not in the context
  context.session.get("cart");
  return "";
});

function elysiaMisuse(): void {
  // @ts-expect-error not a createSessions() result
  elysiaSession({ cart: [] });
}

describe("adapter types", () => {
  test("the typed Hono app runs", async () => {
    const response = await honoApp.request("/");
    assert.equal(response.status, 200);
    assert.ok(response.headers.getSetCookie()[0]?.startsWith("sessionid="));
    assert.equal((await declared.request("/")).status, 200);
  });

  test("the typed Elysia app runs", async () => {
    const response = await elysiaApp.handle(new Request("http://localhost/"));
    assert.equal(response.status, 200);
    assert.ok(response.headers.getSetCookie()[0]?.startsWith("sessionid="));
  });

  test("the misuse the compiler rejects also throws at run time", () => {
    assert.throws(honoMisuse, TypeError);
    assert.throws(elysiaMisuse, TypeError);
  });
});
