/**
 * Browser end-to-end test of the Express 5 cart (examples/express, `@satchel/session/node`): a
 * real Chromium posts real forms, follows Express's 303 redirects and keeps the cookie in its jar.
 *
 * Run under Node 24: `node_modules/.bin/node --test tests/browser/express_cart.test.ts` (after
 * `scripts/browser-setup.sh`); without Chromium it prints a loud skip line (fails under CI=true).
 */
import assert from "node:assert/strict";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import type { TestContext } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  CHROMIUM,
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

const TWO_WEEKS = 1_209_600;
const haveChromium = await chromiumAvailable();

describe("Express 5 cart in Chromium", { skip: haveChromium ? false : `${CHROMIUM} is missing` }, () => {
  let browser: Browser;
  let server: RunningServer;
  before(async () => {
    [browser, server] = await Promise.all([
      launchChromium(),
      startServer([process.execPath, "examples/express/server.ts", "--port", "{port}"]),
    ]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function open(t: TestContext): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    return { context, page };
  }

  test("two adds across reloads land in one cart, under one HttpOnly, Secure, SameSite=Lax cookie", async (t) => {
    const { context, page } = await open(t);
    assert.match(await page.title(), /Express 5 on Node/);
    assert.deepEqual(await cartItems(page), []);
    assert.equal(await sessionCookie(context, server.url), undefined, "reading an empty session sets no cookie");

    await addItem(page, "apple");
    const first = await sessionCookie(context, server.url);
    assert.ok(first, "the first add sets the cookie");
    await page.reload();
    assert.deepEqual(await cartItems(page), ["apple"]);
    await addItem(page, "pear");
    await page.reload();
    assert.deepEqual(await cartItems(page), ["apple", "pear"]);
    assert.equal(await page.textContent("#count"), "2 item(s)");

    const cookie = await sessionCookie(context, server.url);
    assert.ok(cookie);
    assert.equal(cookie.value, first.value, "same session across requests");
    assert.match(cookie.value, /^[a-z0-9]{32}$/);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true, "Chromium stores a Secure cookie from http://localhost");
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(cookie.path, "/");
    assert.equal(cookie.domain, "localhost", "host-only cookie");
    assert.ok(Math.abs(cookie.expires - (Date.now() / 1000 + TWO_WEEKS)) < 120, `expires in two weeks, got ${cookie.expires}`);
    assert.equal(await page.textContent("#cookie-visible"), 'document.cookie=""', "invisible to page script");

    const other = await open(t);
    assert.deepEqual(await cartItems(other.page), [], "another browser profile has its own session");
  });

  test("login cycles the cookie (the old value is dead); logout removes it", async (t) => {
    const { context, page } = await open(t);
    await addItem(page, "apple");
    const before = await sessionCookie(context, server.url);
    assert.ok(before);

    await page.fill('input[name="user"]', "alice");
    await submit(page, "#login");
    assert.match((await page.textContent("#user")) ?? "", /Logged in as alice/);
    assert.deepEqual(await cartItems(page), ["apple"], "the data moves to the new id");
    const loggedIn = await sessionCookie(context, server.url);
    assert.ok(loggedIn);
    assert.notEqual(loggedIn.value, before.value);
    assert.deepEqual((await apiCart(server, `sessionid=${loggedIn.value}`)).body, { cart: ["apple"], user: "alice" });
    const replay = await apiCart(server, `sessionid=${before.value}`);
    assert.deepEqual(replay.body, { cart: [], user: null });
    assert.ok(replay.setCookie.some((line) => /^sessionid=;/.test(line) && /Max-Age=0/i.test(line)), "the stale cookie is deleted");

    await submit(page, "#logout");
    assert.equal(await sessionCookie(context, server.url), undefined);
    assert.equal(await page.textContent("#user"), "Anonymous");
    assert.deepEqual((await apiCart(server, `sessionid=${loggedIn.value}`)).body, { cart: [], user: null });
  });

  test("setExpiry(0) turns the cookie into a browser-session cookie", async (t) => {
    const { context, page } = await open(t);
    await addItem(page, "apple");
    const persistent = await sessionCookie(context, server.url);
    assert.ok(persistent && persistent.expires > Date.now() / 1000);
    await submit(page, "#browser-session");
    const sessionOnly = await sessionCookie(context, server.url);
    assert.ok(sessionOnly);
    assert.equal(sessionOnly.expires, -1, "no Max-Age/Expires");
    assert.equal(sessionOnly.value, persistent.value);
  });
});
