/**
 * SHA-256 (FIPS 180-4, section 6.2) and HMAC-SHA256 (RFC 2104) in plain TypeScript, synchronous
 * and allocation-light, for runtimes where it beats the platform's own synchronous HMAC (see
 * `platform.ts` for where that is).
 *
 * An HMAC key is prepared once: the compression states after the 64-byte `key ^ ipad` and
 * `key ^ opad` blocks are kept, so each MAC starts from them and costs two compressions less than
 * a textbook HMAC (a 700-byte message: 12 inner and 1 outer compression, instead of 15).
 *
 * @module
 */

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4, 4.2.2). */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The initial hash value H(0) (FIPS 180-4, 5.3.3). */
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** Scratch shared by every call: the message schedule and a two-block tail. Nothing here is re-entrant, and nothing needs to be. */
const W = new Int32Array(64);
const TAIL = new Uint8Array(128);
const encoder = new TextEncoder();
let scratch = new Uint8Array(4096);

/** Run the compression function over the 64-byte blocks of `data` from `offset` to `end`, updating `state`. */
function compress(state: Int32Array, data: Uint8Array, offset: number, end: number): void {
  const w = W;
  let h0 = state[0]!, h1 = state[1]!, h2 = state[2]!, h3 = state[3]!;
  let h4 = state[4]!, h5 = state[5]!, h6 = state[6]!, h7 = state[7]!;
  for (let p = offset; p < end; p += 64) {
    for (let t = 0; t < 16; t++) {
      const i = p + t * 4;
      w[t] = (data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!, y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  state[0] = h0; state[1] = h1; state[2] = h2; state[3] = h3;
  state[4] = h4; state[5] = h5; state[6] = h6; state[7] = h7;
}

/**
 * Hash `data[0..length)` into `state`, which has already absorbed `prefix` bytes (a whole number
 * of blocks), then pad (FIPS 180-4, 5.1.1) and finish. `state` holds the digest afterwards.
 */
function finish(state: Int32Array, data: Uint8Array, length: number, prefix: number): void {
  const whole = length - (length % 64);
  compress(state, data, 0, whole);
  const rest = length - whole;
  const tail = TAIL;
  tail.fill(0);
  tail.set(data.subarray(whole, length));
  tail[rest] = 0x80;
  const blocks = rest + 9 > 64 ? 128 : 64;
  const bits = (prefix + length) * 8;
  const high = Math.floor(bits / 0x1_0000_0000);
  tail[blocks - 8] = high >>> 24; tail[blocks - 7] = high >>> 16; tail[blocks - 6] = high >>> 8; tail[blocks - 5] = high;
  tail[blocks - 4] = bits >>> 24; tail[blocks - 3] = bits >>> 16; tail[blocks - 2] = bits >>> 8; tail[blocks - 1] = bits;
  compress(state, tail, 0, blocks);
}

/** The 32 digest bytes of `state`, big-endian. */
function digest(state: Int32Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  for (let i = 0; i < 8; i++) {
    const v = state[i]!;
    out[i * 4] = v >>> 24; out[i * 4 + 1] = v >>> 16; out[i * 4 + 2] = v >>> 8; out[i * 4 + 3] = v;
  }
  return out;
}

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  const state = IV.slice();
  finish(state, data, data.length, 0);
  return digest(state);
}

/** A prepared HMAC-SHA256 key: the states after the inner and outer pad blocks. Opaque outside this module. */
export interface PureHmacKey {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}

/** Prepare `key` (RFC 2104: hashed when longer than the 64-byte block, zero-padded to it). */
export function pureHmacKey(key: Uint8Array): PureHmacKey {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const pads = new Uint8Array(128);
  for (let i = 0; i < 64; i++) {
    pads[i] = block[i]! ^ 0x36;
    pads[64 + i] = block[i]! ^ 0x5c;
  }
  const inner = IV.slice();
  const outer = IV.slice();
  compress(inner, pads, 0, 64);
  compress(outer, pads, 64, 128);
  block.fill(0);
  pads.fill(0);
  return { inner, outer };
}

const state = new Int32Array(8);
const innerDigest = new Uint8Array(32);

/** HMAC-SHA256 of `message` (a string is taken as UTF-8) under a prepared key: 32 bytes. */
export function pureHmac(key: PureHmacKey, message: string | Uint8Array): Uint8Array {
  let data: Uint8Array;
  let length: number;
  if (typeof message === "string") {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (scratch.length < message.length * 3) scratch = new Uint8Array(message.length * 3);
    length = encoder.encodeInto(message, scratch).written;
    data = scratch;
  } else {
    data = message;
    length = message.length;
  }
  state.set(key.inner);
  finish(state, data, length, 64);
  // The message may be a session id (store keys hash ids): leave no copy in the shared buffers.
  if (data === scratch) scratch.fill(0, 0, length);
  TAIL.fill(0);
  digest(state, innerDigest);
  state.set(key.outer);
  finish(state, innerDigest, 32, 64);
  return digest(state);
}
