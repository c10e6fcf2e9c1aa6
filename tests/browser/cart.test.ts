/**
 * Browser end-to-end tests: a real Chromium against the example servers, checking what only a
 * browser can tell us (what the cookie jar stores, what page script can see) and the session
 * lifecycle through real form posts and redirects.
 *
 * Run under Node 24: `node_modules/.bin/node --test tests/browser/` (after `scripts/browser-setup.sh`).
 * The same test body runs against every example server that exists; expiry needs the cart demo's
 * knobs (`SATCHEL_DEMO_*`, see examples/cart/server.ts) and so runs against it alone.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import type { TestContext } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  CHROMIUM,
  ROOT,
  addItem,
  apiCart,
  cartItems,
  chromiumAvailable,
  launchChromium,
  sessionCookie,
  startServer,
  submit,
} from "./_harness.ts";
import type { RunningServer } from "./_harness.ts";

interface Target {
  name: string;
  /** argv; `{port}` becomes the port. */
  command: string[];
}

const BUN = join(ROOT, "node_modules/.bin/bun");
const TWO_WEEKS = 1_209_600;

const targets: Target[] = [
  { name: "cart demo on Node", command: [process.execPath, "examples/cart/server.ts", "--port", "{port}"] },
];
if (existsSync(join(ROOT, "examples/hono/node.ts"))) {
  targets.push({ name: "Hono example on Node", command: [process.execPath, "examples/hono/node.ts", "--port", "{port}"] });
}
if (existsSync(join(ROOT, "examples/elysia/server.ts"))) {
  targets.push({ name: "Elysia example on Bun", command: [BUN, "examples/elysia/server.ts", "--port", "{port}"] });
}

const haveChromium = await chromiumAvailable();
const nowSeconds = (): number => Date.now() / 1000;

describe("browser end-to-end (Chromium)", { skip: haveChromium ? false : `${CHROMIUM} is missing` }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  /** A fresh context (an empty cookie jar) and page for one test, closed when it ends. */
  async function open(t: TestContext, url: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${url}/`);
    return { context, page };
  }

  for (const target of targets) {
    describe(target.name, () => {
      let server: RunningServer;
      before(async () => {
        server = await startServer(target.command);
      });
      after(async () => {
        await server?.stop();
      });

      test("a cart survives reloads and new tabs, and belongs to its browser", async (t) => {
        const { context, page } = await open(t, server.url);
        assert.deepEqual(await cartItems(page), []);
        assert.equal(await page.textContent("#user"), "Anonymous");
        assert.equal(await sessionCookie(context, server.url), undefined, "reading an empty session sets no cookie");

        await addItem(page, "apple");
        await addItem(page, "pear");
        await page.reload();
        assert.deepEqual(await cartItems(page), ["apple", "pear"]);
        assert.equal(await page.textContent("#count"), "2 item(s)");

        const tab = await context.newPage();
        await tab.goto(`${server.url}/`);
        assert.deepEqual(await cartItems(tab), ["apple", "pear"]);

        const other = await open(t, server.url);
        assert.deepEqual(await cartItems(other.page), [], "another browser profile has its own session");
      });

      test("the session cookie is HttpOnly, SameSite=Lax and Secure (kept on http://localhost)", async (t) => {
        const { context, page } = await open(t, server.url);
        await addItem(page, "apple");
        const cookie = await sessionCookie(context, server.url);
        assert.ok(cookie, "the jar holds the session cookie");
        assert.match(cookie.value, /^[a-z0-9]{32,64}$/);
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.secure, true, "Chromium stores a Secure cookie from http://localhost");
        assert.equal(cookie.sameSite, "Lax");
        assert.equal(cookie.path, "/");
        assert.equal(cookie.domain, "localhost", "host-only cookie");
        assert.ok(Math.abs(cookie.expires - (nowSeconds() + TWO_WEEKS)) < 120, `expires in two weeks, got ${cookie.expires}`);

        // The cart demo prints document.cookie into #cookie-visible as the page loads; the others do not.
        const printed = (await page.locator("#cookie-visible").count()) > 0;
        if (printed) assert.equal(await page.textContent("#cookie-visible"), 'document.cookie=""');
        assert.equal(await page.evaluate(() => document.cookie), "");

        // Script does see a cookie that is not HttpOnly, so the checks above can fail.
        await context.addCookies([{ name: "visible", value: "yes", url: server.url }]);
        await page.reload();
        if (printed) assert.equal(await page.textContent("#cookie-visible"), 'document.cookie="visible=yes"');
        assert.equal(await page.evaluate(() => document.cookie), "visible=yes");
        assert.deepEqual(await cartItems(page), ["apple"]);
      });

      test("login changes the cookie value and the old value no longer works", async (t) => {
        const { context, page } = await open(t, server.url);
        await addItem(page, "apple");
        const before = await sessionCookie(context, server.url);
        assert.ok(before);

        await page.fill('input[name="user"]', "alice");
        await submit(page, "#login");
        assert.match((await page.textContent("#user")) ?? "", /Logged in as alice/);
        assert.deepEqual(await cartItems(page), ["apple"], "the data moves to the new id");
        const afterLogin = await sessionCookie(context, server.url);
        assert.ok(afterLogin);
        assert.notEqual(afterLogin.value, before.value);
        assert.equal(afterLogin.httpOnly, true);
        assert.equal(afterLogin.secure, true);
        assert.equal(afterLogin.sameSite, "Lax");

        // Replay both values from Node: the new one is alice's cart, the old one is nobody's.
        const current = await apiCart(server, `sessionid=${afterLogin.value}`);
        assert.deepEqual(current.body, { cart: ["apple"], user: "alice" });
        const replay = await apiCart(server, `sessionid=${before.value}`);
        assert.deepEqual(replay.body, { cart: [], user: null });
        assert.ok(replay.setCookie.some((line) => /^sessionid=;/.test(line) && /Max-Age=0/i.test(line)), "the stale cookie is deleted");

        await page.reload();
        assert.match((await page.textContent("#user")) ?? "", /Logged in as alice/, "the replay did not end the new session");
      });

      test("logout removes the cookie from the jar and ends the session", async (t) => {
        const { context, page } = await open(t, server.url);
        await addItem(page, "apple");
        await page.fill('input[name="user"]', "bob");
        await submit(page, "#login");
        const loggedIn = await sessionCookie(context, server.url);
        assert.ok(loggedIn);

        await submit(page, "#logout");
        assert.equal(await sessionCookie(context, server.url), undefined);
        assert.equal(await page.textContent("#user"), "Anonymous");
        assert.deepEqual(await cartItems(page), []);
        assert.deepEqual((await apiCart(server, `sessionid=${loggedIn.value}`)).body, { cart: [], user: null });
      });

      test("setExpiry(0) turns the cookie into a browser-session cookie", async (t) => {
        const { context, page } = await open(t, server.url);
        await addItem(page, "apple");
        const persistent = await sessionCookie(context, server.url);
        assert.ok(persistent);
        assert.ok(persistent.expires > nowSeconds(), "persistent before");

        await submit(page, "#browser-session");
        const sessionOnly = await sessionCookie(context, server.url);
        assert.ok(sessionOnly);
        assert.equal(sessionOnly.expires, -1, "no Max-Age/Expires: gone when the browser closes");
        assert.equal(sessionOnly.value, persistent.value, "same session, same id");
        assert.equal(sessionOnly.httpOnly, true);
        await page.reload();
        assert.deepEqual(await cartItems(page), ["apple"]);
      });
    });
  }

  describe("expiry (cart demo on Node, server clock moved through SATCHEL_DEMO_CLOCK_FILE)", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "satchel-browser-"));
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** Start the cart demo with a clock file (offset in ms, starting at 0) and the given knobs. */
    async function demo(t: TestContext, knobs: Record<string, string>): Promise<{ server: RunningServer; skew(ms: number): void }> {
      const clock = join(dir, `clock-${Math.floor(performance.now() * 1000)}`);
      writeFileSync(clock, "0");
      const server = await startServer([process.execPath, "examples/cart/server.ts", "--port", "{port}"], {
        ...knobs,
        SATCHEL_DEMO_CLOCK_FILE: clock,
      });
      t.after(() => server.stop());
      return { server, skew: (ms) => writeFileSync(clock, String(ms)) };
    }

    test("an idle session ends after the idle timeout; activity keeps it alive", async (t) => {
      const { server, skew } = await demo(t, { SATCHEL_DEMO_IDLE: "60" });
      const { context, page } = await open(t, server.url);
      await addItem(page, "apple");

      skew(45_000);
      await page.reload();
      assert.deepEqual(await cartItems(page), ["apple"], "45 s idle < 60 s");
      skew(100_000);
      await page.reload();
      assert.deepEqual(await cartItems(page), ["apple"], "100 s old but active 55 s ago: the read at 45 s counted");

      skew(161_000);
      assert.ok(await sessionCookie(context, server.url), "the browser still sends its cookie");
      await page.reload();
      assert.deepEqual(await cartItems(page), [], "61 s idle: a new, empty session");
      assert.equal(await page.textContent("#user"), "Anonymous");
      assert.equal(await sessionCookie(context, server.url), undefined, "the server deleted the stale cookie");
    });

    test("a session ends at its max age on the server's clock, even if the browser still holds the cookie", async (t) => {
      const { server, skew } = await demo(t, { SATCHEL_DEMO_MAX_AGE: "120", SATCHEL_DEMO_SECURE: "0" });
      const { context, page } = await open(t, server.url);
      await addItem(page, "apple");
      const cookie = await sessionCookie(context, server.url);
      assert.ok(cookie);
      assert.equal(cookie.secure, false, "SATCHEL_DEMO_SECURE=0: no Secure attribute");
      assert.equal(cookie.httpOnly, true);
      assert.ok(Math.abs(cookie.expires - (nowSeconds() + 120)) < 30, `max age 120 s, got ${cookie.expires}`);

      skew(119_000);
      await page.reload();
      assert.deepEqual(await cartItems(page), ["apple"], "119 s < 120 s");

      skew(121_000);
      assert.ok(await sessionCookie(context, server.url), "the browser's clock has not expired the cookie");
      await page.reload();
      assert.deepEqual(await cartItems(page), [], "expired on the server: a new, empty session");
      assert.equal(await sessionCookie(context, server.url), undefined, "the server deleted the stale cookie");
      assert.deepEqual((await apiCart(server, `sessionid=${cookie.value}`)).body, { cart: [], user: null });
    });
  });
});
