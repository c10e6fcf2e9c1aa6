/**
 * Session ids, Django's format: 32 characters of `[a-z0-9]` (about 165 bits) drawn
 * with `crypto.getRandomValues`, by rejection sampling so every symbol is equally likely.
 *
 * @module
 */

const SYMBOLS = "abcdefghijklmnopqrstuvwxyz0123456789";
/** Bytes at or above this are rejected: 252 = 36 * 7, so `byte % 36` stays uniform. */
const LIMIT = 252;

/** A new random session id. */
export function newSessionId(): string {
  let id = "";
  const bytes = new Uint8Array(40);
  while (id.length < 32) {
    crypto.getRandomValues(bytes);
    for (let i = 0; i < bytes.length && id.length < 32; i++) {
      const b = bytes[i]!;
      if (b < LIMIT) id += SYMBOLS[b % 36];
    }
  }
  return id;
}

const WELL_FORMED = /^[a-z0-9]{8,64}$/;

/**
 * Whether a cookie value may be a session id at all: 8 to 64 characters of `[a-z0-9]`.
 * Anything else (shorter, longer, other characters) is treated as no session, and never
 * reaches a store. Django requires 8 characters; the alphabet and the upper bound are ours.
 */
export function isWellFormedId(value: string): boolean {
  return WELL_FORMED.test(value);
}
