/**
 * `@satchel/session/django` without Django: Django's own test vectors (DJANGO.md §11.6, each one
 * produced by Django 5.2 and reproduced there with plain hashlib/hmac), an independent
 * implementation of the documented algorithm (node:crypto HMAC over SHA-256(salt + "signer" +
 * secret)) for key rotation, Python's JSON rules, the max_age boundary, and every way a value must
 * be refused. tests/django_live.test.ts checks the same against a real Django.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  DEFAULT_COOKIE_AGE,
  SESSION_STORE_SALT,
  SIGNED_COOKIES_SALT,
  decodeSessionData,
  decodeSignedCookie,
  djangoCookieCodec,
  djangoDumps,
  djangoLoads,
  encodeSessionData,
  encodeSignedCookie,
  pythonIsoDate,
  pythonJson,
  recordToDjango,
  signValue,
} from "../core/django.ts";
import { encodeBase64Url } from "../core/_base64.ts";
import { runtime } from "./_env.ts";

const SECRET = "test-secret-key";
const T = 1_700_000_000_000; // b62 "1r31eq"

/** The documented algorithm, written again with node:crypto: `payload:ts:base64url(HMAC(SHA256(salt+"signer"+secret), payload:ts))`. */
function referenceSign(payload: string, tsSeconds: number, secret: string, salt: string): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let ts = "";
  for (let n = tsSeconds; n > 0; n = Math.floor(n / 62)) ts = alphabet[n % 62] + ts;
  const value = `${payload}:${ts || "0"}`;
  const key = createHash("sha256").update(`${salt}signer${secret}`, "utf8").digest();
  const mac = createHmac("sha256", key).update(value, "utf8").digest("base64url");
  return `${value}:${mac}`;
}
const b64json = (text: string): string => encodeBase64Url(new TextEncoder().encode(text));

describe("Django's test vectors", () => {
  test("signed_cookies values are byte-identical to Django's", async () => {
    assert.equal(await encodeSignedCookie({ a: 1 }, SECRET, T), "eyJhIjoxfQ:1r31eq:AJu16St_lXmPR35BcDlMtqC8Z-L-JTNezUHSXtss5hs");
    assert.equal(await encodeSignedCookie({}, SECRET, T), "e30:1r31eq:MuZY3XwpXtpo9d2rDMDjBM5_gvXgPIn_QRJ0tDjGDHg");
    assert.equal(await encodeSignedCookie({ k: "é" }, SECRET, T), "eyJrIjoiXHUwMGU5In0:1r31eq:F0kGWQJaY512ySZJtFPg9TVbMF55DeqBLwyFDaFvNb0");
  });

  test("the session_data blob is byte-identical to Django's (salt django.contrib.sessions.SessionStore)", async () => {
    assert.equal(await encodeSessionData({ a: 1 }, SECRET, T), "eyJhIjoxfQ:1r31eq:mvqAFpOL1fZXbE9_M4qDR7eYKgZG_5R2MwsvV9eChd8");
    assert.deepEqual(await decodeSessionData("eyJhIjoxfQ:1r31eq:mvqAFpOL1fZXbE9_M4qDR7eYKgZG_5R2MwsvV9eChd8", SECRET), { a: 1 });
  });

  test("Django's compressed vector decodes, and satchel's compressed output verifies and inflates the same", async () => {
    const django = ".eJyrVkpJLElUslKqoANQqgUAwf0yNQ:1r31eq:vm1DXxIOBFCEIvg3qVakTTsgZvy5TNAJ6xoAcCll100";
    const data = { data: "x".repeat(100) };
    assert.deepEqual(await decodeSignedCookie(django, SECRET, DEFAULT_COOKIE_AGE, T), data);
    const ours = await encodeSignedCookie(data, SECRET, T);
    assert.ok(ours.startsWith(".eJ"), "compressed, zlib header 0x78");
    // zlib level 6 gives Django's exact bytes on Node and Bun; Deno's deflater adds an empty sync-flush block.
    if (runtime !== "deno") assert.equal(ours, django);
    assert.deepEqual(await decodeSignedCookie(ours, SECRET, DEFAULT_COOKIE_AGE, T), data);
  });

  test("Signer(key='predictable-secret').sign('foo') from Django's test suite", async () => {
    assert.equal(await signValue("foo", "predictable-secret"), "foo:jZQoX_FtSO70jX9HLRGg2A_2s4kdDBxz1QoO_OpEQb0");
  });

  test("TimestampSigner(key='predictable-key'): signed at 123456789, valid at +11 s with max_age 12 and 11, expired with 10", async () => {
    const signed = await djangoDumps("hello", { secret: "predictable-key", nowMs: 123_456_789_000 });
    const at = 123_456_800_000;
    assert.deepEqual((await djangoLoads(signed, { secret: "predictable-key", maxAge: 12, nowMs: at }))?.value, "hello");
    assert.deepEqual((await djangoLoads(signed, { secret: "predictable-key", maxAge: 11, nowMs: at }))?.value, "hello");
    assert.equal(await djangoLoads(signed, { secret: "predictable-key", maxAge: 10, nowMs: at }), null);
  });

  test("the independent reference implementation agrees with every encoder", async () => {
    assert.equal(await encodeSignedCookie({ a: 1 }, SECRET, T), referenceSign(b64json('{"a":1}'), T / 1000, SECRET, SIGNED_COOKIES_SALT));
    assert.equal(await encodeSessionData({ a: 1 }, "ключ🔑", T), referenceSign(b64json('{"a":1}'), T / 1000, "ключ🔑", SESSION_STORE_SALT));
  });
});

describe("SECRET_KEY_FALLBACKS (Django 4.1+): sign with the first, verify with each in order", () => {
  const OLD = "old-django-secret";
  const NEW = "new-django-secret";
  test("a value signed under a fallback verifies, and reports which key did", async () => {
    const old = referenceSign(b64json('{"user":"ada"}'), T / 1000, OLD, SESSION_STORE_SALT);
    assert.deepEqual(await decodeSessionData(old, [NEW, OLD]), { user: "ada" });
    assert.equal((await djangoLoads(old, { secret: [NEW, "other", OLD], salt: SESSION_STORE_SALT }))?.keyIndex, 2);
    assert.equal(await decodeSessionData(old, [NEW]), null, "without the fallback it is corrupt");
    const cookie = referenceSign(b64json('{"user":"ada"}'), T / 1000, OLD, SIGNED_COOKIES_SALT);
    assert.deepEqual(await decodeSignedCookie(cookie, [NEW, OLD], DEFAULT_COOKIE_AGE, T), { user: "ada" });
  });
  test("writes always use the first secret, which the old key alone does not verify", async () => {
    const fresh = await encodeSessionData({ user: "ada" }, [NEW, OLD], T);
    assert.equal(fresh, referenceSign(b64json('{"user":"ada"}'), T / 1000, NEW, SESSION_STORE_SALT));
    assert.equal(await decodeSessionData(fresh, OLD), null);
  });
});

describe("Python's json.dumps(separators=(',', ':')) and json.loads", () => {
  test("ensure_ascii: every character outside U+0020..U+007E as lower-case \\uXXXX, astral ones as surrogate pairs", () => {
    assert.equal(pythonJson({ a: "é€\u007f\n\t\"\\/", b: "😀", c: "\udc00" }), '{"a":"\\u00e9\\u20ac\\u007f\\n\\t\\"\\\\/","b":"\\ud83d\\ude00","c":"\\udc00"}');
    assert.equal(pythonJson({ "clé": [1, null, true, false] }), '{"cl\\u00e9":[1,null,true,false]}');
  });
  test("numbers as Python writes them: repr for floats, digits for integers, NaN and Infinity", () => {
    assert.equal(pythonJson([0.1, 1.5e-5, 1e-4, 5e-324, 123.25, 1e16, 1e22, -0, NaN, Infinity, -Infinity]),
      "[0.1,1.5e-05,0.0001,5e-324,123.25,10000000000000000,10000000000000000000000,0,NaN,Infinity,-Infinity]");
  });
  test("what Django's JSON cannot hold is a TypeError, not a silent change", () => {
    for (const bad of [{ d: new Date(0) }, { m: new Map() }, { n: 1n }, new (class X {})()]) {
      assert.throws(() => pythonJson(bad), TypeError);
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => pythonJson(cycle), TypeError);
    assert.throws(() => encodeSessionData([] as unknown as object, SECRET), TypeError);
  });
  test("reads NaN/Infinity outside strings (as json.loads does) and leaves them alone inside strings", async () => {
    const blob = referenceSign(b64json('{"n":NaN,"i":[Infinity,-Infinity],"s":"NaN Infinity"}'), T / 1000, SECRET, SESSION_STORE_SALT);
    const data = await decodeSessionData(blob, SECRET);
    assert.ok(data && Number.isNaN(data.n));
    assert.deepEqual(data.i, [Infinity, -Infinity]);
    assert.equal(data.s, "NaN Infinity");
  });
  test("bytes are read as latin-1, as JSONSerializer.loads does (a raw 0xE9 byte is é, not a UTF-8 error)", async () => {
    const payload = encodeBase64Url(new Uint8Array([...new TextEncoder().encode('{"k":"'), 0xe9, ...new TextEncoder().encode('"}')]));
    assert.deepEqual(await decodeSessionData(referenceSign(payload, T / 1000, SECRET, SESSION_STORE_SALT), SECRET), { k: "é" });
  });
  test("a payload that is JSON but not an object is no session", async () => {
    for (const json of ["[1]", '"x"', "1", "null"]) {
      assert.equal(await decodeSessionData(referenceSign(b64json(json), T / 1000, SECRET, SESSION_STORE_SALT), SECRET), null, json);
    }
  });
});

describe("refusals: what Django rejects, satchel rejects", () => {
  test("tampered payload, timestamp or signature; wrong salt; wrong key; no separators", async () => {
    const good = await encodeSignedCookie({ user: "ada" }, SECRET, T);
    const [payload, ts, sig] = good.split(":") as [string, string, string];
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    const bad = [
      `${flip(payload)}:${ts}:${sig}`,
      `${payload}:${flip(ts)}:${sig}`,
      `${payload}:${ts}:${flip(sig)}`,
      `${payload}:${ts}:${sig.slice(0, -1)}`,
      `.${payload}:${ts}:${sig}`,
      `${payload}:${ts}`,
      payload,
      "",
      ":::",
      `${good}:`,
    ];
    for (const value of bad) assert.equal(await decodeSignedCookie(value, SECRET, DEFAULT_COOKIE_AGE, T), null, value);
    assert.equal(await decodeSessionData(good, SECRET), null, "a cookie is not session_data (salt)");
    assert.equal(await decodeSignedCookie(await encodeSessionData({ a: 1 }, SECRET, T), SECRET, DEFAULT_COOKIE_AGE, T), null, "and the other way round");
    assert.equal(await decodeSignedCookie(good, "another-secret", DEFAULT_COOKIE_AGE, T), null);
  });
  test("a Signer value without a timestamp is refused by loads", async () => {
    const noTimestamp = await signValue(b64json('{"a":1}'), SECRET, SESSION_STORE_SALT);
    assert.equal(await decodeSessionData(noTimestamp, SECRET), null);
  });
  test("signed garbage (bad base64, bad zlib, bad JSON, bad timestamp) is refused, never thrown", async () => {
    const sign = (payload: string, ts = "1r31eq") => signValue(`${payload}:${ts}`, SECRET, SESSION_STORE_SALT);
    for (const value of [await sign("!!!"), await sign(".eJzzSM3JyVcozy_KSQEAGKsEPQ" + "x"), await sign(b64json("{nope")), await sign(b64json("{}"), "1r3*")]) {
      assert.equal(await decodeSessionData(value, SECRET), null, value);
    }
    assert.equal(await decodeSessionData(undefined as unknown as string, SECRET), null);
  });
  test("SESSION_COOKIE_AGE: an age of exactly max_age is valid, a millisecond more is expired (age > max_age)", async () => {
    const value = await encodeSignedCookie({ a: 1 }, SECRET, T);
    assert.deepEqual(await decodeSignedCookie(value, SECRET, 1_209_600, T + 1_209_600_000), { a: 1 });
    assert.equal(await decodeSignedCookie(value, SECRET, 1_209_600, T + 1_209_600_001), null);
    assert.equal(await decodeSignedCookie(value, SECRET, 60, T + 61_000), null);
    assert.deepEqual(await decodeSessionData(await encodeSessionData({ a: 1 }, SECRET, 0), SECRET), { a: 1 }, "session_data ignores its timestamp");
  });
  test("compression only when it saves 2 bytes or more, and the '.' is signed", async () => {
    assert.ok(!(await encodeSessionData({ a: "short" }, SECRET, T)).startsWith("."));
    const long = await encodeSessionData({ a: "ab".repeat(200) }, SECRET, T);
    assert.ok(long.startsWith("."));
    assert.equal(await decodeSessionData(long.slice(1), SECRET), null, "dropping the dot breaks the signature");
  });
});

describe("djangoCookieCodec: the hook for cookieStore({ format: 'django' })", () => {
  const codec = djangoCookieCodec(["new-secret", "old-secret"], 3600);
  test("encodes a record as Django's dict with _session_expiry, and decodes it back", async () => {
    const value = await codec.encode({ data: '{"user":"ada"}', expires: T + 3_600_000, created: T - 5000, active: T, expiry: 600 }, T);
    assert.deepEqual(await decodeSignedCookie(value, "new-secret", 3600, T), { user: "ada", _session_expiry: 600 });
    const decoded = await codec.decode(value, T + 1000);
    assert.ok(decoded);
    assert.deepEqual(decoded, { keyIndex: 0, record: { data: '{"user":"ada"}', expires: T + 600_000, created: T, active: T, expiry: 600 } });
    assert.equal(await codec.decode(value, T + 600_000), null, "satchel also honours the shorter _session_expiry");
  });
  test("Django's own cookie: max_age bounds it, the fallback reports keyIndex 1, ISO dates are normalised", async () => {
    const value = await encodeSignedCookie({ n: 1, _session_expiry: "2023-11-14T22:13:30.500000+00:00" }, "old-secret", T);
    const decoded = await codec.decode(value, T + 1000);
    assert.deepEqual(decoded, { keyIndex: 1, record: { data: '{"n":1}', expires: Date.parse("2023-11-14T22:13:30.500Z"), created: T, active: T, expiry: "2023-11-14T22:13:30.500Z" } });
    const plain = await codec.decode(await encodeSignedCookie({ n: 1 }, "new-secret", T), T);
    assert.equal(plain?.record.expires, T + 3_600_001, "live through age == max_age");
    assert.equal(await codec.decode(await encodeSignedCookie({ n: 1 }, "new-secret", T), T + 3_600_001), null);
  });
  test("a signed decompression bomb is refused by the cookie hook (Django itself has no limit)", async () => {
    const bomb = await encodeSignedCookie({ z: "0".repeat(2_000_000) }, "new-secret", T);
    assert.ok(bomb.length < 8192);
    assert.equal(await codec.decode(bomb, T), null);
    assert.equal(((await decodeSignedCookie(bomb, "new-secret", 3600, T))?.z as string).length, 2_000_000);
  });
  test("dates in _session_expiry are written as Python's isoformat()", () => {
    assert.equal(pythonIsoDate("2031-01-02T03:04:05.000Z"), "2031-01-02T03:04:05+00:00");
    assert.equal(pythonIsoDate("2031-01-02T03:04:05.120Z"), "2031-01-02T03:04:05.120000+00:00");
    assert.deepEqual({ ...recordToDjango({ data: '{"_session_expiry":5,"a":1}' }) }, { a: 1 }, "the record's expiry is authoritative");
  });
});
