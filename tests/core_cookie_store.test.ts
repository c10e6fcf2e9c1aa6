/** The cookie store: signing, tampering, expiry, rotation, size, and the WebCrypto call budget. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, cookieStore, createSessions, memoryStore } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { SECRET, cookieValue, request, run, setCookies, setup } from "./_http.ts";
import { fakeClock } from "./_env.ts";
import { MAX_INFLATED } from "../core/cookie_store.ts";
import { syncCrypto } from "../core/crypto/platform.ts";

const OLD = "old-secret-0123456789-abcdefghijklmnopq";
const NEW = "new-secret-0123456789-abcdefghijklmnopq";

async function issued(options: Parameters<typeof setup>[0] = {}, data: Record<string, unknown> = { user: "ada" }) {
  const env = setup({ store: cookieStore(), ...options });
  const response = await run(env.sessions, undefined, (s) => s.update(data));
  return { ...env, value: cookieValue(response)! };
}

/**
 * Count the crypto calls made while `fn` runs, on the path in use: the synchronous crypto of this
 * runtime (node:crypto or the plain-TypeScript HMAC, which mirror the `crypto.subtle` calls one for
 * one) where `createSessions()` uses it, `crypto.subtle` elsewhere (workerd, browsers).
 */
type Counts = { sign: number; verify: number; importKey: number; encrypt?: number; decrypt?: number };
const NAMES = ["sign", "verify", "importKey", "encrypt", "decrypt"] as const;
async function countSubtle(fn: () => Promise<unknown>): Promise<Counts> {
  const target = (syncCrypto() ?? crypto.subtle) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const counts = { sign: 0, verify: 0, importKey: 0, encrypt: 0, decrypt: 0 };
  const originals = Object.fromEntries(NAMES.map((n) => [n, target[n]!])) as Record<(typeof NAMES)[number], (...args: unknown[]) => unknown>;
  for (const name of NAMES) {
    if (typeof originals[name] !== "function") continue;
    target[name] = function (this: unknown, ...args: unknown[]) {
      counts[name]++;
      return originals[name].apply(this, args);
    };
  }
  try {
    await fn();
  } finally {
    for (const name of NAMES) {
      if (Object.hasOwn(target, name)) delete target[name];
      if (target[name] !== originals[name] && originals[name]) target[name] = originals[name];
    }
  }
  const { encrypt, decrypt, ...rest } = counts;
  return encrypt || decrypt ? counts : rest;
}

describe("cookieStore()", () => {
  test("round-trips data in a signed cookie of base64url characters only", async () => {
    const { sessions, value } = await issued({}, { user: "ada", note: "é€😀", nested: { a: [1, 2] } });
    assert.match(value, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const session = await sessions.load(request(value));
    assert.equal(session.get("user"), "ada");
    assert.equal(session.get("note"), "é€😀");
    assert.deepEqual(session.get("nested"), { a: [1, 2] });
    assert.equal(session.id, null, "the cookie store has no session id");
  });

  test("any tampering gives an empty session and a deletion cookie, never an error", async () => {
    const { sessions, value } = await issued();
    const [payload, meta, sig] = value.split(".") as [string, string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const variants = [
      value.toUpperCase(), value + "a", "a" + value, value + ".garbage", "garbage" + value, value.slice(0, -1),
      flip(value, 0), flip(value, payload.length + 2), flip(value, value.length - 2),
      `${payload}${meta}.${sig}`, `${payload}.${meta}${sig}`, `${payload}..${meta}.${sig}`, `.${payload}.${meta}.${sig}`,
      `${payload}.${meta}`, value.replaceAll(".", ":"), "%E0%A4%A", "", "...",
    ];
    for (const variant of variants) {
      const response = await run(sessions, variant, (s) => assert.equal(s.get("user"), undefined, variant));
      assert.equal(response.status, 200);
      assert.equal(cookieValue(response), "", `deleted: ${variant}`);
    }
  });

  test("a cookie signed for one cookie name does not verify under another (purpose binding)", async () => {
    const { value, clock } = await issued();
    const other = createSessions({ secret: SECRET, store: cookieStore(), now: clock.now, cookie: { name: "othersession" } });
    const session = await other.load(request(value, { name: "othersession" }));
    assert.equal(session.get("user"), undefined);
  });

  test("expiry lives inside the signature: the signed age is enforced, setExpiry is honoured", async () => {
    const { sessions, value, clock } = await issued();
    clock.advance(1_209_599_999);
    assert.equal((await sessions.load(request(value))).get("user"), "ada");
    clock.advance(1);
    assert.equal((await sessions.load(request(value))).get("user"), undefined);

    const short = setup({ store: cookieStore() });
    const response = await run(short.sessions, undefined, (s) => { s.set("user", "ada"); s.setExpiry(60); });
    const cookie = cookieValue(response)!;
    short.clock.advance(59_999);
    assert.equal((await short.sessions.load(request(cookie))).get("user"), "ada");
    short.clock.advance(1);
    assert.equal((await short.sessions.load(request(cookie))).get("user"), undefined, "unlike Django's #19201");
  });

  test("a future issued-at beyond the skew tolerance is refused; within it accepted", async () => {
    const future = fakeClock(1_700_000_000_000 + 3_600_000);
    const near = fakeClock(1_700_000_000_000 + 30_000);
    const reader = setup({ store: cookieStore() });
    for (const [clock, accepted] of [[future, false], [near, true]] as const) {
      const writer = createSessions({ secret: SECRET, store: cookieStore(), now: clock.now });
      const response = await run(writer, undefined, (s) => s.set("user", "ada"));
      const session = await reader.sessions.load(request(cookieValue(response)!));
      assert.equal(session.get("user"), accepted ? "ada" : undefined);
    }
  });

  test("key rotation: old cookies verify through fallbacks and are re-issued under the new secret", async () => {
    const clock = fakeClock();
    const make = (secret: string | string[]) => createSessions({ secret, store: cookieStore(), now: clock.now });
    const first = await run(make(OLD), undefined, (s) => s.set("user", "ada"));
    const oldCookie = cookieValue(first)!;
    const rotated = make([NEW, OLD]);
    const untouched = await run(rotated, oldCookie, () => {});
    const reissued = cookieValue(untouched);
    assert.ok(reissued && reissued !== oldCookie, "re-issued even when the handler did not touch the session");
    assert.equal((await make(NEW).load(request(reissued))).get("user"), "ada");
    assert.equal((await make(NEW).load(request(oldCookie))).get("user"), undefined, "a removed secret stops verifying");
    assert.equal((await make(OLD).load(request(reissued))).get("user"), undefined, "the new cookie is not signed by the old secret");
    const current = await run(rotated, reissued, () => {});
    assert.deepEqual(current.headers.getSetCookie(), [], "a cookie under the current secret is not re-issued");
  });

  test("large repetitive payloads are compressed and round-trip; compression can be turned off", async () => {
    const data = { text: "satchel ".repeat(250) };
    const compressed = await issued({}, data);
    const plain = await issued({ store: cookieStore({ compress: false }) }, data);
    assert.ok(compressed.value.length < plain.value.length / 4, `${compressed.value.length} vs ${plain.value.length}`);
    assert.deepEqual((await compressed.sessions.load(request(compressed.value))).get("text"), data.text);
  });

  test("a cookie over 4096 bytes is a typed error at commit, never a silently dropped cookie", async () => {
    const { sessions } = setup({ store: cookieStore() });
    const random = Array.from(crypto.getRandomValues(new Uint8Array(6000)), (b) => b.toString(36)).join("");
    await assert.rejects(run(sessions, undefined, (s) => s.set("blob", random)), (e: unknown) =>
      e instanceof SessionError && e.code === "COOKIE_TOO_LARGE" && !e.message.includes(random.slice(0, 20)));
  });

  test("a payload that compresses under 4096 bytes but inflates past the decoder's limit is refused at commit", async () => {
    const { sessions } = setup({ store: cookieStore() });
    // About 300 KB of one letter deflates to a few hundred bytes: small enough to send, too large to read back.
    await assert.rejects(run(sessions, undefined, (s) => s.set("blob", "a".repeat(300_000))), (e: unknown) =>
      e instanceof SessionError && e.code === "COOKIE_TOO_LARGE" && !e.message.includes("aaaa"));
    // Exactly at the limit it is sent and read back (the serialized text is `{"blob":"…"}`, 11 bytes more).
    const blob = "b".repeat(MAX_INFLATED - 11);
    const value = cookieValue(await run(sessions, undefined, (s) => s.set("blob", blob)))!;
    assert.ok(value.length < 4096);
    assert.equal((await sessions.load(request(value))).get("blob"), blob);
    await assert.rejects(run(sessions, undefined, (s) => s.set("blob", blob + "b")), (e: unknown) =>
      e instanceof SessionError && e.code === "COOKIE_TOO_LARGE");
  });

  test("flush deletes the cookie; clear keeps a signed empty session; cycleKey re-signs", async () => {
    const { sessions, value, clock } = await issued();
    assert.equal(cookieValue(await run(sessions, value, (s) => s.flush())), "");
    const cleared = cookieValue(await run(sessions, value, (s) => s.clear()))!;
    assert.ok(cleared.length > 0);
    assert.deepEqual((await sessions.load(request(cleared))).keys(), []);
    clock.advance(1000);
    const cycled = cookieValue(await run(sessions, value, (s) => s.cycleKey()))!;
    assert.notEqual(cycled, value);
    assert.equal((await sessions.load(request(cycled))).get("user"), "ada");
  });

  test("idle timeout: activity is recorded by re-issuing the cookie, throttled", async () => {
    const { sessions, value, clock } = await issued({ idleTimeout: 600 });
    clock.advance(30_000);
    assert.deepEqual((await run(sessions, value, () => {})).headers.getSetCookie(), [], "inside the throttle window");
    clock.advance(31_000);
    const refreshed = cookieValue(await run(sessions, value, () => {}))!;
    assert.ok(refreshed);
    clock.advance(580_000);
    assert.equal((await sessions.load(request(value))).get("user"), undefined, "the old cookie idled out");
    assert.equal((await sessions.load(request(refreshed))).get("user"), "ada", "the refreshed one did not");
  });

  test("__proto__ keys stay data through the cookie", async () => {
    const { sessions, value } = await issued({}, JSON.parse('{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"p":1}}}'));
    const session = await sessions.load(request(value));
    assert.deepEqual(session.get("__proto__"), { isAdmin: true });
    assert.equal(session.get("isAdmin"), undefined);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
    assert.equal(({} as Record<string, unknown>).p, undefined);
  });
});

describe("crypto call budget (on the path in use: node:crypto, plain TypeScript or WebCrypto)", () => {
  test("signed-cookie round trip: one verify and one sign per changed request, none when untouched", async () => {
    const { sessions, value } = await issued();
    await sessions.ready();
    const changed = await countSubtle(() => run(sessions, value, (s) => s.set("n", 1)));
    assert.deepEqual(changed, { sign: 1, verify: 1, importKey: 0 });
    const readOnly = await countSubtle(() => run(sessions, value, (s) => { s.get("user"); }));
    assert.deepEqual(readOnly, { sign: 0, verify: 1, importKey: 0 });
    // With a synchronous path the cookie is verified on the first touch only (WebCrypto: at load).
    const carriedUntouched = await countSubtle(() => run(sessions, value, () => {}));
    assert.deepEqual(carriedUntouched, { sign: 0, verify: syncCrypto() ? 0 : 1, importKey: 0 }, "a request carrying the cookie that never touches the session");
    const anonymous = await countSubtle(() => run(sessions, undefined, () => {}));
    assert.deepEqual(anonymous, { sign: 0, verify: 0, importKey: 0 }, "a request without a session cookie that never touches the session");
    const anonymousRead = await countSubtle(() => run(sessions, undefined, (s) => { s.get("user"); }));
    assert.deepEqual(anonymousRead, { sign: 0, verify: 0, importKey: 0 });
    const fresh = await countSubtle(() => run(sessions, undefined, (s) => s.set("n", 1)));
    assert.deepEqual(fresh, { sign: 1, verify: 0, importKey: 0 });
  });

  test("keys are imported once per createSessions(), not per request", async () => {
    const clock = fakeClock();
    const counts = await countSubtle(async () => {
      const sessions = createSessions({ secret: [NEW, OLD], store: cookieStore(), now: clock.now });
      let cookie: string | undefined;
      for (let i = 0; i < 20; i++) cookie = cookieValue(await run(sessions, cookie, (s) => s.set("n", i))) ?? cookie;
    });
    assert.equal(counts.importKey, 4, "two secrets: one base key and one derived key each");
  });

  test("the memory store makes no crypto call at all", async () => {
    const { sessions } = setup({ store: memoryStore() });
    const counts = await countSubtle(async () => {
      const id = cookieValue(await run(sessions, undefined, (s) => s.set("n", 1)));
      await run(sessions, id, (s) => s.set("n", 2));
    });
    assert.deepEqual(counts, { sign: 0, verify: 0, importKey: 0 });
  });
});

describe("ids at rest", () => {
  /** A minimal store without rawIds: the core must hand it HMAC'd keys. */
  function hashedStore(): SessionStore & { keys: () => string[] } {
    const inner = memoryStore();
    const seen = new Set<string>();
    return {
      keys: () => [...seen],
      load: (k, n) => { seen.add(k); return inner.load(k, n); },
      create: (k, r) => { seen.add(k); return inner.create(k, r); },
      save: (k, r, v) => inner.save(k, r, v),
      delete: (k) => inner.delete(k),
    };
  }

  test("a store without rawIds only ever sees a keyed hash of the id, and a stored key is no cookie", async () => {
    const store = hashedStore();
    const { sessions } = setup({ store });
    const id = cookieValue(await run(sessions, undefined, (s) => s.set("k", 1)))!;
    assert.equal((await sessions.load(request(id))).get("k"), 1);
    for (const key of store.keys()) {
      assert.match(key, /^[0-9a-f]{64}$/);
      assert.ok(!key.includes(id));
    }
    const stolen = store.keys()[0]!;
    assert.equal((await sessions.load(request(stolen))).get("k"), undefined);
  });

  test("server sessions survive a secret rotation: found through the fallback, moved to the current secret", async () => {
    const store = hashedStore();
    const clock = fakeClock();
    const before = createSessions({ secret: OLD, store, now: clock.now });
    const id = cookieValue(await run(before, undefined, (s) => s.set("k", 1)))!;
    const after = createSessions({ secret: [NEW, OLD], store, now: clock.now });
    const session = await after.load(request(id));
    assert.equal(session.get("k"), 1);
    const response = await after.commit(session, new Response("ok"));
    assert.equal(setCookies(response)[0]?.value, id, "the same id is re-sent: the cookie does not change");
    assert.equal((await after.load(request(id))).get("k"), 1);
    const onlyNew = createSessions({ secret: NEW, store, now: clock.now });
    assert.equal((await onlyNew.load(request(id))).get("k"), 1, "moved under the current secret's key on that response");
    const untouched = createSessions({ secret: OLD, store, now: clock.now });
    const other = cookieValue(await run(untouched, undefined, (s) => s.set("k", 2)))!;
    assert.equal((await onlyNew.load(request(other))).get("k"), undefined, "a record never seen during the rotation ends with the old secret");
  });
});

describe("cookieStore({ encrypt: true })", () => {
  const encrypted = (options: Parameters<typeof setup>[0] = {}) => issued({ store: cookieStore({ encrypt: true }), ...options }, { user: "ada", card: "4111 1111" });

  test("round-trips data the client cannot read, with a fresh IV every time", async () => {
    const { sessions, value, clock } = await encrypted();
    assert.match(value, /^[A-Za-z0-9_-]+$/);
    const raw = new TextDecoder().decode(Uint8Array.from(atob(value.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (value.length % 4)) % 4)), (c) => c.charCodeAt(0)));
    assert.ok(!raw.includes("ada") && !raw.includes("4111"), "no plaintext in the cookie");
    const session = await sessions.load(request(value));
    assert.equal(session.get("user"), "ada");
    assert.equal(session.get("card"), "4111 1111");
    const again = await run(sessions, undefined, (s) => { s.set("user", "ada"); s.set("card", "4111 1111"); });
    assert.notEqual(cookieValue(again), value, "same data, same clock, different ciphertext");
    clock.advance(1_209_600_000);
    assert.equal((await sessions.load(request(value))).get("user"), undefined, "the sealed expiry is enforced");
  });

  test("any change gives an empty session and a deletion cookie", async () => {
    const { sessions, value } = await encrypted();
    const flip = (i: number) => value.slice(0, i) + (value[i] === "A" ? "B" : "A") + value.slice(i + 1);
    for (const variant of [flip(0), flip(5), flip(20), flip(value.length - 3), value.slice(0, -2), value + "AA", value.slice(0, 20), "AAAA"]) {
      const response = await run(sessions, variant, (s) => assert.equal(s.get("user"), undefined));
      assert.equal(cookieValue(response), "", variant);
    }
  });

  test("signed and encrypted cookies never stand in for each other, and rotation works", async () => {
    const clock = fakeClock();
    const make = (secret: string | string[], encrypt: boolean) => createSessions({ secret, store: cookieStore({ encrypt }), now: clock.now });
    const signed = cookieValue(await run(make(OLD, false), undefined, (s) => s.set("user", "ada")))!;
    const sealed = cookieValue(await run(make(OLD, true), undefined, (s) => s.set("user", "ada")))!;
    assert.equal((await make(OLD, true).load(request(signed))).get("user"), undefined);
    assert.equal((await make(OLD, false).load(request(sealed))).get("user"), undefined);
    const rotated = make([NEW, OLD], true);
    const reissued = cookieValue(await run(rotated, sealed, () => {}))!;
    assert.ok(reissued && reissued !== sealed);
    assert.equal((await make(NEW, true).load(request(reissued))).get("user"), "ada");
    assert.equal((await make(NEW, true).load(request(sealed))).get("user"), undefined);
  });

  test("pad: data of different lengths within one block gives cookies of equal length, and round-trips", async () => {
    const clock = fakeClock();
    const lengths = async (store: ReturnType<typeof cookieStore>, notes: string[]) => {
      const sessions = createSessions({ secret: SECRET, store, now: clock.now });
      const out: number[] = [];
      for (const note of notes) {
        const value = cookieValue(await run(sessions, undefined, (s) => s.set("note", note)))!;
        assert.equal((await sessions.load(request(value))).get("note"), note, "round trip");
        out.push(value.length);
      }
      return out;
    };
    const padded = await lengths(cookieStore({ encrypt: true, pad: 64 }), ["", "a", "ab", "a".repeat(12), "é€😀"]);
    assert.equal(new Set(padded).size, 1, `equal lengths: ${padded}`);
    const unpadded = await lengths(cookieStore({ encrypt: true }), ["", "a".repeat(30)]);
    assert.notEqual(unpadded[0], unpadded[1], "without pad the length follows the data");
    const [short, long] = await lengths(cookieStore({ encrypt: true, pad: 64 }), ["a", "a".repeat(100)]);
    assert.ok(long! > short!, "a longer value crosses into another block");
    for (const pad of [1, 7, 1024]) assert.equal(new Set(await lengths(cookieStore({ encrypt: true, pad }), ["x", "xy"])).size, pad === 1 ? 2 : 1);
  });

  test("pad: cookies written with and without padding both read back after the option changes", async () => {
    const clock = fakeClock();
    const make = (pad?: number) => createSessions({ secret: SECRET, store: cookieStore({ encrypt: true, ...(pad ? { pad } : {}) }), now: clock.now });
    const plain = cookieValue(await run(make(), undefined, (s) => s.set("user", "ada")))!;
    const padded = cookieValue(await run(make(32), undefined, (s) => s.set("user", "ada")))!;
    assert.equal((await make(32).load(request(plain))).get("user"), "ada");
    assert.equal((await make().load(request(padded))).get("user"), "ada");
  });

  test("pad: validated at construction and only allowed with encrypt", () => {
    for (const pad of [0, -1, 1.5, 1025, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => cookieStore({ encrypt: true, pad }), RangeError, String(pad));
    }
    assert.throws(() => cookieStore({ encrypt: true, pad: "64" as unknown as number }), TypeError);
    assert.throws(() => cookieStore({ pad: 64 }), TypeError);
    assert.throws(() => cookieStore({ encrypt: false, pad: 64 }), TypeError);
    assert.equal(cookieStore({ encrypt: true, pad: 64 }).pad, 64);
    assert.equal(cookieStore({ encrypt: true }).pad, false);
  });

  test("one decrypt and one encrypt per changed request, no HMAC call", async () => {
    const { sessions, value } = await encrypted();
    await sessions.ready();
    const changed = await countSubtle(() => run(sessions, value, (s) => s.set("n", 1)));
    assert.deepEqual(changed, { sign: 0, verify: 0, importKey: 0, encrypt: 1, decrypt: 1 });
    const readOnly = await countSubtle(() => run(sessions, value, (s) => { s.get("user"); }));
    assert.deepEqual(readOnly, { sign: 0, verify: 0, importKey: 0, encrypt: 0, decrypt: 1 });
  });
});
