/**
 * `@satchel/session/node`: sessions for Node's own servers: plain `node:http` `(req, res)`
 * handlers (`withSession`) and Express 5 / Connect middleware (`session`), on Node, Bun and Deno.
 *
 * **Loading.** Before the handler runs, the session is loaded from a Web `Request` built from
 * `req` only as far as the core needs: method, URL (the `Host` header and `req.url`) and the
 * headers. The body is never read, so body parsers still see it.
 *
 * **Committing before the head leaves.** `commit` is async (it may write to the store) while
 * `res.writeHead` is sync, so this module holds the response back. It replaces `writeHead`,
 * `write`, `end` and `flushHeaders` on the `res` object (own properties, so Express's prototype
 * swap and other middleware that wrap them still work). The first of those calls, whichever it
 * is, fixes the status (`res.statusCode` at that moment) and starts `commit`; that call and every
 * later one are queued, in order, with their arguments. When `commit` resolves, its `Set-Cookie`
 * lines are appended to the ones the app set (never replacing them), `Vary: Cookie` is merged
 * into the app's `Vary`, `Cache-Control: private, no-store` is set when a cookie is set and the
 * app set no `Cache-Control`, and the queue is replayed on the real methods; later calls go
 * straight through. So:
 * - `res.writeHead(...)` applies its headers and status synchronously (throwing as Node does for
 *   a bad status or header), then waits; `res.write()` streaming is held only until the commit
 *   resolves (one store write at most), then flows; `res.flushHeaders()` sends the head once
 *   committed; `res.end(body)` replays exactly, so Node still computes `Content-Length`.
 * - Express's `res.send`, `res.json`, `res.redirect`, `res.sendFile` and `stream.pipe(res)` all
 *   end in these methods, so they are covered without knowing about them.
 * - While held, `res.headersSent` is `true` (the head is on its way), so Express's error handling
 *   treats the response as started, as it would without the hold. Queued writes report success
 *   (`true`): the data waits in memory for at most the commit.
 * Nothing is saved when the status is 5xx (Django's rule, applied by the core).
 *
 * **Errors.** A `SessionError` the core answers (`SESSION_INTERRUPTED` 400, `SESSION_CONFLICT`
 * 409, `STORE_UNAVAILABLE` 503) gets the same short text answer, without a cookie, wherever it is
 * thrown: at load (the handler does not run), at commit (the held response is discarded and
 * replaced), or by the handler (`flush()`, `cycleKey()`): `withSession` catches it itself;
 * with Express, mount `sessionErrors()` after your routes (Express routes a handler's errors
 * past earlier middleware, so no middleware mounted before the routes can see them). Other errors
 * thrown by the handler reach Express's error handler as usual (and, for `withSession`, reject
 * its promise as the bare handler would). Any other commit failure (`COOKIE_TOO_LARGE`, ...)
 * discards the held response and goes to `next(error)` under Express, or is answered 500 (and
 * logged by name and code only) under `withSession`.
 *
 * **Typing `req.session`.** A published module may not augment `node:http` for its users (JSR
 * forbids global type changes, and it would clash with other session libraries' declarations),
 * so there are three typed ways, pick one:
 * - `withSession(sessions, (req, res) => ...)`: `req` is `SessionRequest<T>`, `req.session` is
 *   `Session<T>`;
 * - `sessionOf(req, sessions)`: the `Session<T>` that `session(sessions)` loaded for `req`;
 * - in your app, declare it once (works for `node:http` and Express 5, whose `Request` extends
 *   `IncomingMessage`):
 *   ```ts
 *   declare module "node:http" { interface IncomingMessage { session: Session<Cart> } }
 *   ```
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { createSessions } from "@satchel/session";
 * import { withSession } from "@satchel/session/node";
 *
 * const sessions = createSessions<{ visits: number }>({ secret: "a-secret-of-at-least-32-characters!" });
 * const server = createServer(withSession(sessions, (req, res) => {
 *   const visits = req.session.get("visits", 0) + 1;
 *   req.session.set("visits", visits);
 *   res.end(`visits: ${visits}`);
 * }));
 * server.close();
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorResponse } from "../mod.ts";
import type { Session, SessionData, Sessions } from "../mod.ts";

/** A request whose session was loaded: what `withSession` handlers receive. */
export type SessionRequest<T extends object = SessionData> = IncomingMessage & { session: Session<T> };

/** `next` of Express and Connect. */
export type NextFunction = (error?: unknown) => void;

/** Express/Connect middleware: `app.use(session(sessions))`. */
export type SessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** Express/Connect error middleware (four parameters): `app.use(sessionErrors())` after the routes. */
export type SessionErrorMiddleware = (error: unknown, req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** A `node:http` request handler that receives the loaded session as `req.session`. */
export type SessionRequestHandler<T extends object> = (req: SessionRequest<T>, res: ServerResponse) => unknown;

/** The sessions loaded for each request, by `Sessions` object (mounting twice loads once). */
const loadedFor = new WeakMap<IncomingMessage, Map<object, unknown>>();
/** The hold on each response. */
const holds = new WeakMap<ServerResponse, Hold>();

function checkSessions(sessions: unknown, what: string): void {
  if (typeof sessions !== "object" || sessions === null || typeof (sessions as Sessions).commit !== "function") {
    throw new TypeError(`Cannot ${what}: sessions must be a createSessions() result`);
  }
}

/**
 * Express/Connect middleware: loads the session before the rest of the chain runs, sets
 * `req.session`, and commits before the response head is sent (see the module docs).
 * Mounting it twice with the same `sessions` is harmless: the first one does the work.
 *
 * @param sessions a `createSessions()` result
 * @throws {TypeError} when `sessions` is not one
 */
export function session<T extends object>(sessions: Sessions<T>): SessionMiddleware {
  checkSessions(sessions, "create the session middleware");
  return function satchelSession(req, res, next) {
    let mine = loadedFor.get(req);
    if (mine?.has(sessions)) return next();
    if (!mine) loadedFor.set(req, (mine = new Map()));
    const loading = mine;
    sessions.load(toRequest(req)).then(
      (loaded) => {
        loading.set(sessions, loaded);
        setSession(req, loaded);
        hold(res, sessions, loaded, (error) => next(error));
        next();
      },
      (error: unknown) => {
        const answer = errorResponse(error);
        if (answer) void send(res, answer);
        else next(error);
      },
    );
  };
}

/**
 * Express/Connect error middleware answering the session conditions a handler throws
 * (`flush()`, `cycleKey()`, ...): 400, 409 or 503 with no cookie, as at load and commit. Mount
 * it after your routes; it passes every other error on with `next(error)`.
 */
export function sessionErrors(): SessionErrorMiddleware {
  return function satchelSessionErrors(error, _req, res, next) {
    const answer = errorResponse(error);
    if (!answer) return next(error);
    const held = holds.get(res);
    if (held) held.replace(answer);
    else if (!res.headersSent) void send(res, answer);
    else next(error);
  };
}

/**
 * Wrap a plain `node:http` handler: `createServer(withSession(sessions, (req, res) => ...))`.
 * The handler may be async; a `SessionError` it throws is answered 400/409/503 (without a
 * cookie) if the head has not left yet, else the connection is cut; other errors reject the
 * returned promise, as they would without the wrapper.
 *
 * @param sessions a `createSessions()` result
 * @param handler receives `req` with `req.session` loaded, and `res`
 * @throws {TypeError} when `sessions` or `handler` is not what it should be
 */
export function withSession<T extends object>(
  sessions: Sessions<T>,
  handler: SessionRequestHandler<T>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  checkSessions(sessions, "wrap handler");
  if (typeof handler !== "function") throw new TypeError("Cannot wrap handler: handler must be a function");
  return async function nodeWithSession(req, res) {
    let loaded: Session<T>;
    try {
      loaded = await sessions.load(toRequest(req));
    } catch (error) {
      const answer = errorResponse(error);
      if (!answer) throw error;
      return await send(res, answer);
    }
    setSession(req, loaded);
    let mine = loadedFor.get(req);
    if (!mine) loadedFor.set(req, (mine = new Map()));
    mine.set(sessions, loaded);
    const request = req as SessionRequest<T>;
    const held = hold(res, sessions, loaded, null);
    try {
      await handler(request, res);
    } catch (error) {
      const answer = errorResponse(error);
      if (!answer) throw error;
      held.replace(answer);
    }
  };
}

/**
 * The `Session<T>` that `session(sessions)` (or `withSession(sessions, ...)`) loaded for `req`: a typed `req.session` without
 * declaring it on `IncomingMessage`.
 *
 * @throws {TypeError} when that middleware did not run for this request
 */
export function sessionOf<T extends object>(req: IncomingMessage, sessions: Sessions<T>): Session<T> {
  const found = loadedFor.get(req)?.get(sessions);
  if (!found) throw new TypeError("No session for this request: mount session(sessions) before this handler");
  return found as Session<T>;
}

/** `req.session = loaded`, whatever type an app declared for `IncomingMessage.session`. */
function setSession(req: IncomingMessage, loaded: object): void {
  (req as unknown as Record<string, unknown>).session = loaded;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * The Web `Request` the core loads from: method, URL and headers; never the body. A request
 * that a `Request` cannot represent (a forbidden method, a malformed Host) still yields one,
 * with the headers that could be copied, so the session loads as it would elsewhere.
 */
export function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders ?? [];
  const cookies: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // Several Cookie lines are one list joined by "; " (as Node's req.headers.cookie), never ", ".
    if (name.length === 6 && name.toLowerCase() === "cookie") cookies.push(raw[i + 1]!);
    else {
      try {
        headers.append(name, raw[i + 1]!);
      } catch {
        // A header Node accepted but Headers refuses: the core needs only Cookie.
      }
    }
  }
  if (cookies.length > 0) {
    try {
      headers.set("cookie", cookies.join("; "));
    } catch {
      // Not representable: no session cookie, an empty session.
    }
  }
  const method = req.method && TOKEN.test(req.method) && !FORBIDDEN_METHODS.has(req.method.toUpperCase()) ? req.method : "GET";
  const scheme = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? "https" : "http";
  const path = req.url?.startsWith("/") ? req.url : "/";
  let url: URL;
  try {
    url = new URL(`${scheme}://${headers.get("host") ?? "localhost"}${path}`);
  } catch {
    url = new URL(`${scheme}://localhost/`);
  }
  return new Request(url, { method, headers });
}

/** Send a plain answer (an `errorResponse`) on a response nothing was written to yet. */
async function send(res: ServerResponse, answer: Response): Promise<void> {
  const body = await answer.text();
  if (res.headersSent) return;
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(answer.status, {
    "content-type": answer.headers.get("content-type") ?? "text/plain;charset=UTF-8",
    "content-length": String(new TextEncoder().encode(body).byteLength),
  });
  res.end(body);
}

type Method = (...args: unknown[]) => unknown;
type Queued = { method: Method; args: unknown[] };

/** Start holding `res` back until `session` is committed; see the module docs. */
function hold<T extends object>(res: ServerResponse, sessions: Sessions<T>, session: Session<T>, fail: NextFunction | null): Hold {
  const held = new Hold(res, (status) => commitTo(res, sessions, session, status), fail);
  holds.set(res, held);
  return held;
}

/** Commit `session` for a response with `status`, and put its headers on `res`. */
async function commitTo<T extends object>(res: ServerResponse, sessions: Sessions<T>, session: Session<T>, status: number): Promise<void> {
  // A Response only represents 200-599; Node allows 100-999 in writeHead.
  const probe = new Response(null, { status: status >= 600 ? 599 : status < 200 ? 200 : status });
  const vary = headerText(res.getHeader("vary"));
  if (vary !== null) probe.headers.set("vary", vary);
  const committed = await sessions.commit(session, probe);
  const cookies = committed.headers.getSetCookie();
  const nextVary = committed.headers.get("vary");
  if (nextVary !== null && nextVary !== vary) res.setHeader("vary", nextVary);
  if (cookies.length === 0) return;
  const existing = res.getHeader("set-cookie");
  const before = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader("set-cookie", [...before, ...cookies]);
  const cache = committed.headers.get("cache-control");
  if (cache !== null && res.getHeader("cache-control") === undefined) res.setHeader("cache-control", cache);
}

function headerText(value: string | number | readonly string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/**
 * The hold on one response: `open` until the first head-related call, `holding` while the commit
 * runs (calls are queued), `sent` once replayed (calls go straight through), `answered` when
 * replaced by an error answer (the app's later calls are dropped; their callbacks still run).
 */
class Hold {
  #res: ServerResponse;
  #commit: (status: number) => Promise<void>;
  #fail: NextFunction | null;
  #state: "open" | "holding" | "sent" | "answered" = "open";
  #queue: Queued[] = [];
  #replacement: Response | null = null;
  /** Set once the error answer is being written: `headersSent` then tells the truth (Bun's methods read it). */
  #answering = false;
  #writeHead: Method;
  #write: Method;
  #end: Method;
  #flushHeaders: Method;

  constructor(res: ServerResponse, commit: (status: number) => Promise<void>, fail: NextFunction | null) {
    this.#res = res;
    this.#commit = commit;
    this.#fail = fail;
    // The replacement methods below are called with `this` bound to the response, not the hold.
    // deno-lint-ignore no-this-alias
    const self = this;
    const target = res as unknown as Record<string, Method>;
    this.#writeHead = target.writeHead!;
    this.#write = target.write!;
    this.#end = target.end!;
    this.#flushHeaders = target.flushHeaders!;
    // Node and Bun define headersSent as an inherited getter; a runtime may keep it as a data
    // property it assigns: both keep working behind this accessor.
    const sent = findDescriptor(res, "headersSent");
    let sentValue: unknown = sent && !sent.get ? sent.value : false;
    Object.defineProperty(res, "headersSent", {
      configurable: true,
      get() {
        if (self.#state === "holding" || (self.#state === "answered" && !self.#answering)) return true;
        return Boolean(sent?.get ? sent.get.call(res) : sentValue);
      },
      set(value: unknown) {
        if (sent?.set) sent.set.call(res, value);
        else sentValue = value;
      },
    });
    target.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
      if (self.#state === "sent") return self.#writeHead.apply(this, args);
      if (self.#state !== "open") {
        if (self.#state === "answered") return res;
        throw Object.assign(new Error("Cannot write headers after they are sent to the client"), { code: "ERR_HTTP_HEADERS_SENT" });
      }
      applyHead(res, args);
      self.#start({ method: self.#writeHead, args: [res.statusCode] });
      return res;
    };
    target.write = function write(this: ServerResponse, ...args: unknown[]) {
      if (self.#state === "sent") return self.#write.apply(this, args);
      checkChunk(args[0], "write");
      self.#start({ method: self.#write, args });
      return true;
    };
    target.end = function end(this: ServerResponse, ...args: unknown[]) {
      if (self.#state === "sent") return self.#end.apply(this, args);
      // end() ignores a falsy chunk and takes a callback first, as Node does.
      if (args[0] && typeof args[0] !== "function") checkChunk(args[0], "end");
      self.#start({ method: self.#end, args });
      return res;
    };
    target.flushHeaders = function flushHeaders(this: ServerResponse, ...args: unknown[]) {
      if (self.#state === "sent") return self.#flushHeaders.apply(this, args);
      self.#start({ method: self.#flushHeaders, args });
    };
  }

  /** Answer `answer` instead of whatever the app writes, if the head has not left; else cut the response. */
  replace(answer: Response): void {
    if (this.#state === "open") {
      this.#state = "answered";
      void this.#answer(answer);
    } else if (this.#state === "holding") {
      this.#replacement ??= answer;
    } else if (this.#state === "sent" && !this.#res.writableEnded) {
      // The head (and maybe part of the body) is out: a truncated response beats a wrong one.
      this.#res.destroy();
    }
  }

  #start(call: Queued): void {
    if (this.#state === "answered") return drop(call);
    this.#queue.push(call);
    if (this.#state !== "open") return;
    this.#state = "holding";
    void this.#release(this.#res.statusCode);
  }

  async #release(status: number): Promise<void> {
    let answer: Response | null = null;
    try {
      await this.#commit(status);
    } catch (error) {
      answer = errorResponse(error);
      if (!answer) return this.#failed(error);
    }
    answer = this.#replacement ?? answer;
    if (answer) {
      this.#state = "answered";
      return await this.#answer(answer);
    }
    this.#state = "sent";
    const queue = this.#queue;
    this.#queue = [];
    try {
      for (const call of queue) call.method.apply(this.#res, call.args);
    } catch (error) {
      // Node threw for a call the app made earlier (the head and chunks were checked then):
      // the response cannot be completed as written.
      if (this.#fail) return this.#fail(error);
      report(error, "the held response could not be written; connection closed");
      this.#res.destroy();
    }
  }

  /** Drop what the app queued and send `answer` through the real methods. */
  async #answer(answer: Response): Promise<void> {
    const body = await answer.text();
    const res = this.#res;
    this.#answering = true;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const queue = this.#queue;
    this.#queue = [];
    this.#writeHead.call(res, answer.status, {
      "content-type": answer.headers.get("content-type") ?? "text/plain;charset=UTF-8",
      "content-length": String(new TextEncoder().encode(body).byteLength),
    });
    this.#end.call(res, body);
    for (const call of queue) drop(call);
  }

  /** A commit failure the core does not answer: discard the held response and report it. */
  #failed(error: unknown): void {
    const res = this.#res;
    const queue = this.#queue;
    this.#queue = [];
    for (const call of queue) drop(call);
    if (this.#fail) {
      // Express's error handler writes a fresh response through the (now direct) methods.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.statusCode = 500;
      this.#state = "sent";
      this.#fail(error);
      return;
    }
    report(error, "the session could not be committed; answered 500");
    this.#state = "answered";
    void this.#answer(new Response("Internal Server Error", { status: 500 }));
  }
}

/** Apply `writeHead(status, [reason], [headers])` to `res` now, as Node does (and throwing as it does). */
function applyHead(res: ServerResponse, args: unknown[]): void {
  const status = Number(args[0]);
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw Object.assign(new RangeError(`Invalid status code: ${String(args[0])}`), { code: "ERR_HTTP_INVALID_STATUS_CODE" });
  }
  let headers = args[1];
  if (typeof headers === "string") {
    res.statusMessage = headers;
    headers = args[2];
  }
  if (Array.isArray(headers)) {
    // A flat [name, value, name, value, ...] list: replaces earlier values, keeps its own duplicates.
    for (let i = 0; i < headers.length; i += 2) res.removeHeader(String(headers[i]));
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = String(headers[i]);
      const before = res.getHeader(name);
      const value = headers[i + 1] as string | string[];
      res.setHeader(name, before === undefined ? value : [...listOf(before), ...listOf(value)]);
    }
  } else if (headers && typeof headers === "object") {
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) res.setHeader(name, value as string | number | readonly string[]);
    }
  }
  res.statusCode = status;
}

function listOf(value: string | number | readonly string[]): string[] {
  return Array.isArray(value) ? [...value] : [String(value)];
}

/** Log an error by name and code only: its message may quote data. */
function report(error: unknown, what: string): void {
  const { name, code } = (typeof error === "object" && error !== null ? error : {}) as { name?: unknown; code?: unknown };
  console.error(`satchel: ${what} (${String(name ?? typeof error)}${code ? ` ${String(code)}` : ""})`);
}

/** Throw now, as Node's write() would, for what it refuses to send. */
function checkChunk(chunk: unknown, what: string): void {
  if (typeof chunk === "string" || ArrayBuffer.isView(chunk)) return;
  if (chunk === null) throw Object.assign(new TypeError("May not write null values to stream"), { code: "ERR_STREAM_NULL_VALUES" });
  throw Object.assign(new TypeError(`The "chunk" argument of ${what}() must be of type string or an instance of Buffer or Uint8Array`), {
    code: "ERR_INVALID_ARG_TYPE",
  });
}

/** Run the callback of a call that will not happen, so code waiting on it moves on. */
function drop(call: Queued): void {
  const callback = call.args.findLast((arg) => typeof arg === "function") as (() => void) | undefined;
  if (callback) queueMicrotask(callback);
}

function findDescriptor(object: object, name: string): PropertyDescriptor | undefined {
  for (let o: object | null = object; o; o = Object.getPrototypeOf(o)) {
    const descriptor = Object.getOwnPropertyDescriptor(o, name);
    if (descriptor) return descriptor;
  }
  return undefined;
}
