/**
 * Adversarial review of the cookie-store side of the session operations: `cookieStore({ chunks })`,
 * `authHash` with `login`/`logout`/`refreshAuth` on the cookie store, flash messages and Django's
 * test cookie on the cookie and memory stores. Every attack is a test asserting the correct
 * behaviour (README "Log in, log out, change the password", "Flash messages", "Django's test
 * cookie", "Cookie sessions past 4 KB").
 *
 * Responses are applied to a small browser model (RFC 6265bis storage: a cookie is identified by
 * name, domain and path; `Max-Age=0` deletes only the cookie with those three; prefixes enforced;
 * the Cookie header lists longer paths first, then older cookies first), so "the stale cookie was
 * deleted" means a browser would really drop it. Deterministic: fake clock, seeded data.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieStore, createSessions, memoryStore, SessionError } from "../mod.ts";
import type { CookieStore, SessionStore, SessionsOptions } from "../mod.ts";
import { barrier } from "./_barrier.ts";
import { fakeClock } from "./_env.ts";
import { prng } from "./_prng.ts";

const SECRET = "review-cookie-ops-secret-0123456789abcdef";
const OLD = "review-cookie-ops-old-secret-0123456789ab";

/** Seeded text that deflate cannot shrink much (and that JSON keeps as is). */
function noise(chars: number, seed = chars): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const random = prng(seed);
  let out = "";
  for (let i = 0; i < chars; i++) out += alphabet[random.int(64)];
  return out;
}

interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  created: number;
}

/** A browser's cookie jar for one host, as RFC 6265bis §5.6/§5.7 store and send cookies. */
class Browser {
  cookies: StoredCookie[] = [];
  #clock = 0;
  readonly host: string;
  constructor(host = "a.example") {
    this.host = host;
  }

  #domainMatch(domain: string): boolean {
    return this.host === domain || this.host.endsWith(`.${domain}`);
  }

  /** Store a cookie as the browser would (also used to toss one from a sibling subdomain). */
  store(line: string): void {
    const [pair, ...attributes] = line.split(";").map((part) => part.trim());
    const at = pair!.indexOf("=");
    const name = pair!.slice(0, at);
    const value = pair!.slice(at + 1);
    let domain = "";
    let path = "/";
    let secure = false;
    let maxAge: number | undefined;
    let expires: number | undefined;
    for (const attribute of attributes) {
      const [key, raw = ""] = attribute.split("=");
      const lower = key!.toLowerCase();
      if (lower === "domain") domain = raw.replace(/^\./, "").toLowerCase();
      else if (lower === "path") path = raw;
      else if (lower === "secure") secure = true;
      else if (lower === "max-age") maxAge = Number(raw);
      else if (lower === "expires") expires = Date.parse(raw);
    }
    if (domain !== "" && !this.#domainMatch(domain)) return;
    if (/^__secure-/i.test(name) && !secure) return;
    if (/^__host-/i.test(name) && (!secure || domain !== "" || path !== "/")) return;
    const hostOnly = domain === "";
    if (hostOnly) domain = this.host;
    const index = this.cookies.findIndex((c) => c.name === name && c.domain === domain && c.hostOnly === hostOnly && c.path === path);
    const gone = maxAge !== undefined ? maxAge <= 0 : expires !== undefined && expires <= Date.now();
    if (gone) {
      if (index >= 0) this.cookies.splice(index, 1);
      return;
    }
    const created = index >= 0 ? this.cookies[index]!.created : this.#clock++;
    const cookie = { name, value, domain, hostOnly, path, secure, created };
    if (index >= 0) this.cookies[index] = cookie;
    else this.cookies.push(cookie);
  }

  apply(response: Response): this {
    for (const line of response.headers.getSetCookie()) this.store(line);
    return this;
  }

  /** The Cookie header for a request to `path`: longer paths first, then older cookies first. */
  header(path = "/"): string {
    return this.cookies
      .filter((c) => path === c.path || (path.startsWith(c.path) && (c.path.endsWith("/") || path[c.path.length] === "/")))
      .sort((a, b) => b.path.length - a.path.length || a.created - b.created)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  names(): string[] {
    return this.cookies.map((c) => c.name).sort();
  }

  request(path = "/"): Request {
    const header = this.header(path);
    return new Request(`https://${this.host}${path}`, { headers: header ? { cookie: header } : {} });
  }
}

type Data = { blob: string; n: number; [key: string]: unknown };
type Handler = Parameters<ReturnType<typeof createSessions<Data>>["handle"]>[1];

function cookieSessions(store: CookieStore, options: Partial<SessionsOptions> = {}) {
  return createSessions<Data>({ secret: SECRET, store, now: fakeClock(1_800_000_000_000).now, ...options });
}

/** One request through `sessions.handle`, its response applied to the browser. */
async function visit(sessions: ReturnType<typeof cookieSessions>, browser: Browser, handler: Handler, path = "/"): Promise<Response> {
  const response = await sessions.handle(browser.request(path), handler);
  browser.apply(response);
  return response;
}
const read = async (sessions: ReturnType<typeof cookieSessions>, browser: Browser, key = "blob") =>
  await (await visit(sessions, browser, (_r, s) => Response.json(s.get(key) ?? null))).json();
const setBlob = (blob: string): Handler => (_r, s) => (s.set("blob", blob), new Response(""));

describe("chunks: stale cookies after a credentials change", () => {
  test("fixed bug (review, medium): a chunked session ended by authHash (password changed elsewhere) has every chunk cookie deleted", async () => {
    const passwords = new Map([["42", "hash-1"]]);
    const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }), { authHash: (u) => passwords.get(u) ?? null });
    const phone = new Browser();
    await visit(sessions, phone, async (_r, s) => (await s.login("42"), s.set("blob", noise(8000)), new Response("")));
    assert.deepEqual(phone.names(), ["sessionid.0", "sessionid.1", "sessionid.2"]);
    passwords.set("42", "hash-2");
    const response = await visit(sessions, phone, (_r, s) => new Response(String(s.user)));
    assert.equal(await response.text(), "null", "the other device is logged out");
    assert.deepEqual(phone.names(), [], "the ended session's chunk cookies are deleted, as a plain cookie is");
  });

  test("fixed bug (review, medium): the same device logs in again with a smaller (2-chunk) session and stays logged in", async () => {
    const passwords = new Map([["42", "hash-1"]]);
    const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }), { authHash: (u) => passwords.get(u) ?? null });
    const phone = new Browser();
    await visit(sessions, phone, async (_r, s) => (await s.login("42"), s.set("blob", noise(8000)), new Response("")));
    passwords.set("42", "hash-2");
    // The request that finds the credentials changed shows the login form and logs in again.
    const relogin = await visit(sessions, phone, async (_r, s) => {
      const before = s.user;
      await s.login("42");
      s.set("blob", noise(4000));
      return new Response(String(before));
    });
    assert.equal(await relogin.text(), "null");
    const after = await visit(sessions, phone, (_r, s) => new Response(String(s.user)));
    assert.equal(await after.text(), "42", "a stale sessionid.2 joined to the new chunks must not log the user out again");
  });

  test("a deleted user (authHash gives null) with a chunked session is logged out; a failing lookup is 503 with no cookie change", async () => {
    const passwords = new Map([["42", "hash-1"]]);
    let failing = false;
    const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }), {
      authHash: (u) => (failing ? Promise.reject(new Error("db down")) : passwords.get(u) ?? null),
      onEvent: () => {},
    });
    const phone = new Browser();
    await visit(sessions, phone, async (_r, s) => (await s.login("42"), s.set("blob", noise(5000)), new Response("")));
    failing = true;
    let ran = false;
    const down = await visit(sessions, phone, () => ((ran = true), new Response("")));
    assert.equal(down.status, 503);
    assert.equal(ran, false);
    assert.deepEqual(down.headers.getSetCookie(), []);
    assert.deepEqual(phone.names(), ["sessionid.0", "sessionid.1"]);
    failing = false;
    passwords.delete("42");
    const gone = await visit(sessions, phone, (_r, s) => new Response(String(s.user)));
    assert.equal(await gone.text(), "null");
  });
});

describe("login() with a failing authHash lookup", () => {
  for (const [name, store] of [["memory store", () => memoryStore()], ["cookie store", () => cookieStore()]] as const) {
    test(`fixed bug (review, low): ${name}: login() whose authHash lookup throws is 503 (STORE_UNAVAILABLE), reported without the user key, never a 500`, async () => {
      const logged: string[] = [];
      const events: unknown[] = [];
      const sessions = createSessions({
        secret: SECRET,
        store: store(),
        authHash: () => Promise.reject(new Error("db down for user-7f3a")),
        onEvent: (event) => {
          events.push(event);
          logged.push(JSON.stringify(event, (_k, v) => (v instanceof Error ? { name: v.name, message: v.message } : v)));
        },
      });
      const response = await sessions.handle(new Request("https://a.example/login", { method: "POST" }), async (_r, s) => {
        await s.login("user-7f3a");
        return new Response("logged in");
      });
      assert.equal(response.status, 503);
      assert.deepEqual(response.headers.getSetCookie(), []);
      assert.ok(events.some((event) => (event as { type?: string }).type === "store.failure"), "reported");
      for (const line of logged) assert.ok(!line.includes("user-7f3a"), `the user key leaked: ${line}`);
    });
  }
});

describe("chunks: concurrent responses and configuration changes", () => {
  test("fixed bug (review, low): last writer wins across a shrink and a grow: the chunks stored last are not shadowed by the plain cookie stored first", async () => {
    for (const order of ["shrink-first", "grow-first"] as const) {
      const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }));
      const browser = new Browser();
      await visit(sessions, browser, setBlob(noise(5000, 1)));
      assert.deepEqual(browser.names(), ["sessionid.0", "sessionid.1"]);
      const grown = noise(5000, 2);
      const request = () => browser.request();
      const [shrink, grow] = await Promise.all([
        sessions.handle(request(), setBlob("small")),
        sessions.handle(request(), setBlob(grown)),
      ]);
      if (order === "shrink-first") browser.apply(shrink!).apply(grow!);
      else browser.apply(grow!).apply(shrink!);
      const seen = await read(sessions, browser);
      const winner = seen === grown ? "grow" : seen === "small" ? "shrink" : "neither";
      assert.equal(winner, order === "shrink-first" ? "grow" : "shrink", `${order}: the response the browser stored last wins (README: last writer wins)`);
    }
  });

  test("logout with a plain cookie and chunks both present deletes every one of them", async () => {
    const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }));
    const browser = new Browser();
    await visit(sessions, browser, setBlob("small"));
    const stale = browser.request();
    browser.apply(await sessions.handle(browser.request(), setBlob(noise(5000, 4))));
    browser.apply(await sessions.handle(stale, setBlob("small, later"))); // a slow response lands last
    assert.ok(browser.names().includes("sessionid") && browser.names().includes("sessionid.0"));
    await visit(sessions, browser, async (_r, s) => (await s.logout(), new Response("")));
    assert.deepEqual(browser.names(), []);
    assert.equal(await read(sessions, browser), null);
  });

  test("fixed bug (review, low): lowering chunks from 3 to 2 deletes the now out-of-range sessionid.2 once a new session is saved", async () => {
    const clock = fakeClock(1_800_000_000_000);
    const three = createSessions<Data>({ secret: SECRET, store: cookieStore({ chunks: 3, compress: false }), now: clock.now });
    const two = createSessions<Data>({ secret: SECRET, store: cookieStore({ chunks: 2, compress: false }), now: clock.now });
    const browser = new Browser();
    await visit(three, browser, setBlob(noise(8000)));
    assert.deepEqual(browser.names(), ["sessionid.0", "sessionid.1", "sessionid.2"]);
    const response = await visit(two, browser, (_r, s) => (s.set("blob", `${s.get("blob") ?? "none"}, fresh`), new Response("")));
    assert.equal(response.status, 200);
    assert.deepEqual(browser.names(), ["sessionid"], "no dead 4 KB cookie left riding on every request until its Max-Age");
  });

  test("a value too long for the cap: COOKIE_TOO_LARGE at commit, nothing set, the old chunks still load the old session", async () => {
    const sessions = cookieSessions(cookieStore({ chunks: 2, compress: false }));
    const browser = new Browser();
    const first = noise(5000, 5);
    await visit(sessions, browser, setBlob(first));
    const session = await sessions.load(browser.request());
    session.set("blob", noise(7000, 6));
    const response = new Response("");
    await assert.rejects(sessions.commit(session, response), (e: unknown) => e instanceof SessionError && e.code === "COOKIE_TOO_LARGE");
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(await read(sessions, browser), first);
  });
});

describe("chunks: exact size boundaries (name + value, as browsers count)", () => {
  /** The cookie value's length for a fixed blob, measured through chunking (which never throws below the cap). */
  async function valueLength(blob: string): Promise<number> {
    const sessions = cookieSessions(cookieStore({ chunks: 4, compress: false }));
    const response = await sessions.handle(new Request("https://a.example/"), setBlob(blob));
    return response.headers.getSetCookie().reduce((sum, line) => sum + line.split(";")[0]!.split("=")[1]!.length, 0);
  }
  const named = (length: number) => `s${"x".repeat(length - 1)}`;

  test("name + value of exactly 4096 bytes is one cookie; 4097 splits into chunks of at most 4096 that read back whole", async () => {
    const blob = noise(2900, 7);
    const length = await valueLength(blob);
    for (const extra of [0, 1]) {
      const name = named(4096 - length + extra);
      const sessions = cookieSessions(cookieStore({ chunks: 2, compress: false }), { cookie: { name } });
      const browser = new Browser();
      await visit(sessions, browser, setBlob(blob));
      assert.deepEqual(browser.names(), extra === 0 ? [name] : [`${name}.0`, `${name}.1`]);
      for (const c of browser.cookies) assert.ok(c.name.length + c.value.length <= 4096, `${c.name}: ${c.name.length + c.value.length}`);
      if (extra === 1) assert.equal(browser.cookies[0]!.name.length + browser.cookies[0]!.value.length, 4096, "the first chunk is full");
      assert.equal(await read(sessions, browser), blob);
    }
  });

  test("the cap boundary: a value filling 2 chunks exactly fits; one byte more is COOKIE_TOO_LARGE", async () => {
    const blob = noise(5950, 8);
    const length = await valueLength(blob);
    // Two chunks carry 2 * (4096 - (name.length + 2)) characters.
    const fits = Math.floor((2 * 4094 - length) / 2);
    const ok = cookieSessions(cookieStore({ chunks: 2, compress: false }), { cookie: { name: named(fits) } });
    const browser = new Browser();
    await visit(ok, browser, setBlob(blob));
    assert.equal(browser.cookies.length, 2);
    assert.equal(await read(ok, browser), blob);
    const over = cookieSessions(cookieStore({ chunks: 2, compress: false }), { cookie: { name: named(fits + 1) } });
    await assert.rejects(over.handle(new Request("https://a.example/"), setBlob(blob)), (e: unknown) => e instanceof SessionError && e.code === "COOKIE_TOO_LARGE");
  });

  test("encrypt + pad 1024 + chunks: every block count around the chunk boundaries round-trips and every cookie fits", async () => {
    const sessions = cookieSessions(cookieStore({ chunks: 3, encrypt: true, pad: 1024 }));
    for (const size of [2000, 2900, 3100, 5000, 6000, 8000]) {
      const browser = new Browser();
      const blob = noise(size, size);
      await visit(sessions, browser, setBlob(blob));
      for (const c of browser.cookies) assert.ok(c.name.length + c.value.length <= 4096);
      assert.equal(await read(sessions, browser), blob, `size ${size}`);
    }
  });
});

describe("chunks: hostile Cookie headers", () => {
  const sessions = cookieSessions(cookieStore({ chunks: 3, compress: false }));
  async function victim(seed: number): Promise<Browser> {
    const browser = new Browser("app.example.com");
    await visit(sessions, browser, setBlob(noise(8000, seed)));
    return browser;
  }
  const readRaw = async (header: string) =>
    await (await sessions.handle(new Request("https://app.example.com/", { headers: { cookie: header } }), (_r, s) => Response.json(s.get("blob") ?? null))).json();

  test("a tossed duplicate chunk (sibling subdomain) or chunks spliced from two valid sessions: no session, never a mix", async () => {
    const alice = await victim(11);
    const mallory = await victim(12);
    const malloryChunk1 = mallory.cookies.find((c) => c.name === "sessionid.1")!.value;
    alice.store(`sessionid.1=${malloryChunk1}; Domain=example.com; Path=/`);
    assert.equal(await readRaw(alice.header()), null);
    const spliced = ["sessionid.0", "sessionid.1", "sessionid.2"]
      .map((name, i) => `${name}=${(i === 1 ? mallory : alice).cookies.find((c) => c.name === name && c.hostOnly)!.value}`).join("; ");
    assert.equal(await readRaw(spliced), null);
  });

  test("junk chunk names (sessionid.3 past the cap, .01, .-1, .1e0, . 1, .0x1) are ignored: the real session still reads", async () => {
    const alice = await victim(13);
    const junk = ["sessionid.3=AAAA", "sessionid.01=AAAA", "sessionid.-1=AAAA", "sessionid.1e0=AAAA", "sessionid. 1=AAAA", "sessionid.0x1=AAAA"];
    assert.equal(await readRaw(`${junk.join("; ")}; ${alice.header()}; ${junk.join("; ")}`), noise(8000, 13));
  });

  test("a plain cookie beside the chunks takes precedence; saving deletes every chunk the request sent", async () => {
    const alice = await victim(14);
    const small = new Browser("app.example.com");
    await visit(sessions, small, setBlob("plain"));
    alice.store(`sessionid=${small.cookies[0]!.value}; Path=/`);
    assert.equal(await read(sessions, alice), "plain");
    await visit(sessions, alice, setBlob("plain, saved"));
    assert.deepEqual(alice.names(), ["sessionid"]);
  });

  test("stale chunks are deleted with the attributes they were set with (Domain + Path, and __Host-)", async () => {
    for (const cookie of [{ domain: "example.com", path: "/app" }, { name: "__Host-sid" }]) {
      const chunked = cookieSessions(cookieStore({ chunks: 3, compress: false }), { cookie });
      const browser = new Browser("app.example.com");
      const path = cookie.path ? "/app/page" : "/";
      await visit(chunked, browser, setBlob(noise(8000, 15)), path);
      assert.equal(browser.cookies.length, 3);
      await visit(chunked, browser, setBlob("small"), path);
      assert.equal(browser.cookies.length, 1);
      await visit(chunked, browser, setBlob(noise(5000, 16)), path);
      assert.equal(browser.cookies.length, 2);
      await visit(chunked, browser, async (_r, s) => (await s.flush(), new Response("")), path);
      assert.deepEqual(browser.names(), [], JSON.stringify(cookie));
    }
  });

  test("secret rotation: an untouched request re-issues a chunked cookie under the new secret, readable once the old one is gone", async () => {
    const clock = fakeClock(1_800_000_000_000);
    const store = cookieStore({ chunks: 3, compress: false });
    const before = createSessions<Data>({ secret: OLD, store, now: clock.now });
    const during = createSessions<Data>({ secret: [SECRET, OLD], store, now: clock.now });
    const after = createSessions<Data>({ secret: SECRET, store, now: clock.now });
    const browser = new Browser();
    const blob = noise(8000, 17);
    await visit(before, browser, setBlob(blob));
    const untouched = await visit(during, browser, () => new Response(""));
    assert.equal(untouched.headers.getSetCookie().filter((line) => !/Max-Age=0/.test(line)).length, 3, "re-issued");
    assert.equal(await read(after, browser), blob);
  });
});

describe("flash and the test cookie through login, cycleKey, flush", () => {
  const STORES: [string, () => SessionStore | CookieStore][] = [
    ["memory store", () => memoryStore()],
    ["cookie store", () => cookieStore()],
    ["chunked cookie store", () => cookieStore({ chunks: 2 })],
  ];
  for (const [name, makeStore] of STORES) {
    test(`${name}: the test cookie survives cycleKey() and an anonymous login, not flush() or a login as another user (Django)`, async () => {
      const sessions = cookieSessions(makeStore() as CookieStore, { authHash: (u) => `hash-${u}` });
      const step = async (browser: Browser, action: (s: Parameters<Handler>[1]) => Promise<void>) =>
        await (await visit(sessions, browser, async (_r, s) => (await action(s), new Response("")))).text();
      const worked = async (browser: Browser) => await (await visit(sessions, browser, (_r, s) => new Response(String(s.testCookieWorked())))).text();
      for (const [label, action, expected] of [
        ["cycleKey()", (s) => s.cycleKey(), "true"],
        ["login() of an anonymous session", (s) => s.login("42"), "true"],
        ["flush()", (s) => s.flush(), "false"],
        ["logout()", (s) => s.logout(), "false"],
      ] as [string, (s: Parameters<Handler>[1]) => Promise<void>, string][]) {
        const browser = new Browser();
        await visit(sessions, browser, (_r, s) => (s.setTestCookie(), new Response("")));
        await step(browser, action);
        assert.equal(await worked(browser), expected, label);
      }
      const other = new Browser();
      await visit(sessions, other, async (_r, s) => (await s.login("7"), s.setTestCookie(), new Response("")));
      await step(other, (s) => s.login("42"));
      assert.equal(await worked(other), "false", "login as another user flushes");
    });

    test(`${name}: deleteTestCookie() without setTestCookie() changes nothing and sends no cookie`, async () => {
      const sessions = cookieSessions(makeStore() as CookieStore);
      const fresh = await sessions.handle(new Request("https://a.example/"), (_r, s) => {
        s.deleteTestCookie();
        return new Response(String(s.modified));
      });
      assert.equal(await fresh.text(), "false");
      assert.deepEqual(fresh.headers.getSetCookie(), []);
      const browser = new Browser();
      await visit(sessions, browser, (_r, s) => (s.set("n", 1), new Response("")));
      const existing = await visit(sessions, browser, (_r, s) => (s.deleteTestCookie(), new Response(String(s.modified))));
      assert.equal(await existing.text(), "false");
      assert.deepEqual(existing.headers.getSetCookie(), []);
    });

    test(`${name}: a flash survives login() of an anonymous session and is gone after logout()`, async () => {
      const sessions = cookieSessions(makeStore() as CookieStore);
      const browser = new Browser();
      await visit(sessions, browser, (_r, s) => (s.flash("notice", "welcome"), new Response("")));
      await visit(sessions, browser, async (_r, s) => (await s.login("42"), new Response("")));
      const taken = await visit(sessions, browser, (_r, s) => Response.json(s.takeFlash("notice") ?? null));
      assert.equal(await taken.json(), "welcome");
      await visit(sessions, browser, async (_r, s) => (s.flash("notice", "bye"), await s.logout(), new Response("")));
      const after = await visit(sessions, browser, (_r, s) => Response.json(s.takeFlash("notice") ?? null));
      assert.equal(await after.json(), null);
    });
  }

  test("cookie store: two concurrent takeFlash() both get the message (last writer wins; the Flash messages section's 409 promise is for CAS stores only)", async () => {
    const sessions = cookieSessions(cookieStore());
    const browser = new Browser();
    await visit(sessions, browser, (_r, s) => (s.flash("notice", "once"), new Response("")));
    const both = barrier(2);
    const responses = await Promise.all([0, 1].map(() => sessions.handle(browser.request(), async (_r, s) => {
      const value = s.takeFlash("notice");
      await both();
      return Response.json(value ?? null);
    })));
    const taken = await Promise.all(responses.map(async (r) => [r.status, await r.json()]));
    assert.deepEqual(taken, [[200, "once"], [200, "once"]], "documented here as the cookie store's limit");
  });
});
