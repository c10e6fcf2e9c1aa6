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
import { errorResponse } from "../mod.ts";
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
 * The factory never runs per request: in workerd it runs once per `env` object (memoized in a
 * WeakMap), so each set of bindings gets its own sessions; on every other runtime it runs once
 * per process, because there the extra argument is a per-request object (`Deno.serve`'s info,
 * `@hono/node-server`'s bindings) and a `Sessions` built per request would forget every session
 * of a memory store. See `adapters/_resolve.ts`.
 *
 * Answers 400 when the session was deleted by a concurrent request before this one saved
 * (Django's `SessionInterrupted`), 409 for a conflicting concurrent change and 503 when the store
 * is unavailable, wherever the `SessionError` is thrown: at load, at commit, or inside the
 * handler (`await session.flush()` or `cycleKey()` against a failing store). Those answers carry
 * no `Set-Cookie`. Other errors propagate to the runtime.
 */
export function withSession<T extends object, Rest extends unknown[] = []>(
  sessions: Sessions<T> | ((...rest: Rest) => Sessions<T>),
  handler: SessionHandler<T, Rest>,
): (request: Request, ...rest: Rest) => Promise<Response> {
  if (typeof handler !== "function") throw new TypeError("Cannot wrap handler: handler must be a function");
  const resolve = sessionsResolver(sessions as Sessions<T> | ((env: unknown, ...rest: unknown[]) => Sessions<T>), "wrap handler");
  return async function fetchWithSession(request: Request, ...rest: Rest): Promise<Response> {
    const owner = resolve(rest[0], ...rest.slice(1));
    try {
      // handle() answers failures at load and commit itself; a SessionError thrown by the
      // handler leaves it uncommitted and lands here.
      return await owner.handle(request, (req, session) => handler(req, session, ...rest));
    } catch (error) {
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
  };
}
