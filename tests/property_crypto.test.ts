/**
 * Property tests of the synchronous crypto against WebCrypto: for random keys (short, one
 * block, longer than a block) and random messages (bytes, and strings with any Unicode), the
 * plain-TypeScript HMAC, node:crypto's (where present) and the `SyncCrypto` the key ring uses give
 * WebCrypto's MAC byte for byte and verify it, reject it with any bit flipped; the plain-TypeScript
 * SHA-256 gives WebCrypto's digest; and `decodeSync` gives `decode`'s answer for random session
 * data on every path.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CookieCodec, cookieStore } from "../core/cookie_store.ts";
import { KeyRing, Sealer, Signer, toHex } from "../core/signing.ts";
import { createSyncCrypto, nodeCryptoHmac, pureTsHmac } from "../core/crypto/hmac.ts";
import type { HmacImpl } from "../core/crypto/hmac.ts";
import { nodeCrypto } from "../core/crypto/platform.ts";
import { sha256 } from "../core/crypto/sha256.ts";

const node = nodeCrypto();
const impls: HmacImpl[] = [pureTsHmac, ...(node ? [nodeCryptoHmac(node)] : [])];
const te = new TextEncoder();

// WebCrypto refuses an empty HMAC key (secrets are at least 32 characters anyway).
const keyArb = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 70 }),
  fc.uint8Array({ minLength: 60, maxLength: 200 }),
);
const bytesArb = fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.uint8Array({ minLength: 500, maxLength: 1500 }));
const textArb = fc.string({ unit: "binary", maxLength: 400 });

async function webMac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

describe("synchronous HMAC-SHA256 against WebCrypto", () => {
  test("the same MAC for random keys and byte messages, on every implementation", async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, bytesArb, async (key, data) => {
        const want = toHex(await webMac(key, data));
        for (const impl of impls) assert.equal(toHex(impl.mac(impl.key(key), data)), want, impl.name);
      }),
      { numRuns: 300 },
    );
  });

  test("strings are MACed as their UTF-8 bytes, lone surrogates included (as TextEncoder does)", async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, textArb, async (key, text) => {
        const want = toHex(await webMac(key, te.encode(text)));
        for (const impl of impls) assert.equal(toHex(impl.mac(impl.key(key), text)), want, impl.name);
      }),
      { numRuns: 300 },
    );
  });

  test("SyncCrypto verifies WebCrypto's MAC and refuses it with any one bit flipped", async () => {
    const paths = impls.map((impl) => createSyncCrypto(impl, node));
    await fc.assert(
      fc.asyncProperty(keyArb, bytesArb, fc.nat(255), async (key, data, bit) => {
        const mac = await webMac(key, data);
        const flipped = mac.slice();
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        for (const sync of paths) {
          const k = sync.importKey("HMAC", key);
          assert.ok(sync.verify(k, mac, data), sync.hmac);
          assert.ok(!sync.verify(k, flipped, data), sync.hmac);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("the plain-TypeScript SHA-256 gives WebCrypto's digest", async () => {
    await fc.assert(
      fc.asyncProperty(bytesArb, async (data) => {
        assert.equal(toHex(sha256(data)), toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>))));
      }),
      { numRuns: 200 },
    );
  });
});

describe("cookie codec on every path", () => {
  const secrets = ["prop-secret-0123456789-abcdefghijklmnop", "prop-old-secret-0123456789-abcdefghijk"];
  const rings = [new KeyRing(secrets, { crypto: "webcrypto" }), ...impls.map((impl) => new KeyRing(secrets, { sync: createSyncCrypto(impl, node) }))];
  const NOW = 1_700_000_000_000;

  for (const [label, options] of [["signed", { compress: 64 }], ["encrypted", { encrypt: true }]] as const) {
    test(`${label}: decodeSync gives decode's answer for random data written on any path`, async () => {
      const store = cookieStore(options);
      const codecs = rings.map((ring) => new CookieCodec(new Signer(ring, "cookie-store/sid"), new Sealer(ring, "cookie-store/sid/aes-gcm"), store));
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 300 }), fc.nat(codecs.length - 1), fc.integer({ min: -5000, max: 70_000 }), async (text, writer, later) => {
          const data = JSON.stringify({ text }); // serialized session data, never empty
          const value = await codecs[writer]!.encode({ data, created: NOW - 1000, active: NOW, expires: NOW + 60_000 }, NOW);
          for (const reader of codecs) {
            const want = await reader.decode(value, NOW + later);
            assert.equal(want?.record.data, later < 60_000 ? data : undefined);
            const got = reader.decodeSync(value, NOW + later);
            assert.deepEqual(got, reader === codecs[0] ? undefined : want);
          }
        }),
        { numRuns: 60 },
      );
    });
  }
});
