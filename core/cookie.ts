/**
 * Cookie header parsing and Set-Cookie serialization.
 *
 * Parsing never throws, runs in one linear pass, trims only SP and HTAB (never Unicode
 * spaces: a name with a leading U+00A0 is a different name, as browsers see it), strips one
 * pair of surrounding double quotes and does no percent-decoding: satchel's own values never
 * need it, and bad escapes cannot fail what is never decoded. When a name occurs twice the
 * last occurrence wins, as in Django.
 *
 * Pairs are split on `;` only, as RFC 6265 §4.2.1 and Django do: a comma is part of a value.
 * Browsers store and send a value such as `dark,__Host-sessionid=X` verbatim, so a parser that
 * also split on `,` would let any sibling subdomain (which may set cookies for the whole
 * registrable domain) toss its own `__Host-sessionid` after the victim's one, and the last
 * occurrence would win. We give up, in exchange, the requests whose several `Cookie` fields
 * reach us joined by `", "`: Node, Bun and Deno's HTTP servers and HTTP/2 servers (RFC 9113 §8.2.3) join
 * them with `"; "`, but a `Headers` object built by code in Deno (and some proxies) joins them
 * with `", "`. There the cookies after the comma read as part of the previous value: the
 * session cookie may be missed (the request is anonymous), it is never mistaken for another.
 *
 * Serialization validates every field against RFC 6265 and throws `TypeError` on anything
 * that could inject an attribute or another cookie (CR, LF, NUL, `;`, `,`, non-ASCII, ...).
 *
 * @module
 */
import { SessionError } from "./errors.ts";

/** What `getCookie` found. `present` is true when the name occurred at all, whatever its value. */
export interface FoundCookie {
  present: boolean;
  value: string | undefined;
}

const SP = 0x20, HTAB = 0x09, SEMI = 0x3b, EQ = 0x3d, DQUOTE = 0x22;

/**
 * Visit each `name=value` pair of a Cookie header in order. Linear in the header length.
 * Pairs without `=` are skipped (browsers send them as nameless values).
 */
function forEachPair(header: string, visit: (name: string, value: string) => void): void {
  const n = header.length;
  let start = 0;
  while (start < n) {
    let end = start;
    let eq = -1;
    while (end < n) {
      const c = header.charCodeAt(end);
      if (c === SEMI) break;
      if (c === EQ && eq < 0) eq = end;
      end++;
    }
    if (eq >= 0) {
      let ns = start, ne = eq;
      while (ns < ne && isWs(header.charCodeAt(ns))) ns++;
      while (ne > ns && isWs(header.charCodeAt(ne - 1))) ne--;
      let vs = eq + 1, ve = end;
      while (vs < ve && isWs(header.charCodeAt(vs))) vs++;
      while (ve > vs && isWs(header.charCodeAt(ve - 1))) ve--;
      if (ve - vs >= 2 && header.charCodeAt(vs) === DQUOTE && header.charCodeAt(ve - 1) === DQUOTE) {
        vs++;
        ve--;
      }
      if (ne > ns) visit(header.slice(ns, ne), header.slice(vs, ve));
    }
    start = end + 1;
  }
}

function isWs(code: number): boolean {
  return code === SP || code === HTAB;
}

/** Find one cookie by exact name. Never throws. */
export function getCookie(header: string | null | undefined, name: string): FoundCookie {
  const found: FoundCookie = { present: false, value: undefined };
  if (!header || header.indexOf(name) < 0) return found;
  forEachPair(header, (k, v) => {
    if (k === name) {
      found.present = true;
      found.value = v;
    }
  });
  return found;
}

/**
 * Parse a whole Cookie header into a null-prototype record (last occurrence wins).
 * Never throws; `__proto__` and friends are plain keys.
 *
 * @example
 * ```ts
 * import { parseCookie } from "@satchel/session";
 * const jar = parseCookie("a=1; b=\"2\"");
 * if (jar.a !== "1" || jar.b !== "2") throw new Error("unexpected");
 * ```
 */
export function parseCookie(header: string | null | undefined): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (header) forEachPair(header, (k, v) => { out[k] = v; });
  return out;
}

/** Attributes of one Set-Cookie line. */
export interface CookieAttributes {
  maxAge?: number | undefined;
  expires?: Date | undefined;
  domain?: string | undefined;
  path?: string | undefined;
  secure?: boolean | undefined;
  httpOnly?: boolean | undefined;
  sameSite?: "Strict" | "Lax" | "None" | false | undefined;
  partitioned?: boolean | undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PATH = /^\/[\x20-\x3A\x3C-\x7E]*$/;

/** The most a browser keeps of one cookie's name plus value (RFC 6265bis §5.6). */
export const MAX_COOKIE_BYTES = 4096;
/** The most a browser keeps of one attribute value. */
export const MAX_ATTRIBUTE_BYTES = 1024;

/** Whether `name` is a valid cookie name (an RFC 7230 token). */
export function isCookieName(name: string): boolean {
  return TOKEN.test(name);
}

/** Validate a Domain attribute value; throws TypeError. */
export function checkDomain(domain: string): void {
  if (domain.length > 253 || !DOMAIN.test(domain)) throw new TypeError("Cannot use cookie domain: it is not a valid host name");
}

/** Validate a Path attribute value; throws TypeError. */
export function checkPath(path: string): void {
  if (path.length > MAX_ATTRIBUTE_BYTES || !PATH.test(path)) {
    throw new TypeError("Cannot use cookie path: it must start with '/' and hold no control characters or ';'");
  }
}

/**
 * Serialize one Set-Cookie value. Throws `TypeError` for any invalid field and
 * `SessionError("COOKIE_TOO_LARGE")` when name plus value exceed 4096 bytes.
 *
 * @example
 * ```ts
 * import { serializeCookie } from "@satchel/session";
 * const line = serializeCookie("sessionid", "abc", { path: "/", httpOnly: true, sameSite: "Lax" });
 * if (line !== "sessionid=abc; Path=/; HttpOnly; SameSite=Lax") throw new Error(line);
 * ```
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes = {}): string {
  if (!TOKEN.test(name)) throw new TypeError("Cannot serialize cookie: the name is not a valid token");
  if (!COOKIE_VALUE.test(value)) throw new TypeError("Cannot serialize cookie: the value holds characters a cookie cannot carry");
  if (name.length + value.length > MAX_COOKIE_BYTES) {
    throw new SessionError(
      "COOKIE_TOO_LARGE",
      `Cannot send cookie: name and value take ${name.length + value.length} bytes, browsers keep at most ${MAX_COOKIE_BYTES}`,
    );
  }
  let out = `${name}=${value}`;
  const { maxAge, expires, domain, path, secure, httpOnly, sameSite, partitioned } = attributes;
  if (maxAge !== undefined) {
    if (!Number.isInteger(maxAge)) throw new TypeError("Cannot serialize cookie: maxAge must be an integer");
    out += `; Max-Age=${maxAge}`;
  }
  if (expires !== undefined) {
    if (!(expires instanceof Date) || Number.isNaN(expires.getTime())) {
      throw new TypeError("Cannot serialize cookie: expires must be a valid Date");
    }
    out += `; Expires=${expires.toUTCString()}`;
  }
  if (domain !== undefined) {
    checkDomain(domain);
    out += `; Domain=${domain}`;
  }
  if (path !== undefined) {
    checkPath(path);
    out += `; Path=${path}`;
  }
  if (secure) out += "; Secure";
  if (httpOnly) out += "; HttpOnly";
  if (sameSite !== undefined && sameSite !== false) {
    if (sameSite !== "Strict" && sameSite !== "Lax" && sameSite !== "None") {
      throw new TypeError("Cannot serialize cookie: sameSite must be 'Strict', 'Lax', 'None' or false");
    }
    out += `; SameSite=${sameSite}`;
  }
  if (partitioned) out += "; Partitioned";
  return out;
}
