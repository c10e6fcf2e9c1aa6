/**
 * Property tests (fast-check) of cookie parsing and Set-Cookie serialization:
 * - serialize then parse gives back exactly the pairs, the last occurrence of a name winning,
 *   and every attribute stays one attribute (nothing injected);
 * - parsing is total: any string, any size we try, returns a null-prototype record, never throws;
 * - text without a `;` can never introduce a second cookie (no cookie tossing through `,`);
 * - any invalid character in any field makes serialization throw `TypeError`.
 * Input sizes are bounded (linear parsing is timed in core_cookie.test.ts, not here).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { getCookie, parseCookie, serializeCookie } from "../mod.ts";
import type { CookieAttributes } from "../mod.ts";

const RUNS = { numRuns: 300 };

const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));

/** RFC 7230 token characters (valid cookie names). */
const TOKEN_CHARS = [..."!#$%&'*+-.^_`|~", ...range(0x30, 0x39), ...range(0x41, 0x5a), ...range(0x61, 0x7a)];
/** RFC 6265 cookie-octets: ASCII printable less SP, `"`, `,`, `;`, `\`. */
const VALUE_CHARS = [...range(0x21, 0x21), ...range(0x23, 0x2b), ...range(0x2d, 0x3a), ...range(0x3c, 0x5b), ...range(0x5d, 0x7e)];
/** What a Path attribute may hold after its leading `/`. */
const PATH_CHARS = [...range(0x20, 0x3a), ...range(0x3c, 0x7e)];
const DOMAIN_CHARS = [...range(0x30, 0x39), ...range(0x41, 0x5a), ...range(0x61, 0x7a), ".", "-"];

const cookieName = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 24 });
const cookieValue = fc.string({ unit: fc.constantFrom(...VALUE_CHARS), maxLength: 60 });
const cookiePath = fc.string({ unit: fc.constantFrom(...PATH_CHARS), maxLength: 30 }).map((rest) => `/${rest}`);
const cookieDomain = fc.tuple(fc.boolean(), fc.domain()).map(([dot, d]) => (dot ? `.${d}` : d));

const attributes: fc.Arbitrary<CookieAttributes> = fc.record(
  {
    maxAge: fc.integer({ min: -1_000_000, max: 1_000_000_000 }),
    expires: fc.date({ min: new Date(0), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }),
    domain: cookieDomain,
    path: cookiePath,
    secure: fc.boolean(),
    httpOnly: fc.boolean(),
    sameSite: fc.constantFrom("Strict" as const, "Lax" as const, "None" as const, false as const),
    partitioned: fc.boolean(),
  },
  { requiredKeys: [] },
);

/** Any single code point (lone surrogates included), biased towards ASCII. */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0, max: 0x10ffff }),
).map((cp) => String.fromCodePoint(cp));

/** Strings made of the characters a Cookie parser has to think about, and anything else. */
const headerish = fc.string({
  unit: fc.oneof(
    fc.constantFrom("a", "=", ";", ",", " ", "\t", "\"", "\\", "%", "\u00a0", "\ufeff", "\r\n", "\u0000", "sessionid", "__proto__"),
    anyChar,
  ),
  maxLength: 400,
});

function expectedAttributes(a: CookieAttributes): string[] {
  const out: string[] = [];
  if (a.maxAge !== undefined) out.push(`Max-Age=${a.maxAge}`);
  if (a.expires !== undefined) out.push(`Expires=${a.expires.toUTCString()}`);
  if (a.domain !== undefined) out.push(`Domain=${a.domain}`);
  if (a.path !== undefined) out.push(`Path=${a.path}`);
  if (a.secure) out.push("Secure");
  if (a.httpOnly) out.push("HttpOnly");
  if (a.sameSite) out.push(`SameSite=${a.sameSite}`);
  if (a.partitioned) out.push("Partitioned");
  return out;
}

describe("cookie round trip (fast-check)", () => {
  test("one Set-Cookie line: the pair parses back exactly and each attribute stays one attribute", () => {
    fc.assert(
      fc.property(cookieName, cookieValue, attributes, (name, value, attrs) => {
        const line = serializeCookie(name, value, attrs);
        new Headers([["set-cookie", line]]); // a runtime would accept it
        const [pair, ...rest] = line.split("; ");
        assert.deepEqual(rest, expectedAttributes(attrs));
        assert.deepEqual({ ...parseCookie(pair) }, { [name]: value });
        assert.deepEqual(getCookie(pair, name), { present: true, value });
      }),
      RUNS,
    );
  });

  test("a browser's Cookie header of serialized pairs parses to them, last occurrence winning", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(cookieName, cookieValue), { minLength: 1, maxLength: 12 }), (pairs) => {
        const header = pairs.map(([n, v]) => serializeCookie(n, v)).join("; ");
        const expected = Object.fromEntries(new Map(pairs));
        assert.deepEqual({ ...parseCookie(header) }, expected);
        for (const [name] of pairs) assert.deepEqual(getCookie(header, name), { present: true, value: expected[name] });
      }),
      RUNS,
    );
  });
});

describe("cookie parsing is total (fast-check)", () => {
  test("any string parses to a null-prototype record of trimmed names and values without ';'", () => {
    fc.assert(
      fc.property(headerish, fc.oneof(cookieName, headerish), (header, name) => {
        const jar = parseCookie(header);
        assert.equal(Object.getPrototypeOf(jar), null);
        for (const [k, v] of Object.entries(jar)) {
          assert.ok(k.length > 0 && !/[;=]/.test(k) && !/^[ \t]|[ \t]$/.test(k), JSON.stringify(k));
          assert.ok(!v.includes(";") && !/^[ \t]|[ \t]$/.test(v), JSON.stringify(v));
        }
        const found = getCookie(header, name);
        assert.equal(found.present, Object.hasOwn(jar, name));
        assert.equal(found.value, jar[name]);
      }),
      { numRuns: 500 },
    );
  });

  test("large inputs (up to 64 KiB of repeated fragments) still parse", () => {
    fc.assert(
      fc.property(headerish, fc.integer({ min: 1, max: 65_536 }), (fragment, size) => {
        const header = fragment.length ? fragment.repeat(Math.ceil(size / fragment.length)).slice(0, size) : "";
        assert.equal(Object.getPrototypeOf(parseCookie(header)), null);
        getCookie(header, "sessionid");
      }),
      { numRuns: 60 },
    );
  });

  test("text without ';' after a cookie can never add a second cookie (no tossing through ',')", () => {
    const tossed = fc.string({ unit: fc.oneof(fc.constantFrom(",", "=", " ", "__Host-sessionid", "\""), anyChar), maxLength: 80 })
      .filter((s) => !s.includes(";"));
    fc.assert(
      fc.property(cookieValue, tossed, (victim, text) => {
        const header = `__Host-sessionid=${victim}; theme=${text}`;
        assert.equal(getCookie(header, "__Host-sessionid").value, victim);
        assert.deepEqual(Object.keys(parseCookie(header)).sort(), ["__Host-sessionid", "theme"]);
      }),
      RUNS,
    );
  });
});

describe("serialization refuses every invalid character (fast-check)", () => {
  const notIn = (allowed: string[]) => anyChar.filter((c) => !allowed.includes(c));
  /** `base` with `bad` inserted at a position chosen by `at` (a fraction). */
  const insert = (base: string, bad: string, at: number): string => {
    const i = Math.floor(at * (base.length + 1));
    return base.slice(0, i) + bad + base.slice(i);
  };
  const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

  test("name, value, path and domain", () => {
    fc.assert(
      fc.property(
        cookieName,
        cookieValue,
        cookiePath,
        cookieDomain,
        fc.constantFrom("name", "value", "path", "domain"),
        fc.record({ name: notIn(TOKEN_CHARS), value: notIn(VALUE_CHARS), path: notIn(PATH_CHARS), domain: notIn(DOMAIN_CHARS) }),
        at,
        (name, value, path, domain, field, bad, where) => {
          const f = { name, value, path, domain };
          // A path keeps its leading '/': insert after it.
          f[field] = field === "path" ? `/${insert(path.slice(1), bad.path, where)}` : insert(f[field], bad[field], where);
          assert.throws(() => serializeCookie(f.name, f.value, { path: f.path, domain: f.domain }), TypeError);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("sameSite, maxAge and expires", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12 }).filter((s) => !["Strict", "Lax", "None"].includes(s)),
        fc.double().filter((n) => !Number.isInteger(n)),
        (sameSite, maxAge) => {
          assert.throws(() => serializeCookie("a", "b", { sameSite: sameSite as "Lax" }), TypeError);
          assert.throws(() => serializeCookie("a", "b", { maxAge }), TypeError);
          assert.throws(() => serializeCookie("a", "b", { expires: new Date(Number.NaN) }), TypeError);
        },
      ),
      RUNS,
    );
  });
});
