/** Cookie parsing (total, linear, SP/HTAB only) and Set-Cookie serialization (every field validated). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SessionError, getCookie, parseCookie, serializeCookie } from "../mod.ts";
import { prng } from "./_prng.ts";

describe("parseCookie / getCookie", () => {
  test("parses pairs, trims only SP and HTAB, unquotes, last duplicate wins", () => {
    const jar = parseCookie(" a=1;\tb = 2 ;c=\"3\"; d=; =x; novalue; a=last");
    assert.deepEqual({ ...jar }, { a: "last", b: "2", c: "3", d: "" });
    assert.equal(Object.getPrototypeOf(jar), null);
  });

  test("Unicode spaces are part of the name (no __Host- prefix bypass, hono CVE-2026-39410)", () => {
    for (const space of ["\u00a0", "\u2000", "\u3000", "\ufeff", "\u180e"]) {
      const jar = parseCookie(`${space}__Host-sid=evil; __Host-sid=good`);
      assert.equal(jar["__Host-sid"], "good");
      assert.equal(jar[`${space}__Host-sid`], "evil");
    }
    assert.equal(getCookie("\u00a0sessionid=evil", "sessionid").present, false);
  });

  test("a sibling subdomain cannot toss a __Host- cookie through a comma (cookie tossing)", () => {
    // evil.example.test set `theme=dark,__Host-sessionid=<attacker>; Domain=example.test`; the
    // browser sends it after the victim's own cookie, and the last occurrence of a name wins.
    const victim = "v".repeat(32), attacker = "a".repeat(32);
    const header = `__Host-sessionid=${victim}; theme=dark,__Host-sessionid=${attacker}`;
    assert.equal(getCookie(header, "__Host-sessionid").value, victim);
    assert.equal(parseCookie(header)["__Host-sessionid"], victim);
    assert.equal(parseCookie(header).theme, `dark,__Host-sessionid=${attacker}`);
    // Alone, the tossed cookie is one cookie named `theme`, never a session cookie.
    assert.equal(getCookie(`theme=dark, __Host-sessionid=${attacker}`, "__Host-sessionid").present, false);
  });

  test("a comma belongs to the value", () => {
    assert.deepEqual({ ...parseCookie("list=a,b,,c; x=1,2 ; y=\"p,q\"") }, { list: "a,b,,c", x: "1,2", y: "p,q" });
    assert.equal(getCookie("prefs=a=1,b=2", "prefs").value, "a=1,b=2");
    assert.equal(getCookie(",sessionid=abc", "sessionid").present, false);
  });

  test("several Cookie fields joined by '; ' (Node, Bun, Deno.serve, RFC 9113) parse like one", () => {
    const joined = "a=1; sessionid=abcdefghij; c=3";
    assert.equal(getCookie(joined, "sessionid").value, "abcdefghij");
    assert.equal(getCookie(["a=1", "sessionid=abcdefghij", "c=3"].join("; "), "sessionid").value, "abcdefghij");
  });

  test("fields joined by ', ' lose the later cookies, never mix them up (documented limit)", () => {
    // Deno's own `new Headers()` joins repeated fields with ", "; the cookie after the comma is
    // then part of the previous value: the session is missed (anonymous), never someone else's.
    assert.equal(getCookie("a=1, sessionid=abcdefghij", "sessionid").present, false);
    assert.equal(getCookie("sessionid=abcdefghij, a=1", "sessionid").value, "abcdefghij, a=1");
  });

  test("__proto__ and friends are plain keys", () => {
    const jar = parseCookie("__proto__=x; constructor=y; toString=z");
    assert.equal(jar["__proto__"], "x");
    assert.equal(jar.toString, "z");
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test("never throws on arbitrary input (property, 5000 cases)", () => {
    const rnd = prng(0xc00c1e);
    const alphabet = ["a", "=", ";", ",", " ", "\t", "\"", "\\", "%", "%E0%A4%A", "\u00a0", "é", "😀", "\ud800", "\u0000", "\r\n", "sessionid"];
    for (let i = 0; i < 5000; i++) {
      let s = "";
      const n = rnd.int(40);
      for (let j = 0; j < n; j++) s += rnd.pick(alphabet);
      const jar = parseCookie(s);
      assert.equal(Object.getPrototypeOf(jar), null);
      getCookie(s, "sessionid");
    }
  });

  test("split headers parse identically to the joined header where the runtime joins with '; ' (property)", () => {
    const rnd = prng(17);
    for (let i = 0; i < 500; i++) {
      const pairs = Array.from({ length: 1 + rnd.int(6) }, (_, k) => `${rnd.pick(["a", "b", "sessionid", "x"])}${k}=${rnd.int(1000)}`);
      const joined = { ...parseCookie(pairs.join("; ")) };
      const cut = 1 + rnd.int(pairs.length);
      const headers = new Headers();
      headers.append("cookie", pairs.slice(0, cut).join("; "));
      if (cut < pairs.length) headers.append("cookie", pairs.slice(cut).join("; "));
      const split = { ...parseCookie(headers.get("cookie")) };
      if (!headers.get("cookie")!.includes(", ")) {
        assert.deepEqual(split, joined);
        continue;
      }
      // Deno's `Headers` joins with ", ": every name found still carries its own value, the last
      // pair of the first field absorbs the rest, and no later name appears.
      for (const [name, value] of Object.entries(split)) {
        assert.ok(value === joined[name] || value.startsWith(`${joined[name]}, `), name);
      }
    }
  });

  test("64 KiB adversarial headers parse in linear time", () => {
    const patterns = ["\\\"", "%", "=", ";", "a=\"", ";;=;", " \t"];
    for (const pattern of patterns) {
      const small = pattern.repeat(1024);
      const big = pattern.repeat(65536 / pattern.length);
      const t0 = performance.now();
      for (let i = 0; i < 64; i++) parseCookie(small);
      const t1 = performance.now();
      parseCookie(big);
      getCookie(big, "sessionid");
      const t2 = performance.now();
      // 64 small parses cover about as many bytes as one big one; quadratic work would be ~30x slower.
      assert.ok(t2 - t1 < Math.max(50, (t1 - t0) * 20), `${JSON.stringify(pattern)}: ${t2 - t1} ms vs ${t1 - t0} ms`);
    }
  });
});

describe("serializeCookie", () => {
  test("writes every attribute", () => {
    assert.equal(
      serializeCookie("sid", "v", {
        maxAge: 60, expires: new Date(0), domain: "example.com", path: "/p", secure: true, httpOnly: true, sameSite: "Strict", partitioned: true,
      }),
      "sid=v; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/p; Secure; HttpOnly; SameSite=Strict; Partitioned",
    );
    assert.equal(serializeCookie("sid", "v", { maxAge: -5 }), "sid=v; Max-Age=-5");
  });

  test("rejects injection in every field (CVE-2024-47764 and hono's cookie CVEs)", () => {
    const evil = [";", ",", "=", "\r", "\n", "\u0000", "\t", " ", "é", "€", "😀", "\\", "\""];
    for (const c of evil) {
      assert.throws(() => serializeCookie(`a${c}b`, "v"), TypeError, `name ${JSON.stringify(c)}`);
      if (c !== "=") assert.throws(() => serializeCookie("a", `v${c}w`), TypeError, `value ${JSON.stringify(c)}`);
      if (![",", "=", "\t", " ", "\\", "\""].includes(c)) {
        assert.throws(() => serializeCookie("a", "v", { path: `/x${c}y` }), TypeError, `path ${JSON.stringify(c)}`);
      }
      assert.throws(() => serializeCookie("a", "v", { domain: `ex${c}ample.com` }), TypeError, `domain ${JSON.stringify(c)}`);
    }
    assert.throws(() => serializeCookie("a", "v", { sameSite: "Lax; Domain=evil" as "Lax" }), TypeError);
    assert.throws(() => serializeCookie("a", "v", { maxAge: 1.5 }), TypeError);
    assert.throws(() => serializeCookie("a", "v", { expires: new Date("x") }), TypeError);
  });

  test("whatever it returns is accepted by Headers and parses back to exactly the pair (property)", () => {
    const rnd = prng(99);
    const octets = "!#$%&'()*+-./0123456789:<>?@ABCXYZ[]^_`abcxyz{|}~";
    for (let i = 0; i < 2000; i++) {
      const name = Array.from({ length: 1 + rnd.int(8) }, () => rnd.pick([..."abcXYZ019!#$%&'*+-.^_`|~"])).join("");
      const value = Array.from({ length: rnd.int(20) }, () => rnd.pick([...octets])).join("");
      const line = serializeCookie(name, value, { path: "/", maxAge: rnd.int(1000) });
      new Headers([["set-cookie", line]]);
      const pair = line.split(";")[0]!;
      assert.deepEqual({ ...parseCookie(pair) }, { [name]: value });
    }
  });

  test("refuses a name and value over 4096 bytes with COOKIE_TOO_LARGE", () => {
    assert.throws(() => serializeCookie("sid", "x".repeat(4094)), (e: unknown) => e instanceof SessionError && e.code === "COOKIE_TOO_LARGE");
    assert.equal(serializeCookie("sid", "x".repeat(4093)).length, 4097);
  });
});
