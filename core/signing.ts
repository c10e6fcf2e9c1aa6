/**
 * HMAC-SHA256 (and, for encrypted cookies, AES-256-GCM), with Django's salting idea done with an
 * HMAC: per purpose a key is derived as `HMAC(secret, "satchel/v1/" + purpose)`, once, so a value
 * signed for one purpose never verifies for another. Signing uses the first secret; verification
 * tries each secret in order (Django's `SECRET_KEY_FALLBACKS`).
 *
 * Two paths, the same keys and the same bytes:
 * - **sync** (`crypto: "auto"`, where the runtime has `node:crypto`: Node, Bun, Deno, Workers with
 *   `nodejs_compat`): the HMAC and AES-GCM of `crypto/platform.ts` (node:crypto, or plain
 *   TypeScript for the HMAC on Deno), with the derived key material computed synchronously once
 *   and cached. Every call also has a `…Sync` form, which returns `undefined` only where this path
 *   is off.
 * - **WebCrypto** (everywhere else, or forced with `crypto: "webcrypto"`): each secret imported once,
 *   each derived key imported once as a non-extractable `CryptoKey`; `crypto.subtle.verify`.
 *
 * On the sync path the derived key bytes live in this process's memory (inside private fields,
 * `KeyObject`s or precomputed HMAC states), which a non-extractable `CryptoKey` avoids; the secret
 * itself is in memory on either path. Verification is constant-time on both (see `equalBytes`).
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";
import { syncCrypto } from "./crypto/platform.ts";
import type { SyncCrypto, SyncKey } from "./crypto/hmac.ts";

const encoder = new TextEncoder();
const HMAC = { name: "HMAC", hash: "SHA-256" } as const;

/** `"auto"`: the synchronous path where the runtime offers one, WebCrypto elsewhere; `"webcrypto"`: always WebCrypto. */
export type CryptoMode = "auto" | "webcrypto";

/** Options of `new KeyRing()`. */
export interface KeyRingOptions {
  /** @default "auto" */
  crypto?: CryptoMode;
  /**
   * For tests and benchmarks: the synchronous crypto to use with `"auto"` instead of this runtime's
   * (`null`: none, as on a runtime without `node:crypto`).
   */
  sync?: SyncCrypto | null;
}

/**
 * The secrets of one `createSessions()`; derives per-purpose keys. Secrets and keys live in private
 * fields, which `console.log`, `util.inspect` and `JSON.stringify` never show.
 */
export class KeyRing {
  readonly size: number;
  /** Which implementation signs here: `"node:crypto"`, `"pure-ts"` or `"webcrypto"`. */
  readonly path: "node:crypto" | "pure-ts" | "webcrypto";
  /** The synchronous crypto in use, or `undefined` on the WebCrypto path. */
  readonly sync: SyncCrypto | undefined;
  #secrets: readonly string[];
  #base: Promise<CryptoKey>[] | undefined;
  #syncBase: SyncKey[] | undefined;
  #syncMaterial = new Map<string, Uint8Array[]>();

  /** @throws {TypeError} when `options.crypto` is neither `"auto"` nor `"webcrypto"`. */
  constructor(secrets: readonly string[], options: KeyRingOptions = {}) {
    const mode = options.crypto ?? "auto";
    if (mode !== "auto" && mode !== "webcrypto") throw new TypeError(`Cannot create key ring: crypto must be "auto" or "webcrypto", received ${String(mode)}`);
    this.#secrets = secrets;
    this.size = secrets.length;
    this.sync = mode === "webcrypto" ? undefined : options.sync === undefined ? syncCrypto() : options.sync ?? undefined;
    this.path = this.sync ? this.sync.hmac : "webcrypto";
  }

  /** The derived key material for `purpose`, one per secret, in the configured order (WebCrypto). */
  #material(purpose: string): Promise<ArrayBuffer[]> {
    this.#base ??= this.#secrets.map((s) => crypto.subtle.importKey("raw", encoder.encode(s), HMAC, false, ["sign"]));
    const label = encoder.encode(`satchel/v1/${purpose}`);
    return Promise.all(this.#base.map(async (base) => crypto.subtle.sign("HMAC", await base, label)));
  }

  /**
   * The same material computed synchronously, once per purpose and cached: `undefined` on the
   * WebCrypto path.
   */
  materialSync(purpose: string): Uint8Array[] | undefined {
    const sync = this.sync;
    if (!sync) return undefined;
    let material = this.#syncMaterial.get(purpose);
    if (!material) {
      this.#syncBase ??= this.#secrets.map((s) => sync.importKey("HMAC", encoder.encode(s)));
      const label = encoder.encode(`satchel/v1/${purpose}`);
      material = this.#syncBase.map((base) => sync.sign(base, label));
      this.#syncMaterial.set(purpose, material);
    }
    return material;
  }

  /** HMAC-SHA256 `CryptoKey`s for `purpose`, one per secret, in the configured order. */
  async derive(purpose: string): Promise<CryptoKey[]> {
    const material = await this.#material(purpose);
    return Promise.all(material.map((raw) => crypto.subtle.importKey("raw", raw, HMAC, false, ["sign", "verify"])));
  }

  /** AES-256-GCM `CryptoKey`s for `purpose`, one per secret, in the configured order. */
  async deriveAes(purpose: string): Promise<CryptoKey[]> {
    const material = await this.#material(purpose);
    return Promise.all(material.map((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"])));
  }

  toJSON(): string {
    return "[KeyRing]";
  }
}

/**
 * Encrypts and authenticates bytes for one purpose with AES-256-GCM: a fresh random 96-bit IV
 * per message, the purpose as additional data, the first secret's key to seal, every secret's
 * key tried to open. One `encrypt` to seal; one `decrypt` per key tried to open, synchronous where
 * the ring's path has AES-GCM.
 */
export class Sealer {
  #ring: KeyRing;
  #purpose: string;
  #aad: Uint8Array<ArrayBuffer>;
  #keys: Promise<CryptoKey[]> | undefined;
  #syncKeys: SyncKey[] | undefined;
  constructor(ring: KeyRing, purpose: string) {
    this.#ring = ring;
    this.#purpose = purpose;
    this.#aad = encoder.encode(`satchel/v1/${purpose}`);
  }

  /** The synchronous keys, derived once; `undefined` where there is no synchronous AES-GCM. */
  #sync(): SyncKey[] | undefined {
    const sync = this.#ring.sync;
    if (!sync?.encrypt || !sync.decrypt) return undefined;
    return (this.#syncKeys ??= this.#ring.materialSync(this.#purpose)!.map((raw) => sync.importKey("AES-GCM", raw)));
  }

  /** The WebCrypto keys, derived once. */
  #webKeys(): Promise<CryptoKey[]> {
    return (this.#keys ??= this.#ring.deriveAes(this.#purpose));
  }

  /** Derive the keys of the path in use now. */
  async ready(): Promise<void> {
    if (!this.#sync()) await this.#webKeys();
  }

  /** `iv || ciphertext || tag`. */
  async seal(plain: Uint8Array): Promise<Uint8Array> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const keys = this.#sync();
    const sealed = keys
      ? this.#ring.sync!.encrypt!(keys[0]!, iv, this.#aad, plain)
      : new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: this.#aad }, (await this.#webKeys())[0]!, plain as Uint8Array<ArrayBuffer>));
    const out = new Uint8Array(12 + sealed.length);
    out.set(iv);
    out.set(sealed, 12);
    return out;
  }

  /** The plaintext and which secret opened it (0 = current), or `null`. Never throws. */
  async open(sealed: Uint8Array): Promise<{ plain: Uint8Array; keyIndex: number } | null> {
    const opened = this.openSync(sealed);
    if (opened !== undefined) return opened;
    if (sealed.length < 12 + 16) return null;
    const iv = sealed.subarray(0, 12);
    const body = sealed.subarray(12);
    const keys = await this.#webKeys();
    for (let i = 0; i < keys.length; i++) {
      try {
        const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: iv as Uint8Array<ArrayBuffer>, additionalData: this.#aad }, keys[i]!, body as Uint8Array<ArrayBuffer>);
        return { plain: new Uint8Array(plain), keyIndex: i };
      } catch {
        // Not this key (or tampered): try the next.
      }
    }
    return null;
  }

  /** As {@link open}, synchronously; `undefined` where there is no synchronous AES-GCM. */
  openSync(sealed: Uint8Array): { plain: Uint8Array; keyIndex: number } | null | undefined {
    const keys = this.#sync();
    if (!keys) return undefined;
    if (sealed.length < 12 + 16) return null;
    const iv = sealed.subarray(0, 12);
    const body = sealed.subarray(12);
    for (let i = 0; i < keys.length; i++) {
      const plain = this.#ring.sync!.decrypt!(keys[i]!, iv, this.#aad, body);
      if (plain) return { plain, keyIndex: i };
    }
    return null;
  }
}

/**
 * Signs and verifies strings for one purpose. Keys are derived on first use and cached. Each
 * async method runs synchronously inside where the ring's sync path is on; each `…Sync` method
 * returns `undefined` where it is off (WebCrypto only), so the caller falls back to the async one.
 */
export class Signer {
  #ring: KeyRing;
  #purpose: string;
  #keys: Promise<CryptoKey[]> | undefined;
  #syncKeys: SyncKey[] | undefined;
  constructor(ring: KeyRing, purpose: string) {
    this.#ring = ring;
    this.#purpose = purpose;
  }

  #sync(): SyncKey[] | undefined {
    const sync = this.#ring.sync;
    if (!sync) return undefined;
    return (this.#syncKeys ??= this.#ring.materialSync(this.#purpose)!.map((raw) => sync.importKey("HMAC", raw)));
  }

  #webKeys(): Promise<CryptoKey[]> {
    return (this.#keys ??= this.#ring.derive(this.#purpose));
  }

  /** Derive (once) the keys of the path in use; call at start-up to take the cost off the first request. */
  async ready(): Promise<void> {
    if (!this.#sync()) await this.#webKeys();
  }

  /** The former name of {@link ready}. */
  keys(): Promise<void> {
    return this.ready();
  }

  /** The base64url HMAC of `text` under the first secret: one `sign`. */
  async sign(text: string): Promise<string> {
    return this.signSync(text) ?? encodeBase64Url(await this.mac(text));
  }

  /** As {@link sign}, synchronously; `undefined` on the WebCrypto path. */
  signSync(text: string): string | undefined {
    const mac = this.macSync(text);
    return mac && encodeBase64Url(mac);
  }

  /** The raw HMAC bytes of `text` under the secret at `index` (store keys hash ids with it). */
  async mac(text: string, index = 0): Promise<Uint8Array> {
    const mac = this.macSync(text, index);
    if (mac) return mac;
    const keys = await this.#webKeys();
    return new Uint8Array(await crypto.subtle.sign("HMAC", keys[index]!, encoder.encode(text)));
  }

  /** As {@link mac}, synchronously; `undefined` on the WebCrypto path. */
  macSync(text: string, index = 0): Uint8Array | undefined {
    const keys = this.#sync();
    return keys && this.#ring.sync!.sign(keys[index]!, text);
  }

  /**
   * Which secret signed `text` (0 = the current one), or -1. One `verify` per secret tried,
   * stopping at the first match; a malformed signature costs none. Constant-time on both paths.
   */
  async verify(text: string, signature: string): Promise<number> {
    const index = this.verifySync(text, signature);
    if (index !== undefined) return index;
    const mac = decodeBase64Url(signature);
    if (!mac || mac.length !== 32) return -1;
    const keys = await this.#webKeys();
    const data = encoder.encode(text);
    for (let i = 0; i < keys.length; i++) {
      if (await crypto.subtle.verify("HMAC", keys[i]!, mac as Uint8Array<ArrayBuffer>, data)) return i;
    }
    return -1;
  }

  /** As {@link verify}, synchronously; `undefined` on the WebCrypto path. */
  verifySync(text: string, signature: string): number | undefined {
    const keys = this.#sync();
    if (!keys) return undefined;
    const mac = decodeBase64Url(signature);
    if (!mac || mac.length !== 32) return -1;
    const sync = this.#ring.sync!;
    for (let i = 0; i < keys.length; i++) {
      if (sync.verify(keys[i]!, mac, text)) return i;
    }
    return -1;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}
