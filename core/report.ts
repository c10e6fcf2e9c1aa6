/**
 * Where satchel's own diagnostics go: store failures and one-time configuration warnings.
 *
 * A failed store call is never invisible and never leaks: it goes to the `onEvent` listener when
 * the application gave one (the event carries the sanitized `SessionError` that `storeFailure`
 * built), otherwise to `console.error`, one line per failure, rate-limited so an outage does not
 * flood the log. Every line starts with `satchel:` and names the fix where there is one.
 *
 * @module
 */
import { describeError, storeFailure } from "./errors.ts";
import type { SessionError, StoreOperation } from "./errors.ts";

/** The event a failed store call raises. `error` is the sanitized `STORE_UNAVAILABLE` error. */
export interface StoreFailureEvent {
  type: "store.failure";
  operation: StoreOperation;
  error: SessionError;
}

/** Where lines go when there is no listener. @default console */
interface Log {
  error(line: string): void;
  warn(line: string): void;
}

/** One log line per operation and code per window; the rest are counted and reported on the next line. */
const WINDOW_MS = 60_000;
/** Distinct operation+code windows kept before starting over. */
const MAX_WINDOWS = 256;

/**
 * What to do about a failure, by the driver's code (PostgreSQL SQLSTATE, MySQL/MariaDB and Node
 * codes, Redis reply prefixes). Unknown codes get no hint rather than a guess.
 */
const HINTS: ReadonlyArray<readonly [ReadonlyArray<string | number>, string]> = [
  [["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH", "ETIMEDOUT", "EPIPE", "ConnectionRefused", "ConnectionClosed"],
    "check that the store's server is running and reachable from this process"],
  [["42P01", "ER_NO_SUCH_TABLE", 1146], "the sessions table is missing: run store.ensureSchema() once, pass ensureSchema: true, or apply store.schema in a migration"],
  [["42703", "ER_BAD_FIELD_ERROR", 1054], "the sessions table has other columns than the store expects: check the layout option, or apply store.schema in a migration"],
  [["28P01", "28000", "ER_ACCESS_DENIED_ERROR", "NOAUTH", "WRONGPASS", "NOPERM"], "check the store's credentials and permissions"],
  [["WRONGTYPE"], "a key under the store's prefix holds another type: give redisStore a prefix of its own"],
  [["READONLY", "MASTERDOWN", "LOADING", "CLUSTERDOWN", "TRYAGAIN"], "the Redis server is not accepting writes yet (a replica, loading or failing over)"],
  [["OOM", "53100", "ER_RECORD_FILE_FULL"], "the store is out of memory or disk"],
];

function hintFor(code: string | number | undefined, message: string): string | undefined {
  if (code !== undefined) {
    for (const [codes, hint] of HINTS) if (codes.includes(code)) return hint;
  }
  if (/did not answer within \d+ ms/.test(message)) return "check the store's health, or raise the storeTimeout option";
  return undefined;
}

/** Prefix a line with `satchel:` unless it has it. */
function tagged(line: string): string {
  return line.startsWith("satchel:") ? line : `satchel: ${line}`;
}

/**
 * Routes store failures and one-time warnings. One per `createSessions` instance.
 *
 * Decisions: a listener that is given receives every failure (it does its own rate limiting);
 * a listener that throws is ignored (one warning says so), never failing the request. Without a
 * listener, lines are rate-limited per operation and code on the injected clock, so tests and
 * the `now` option agree; the first failure of a kind is always logged at once.
 */
export class Reporter {
  // The listener takes the engine's whole event union, which this module does not know; it is only ever called with a StoreFailureEvent.
  // deno-lint-ignore no-explicit-any
  readonly #onEvent: ((event: any) => void) | undefined;
  readonly #now: () => number;
  readonly #log: Log;
  /** Per `operation code`: when its window started and how many lines it has swallowed. */
  readonly #windows = new Map<string, { start: number; suppressed: number }>();
  readonly #warned = new Set<string>();

  // deno-lint-ignore no-explicit-any
  constructor(options: { onEvent?: ((event: any) => void) | undefined; now?: () => number; log?: Log }) {
    this.#onEvent = options.onEvent;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? console;
  }

  /** Report one failed store call; `error` should come from `storeFailure` (it is re-sanitized for the log anyway). */
  storeFailure(operation: StoreOperation, error: SessionError): void {
    // Idempotent on what storeFailure built; re-sanitizes anything else before it leaves satchel.
    const failure = storeFailure(operation, error);
    if (this.#onEvent !== undefined) {
      const event: StoreFailureEvent = { type: "store.failure", operation, error: failure };
      try {
        this.#onEvent(event);
      } catch {
        this.warnOnce("listener-threw", "satchel: the onEvent listener threw; satchel ignores listener errors, so fix or wrap the listener.");
      }
      return;
    }
    const cause = (failure as { cause?: unknown }).cause;
    const code = cause === undefined ? undefined : describeError(cause).code;
    const key = `${operation} ${code ?? failure.code}`;
    const now = this.#now();
    const window = this.#windows.get(key);
    if (window !== undefined && now - window.start < WINDOW_MS && now >= window.start) {
      window.suppressed += 1;
      return;
    }
    const suppressed = window?.suppressed ?? 0;
    if (this.#windows.size >= MAX_WINDOWS) this.#windows.clear(); // codes are driver-chosen: stay bounded
    this.#windows.set(key, { start: now, suppressed: 0 });
    const hint = hintFor(code, failure.message);
    const parts = [tagged(/[.!?]$/.test(failure.message) ? failure.message : `${failure.message}.`)];
    if (hint !== undefined) parts.push(`Fix: ${hint}.`);
    if (suppressed > 0) parts.push(`(${suppressed} similar ${suppressed === 1 ? "line" : "lines"} suppressed since the last one)`);
    this.#write("error", parts.join(" "));
  }

  /** Print `message` with `console.warn` (or the injected log) the first time `id` is seen by this Reporter. */
  warnOnce(id: string, message: string): void {
    if (this.#warned.has(id)) return;
    this.#warned.add(id);
    this.#write("warn", tagged(message));
  }

  /** A broken console must not fail the request either. */
  #write(level: "error" | "warn", line: string): void {
    try {
      this.#log[level](line);
    } catch {
      // Nowhere left to report to.
    }
  }
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * The warning for a `Secure` cookie on a plain-HTTP request to a host that is not local.
 *
 * Browsers refuse to store a `Secure` cookie set over `http:` (localhost, 127.0.0.1 and ::1
 * excepted, which they treat as secure contexts), and curl does the same, so every request
 * starts a new session and nothing seems to stick. Returns `null` when there is nothing to say
 * (secure off, https, a local host, a URL that does not parse); otherwise one line naming
 * `cookie.secure` and the host, never the path or query. A proxy that terminates TLS makes the
 * request URL `http:` although the browser used https: the message says so.
 */
export function insecureCookieWarning(url: string, secure: boolean): string | null {
  if (!secure) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" || LOCAL_HOSTS.has(parsed.hostname)) return null;
  const host = parsed.host.slice(0, 255);
  return `satchel: cookie.secure is true but a request to ${host} came over plain HTTP; browsers and curl drop Secure cookies ` +
    "there, so every request starts a new session. Serve it over HTTPS, or set cookie.secure to false for local HTTP " +
    "development. (Behind a proxy that terminates TLS, build the Request from the public https URL.)";
}
