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
 * Answers 400 when the session was deleted by a concurrent request before this one saved
 * (Django's `SessionInterrupted`) and 503 when the store is unavailable; other errors go to
 * Hono's error handler. Mounting the middleware twice on one route (app-wide and again on a
 * route or sub-app) is harmless: the outer one loads and commits, the inner one passes through.
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

/** Which sessions objects are already handling each request, by Hono context. */
const running = new WeakMap<object, Set<object>>();

/**
 * The session middleware.
 *
 * `sessions` is a `createSessions()` result, or a function of Hono's `c.env` returning one: on
 * Workers, `(env) => createSessions({ secret: env.SESSION_SECRET, store: ... })`. The function
 * is called once per distinct `c.env` object (memoized in a WeakMap), never per request there, so
 * keys are imported once. On Bun, Deno and Node `c.env` may be a new object per request: pass a
 * `createSessions()` result there.
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
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
    c.set("session", current);
    await next();
    let committed: Response;
    try {
      committed = await owner.commit(current, c.res);
    } catch (error) {
      const answer = errorResponse(error);
      if (!answer) throw error;
      committed = answer;
    }
    if (committed !== c.res) {
      // Without the reset, Hono's setter would copy the old headers over the new ones.
      c.res = undefined;
      c.res = committed;
    }
  };
}
