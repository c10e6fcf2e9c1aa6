/**
 * `@satchel/session/hono`: sessions as Hono middleware, on every runtime Hono runs on (Bun,
 * Deno, Node through `@hono/node-server`, Cloudflare Workers).
 *
 * `session(sessions)` loads the request's session before the rest of the chain runs, puts it
 * in the context as `c.get("session")` / `c.var.session` (typed `Session<T>`), and commits it
 * after `await next()`: saves when it changed and the response status is below 500, and adds
 * `Set-Cookie`, `Vary: Cookie` and `Cache-Control` to `c.res.headers` in place. A handler that
 * throws reaches Hono's error handler first, so commit sees its status (500 by default) and
 * saves nothing. Responses with immutable headers (`Response.redirect()`, a `fetch()` result)
 * are copied once and put back with `c.res = undefined; c.res = copy`, Hono's documented way
 * to replace a response.
 *
 * **Session errors.** A `SessionError` answers 400 (the session was deleted by a concurrent
 * request before this one saved: Django's `SessionInterrupted`), 409 (a conflicting concurrent
 * change) or 503 (the store is unavailable), with no `Set-Cookie`, wherever it is thrown:
 * - at load or commit, the middleware answers directly. It does not throw, because Hono's
 *   `onError` has the last word on whatever reaches it (its default answers 500), which would
 *   break that contract. The error is left in `c.error`, where outer middleware (loggers, error
 *   trackers) look after `await next()`, and the engine reports store failures through
 *   `onEvent` (or its own log when the app gave none).
 * - inside the handler (`await session.flush()` or `cycleKey()` against a failing store), Hono
 *   catches it first and passes it to the app's `onError`, as every handler error; after
 *   `await next()` the middleware finds it in `c.error`, replaces `onError`'s answer with the
 *   400/409/503 and commits nothing.
 * Every other error reaches the app's `onError` unchanged. Mounting the middleware twice on one
 * route (app-wide and again on a route or sub-app) is harmless: the outer one loads and
 * commits, the inner one passes through.
 *
 * `hono` is an optional peer dependency; this module imports only its types.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createSessions } from "@satchel/session";
 * import { session } from "@satchel/session/hono";
 *
 * const sessions = createSessions<{ visits: number }>({ secret: "a-secret-of-at-least-32-characters!" });
 * const app = new Hono().use(session(sessions)).get("/", (c) => {
 *   const visits = c.var.session.get("visits", 0) + 1;
 *   c.var.session.set("visits", visits);
 *   return c.text(`visits: ${visits}`);
 * });
 * const response = await app.request("/");
 * if (!response.headers.getSetCookie()[0]?.startsWith("sessionid=")) throw new Error("no cookie");
 * ```
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { errorResponse } from "../mod.ts";
import type { Session, SessionData, Sessions } from "../mod.ts";
import { sessionsResolver } from "./_resolve.ts";

/** The context variables `session()` sets: `c.get("session")` and `c.var.session`. */
export type SessionVariables<T extends object = SessionData> = {
  session: Session<T>;
};

/** The 400/409/503 answer for a session error, left in `c.error` for outer middleware; anything else is rethrown to Hono. */
function answerOrThrow(c: { error: Error | undefined }, error: unknown): Response {
  const answer = errorResponse(error);
  if (!answer) throw error;
  c.error = error as Error;
  return answer;
}

/** Which sessions objects are already handling each request, by Hono context. */
const running = new WeakMap<object, Set<object>>();

/**
 * The session middleware.
 *
 * `sessions` is a `createSessions()` result, or a function of Hono's `c.env` returning one: on
 * Workers, `(env) => createSessions({ secret: env.SESSION_SECRET, store: ... })`. The function
 * never runs per request: in workerd once per distinct `c.env` object (memoized in a WeakMap), so
 * keys are imported once per set of bindings; on Bun, Deno and Node, where `c.env` is the server
 * or a new per-request object, once per process. See `adapters/_resolve.ts`.
 *
 * @param sessions a `createSessions()` result, or a function of `c.env` returning one
 * @returns middleware typed `MiddlewareHandler<{ Variables: SessionVariables<T> }>`
 * @throws {TypeError} when `sessions` is neither
 */
export function session<T extends object, Bindings = unknown>(
  sessions: Sessions<T> | ((env: Bindings) => Sessions<T>),
): MiddlewareHandler<{ Variables: SessionVariables<T> }> {
  const resolve = sessionsResolver(sessions, "create the session middleware");

  return async function satchelSession(c, next) {
    const owner = resolve(c.env as Bindings);
    // Mounted twice for one request (app-wide and on a route or sub-app): the outer one does the work.
    let owners = running.get(c);
    if (owners?.has(owner)) return await next();
    if (!owners) running.set(c, (owners = new Set()));
    owners.add(owner);
    let current: Session<T>;
    try {
      current = await owner.load(c.req.raw);
    } catch (error) {
      return answerOrThrow(c, error);
    }
    c.set("session", current);
    await next();
    // A SessionError thrown by the handler (Hono already ran onError): answer it, commit nothing.
    let committed = c.error === undefined ? null : errorResponse(c.error);
    if (!committed) {
      try {
        committed = await owner.commit(current, c.res);
      } catch (error) {
        committed = answerOrThrow(c, error);
      }
    }
    if (committed !== c.res) {
      // Without the reset, Hono's setter would copy the old headers over the new ones.
      c.res = undefined;
      c.res = committed;
    }
  };
}
