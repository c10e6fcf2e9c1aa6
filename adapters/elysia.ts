/**
 * `@satchel/session/elysia`: sessions as an Elysia plugin (Elysia 1.4; Bun, and any runtime
 * where Elysia's Web Standard adapter runs).
 *
 * `app.use(session(sessions))` gives every route registered after it a typed `{ session }`
 * (`Session<T>`) in its context. The plugin is a named, seeded Elysia instance
 * (`name: "@satchel/session/elysia"`, seeded per `sessions` object), so registering it twice, or
 * in a sub-plugin and in the app, runs it once. Register it before the routes that use it.
 *
 * **Lifecycle.** The session is loaded in a global `derive`, and committed in a global
 * `mapResponse` hook: that hook runs after the handler, after `onAfterHandle`, and also after
 * Elysia's error handling (with the error's status), but before the response is built, so the
 * cookie still reaches the client. `commit` saves only when the effective status is below 500:
 * the status of a returned `Response`, of `status(code, ...)`, or `set.status`, exactly as
 * Elysia resolves them. A thrown error therefore saves nothing. When an `onError` hook returns a
 * `Response` itself, Elysia skips `mapResponse` and the session is not committed at all.
 *
 * **Headers.** `Set-Cookie` goes through Elysia's own channel: `set.headers`, or the cookie jar
 * (`set.cookie`) when the handler set jar cookies too (Elysia then rebuilds `Set-Cookie` from
 * the jar). `Vary: Cookie` and `Cache-Control` are merged into `set.headers`, or into a returned
 * `Response` directly when it has its own (a returned `Response`'s headers win in Elysia).
 *
 * Answers 400 when the session was deleted by a concurrent request before this one saved
 * (Django's `SessionInterrupted`) and 503 when the store is unavailable at load or save.
 *
 * `elysia` is an optional peer dependency; this module imports only its types, and builds the
 * plugin with the constructor of the app it is used on.
 *
 * @example
 * ```ts
 * import { Elysia } from "elysia";
 * import { createSessions } from "@satchel/session";
 * import { session } from "@satchel/session/elysia";
 *
 * const sessions = createSessions<{ visits: number }>({ secret: "a-secret-of-at-least-32-characters!" });
 * const app = new Elysia().use(session(sessions)).get("/", ({ session }) => {
 *   const visits = session.get("visits", 0) + 1;
 *   session.set("visits", visits);
 *   return `visits: ${visits}`;
 * });
 * const response = await app.handle(new Request("http://localhost/"));
 * if (!response.headers.getSetCookie()[0]?.startsWith("sessionid=")) throw new Error("no cookie");
 * ```
 *
 * @module
 */
import type { AnyElysia, Elysia } from "elysia";
import { errorResponse } from "../mod.ts";
import type { Session, SessionData, Sessions } from "../mod.ts";

/**
 * The plugin's type: an Elysia instance that adds `session: Session<T>` to every later route's
 * context (the `{}` parts are Elysia's own "nothing added").
 */
export type SessionPlugin<T extends object = SessionData> = Elysia<"", {
  // deno-lint-ignore ban-types
  decorator: {};
  // deno-lint-ignore ban-types
  store: {};
  derive: { readonly session: Session<T> };
  // deno-lint-ignore ban-types
  resolve: {};
}>;

/** What the plugin reads of Elysia's `set`. */
interface SetLike {
  status?: number | string;
  headers: Record<string, unknown>;
  cookie?: Record<string, unknown>;
}

/** Elysia's constructor, taken from the app so that only types are imported from `elysia`. */
type ElysiaConstructor = new (config: { name: string; seed: unknown }) => Elysia;

const SERVER_ERRORS: ReadonlySet<string> = new Set([
  "Internal Server Error",
  "Not Implemented",
  "Bad Gateway",
  "Service Unavailable",
  "Gateway Timeout",
  "HTTP Version Not Supported",
  "Variant Also Negotiates",
  "Insufficient Storage",
  "Loop Detected",
  "Not Extended",
  "Network Authentication Required",
]);

/**
 * Per `sessions` object: the plugin's seed, and each request's session. Every plugin instance of
 * one `sessions` shares them, so whichever instance's hooks Elysia keeps after deduplication, the
 * commit finds the session the load put there.
 */
const registry = new WeakMap<object, { seed: string; loaded: WeakMap<Request, unknown> }>();
let seedCount = 0;

/** 500 when the response Elysia will build has a 5xx status, else 200: all `commit` needs to know. */
function statusClass(value: unknown, set: SetLike): number {
  let status: unknown = set.status ?? 200;
  if (value instanceof Response && value.status !== 200) status = value.status;
  // Elysia itself recognises `status(code, ...)` results by constructor name.
  else if (typeof value === "object" && value !== null && value.constructor?.name === "ElysiaCustomStatusResponse") {
    status = (value as { code?: unknown }).code;
  }
  const server = typeof status === "number" ? status >= 500 : typeof status === "string" && SERVER_ERRORS.has(status);
  return server ? 500 : 200;
}

/** A `Set-Cookie` line written by the core, as an entry of Elysia's cookie jar. */
function jarEntry(line: string): [string, Record<string, unknown>] {
  const [pair = "", ...attributes] = line.split("; ");
  const eq = pair.indexOf("=");
  const entry: Record<string, unknown> = { value: pair.slice(eq + 1) };
  for (const attribute of attributes) {
    const i = attribute.indexOf("=");
    const key = (i < 0 ? attribute : attribute.slice(0, i)).toLowerCase();
    const value = i < 0 ? "" : attribute.slice(i + 1);
    if (key === "max-age") entry.maxAge = Number(value);
    else if (key === "expires") entry.expires = new Date(value);
    else if (key === "domain" || key === "path") entry[key] = value;
    else if (key === "samesite") entry.sameSite = value.toLowerCase();
    else if (key === "httponly") entry.httpOnly = true;
    else entry[key] = true; // secure, partitioned
  }
  return [pair.slice(0, eq), entry];
}

/** The key under which `set.headers` holds `name`, whatever its case (`name` itself when absent). */
function keyOf(headers: Record<string, unknown>, name: string): string {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return key;
  return name;
}

/** Copy what `commit` wrote on the probe into Elysia's response channels; a new `Response` when one must replace the value. */
function transfer(from: Headers, set: SetLike, value: unknown): Response | undefined {
  let own = value instanceof Response ? value : undefined;
  const write = (apply: (headers: Headers) => void): void => {
    if (!own) return;
    try {
      apply(own.headers);
    } catch {
      own = new Response(own.body, own); // immutable headers: copy once
      apply(own.headers);
    }
  };
  for (const name of ["vary", "cache-control"]) {
    const next = from.get(name);
    if (next === null) continue;
    if (own?.headers.has(name)) write((h) => h.set(name, next));
    else set.headers[keyOf(set.headers, name)] = next;
  }
  for (const line of from.getSetCookie()) {
    if (own?.headers.has("set-cookie")) write((h) => h.append("set-cookie", line));
    else if (set.cookie && Object.keys(set.cookie).length > 0) {
      const [name, entry] = jarEntry(line);
      set.cookie[name] = entry;
    } else {
      const key = keyOf(set.headers, "set-cookie");
      const existing = set.headers[key];
      set.headers[key] = existing === undefined ? line : [...(Array.isArray(existing) ? existing : [String(existing)]), line];
    }
  }
  return own !== value ? own : undefined;
}

/**
 * The session plugin: `new Elysia().use(session(sessions))`.
 *
 * @param sessions a `createSessions()` result
 * @returns a plugin function for `app.use()`; handlers registered after it receive `{ session }`
 * @throws {TypeError} when `sessions` is not a `createSessions()` result
 */
export function session<T extends object>(sessions: Sessions<T>): (app: AnyElysia) => SessionPlugin<T> {
  if (typeof sessions !== "object" || sessions === null || typeof sessions.commit !== "function") {
    throw new TypeError("Cannot create the session plugin: sessions must be a createSessions() result");
  }
  let entry = registry.get(sessions);
  if (!entry) registry.set(sessions, (entry = { seed: `${sessions.cookieName}#${++seedCount}`, loaded: new WeakMap() }));
  const { seed } = entry;
  const own = entry.loaded as WeakMap<Request, Session<T>>;
  const plugin = (app: AnyElysia): SessionPlugin<T> => {
    const Plugin = app.constructor as ElysiaConstructor;
    const instance = new Plugin({ name: "@satchel/session/elysia", seed })
      .derive({ as: "global" }, async function loadSession({ request, status }) {
        try {
          const loaded = await sessions.load(request);
          own.set(request, loaded);
          return { session: loaded };
        } catch (error) {
          const answer = errorResponse(error);
          if (!answer) throw error;
          return status(answer.status, await answer.text());
        }
      })
      .mapResponse({ as: "global" }, async function commitSession(context) {
        const { responseValue } = context;
        const set = context.set as SetLike;
        // This plugin's own session: `context.session` belongs to the last session plugin registered.
        const session = own.get(context.request);
        if (!session) return; // loading failed (answered 503), or the route was registered before the plugin
        own.delete(context.request);
        const probe = new Response(null, { status: statusClass(responseValue, set) });
        const returned = responseValue instanceof Response ? responseValue.headers : null;
        for (const name of ["vary", "cache-control"]) {
          const value = returned?.get(name) ?? set.headers[keyOf(set.headers, name)];
          if (typeof value === "string") probe.headers.set(name, value);
        }
        let committed: Response;
        try {
          committed = await sessions.commit(session, probe);
        } catch (error) {
          const answer = errorResponse(error);
          if (answer) return answer;
          throw error;
        }
        return transfer(committed.headers, set, responseValue);
      });
    return app.use(instance) as unknown as SessionPlugin<T>;
  };
  return plugin;
}
