/**
 * `@satchel/session/elysia`: sessions as an Elysia plugin (Elysia 1.4; Bun, and any runtime
 * where Elysia's Web Standard adapter runs).
 *
 * `app.use(session(sessions))` gives every route registered after it a typed `{ session }`
 * (`Session<T>`) in its context. The plugin is a named, seeded Elysia instance
 * (`name: "@satchel/session/elysia"`, seeded per `sessions` object), so registering it twice, or
 * in a sub-plugin and in the app, runs it once. Register it before the routes that use it.
 *
 * **Lifecycle.** The session is loaded in a global `derive`. Elysia gives no hook a fixed place:
 * hooks run in registration order, and in `mapResponse` (and `onError`) the first hook that
 * returns a value skips the later ones, so a commit in `mapResponse` (the previous design) was
 * silently dropped by any mapResponse hook registered before the plugin that returned a
 * `Response`. The commit therefore happens where nothing can skip it:
 * - after a handler (or a `beforeHandle` hook) returned, in a global `onAfterHandle`: Elysia runs
 *   every afterHandle hook, whatever the earlier ones returned. Its headers go to `set.headers`,
 *   which Elysia merges into whatever Response a later `mapResponse` hook builds.
 * - after a throw, in a global `onError`, with the error's own status (`status(403, ...)`
 *   thrown, `NotFoundError`, ...; 500 for any other error). Whatever answer a later onError hook
 *   returns, even a `Response`, gets the headers. An onError registered after the plugin cannot
 *   change what was saved: an error without a status counts as a 500 (nothing saved), however a
 *   later hook answers it.
 * - as a fallback, in a global `mapResponse`: when an `onError` registered *before* the plugin
 *   answers with a value that is not a `Response`, Elysia runs every mapResponse hook.
 * The one remaining case: an `onError` registered before the plugin that returns a `Response`
 * ends Elysia's error handling at once; that request's session is not committed (nothing saved,
 * no cookie), as for a 5xx. Register the plugin first, or return a value instead.
 *
 * `commit` saves only when the effective status is below 500: the status of a returned
 * `Response`, of `status(code, ...)`, or `set.status`, as Elysia resolves them.
 *
 * **Headers.** `Set-Cookie` goes through Elysia's own channel: `set.headers`, or the cookie jar
 * (`set.cookie`) when the handler set jar cookies too (Elysia then rebuilds `Set-Cookie` from
 * the jar). `Vary: Cookie` and `Cache-Control` are merged into `set.headers`, or into a returned
 * `Response` directly when it has its own (a returned `Response`'s headers win in Elysia).
 *
 * **Session errors.** A `SessionError` answers 400 (the session was deleted by a concurrent
 * request before this one saved: Django's `SessionInterrupted`), 409 (a conflicting concurrent
 * change) or 503 (the store is unavailable), with no cookie from this plugin, wherever it is
 * thrown. At load and commit the plugin answers directly: those failures do not go through the
 * app's `onError`, which could turn the 503 into a 500; the engine reports store failures
 * through `onEvent` (or its own log when the app gave none). Thrown by the handler
 * (`await session.flush()`, `cycleKey()`), the error takes Elysia's usual path: onError hooks
 * registered before the plugin see it first (and may answer it themselves), then the plugin's
 * own onError answers it. Every other error is left to Elysia and the app.
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

/** 500 or 200 for a thrown error, before any onError hook answered: its own status, else 500. */
function errorStatus(error: unknown, set: SetLike): number {
  let status: unknown = 500;
  if (typeof error === "object" && error !== null) {
    if (error.constructor?.name === "ElysiaCustomStatusResponse") status = (error as { code?: unknown }).code;
    else if (typeof (error as { status?: unknown }).status === "number") status = (error as { status: number }).status;
  }
  return statusClass(undefined, { ...set, status: status as number });
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

/** What the hooks read of Elysia's context. */
interface HookContext {
  request: Request;
  error?: unknown;
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

  /**
   * Commit this request's session once (whichever hook gets there first takes it), against the
   * response `value` with the status class Elysia will send. Returns a `Response` to put in place
   * of `value` (a copy with writable headers, or the 400/409/503 answer), else `undefined`.
   */
  const commitOnce = async (context: HookContext, value: unknown, set: SetLike, status?: number): Promise<Response | undefined> => {
    // This plugin's own session: `context.session` belongs to the last session plugin registered.
    const session = own.get(context.request);
    if (!session) return undefined; // already committed, loading failed, or the route predates the plugin
    own.delete(context.request);
    const probe = new Response(null, { status: status ?? statusClass(value, set) });
    const returned = value instanceof Response ? value.headers : null;
    for (const name of ["vary", "cache-control"]) {
      const current = returned?.get(name) ?? set.headers[keyOf(set.headers, name)];
      if (typeof current === "string") probe.headers.set(name, current);
    }
    let committed: Response;
    try {
      committed = await sessions.commit(session, probe);
    } catch (error) {
      const answer = errorResponse(error);
      if (answer) return answer;
      throw error;
    }
    return transfer(committed.headers, set, value);
  };

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
      // Success path: every afterHandle hook runs (a returned value replaces the response but
      // skips no later hook), unlike mapResponse, where the first hook to return wins.
      .onAfterHandle({ as: "global" }, async function commitSession(context) {
        return await commitOnce(context, context.responseValue, context.set as SetLike);
      })
      // Error path: answer session errors; commit the rest now, with the error's status, so that
      // a later onError returning a Response (which skips mapResponse) still carries the cookie.
      .onError({ as: "global" }, async function sessionError(context) {
        const answer = errorResponse(context.error);
        if (answer) {
          own.delete(context.request); // nothing is committed for a failed session operation
          return answer;
        }
        const set = context.set as SetLike;
        const failed = await commitOnce(context, undefined, set, errorStatus(context.error, set));
        if (failed) return failed;
      })
      // Error path when an onError registered before the plugin answered with a value: Elysia then
      // runs every mapResponse hook, with the final status.
      .mapResponse({ as: "global" }, async function commitLate(context) {
        const set = context.set as SetLike;
        if (errorResponse((context as HookContext).error)) {
          own.delete(context.request);
          return undefined;
        }
        return await commitOnce(context, context.responseValue, set);
      });
    return app.use(instance) as unknown as SessionPlugin<T>;
  };
  return plugin;
}
