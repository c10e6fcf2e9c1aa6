/**
 * base64url without padding (RFC 4648 §5), strict on decode: only the canonical
 * encoding of some byte string is accepted, so one payload has exactly one text.
 * Uses `Uint8Array.prototype.toBase64`/`fromBase64` where the runtime has them.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

type NativeBase64 = {
  toBase64?: (this: Uint8Array, options: { alphabet: string; omitPadding: boolean }) => string;
};
const nativeTo = (Uint8Array.prototype as NativeBase64).toBase64;

/** Encode bytes as base64url without padding. */
export function encodeBase64Url(bytes: Uint8Array): string {
  if (nativeTo) return nativeTo.call(bytes, { alphabet: "base64url", omitPadding: true });
  let out = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]! + ALPHABET[(v >> 6) & 63]! + ALPHABET[v & 63]!;
  }
  if (i < n) {
    const v = (bytes[i]! << 16) | ((i + 1 < n ? bytes[i + 1]! : 0) << 8);
    out += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]!;
    if (i + 1 < n) out += ALPHABET[(v >> 6) & 63]!;
  }
  return out;
}

/** Decode canonical unpadded base64url; `null` for anything else (never throws). */
export function decodeBase64Url(text: string): Uint8Array | null {
  const len = text.length;
  if (len % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    const a = sym(text, i), b = sym(text, i + 1), c = sym(text, i + 2), d = sym(text, i + 3);
    if ((a | b | c | d) < 0) return null;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = len - i;
  if (rest === 2) {
    const a = sym(text, i), b = sym(text, i + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return null;
    out[o++] = (a << 2) | (b >> 4);
  } else if (rest === 3) {
    const a = sym(text, i), b = sym(text, i + 1), c = sym(text, i + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return null;
    const v = (a << 10) | (b << 4) | (c >> 2);
    out[o++] = v >> 8;
    out[o++] = v & 255;
  }
  return out;
}

function sym(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code < 128 ? LOOKUP[code]! : -1;
}
