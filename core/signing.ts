/**
 * HMAC-SHA256 (and, for encrypted cookies, AES-256-GCM) through WebCrypto, with Django's salting
 * idea done with an HMAC:
 * each configured secret is imported once; per purpose a key is derived as
 * `HMAC(secret, "satchel/v1/" + purpose)` and imported once, so a value signed for one
 * purpose never verifies for another. Signing uses the first secret; verification tries
 * each secret in order (Django's `SECRET_KEY_FALLBACKS`) through `crypto.subtle.verify`.
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url } from "./_base64.ts";

const encoder = new TextEncoder();
const HMAC = { name: "HMAC", hash: "SHA-256" } as const;

/**
 * The imported secrets of one `createSessions()`; derives per-purpose keys. Secrets and keys live
 * in private fields, which `console.log`, `util.inspect` and `JSON.stringify` never show.
 */
export class KeyRing {
  readonly size: number;
  #secrets: readonly string[];
  #base: Promise<CryptoKey>[] | undefined;
  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
    this.size = secrets.length;
  }
  /** The derived key material for `purpose`, one per secret, in the configured order. */
  #material(purpose: string): Promise<ArrayBuffer[]> {
    this.#base ??= this.#secrets.map((s) => crypto.subtle.importKey("raw", encoder.encode(s), HMAC, false, ["sign"]));
    const label = encoder.encode(`satchel/v1/${purpose}`);
    return Promise.all(this.#base.map(async (base) => crypto.subtle.sign("HMAC", await base, label)));
  }
  /** HMAC-SHA256 keys for `purpose`, one per secret, in the configured order. */
  async derive(purpose: string): Promise<CryptoKey[]> {
    const material = await this.#material(purpose);
    return Promise.all(material.map((raw) => crypto.subtle.importKey("raw", raw, HMAC, false, ["sign", "verify"])));
  }
  /** AES-256-GCM keys for `purpose`, one per secret, in the configured order. */
  async deriveAes(purpose: string): Promise<CryptoKey[]> {
    const material = await this.#material(purpose);
    return Promise.all(material.map((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"])));
  }
}

/**
 * Encrypts and authenticates bytes for one purpose with AES-256-GCM: a fresh random 96-bit IV
 * per message, the purpose as additional data, the first secret's key to seal, every secret's
 * key tried to open. One `crypto.subtle.encrypt` to seal; one `decrypt` per key tried to open.
 */
export class Sealer {
  #ring: KeyRing;
  #purpose: string;
  #aad: Uint8Array<ArrayBuffer>;
  #keys: Promise<CryptoKey[]> | undefined;
  constructor(ring: KeyRing, purpose: string) {
    this.#ring = ring;
    this.#purpose = purpose;
    this.#aad = encoder.encode(`satchel/v1/${purpose}`);
  }
  /** Derive (once) and return the keys. */
  keys(): Promise<CryptoKey[]> {
    return (this.#keys ??= this.#ring.deriveAes(this.#purpose));
  }
  /** `iv || ciphertext || tag`. */
  async seal(plain: Uint8Array): Promise<Uint8Array> {
    const [key] = await this.keys();
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: this.#aad }, key!, plain as Uint8Array<ArrayBuffer>),
    );
    const out = new Uint8Array(12 + sealed.length);
    out.set(iv);
    out.set(sealed, 12);
    return out;
  }
  /** The plaintext and which secret opened it (0 = current), or `null`. Never throws. */
  async open(sealed: Uint8Array): Promise<{ plain: Uint8Array; keyIndex: number } | null> {
    if (sealed.length < 12 + 16) return null;
    const iv = sealed.subarray(0, 12);
    const body = sealed.subarray(12);
    const keys = await this.keys();
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
}

/** Signs and verifies strings for one purpose. Keys are derived on first use and cached. */
export class Signer {
  #ring: KeyRing;
  #purpose: string;
  #keys: Promise<CryptoKey[]> | undefined;
  constructor(ring: KeyRing, purpose: string) {
    this.#ring = ring;
    this.#purpose = purpose;
  }
  /** Derive (once) and return the keys; call at start-up to take the cost off the first request. */
  keys(): Promise<CryptoKey[]> {
    return (this.#keys ??= this.#ring.derive(this.#purpose));
  }
  /** The base64url HMAC of `text` under the first secret: one `crypto.subtle.sign`. */
  async sign(text: string): Promise<string> {
    const [key] = await this.keys();
    return encodeBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key!, encoder.encode(text))));
  }
  /** The raw HMAC bytes of `text` under the secret at `index`. */
  async mac(text: string, index = 0): Promise<Uint8Array> {
    const keys = await this.keys();
    return new Uint8Array(await crypto.subtle.sign("HMAC", keys[index]!, encoder.encode(text)));
  }
  /**
   * Which secret signed `text` (0 = the current one), or -1. One `crypto.subtle.verify`
   * per secret tried, stopping at the first match; a malformed signature costs none.
   */
  async verify(text: string, signature: string): Promise<number> {
    const mac = decodeBase64Url(signature);
    if (!mac || mac.length !== 32) return -1;
    const keys = await this.keys();
    const data = encoder.encode(text);
    for (let i = 0; i < keys.length; i++) {
      if (await crypto.subtle.verify("HMAC", keys[i]!, mac as Uint8Array<ArrayBuffer>, data)) return i;
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
