/**
 * Which synchronous crypto this runtime offers, decided once, on first use. The only runtime
 * sniffing in the core lives here.
 *
 * `node:crypto` and `node:zlib` are reached only through
 * `globalThis.process?.getBuiltinModule?.(…)` (Node ≥ 20.16, Bun, Deno, Workers with
 * `nodejs_compat`), never through a static import, so the core still bundles and runs where they do
 * not exist (plain Workers, browsers): there, {@link syncCrypto} is `undefined` and the key ring
 * stays on WebCrypto.
 *
 * HMAC-SHA256 per runtime, chosen by measurement (µs per MAC of a 700-byte message, best of four
 * or five runs of 10 000–20 000 on a shared, loaded 2-core x86-64 machine; a verify costs the same
 * plus a 32-byte compare; workerd run locally by miniflare, its clock coarse, so ±2 µs):
 *
 * | runtime                    | WebCrypto sign / verify | node:crypto           | plain TypeScript | used             |
 * |----------------------------|-------------------------|-----------------------|------------------|------------------|
 * | Node 24.21                 | 31.6 / 28.0             | 3.0                   | 4.2              | node:crypto      |
 * | Bun 1.4.5                  | 26.1 / 20.8             | 1.4                   | 4.9              | node:crypto      |
 * | Deno 2.9.5                 | 32.9 / 24.8             | 14.7–25.9             | 5.5              | plain TypeScript |
 * | workerd + `nodejs_compat`  | 5.7 / 4.5 – 8.4 / 9.7   | 9–13 (KeyObject key)  | 6.7–7.5          | plain TypeScript |
 * | workerd, browsers          | 9.0 / 7.6               | absent                | 6.7–7.9          | WebCrypto only   |
 *
 * So Node and Bun, whose `node:crypto` is native, get it (with `KeyObject` keys: a raw key buffer
 * costs Node about four times more per MAC); Deno and workerd, where `node:crypto` is an
 * emulation and measured slower than the plain-TypeScript HMAC, get the latter. Where
 * `node:crypto` is absent, the plain-TypeScript HMAC is not used either: there is no synchronous
 * decompression or AES-GCM to go with it, and WebCrypto measured as fast in workerd. AES-256-GCM always
 * comes from `node:crypto` where it exists (no AES is written here).
 *
 * @module
 */
import { createSyncCrypto, nodeCryptoHmac, pureTsHmac } from "./hmac.ts";
import type { NodeCrypto, SyncCrypto } from "./hmac.ts";

/** The part of `node:zlib` used here. */
interface NodeZlib {
  inflateRawSync(data: Uint8Array, options: { maxOutputLength: number }): Uint8Array;
  deflateRawSync(data: Uint8Array): Uint8Array;
}

/** A built-in module through `process.getBuiltinModule`, or `undefined` where there is none. */
export function builtin<T>(name: "node:crypto" | "node:zlib"): T | undefined {
  try {
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const get = process?.getBuiltinModule;
    return typeof get === "function" ? (get.call(process, name) as T | undefined) ?? undefined : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `node:crypto` is a compatibility layer here (Deno, workerd) rather than native (Node, Bun). */
function compatibilityLayer(): boolean {
  const navigator = (globalThis as { navigator?: { userAgent?: unknown } }).navigator;
  return "Deno" in globalThis || navigator?.userAgent === "Cloudflare-Workers";
}

let chosen: SyncCrypto | null | undefined;
let zlib: NodeZlib | null | undefined;

/** `node:crypto` when it has what the sync path needs. */
export function nodeCrypto(): NodeCrypto | undefined {
  const node = builtin<NodeCrypto>("node:crypto");
  return node && typeof node.createHmac === "function" && typeof node.createSecretKey === "function" ? node : undefined;
}

/**
 * The synchronous crypto of this runtime (see the table above), or `undefined` when there is no
 * `node:crypto` (WebCrypto only). The same object every time, so its calls can be counted.
 */
export function syncCrypto(): SyncCrypto | undefined {
  if (chosen === undefined) {
    const node = nodeCrypto();
    chosen = node ? createSyncCrypto(compatibilityLayer() ? pureTsHmac : nodeCryptoHmac(node), node) : null;
  }
  return chosen ?? undefined;
}

/**
 * Inflate deflate-raw `data` synchronously, refusing output over `limit` bytes: the bytes, `null`
 * when the data is malformed or inflates to more than `limit`, `undefined` when there is no
 * `node:zlib` here.
 */
export function inflateRawSync(data: Uint8Array, limit: number): Uint8Array | null | undefined {
  const z = loadZlib();
  if (!z) return undefined;
  try {
    return z.inflateRawSync(data, { maxOutputLength: limit });
  } catch {
    return null; // RangeError ERR_BUFFER_TOO_LARGE past the limit, or a zlib error
  }
}

function loadZlib(): NodeZlib | null {
  if (zlib === undefined) {
    const z = builtin<NodeZlib>("node:zlib");
    zlib = z && typeof z.inflateRawSync === "function" && typeof z.deflateRawSync === "function" ? z : null;
  }
  return zlib;
}

/**
 * Deflate-raw `data` synchronously (what `CompressionStream("deflate-raw")` does, without its
 * stream round trips); `undefined` when there is no `node:zlib` here.
 */
export function deflateRawSync(data: Uint8Array): Uint8Array | undefined {
  const z = loadZlib();
  return z ? z.deflateRawSync(data) : undefined;
}
