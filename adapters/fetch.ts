/**
 * `@satchel/session/fetch`: sessions for any `fetch`-style handler: a Workers `fetch`,
 * `Deno.serve`, `Bun.serve`, or Node through a Request/Response bridge.
 *
 * @example
 * ```ts
 * import { createSessions } from "@satchel/session";
 * import { withSession } from "@satchel/session/fetch";
 * const sessions = createSessions<{ n: number }>({ secret: "a-secret-of-at-least-32-characters!" });
 * const fetch = withSession(sessions, (_request, session) => {
 *   session.set("n", session.get("n", 0) + 1);
 *   return new Response(String(session.get("n")));
 * });
 * const response = await fetch(new Request("https://example.com/"));
 * if ((await response.text()) !== "1") throw new Error("unexpected");
 * ```
 *
 * @module
 */
import type { Session, Sessions } from "../mod.ts";
import { sessionsResolver } from "./_resolve.ts";

/** A `fetch`-style handler that also receives the session, then whatever else the runtime passes (`env`, `ctx`, `info`, ...). */
export type SessionHandler<T extends object, Rest extends unknown[]> = (
  request: Request,
  session: Session<T>,
  ...rest: Rest
) => Response | Promise<Response>;

/**
 * Wrap a handler so it gets the request's session and the response gets the cookie.
 *
 * `sessions` is a `createSessions()` result, or a function of the handler's extra arguments
 * returning one (on Workers, `(env) => createSessions({ secret: env.SECRET, store: ... })`).
 * Such a factory is called once per distinct first extra argument (`env` on Workers, memoized
 * in a WeakMap), never per request, so keys are imported once.
 *
 * Answers 400 when the session was deleted by a concurrent request before this one saved
 * (Django's `SessionInterrupted`) and 503 when the store is unavailable; other errors propagate.
 */
export function withSession<T extends object, Rest extends unknown[] = []>(
  sessions: Sessions<T> | ((...rest: Rest) => Sessions<T>),
  handler: SessionHandler<T, Rest>,
): (request: Request, ...rest: Rest) => Promise<Response> {
  if (typeof handler !== "function") throw new TypeError("Cannot wrap handler: handler must be a function");
  const resolve = sessionsResolver(sessions as Sessions<T> | ((env: unknown, ...rest: unknown[]) => Sessions<T>), "wrap handler");
  return function fetchWithSession(request: Request, ...rest: Rest): Promise<Response> {
    return resolve(rest[0], ...rest.slice(1)).handle(request, (req, session) => handler(req, session, ...rest));
  };
}
