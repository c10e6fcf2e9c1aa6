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
