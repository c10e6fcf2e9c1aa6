/**
 * The synchronous crypto path: RFC 4231 vectors on every HMAC implementation (node:crypto, plain
 * TypeScript, WebCrypto), byte-identical keys and MACs across paths (old cookies and store keys keep
 * verifying), `crypto: "webcrypto"` forcing WebCrypto, and `CookieCodec.decodeSync` giving what
 * `decode` gives, inflating under the same limit, with no per-request key derivation.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "./_env.ts";
import { CookieCodec, MAX_INFLATED, cookieStore } from "../core/cookie_store.ts";
import type { CookieStoreOptions } from "../core/cookie_store.ts";
import { KeyRing, Sealer, Signer, toHex } from "../core/signing.ts";
import { createSyncCrypto, equalBytes, nodeCryptoHmac, pureTsHmac } from "../core/crypto/hmac.ts";
import type { HmacImpl, SyncCrypto } from "../core/crypto/hmac.ts";
import { nodeCrypto, syncCrypto } from "../core/crypto/platform.ts";
import { sha256 } from "../core/crypto/sha256.ts";
import { encodeBase64Url } from "../core/_base64.ts";

const te = new TextEncoder();
const bytes = (value: number, length: number) => new Uint8Array(length).fill(value);
const hex = (text: string) => Uint8Array.from(text.match(/../g)!, (h) => parseInt(h, 16));

/** RFC 4231 section 4: key, data, HMAC-SHA-256 (case 5 is truncated to 128 bits). */
const RFC4231: { name: string; key: Uint8Array; data: Uint8Array; mac: string }[] = [
  { name: "case 1", key: bytes(0x0b, 20), data: te.encode("Hi There"), mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
  { name: "case 2", key: te.encode("Jefe"), data: te.encode("what do ya want for nothing?"), mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
  { name: "case 3", key: bytes(0xaa, 20), data: bytes(0xdd, 50), mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
  { name: "case 4", key: Uint8Array.from({ length: 25 }, (_, i) => i + 1), data: bytes(0xcd, 50), mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
  { name: "case 5 (truncated to 128 bits)", key: bytes(0x0c, 20), data: te.encode("Test With Truncation"), mac: "a3b6167473100ee06e0c796c2955552b" },
  { name: "case 6 (131-byte key)", key: bytes(0xaa, 131), data: te.encode("Test Using Larger Than Block-Size Key - Hash Key First"), mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
  {
    name: "case 7 (131-byte key, 152-byte data)",
    key: bytes(0xaa, 131),
    data: te.encode("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

const node = nodeCrypto();
/** Every synchronous HMAC this runtime can run (node:crypto only where present). */
const impls: HmacImpl[] = [pureTsHmac, ...(node ? [nodeCryptoHmac(node)] : [])];
/** Every synchronous path a key ring can take here: each HMAC, with node:crypto's AES-GCM where present. */
const syncPaths: SyncCrypto[] = impls.map((impl) => createSyncCrypto(impl, node));

async function webMac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

describe("RFC 4231 HMAC-SHA256 test vectors", () => {
  for (const v of RFC4231) {
    test(`${v.name}: every path (${["webcrypto", ...impls.map((i) => i.name)].join(", ")})`, async () => {
      const want = v.mac;
      assert.equal(toHex(await webMac(v.key, v.data)).slice(0, want.length), want, "webcrypto");
      for (const impl of impls) {
        assert.equal(toHex(impl.mac(impl.key(v.key), v.data)).slice(0, want.length), want, impl.name);
        if (v.data.every((b) => b < 0x80)) {
          assert.equal(toHex(impl.mac(impl.key(v.key), new TextDecoder().decode(v.data))).slice(0, want.length), want, `${impl.name}, string data`);
        }
      }
      for (const sync of syncPaths) {
        const key = sync.importKey("HMAC", v.key);
        assert.equal(toHex(sync.sign(key, v.data)).slice(0, want.length), want, `SyncCrypto ${sync.hmac}`);
        if (want.length === 64) {
          assert.ok(sync.verify(key, hex(want), v.data), `verify ${sync.hmac}`);
          const wrong = hex(want);
          wrong[31]! ^= 1;
          assert.ok(!sync.verify(key, wrong, v.data), `a flipped bit fails ${sync.hmac}`);
          assert.ok(!sync.verify(key, hex(want).subarray(0, 16), v.data), `a truncated MAC fails ${sync.hmac}`);
        }
      }
    });
  }
});

describe("plain-TypeScript SHA-256 (FIPS 180-4)", () => {
  test("the FIPS 180-2 examples and every padding boundary agree with WebCrypto", async () => {
    assert.equal(toHex(sha256(te.encode("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(toHex(sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(
      toHex(sha256(te.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    for (const length of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000]) {
      const data = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
      assert.equal(toHex(sha256(data)), toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data))), `length ${length}`);
    }
  });
});

describe("equalBytes()", () => {
  test("equal only for the same bytes and the same length", () => {
    assert.ok(equalBytes(hex("00ff10"), hex("00ff10")));
    assert.ok(!equalBytes(hex("00ff10"), hex("00ff11")));
    assert.ok(!equalBytes(hex("00ff10"), hex("00ff")));
    assert.ok(equalBytes(new Uint8Array(0), new Uint8Array(0)));
  });
});

describe("platform", () => {
  test(`${runtime}: the synchronous path in use is the measured choice`, () => {
    const getBuiltin = (globalThis as { process?: { getBuiltinModule?: unknown } }).process?.getBuiltinModule;
    console.log(`${runtime}: process.getBuiltinModule is ${typeof getBuiltin}; node:crypto ${node ? "present" : "absent"}; sync HMAC ${syncCrypto()?.hmac ?? "none (WebCrypto)"}`);
    assert.ok(node, "Node 24, Deno and Bun all give node:crypto through process.getBuiltinModule");
    assert.equal(syncCrypto()?.hmac, runtime === "deno" ? "pure-ts" : "node:crypto");
    assert.ok(syncCrypto()!.encrypt && syncCrypto()!.decrypt, "AES-256-GCM from node:crypto");
    assert.equal(syncCrypto(), syncCrypto(), "one object, so its calls can be counted");
    assert.equal(new KeyRing(["s".repeat(32)]).path, syncCrypto()!.hmac);
  });

  test('new KeyRing(secrets, { crypto: "webcrypto" }) turns every synchronous form off', async () => {
    const ring = new KeyRing(["s".repeat(32)], { crypto: "webcrypto" });
    assert.equal(ring.path, "webcrypto");
    assert.equal(ring.sync, undefined);
    assert.equal(ring.materialSync("x"), undefined);
    const signer = new Signer(ring, "x");
    assert.equal(signer.signSync("a"), undefined);
    assert.equal(signer.macSync("a"), undefined);
    assert.equal(signer.verifySync("a", await signer.sign("a")), undefined);
    assert.equal(await signer.verify("a", await signer.sign("a")), 0);
    assert.equal(new Sealer(ring, "x").openSync(new Uint8Array(40)), undefined);
    const codec = new CookieCodec(signer, null, cookieStore());
    const value = await codec.encode({ data: "{}", created: 0, active: 0, expires: 10_000 }, 0);
    assert.equal(codec.decodeSync(value, 1), undefined);
    assert.equal((await codec.decode(value, 1))?.record.data, "{}");
    assert.throws(() => new KeyRing(["s".repeat(32)], { crypto: "sync" as "auto" }), TypeError);
  });
});

/** Key rings over the same secrets on every path this runtime has. */
function rings(secrets: string[]): KeyRing[] {
  return [new KeyRing(secrets, { crypto: "webcrypto" }), ...syncPaths.map((sync) => new KeyRing(secrets, { sync }))];
}
const NEW = "new-secret-0123456789-abcdefghijklmnopq";
const OLD = "old-secret-0123456789-abcdefghijklmnopq";

describe("one key, one byte string, on every path", () => {
  test("a value signed on any path verifies on every other; MACs and store-key hashes are identical", async () => {
    const all = rings([NEW, OLD]);
    assert.deepEqual(all.map((r) => r.path), ["webcrypto", ...impls.map((i) => i.name)]);
    const texts = ["", "a", "x".repeat(700), "é€😀 \u{10FFFF}", "payload.meta"];
    for (const text of texts) {
      const macs = await Promise.all(all.map((r) => new Signer(r, "cookie-store/sessionid").sign(text)));
      assert.equal(new Set(macs).size, 1, `same MAC for ${JSON.stringify(text)}`);
      for (const ring of all) assert.equal(await new Signer(ring, "cookie-store/sessionid").verify(text, macs[0]!), 0, ring.path);
      // Store keys: toHex(HMAC) of the id under each secret, identical on every path.
      for (const index of [0, 1]) {
        const keys = await Promise.all(all.map(async (r) => toHex(await new Signer(r, "store-key").mac(text, index))));
        assert.equal(new Set(keys).size, 1, `store key ${index}`);
      }
    }
    // Signed with the old secret on the WebCrypto path (as the previous release did): verifies as fallback 1 everywhere.
    const old = await new Signer(new KeyRing([OLD], { crypto: "webcrypto" }), "p").sign("v");
    for (const ring of all) assert.equal(await new Signer(ring, "p").verify("v", old), 1, ring.path);
    for (const ring of all) assert.equal(await new Signer(ring, "other").verify("v", old), -1, `purpose-bound, ${ring.path}`);
  });

  test("derivation is byte-identical: HMAC(secret, \"satchel/v1/\" + purpose)", async () => {
    const expected = toHex(await webMac(te.encode(NEW), te.encode("satchel/v1/store-key")));
    for (const sync of syncPaths) assert.equal(toHex(new KeyRing([NEW], { sync }).materialSync("store-key")![0]!), expected, sync.hmac);
  });

  test("sealed on any path, opened on every other", async () => {
    const all = rings([NEW, OLD]);
    const plain = te.encode("meta\n{\"user\":\"ada\"}");
    for (const from of all) {
      const sealed = await new Sealer(from, "cookie-store/sessionid/aes-gcm").seal(plain);
      for (const to of all) {
        const opened = await new Sealer(to, "cookie-store/sessionid/aes-gcm").open(sealed);
        assert.deepEqual(opened && [new TextDecoder().decode(opened.plain), opened.keyIndex], [new TextDecoder().decode(plain), 0], `${from.path} -> ${to.path}`);
        assert.equal(await new Sealer(to, "other").open(sealed), null, "purpose-bound");
      }
    }
  });
});

/** Codecs over one key ring per path, all for the same cookie. */
function codecs(options: CookieStoreOptions, secrets = [NEW, OLD]): CookieCodec[] {
  const store = cookieStore(options);
  return rings(secrets).map((ring) => new CookieCodec(new Signer(ring, "cookie-store/sessionid"), new Sealer(ring, "cookie-store/sessionid/aes-gcm"), store));
}

const NOW = 1_700_000_000_000;
const record = (data: string, expiry?: number) => ({ data, created: NOW - 5000, active: NOW, expires: NOW + 60_000, ...(expiry === undefined ? {} : { expiry }) });

describe("CookieCodec.decodeSync", () => {
  for (const [label, options] of [["signed", {}], ["signed, compressed", { compress: 0 }], ["encrypted", { encrypt: true }], ["encrypted, padded", { encrypt: true, pad: 64 }]] as [string, CookieStoreOptions][]) {
    test(`${label}: gives what decode gives, for cookies written on any path`, async () => {
      const all = codecs(options);
      const datas = ['{"user":"ada"}', JSON.stringify({ text: "satchel ".repeat(300) }), "{}"];
      for (const writer of all) {
        for (const data of datas) {
          const value = await writer.encode(record(data, 3600), NOW);
          for (const reader of all) {
            const want = await reader.decode(value, NOW + 1000);
            assert.equal(want?.record.data, data);
            assert.equal(want?.keyIndex, 0);
            const got = reader.decodeSync(value, NOW + 1000);
            if (reader === all[0]) assert.equal(got, undefined, "the WebCrypto ring has no synchronous decode");
            else assert.deepEqual(got, want);
            // Expired, tampered, truncated and foreign values: null on both.
            for (const [bad, now] of [[value, NOW + 60_000], [value.slice(0, -2), NOW], [value + "A", NOW], ["x" + value, NOW], ["", NOW], ["a.b.c", NOW], ["x".repeat(9000), NOW]] as const) {
              assert.equal(await reader.decode(bad, now), null);
              if (reader !== all[0]) assert.equal(reader.decodeSync(bad, now), null);
            }
          }
        }
      }
    });
  }

  test("a cookie under the old secret decodes with keyIndex 1, synchronously too", async () => {
    for (const options of [{}, { encrypt: true }]) {
      const value = await codecs(options, [OLD])[0]!.encode(record("{}"), NOW);
      for (const codec of codecs(options).slice(1)) assert.equal(codec.decodeSync(value, NOW)?.keyIndex, 1);
    }
  });

  test(`inflating stops at MAX_INFLATED (${MAX_INFLATED} bytes): exactly that is read, one byte more is refused`, async () => {
    const ring = new KeyRing([NEW]);
    const signer = new Signer(ring, "cookie-store/sessionid");
    const codec = new CookieCodec(signer, null, cookieStore());
    const forge = async (size: number) => {
      // A correctly signed cookie (we hold the secret) whose compressed payload inflates to `size` bytes.
      const data = new Uint8Array(size).fill(0x61);
      const packed = new Uint8Array(await new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("deflate-raw"))).arrayBuffer());
      const body = `${encodeBase64Url(packed)}.${encodeBase64Url(te.encode(JSON.stringify([1, 1, NOW, 0, 60_000])))}`;
      return `${body}.${await signer.sign(body)}`;
    };
    const exact = await forge(MAX_INFLATED);
    const over = await forge(MAX_INFLATED + 1);
    assert.ok(over.length < 8192, "the bomb fits in a cookie");
    assert.equal(codec.decodeSync(exact, NOW)?.record.data.length, MAX_INFLATED);
    assert.equal((await codec.decode(exact, NOW))?.record.data.length, MAX_INFLATED);
    assert.equal(codec.decodeSync(over, NOW), null);
    assert.equal(await codec.decode(over, NOW), null);
  });

  test("key material is derived once: many sync decodes make one verify each and no key import", async () => {
    const sync = syncCrypto()!;
    const counted = new CookieCodec(new Signer(new KeyRing([NEW]), "cookie-store/sessionid"), null, cookieStore());
    const calls = { importKey: 0, sign: 0, verify: 0 };
    const originals = { importKey: sync.importKey, sign: sync.sign, verify: sync.verify };
    const target = sync as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["importKey", "sign", "verify"] as const) {
      target[name] = (...args: unknown[]) => {
        calls[name]++;
        return (originals[name] as (...a: unknown[]) => unknown)(...args);
      };
    }
    let value = "";
    try {
      value = await counted.encode(record("{}"), NOW);
      for (let i = 0; i < 50; i++) assert.equal(counted.decodeSync(value, NOW)?.record.data, "{}");
    } finally {
      Object.assign(sync, originals);
    }
    // First use: one base key and one derived key imported, one sign to derive and one to encode;
    // then one verify per decode, never another import or derivation.
    assert.deepEqual(calls, { importKey: 2, sign: 2, verify: 50 });
  });

  test("decode on the synchronous path makes no WebCrypto call", async () => {
    const codec = codecs({ compress: 0 }, [NEW])[1]!;
    const value = await codec.encode(record(JSON.stringify({ text: "x".repeat(2000) })), NOW);
    const subtle = crypto.subtle as unknown as Record<string, unknown>;
    let calls = 0;
    const originals = { verify: subtle.verify, sign: subtle.sign, decrypt: subtle.decrypt, importKey: subtle.importKey };
    for (const name of Object.keys(originals)) subtle[name] = () => { calls++; throw new Error("no WebCrypto here"); };
    try {
      assert.ok(codec.decodeSync(value, NOW));
      assert.ok(await codec.decode(value, NOW));
    } finally {
      for (const name of Object.keys(originals)) delete subtle[name];
      for (const [name, fn] of Object.entries(originals)) if (subtle[name] !== fn) subtle[name] = fn;
    }
    assert.equal(calls, 0);
  });
});
