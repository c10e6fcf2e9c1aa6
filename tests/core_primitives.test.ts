/** Ids, base64url and create-collision retries. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, memoryStore, newSessionId } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { decodeBase64Url, encodeBase64Url } from "../core/_base64.ts";
import { cookieValue, run, setup } from "./_http.ts";
import { prng } from "./_prng.ts";

test("newSessionId() gives 32 characters of [a-z0-9], all distinct, with every symbol used evenly", () => {
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const id = newSessionId();
    assert.match(id, /^[a-z0-9]{32}$/);
    seen.add(id);
    for (const c of id) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  assert.equal(seen.size, 20_000);
  assert.equal(counts.size, 36);
  const expected = (20_000 * 32) / 36;
  for (const [c, n] of counts) assert.ok(Math.abs(n - expected) < expected * 0.05, `${c}: ${n} vs ${expected}`);
});

test("base64url round-trips any bytes and accepts only the canonical text", () => {
  const rnd = prng(5);
  for (let i = 0; i < 2000; i++) {
    const bytes = Uint8Array.from({ length: rnd.int(70) }, () => rnd.int(256));
    const text = encodeBase64Url(bytes);
    assert.match(text, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(decodeBase64Url(text), bytes);
  }
  for (const bad of ["a", "ab=", "ab==", "a+bc", "a/bc", "ab!c", "AB", "AAB", "é"]) {
    // "AB" and "AAB" carry non-zero padding bits: another text of the same bytes exists ("AA", "AAA").
    assert.equal(decodeBase64Url(bad), null, bad);
  }
  assert.deepEqual(decodeBase64Url("AA"), new Uint8Array([0]));
});

test("create retries with a new id when the store reports a collision (Django's CreateError)", async () => {
  const inner = memoryStore();
  let collisions = 3;
  const tried: string[] = [];
  const store: SessionStore = {
    rawIds: true,
    load: (k, n) => inner.load(k, n),
    create: (k, r) => {
      tried.push(k);
      if (collisions-- > 0) return Promise.reject(new SessionError("SESSION_EXISTS", "taken"));
      return inner.create(k, r);
    },
    save: (k, r, v) => inner.save(k, r, v),
    delete: (k) => inner.delete(k),
  };
  const { sessions } = setup({ store });
  const response = await run(sessions, undefined, (s) => s.set("k", 1));
  assert.equal(tried.length, 4);
  assert.equal(new Set(tried).size, 4, "a fresh id each attempt");
  assert.equal(cookieValue(response), tried[3]);
  const always: SessionStore = { ...store, create: () => Promise.reject(new SessionError("SESSION_EXISTS", "taken")) };
  const stuck = setup({ store: always }).sessions;
  const answer = await run(stuck, undefined, (s) => s.set("k", 1));
  assert.equal(answer.status, 503, "a store that reports every key taken is treated as unavailable");
});
