/**
 * The one error class satchel throws for conditions a caller may want to catch.
 *
 * Misuse (bad options, wrong argument types) throws the built-in `TypeError` or
 * `RangeError` instead. No message ever contains a secret, a session id or a
 * cookie value.
 *
 * @module
 */

/** Every condition a caller can catch, as a literal union. */
export type SessionErrorCode =
  /** The record vanished between load and save (a concurrent logout): Django's `SessionInterrupted`. */
  | "SESSION_INTERRUPTED"
  /** A compare-and-set save lost to a concurrent writer more often than the retry budget allows. */
  | "SESSION_CONFLICT"
  /** `create` found a record under the id already (Django's `CreateError`); the core retries with a new id. */
  | "SESSION_EXISTS"
  /** The store failed, refused or did not answer in time. */
  | "STORE_UNAVAILABLE"
  /** The cookie that `commit` would send is larger than browsers keep (4096 bytes for name and value). */
  | "COOKIE_TOO_LARGE"
  /** The session data could not be serialized (unsupported value, too deep, too large). */
  | "SERIALIZATION_FAILED";

/**
 * A catchable session condition. Check `code`, not the message.
 *
 * @example
 * ```ts
 * import { SessionError } from "@satchel/session";
 * const error = new SessionError("SESSION_INTERRUPTED", "The session was deleted before the request completed.");
 * if (!(error instanceof SessionError) || error.code !== "SESSION_INTERRUPTED") throw new Error("unexpected");
 * ```
 */
export class SessionError extends Error {
  override name = "SessionError";
  /** What happened, as a stable code. */
  readonly code: SessionErrorCode;
  /** Build an error with a code, a message free of secrets and ids, and an optional cause. */
  constructor(code: SessionErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Message of Django's `SessionInterrupted`, reused so logs read the same. */
export const INTERRUPTED_MESSAGE =
  "The request's session was deleted before the request completed. The user may have logged out in a concurrent request, for example.";

/** A `SessionError` with code `SESSION_INTERRUPTED`. */
export function interrupted(): SessionError {
  return new SessionError("SESSION_INTERRUPTED", INTERRUPTED_MESSAGE);
}

// ---- store failures, sanitized ----

/** The store call that failed, named in `storeFailure`'s message and in the `store.failure` event. */
export type StoreOperation = "load" | "create" | "save" | "delete" | "clearExpired" | "list" | "revoke";

/** What `describeError` keeps of a thrown value: nothing else ever leaves it. */
interface Description {
  name: string;
  code?: string | number;
  message: string;
}

const REDACTED = "[redacted]";
const MAX_MESSAGE = 400;
const MAX_NAME = 64;
const MAX_INPUT = 4096;

/**
 * The redaction rules, applied in order to every message `describeError` keeps. Chosen to remove
 * what store drivers are known to echo while keeping what an operator needs (table names, error
 * classes, codes):
 * - a run of 32 or more letters and digits: a session id (32 of `[a-z0-9]`), a store key
 *   (64 hex), a Django key, a token;
 * - a run of 48 or more characters of the base64/base64url/percent alphabet: cookie values and
 *   encoded payloads that `-`, `_` or `%` would otherwise split into shorter runs;
 * - the value PostgreSQL quotes in `Key (col)=(value) ...` and `Failing row contains (...)`;
 * - MySQL/MariaDB's `Duplicate entry '...'` and the quoted name after `for key`;
 * - the value quoted by a failed cast: PostgreSQL's `invalid input syntax for type T: "..."`,
 *   MySQL's `Incorrect T value: '...'`;
 * - everything after `command was:` (Upstash quotes the whole command, key and value included);
 * - the password of a connection URL (`postgres://app:PASSWORD@host`, `redis://:PASSWORD@host`):
 *   drivers, configs and URL parsers quote the URL they were given. Anchored on `://`, so it costs
 *   nothing on text without one; up to the last `@` before a space, as a password may hold `@`.
 */
const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Each quoted value runs to its closing delimiter or, when there is none (a message cut short), to the end.
  [/, command was:[\s\S]*$/, `, command was: ${REDACTED}`],
  [/(:\/\/[^\s:/@]*:)\S*@/g, `$1${REDACTED}@`],
  [/(Key \([^)]*\)=\()[\s\S]*?(\)(?=\s+(?:already exists|is not present|conflicts with))|\)\.?$|$)/g, `$1${REDACTED}$2`],
  [/(Failing row contains \()[\s\S]*$/, `$1${REDACTED}).`],
  [/(Duplicate entry ')[\s\S]*?(' for key |$)/g, `$1${REDACTED}$2`],
  [/(for key )(['"`])[\s\S]*?(\2|$)/g, `$1$2${REDACTED}$3`],
  [/(invalid input (?:syntax|value) for (?:type )?[^:]*: ")[\s\S]*?("(?=$|\s|,)|$)/g, `$1${REDACTED}$2`],
  [/(Incorrect \w+ value: ')[\s\S]*?('(?= for )|$)/g, `$1${REDACTED}$2`],
  [/(?<![A-Za-z0-9])[A-Za-z0-9]{32,}(?![A-Za-z0-9])/g, REDACTED],
  [/[A-Za-z0-9+/=_%-]{48,}/g, REDACTED],
];

/** Redact, flatten to one line, cap. */
function sanitize(text: string, max: number = MAX_MESSAGE): string {
  // Bound the work on hostile input; a token cut in two at the bound is dropped, not half-shown.
  if (text.length > MAX_INPUT) text = text.slice(0, MAX_INPUT).replace(/[A-Za-z0-9+/=_%-]+$/, "");
  // deno-lint-ignore no-control-regex -- control characters are exactly what must go: one line per failure
  let out = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ");
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  out = out.trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

/** Read a property without letting a getter or a Proxy throw at us. */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

const GENERIC_NAMES = new Set(["", "Error", "error", "Object"]);

function className(error: object): string {
  const own = read(error, "name");
  const ctor = read(error, "constructor");
  const ctorName = typeof ctor === "function" ? read(ctor, "name") : undefined;
  // pg names its errors "error"; prefer the class then. DOMException's name ("TimeoutError") beats its class.
  const pick = typeof own === "string" && !GENERIC_NAMES.has(own)
    ? own
    : typeof ctorName === "string" && !GENERIC_NAMES.has(ctorName)
    ? ctorName
    : "Error";
  return sanitize(pick, MAX_NAME);
}

/**
 * The error's code: its `code` property when that is a string or a finite number; otherwise a
 * Redis-style reply prefix (`WRONGTYPE`, `NOSCRIPT`, `READONLY`, ...), as node-redis and ioredis
 * give replies no `code`.
 */
function errorCode(error: object, message: string): string | number | undefined {
  const code = read(error, "code");
  if (typeof code === "number" && Number.isFinite(code)) return code;
  if (typeof code === "string" && code !== "") return sanitize(code, MAX_NAME);
  return /^([A-Z]{2,24})(?= )/.exec(message)?.[1];
}

/** The message of one error, without its cause. */
function ownMessage(error: object): string {
  const message = read(error, "message");
  if (typeof message === "string" && message.trim() !== "") return message;
  // Node's connect errors are AggregateErrors with an empty message: say what the first one says.
  const errors = read(error, "errors");
  if (Array.isArray(errors) && errors.length > 0 && typeof errors[0] === "object" && errors[0] !== null) {
    const first = read(errors[0], "message");
    if (typeof first === "string" && first.trim() !== "") return first;
  }
  return "(no message)";
}

/**
 * A sanitized description of any thrown value: class name, code (when it has a string or number
 * one) and message, redacted by the rules above and capped at 400 characters. An error's `cause`
 * is summarised one level deep inside the message (`... (cause: Name code: message)`), never kept
 * as an object. Non-errors: a string or number is described by its text, `null`/`undefined` by
 * their name, any other object by its `name`/`code`/`message` when it has them (never by
 * serializing it).
 */
export function describeError(error: unknown): { name: string; code?: string | number; message: string } {
  if (typeof error !== "object" || error === null) {
    const kind = error === null ? "null" : typeof error;
    const text = typeof error === "string" || typeof error === "number" || typeof error === "boolean" || typeof error === "bigint"
      ? String(error)
      : kind;
    return { name: kind, message: sanitize(text === "" ? "(empty)" : text) };
  }
  let message = ownMessage(error);
  const cause = read(error, "cause");
  if (typeof cause === "object" && cause !== null) {
    const inner = ownMessage(cause);
    const innerCode = errorCode(cause, inner);
    message += ` (cause: ${className(cause)}${innerCode === undefined ? "" : ` ${innerCode}`}: ${inner})`;
  } else if (typeof cause === "string" && cause !== "") {
    message += ` (cause: ${cause})`;
  }
  const description: Description = { name: className(error), message: sanitize(message) };
  const code = errorCode(error, description.message);
  if (code !== undefined) description.code = code;
  return description;
}

/** `Name [code]: message`, the form every store failure is written in. */
function formatDescription(description: Description): string {
  const code = description.code === undefined ? "" : ` [${description.code}]`;
  return `${description.name}${code}: ${description.message}`;
}

/** A plain Error holding only a description: what a store failure keeps as its `cause`. */
function plainCause(description: Description): Error {
  const cause = new Error(description.message);
  cause.name = description.name;
  if (description.code !== undefined) (cause as Error & { code?: string | number }).code = description.code;
  return cause;
}

/** Remove every occurrence of the values the caller knows are sensitive (3+ characters), longest first. */
function scrub(text: string, sensitive: readonly string[]): string {
  const values = sensitive.filter((value) => typeof value === "string" && value.length >= 3).sort((a, b) => b.length - a.length);
  for (const value of values) text = text.split(value).join("[redacted]");
  return text;
}

function codeOf(error: Error): { code?: string | number } {
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === "string" || typeof code === "number" ? { code } : {};
}

const CONTRACT_MESSAGES: Partial<Record<SessionErrorCode, string>> = {
  SESSION_CONFLICT: "The session was changed by another request since it was loaded.",
  SESSION_EXISTS: "A session record already exists under this key.",
  COOKIE_TOO_LARGE: "The session is too large for the store.",
  SERIALIZATION_FAILED: "The session store refused the session data.",
};

/**
 * A store's own contract error (`SESSION_INTERRUPTED`, `SESSION_CONFLICT`, `SESSION_EXISTS`, ...)
 * rebuilt with a fixed message and no cause: a store may have put a key or a driver error in them.
 */
export function contractError(error: SessionError): SessionError {
  if (error.code === "SESSION_INTERRUPTED") return interrupted();
  return new SessionError(error.code, CONTRACT_MESSAGES[error.code] ?? "The session store refused the operation.");
}

/** The errors `storeFailure` built, already sanitized: passed in again, they are returned as they are. */
const builtByStoreFailure = new WeakSet<SessionError>();

/**
 * A `STORE_UNAVAILABLE` error for a failed store call, safe to log, serialize and hand to user code.
 *
 * The message names the operation and the driver error's class, code and message, sanitized by
 * `describeError`. The `cause` is a new plain Error carrying only that `{ name, code, message }`:
 * the driver's error object is never kept, because drivers hang the query and its values on it
 * (postgres.js `parameters`/`args`, pg `detail`, mysql2 `sql`, ioredis `command.args`, Upstash
 * the whole command in its message), and a logger that walks `cause` would print them.
 *
 * A `SessionError` already coded `STORE_UNAVAILABLE` (a timeout, a store's own refusal) keeps its
 * message, sanitized, and its cause is replaced the same way. An error this function built is
 * returned unchanged.
 */
export function storeFailure(operation: StoreOperation, error: unknown, sensitive: readonly string[] = []): SessionError {
  if (error instanceof SessionError && builtByStoreFailure.has(error)) return error;
  if (sensitive.length > 0) {
    const failure = storeFailure(operation, error);
    const cause = failure.cause as Error | undefined;
    const scrubbed = new SessionError("STORE_UNAVAILABLE", scrub(failure.message, sensitive), cause === undefined ? undefined : {
      cause: plainCause({ name: cause.name, message: scrub(cause.message, sensitive), ...codeOf(cause) }),
    });
    builtByStoreFailure.add(scrubbed);
    return scrubbed;
  }
  let message: string;
  let cause: Description | undefined;
  if (error instanceof SessionError && error.code === "STORE_UNAVAILABLE") {
    const inner = read(error, "cause");
    cause = inner === undefined ? undefined : describeError(inner);
    message = sanitize(typeof error.message === "string" ? error.message : "");
    if (cause !== undefined) message += ` (${formatDescription(cause)})`;
  } else {
    cause = describeError(error);
    message = formatDescription(cause);
  }
  const failure = new SessionError(
    "STORE_UNAVAILABLE",
    `The session store failed on ${operation}: ${message}`,
    cause === undefined ? undefined : { cause: plainCause(cause) },
  );
  builtByStoreFailure.add(failure);
  return failure;
}
