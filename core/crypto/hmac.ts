/**
 * The synchronous crypto the key ring uses where the runtime offers it: HMAC-SHA256 from
 * `node:crypto` or in plain TypeScript (`sha256.ts`), AES-256-GCM from `node:crypto`. Which one
 * runs where is decided in `platform.ts`; WebCrypto (always asynchronous) is the fallback and is
 * used in `signing.ts` directly.
 *
 * A {@link SyncCrypto} mirrors the `crypto.subtle` calls the ring makes (`importKey`, `sign`,
 * `verify`, `encrypt`, `decrypt`), one call each, so the call budget of a request can be counted
 * the same way on either path.
 *
 * @module
 */
import { pureHmac, pureHmacKey } from "./sha256.ts";
import type { PureHmacKey } from "./sha256.ts";

/** The part of `node:crypto` used here, typed structurally (the core never imports it). */
export interface NodeCrypto {
  createHmac(algorithm: "sha256", key: unknown): { update(data: string | Uint8Array, encoding?: "utf8"): { digest(): Uint8Array } };
  createSecretKey(key: Uint8Array): unknown;
  createCipheriv?(algorithm: "aes-256-gcm", key: unknown, iv: Uint8Array): NodeCipher;
  createDecipheriv?(algorithm: "aes-256-gcm", key: unknown, iv: Uint8Array): NodeDecipher;
}
interface NodeCipher {
  setAAD(aad: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface NodeDecipher {
  setAAD(aad: Uint8Array): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

/** One synchronous HMAC-SHA256 implementation: prepare a key once, then MAC with it. */
export interface HmacImpl<K = unknown> {
  /** `"node:crypto"` or `"pure-ts"`. */
  readonly name: "node:crypto" | "pure-ts";
  /** Prepare raw key bytes (any length, RFC 2104) for repeated use. */
  key(raw: Uint8Array): K;
  /** The 32-byte MAC of `data` (a string is taken as UTF-8). */
  mac(key: K, data: string | Uint8Array): Uint8Array;
}

/** HMAC-SHA256 in plain TypeScript, the ipad/opad states precomputed per key. */
export const pureTsHmac: HmacImpl<PureHmacKey> = Object.freeze({
  name: "pure-ts" as const,
  key: pureHmacKey,
  mac: pureHmac,
});

/**
 * HMAC-SHA256 through `node:crypto`. Keys are `KeyObject`s: with a raw buffer Node copies and
 * checks the key on every `createHmac`, which made a MAC about four times slower when measured.
 */
export function nodeCryptoHmac(node: NodeCrypto): HmacImpl {
  return Object.freeze({
    name: "node:crypto" as const,
    key: (raw: Uint8Array) => node.createSecretKey(raw),
    mac: (key: unknown, data: string | Uint8Array) => node.createHmac("sha256", key).update(data).digest(),
  });
}

/**
 * Whether two byte strings are equal, in time that depends only on their lengths: every byte is
 * XORed and the differences OR-accumulated, with no early exit. Lengths are public (a MAC is
 * always 32 bytes), so a length mismatch returns at once.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** A prepared key of a {@link SyncCrypto}. */
export type SyncKey = { readonly kind: "HMAC" | "AES-GCM"; readonly handle: unknown };

/**
 * Synchronous counterparts of the `crypto.subtle` calls the key ring makes. `encrypt`/`decrypt`
 * are absent where no synchronous AES-GCM exists.
 */
export interface SyncCrypto {
  /** Which HMAC implementation runs: `"node:crypto"` or `"pure-ts"`. */
  readonly hmac: HmacImpl["name"];
  importKey(kind: "HMAC" | "AES-GCM", raw: Uint8Array): SyncKey;
  sign(key: SyncKey, data: string | Uint8Array): Uint8Array;
  /** Constant-time: recomputes the MAC and compares with {@link equalBytes}. */
  verify(key: SyncKey, mac: Uint8Array, data: string | Uint8Array): boolean;
  /** AES-256-GCM: `ciphertext || 16-byte tag`, as WebCrypto returns it. */
  encrypt?(key: SyncKey, iv: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array;
  /** The plaintext, or `null` when authentication fails. Never throws for bad input. */
  decrypt?(key: SyncKey, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
}

/** Build a {@link SyncCrypto} from an HMAC implementation and, for AES-GCM, `node:crypto`. */
export function createSyncCrypto(impl: HmacImpl, node?: NodeCrypto): SyncCrypto {
  const out: SyncCrypto = {
    hmac: impl.name,
    importKey: (kind, raw) => ({ kind, handle: kind === "HMAC" ? impl.key(raw) : node!.createSecretKey(raw) }),
    sign: (key, data) => impl.mac(key.handle, data),
    verify: (key, mac, data) => equalBytes(impl.mac(key.handle, data), mac),
  };
  const cipher = node?.createCipheriv;
  const decipher = node?.createDecipheriv;
  if (!node || typeof cipher !== "function" || typeof decipher !== "function") return out;
  out.encrypt = (key, iv, aad, plain) => {
    const c = cipher.call(node, "aes-256-gcm", key.handle, iv);
    c.setAAD(aad);
    return concat([c.update(plain), c.final(), c.getAuthTag()]);
  };
  out.decrypt = (key, iv, aad, sealed) => {
    if (sealed.length < 16) return null;
    try {
      const d = decipher.call(node, "aes-256-gcm", key.handle, iv);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const head = d.update(sealed.subarray(0, sealed.length - 16));
      return concat([head, d.final()]);
    } catch {
      return null; // authentication failed (or a malformed input)
    }
  };
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
