/**
 * Types of `@satchel/session/node`. The checks are compile-time: `tsc -p . --noEmit` and
 * `deno test` (which type-checks) fail when a `// @ts-expect-error` line stops being an error or
 * an `Exact<...>` assertion stops holding. At run time the same handlers answer one request each
 * on a real server, so the file also proves the typed code paths run.
 *
 * It shows the three ways to a typed `req.session`: `withSession`'s `SessionRequest<T>`,
 * `sessionOf(req, sessions)`, and the app's own declaration on `node:http`'s `IncomingMessage`,
 * which Express 5's `Request` inherits. That declaration is global to a TypeScript program:
 * every file of the program that declares it must use the identical type (examples/express does,
 * with the same cart shape).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { ErrorRequestHandler, RequestHandler } from "express";
import { createSessions, memoryStore } from "../mod.ts";
import type { Session, Sessions } from "../mod.ts";
import { session, sessionErrors, sessionOf, withSession } from "../adapters/node.ts";
import type { SessionErrorMiddleware, SessionMiddleware, SessionRequest } from "../adapters/node.ts";
import { SECRET } from "./_http.ts";

type Cart = { cart: string[]; user: string };

// What an app writes once to type `req.session` everywhere (node:http and Express 5).
declare module "node:http" {
  interface IncomingMessage {
    session: Session<Cart>;
  }
}

/** `true` only when A and B are the same type. */
type Exact<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
/** Compiles only when its type argument is `true`. */
function assertType<T extends true>(..._proof: T extends true ? [] : [never]): void {}

const sessions: Sessions<Cart> = createSessions<Cart>({ secret: SECRET, store: memoryStore() });

// ----- the middleware fits Express and Connect ---------------------------------------------

const middleware = session(sessions);
assertType<Exact<typeof middleware, SessionMiddleware>>();
const asExpress: RequestHandler = middleware;
const errorsAsExpress: ErrorRequestHandler = sessionErrors();
assertType<Exact<ReturnType<typeof sessionErrors>, SessionErrorMiddleware>>();
assert.equal(sessionErrors().length, 4, "Express recognises error middleware by its four parameters");

// ----- withSession: req.session typed without any declaration -------------------------------

const wrapped = withSession(sessions, (req, res) => {
  assertType<Exact<typeof req, SessionRequest<Cart>>>();
  assertType<Exact<typeof req.session, Session<Cart>>>();
  assertType<Exact<typeof res, ServerResponse>>();
  const cart = req.session.get("cart", []);
  assertType<Exact<typeof cart, string[]>>();
  // @ts-expect-error a key that is not in Cart
  req.session.get("nope");
  // @ts-expect-error a value of the wrong type
  req.session.set("cart", "apple");
  req.session.set("cart", [...cart, "apple"]);
  res.end(String(req.session.get("cart", []).length));
});
assertType<Exact<typeof wrapped, (req: IncomingMessage, res: ServerResponse) => Promise<void>>>();
const listener: RequestListener = wrapped;

// @ts-expect-error the handler must take (req, res)
withSession(sessions, (_req: IncomingMessage, _res: ServerResponse, _extra: string) => {});

// ----- Express 5: req.session from the declaration above, or sessionOf() --------------------

const app = express();
app.use(session(sessions));
app.get("/", (req, res) => {
  assertType<Exact<typeof req.session, Session<Cart>>>();
  const viaHelper = sessionOf(req, sessions);
  assertType<Exact<typeof viaHelper, Session<Cart>>>();
  req.session.set("user", "alice");
  // @ts-expect-error a fallback of the wrong type
  req.session.get("user", 42);
  res.send(viaHelper.get("user") ?? "");
});
app.use(sessionErrors());

async function once(handler: RequestListener, path: string): Promise<{ body: string; cookies: string[] }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
    return { body: await response.text(), cookies: response.headers.getSetCookie() };
  } finally {
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test("the typed node:http handler runs", async () => {
  const { body, cookies } = await once(listener, "/");
  assert.equal(body, "1");
  assert.equal(cookies.length, 1);
});

test("the typed Express app runs", async () => {
  assert.equal(typeof asExpress, "function");
  assert.equal(typeof errorsAsExpress, "function");
  const { body, cookies } = await once(app, "/");
  assert.equal(body, "alice");
  assert.equal(cookies.length, 1);
});
