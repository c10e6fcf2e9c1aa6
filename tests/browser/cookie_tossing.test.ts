/**
 * Cookie tossing in a real browser: a sibling subdomain must not be able to replace the
 * `__Host-sessionid` cookie of app.example.test by setting, for the whole registrable domain,
 * `theme=dark,__Host-sessionid=<attacker's id>`. Chromium stores and sends that value verbatim
 * after the victim's own cookie; a parser that split on `,` would let the attacker's id win.
 *
 * Debian's Chromium over HTTPS (a self-signed certificate made here), app.example.test and
 * evil.example.test mapped to 127.0.0.1, one `node:https` server for both on a random port.
 * Run under Node 24: `node_modules/.bin/node --test tests/browser/cookie_tossing.test.ts`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext } from "playwright-core";
import { createSessions, memoryStore } from "../../mod.ts";
import { CHROMIUM, chromiumAvailable } from "./_harness.ts";
import { launchChromiumMapped, opensslAvailable, selfSignedCertificate, startHttps } from "./_https.ts";
import type { HttpsServer } from "./_https.ts";

const DOMAIN = "example.test";
const COOKIE = "__Host-sessionid";

const ready = (await chromiumAvailable()) && (await opensslAvailable());

describe("cookie tossing from a sibling subdomain (Chromium, HTTPS)", { skip: ready ? false : `${CHROMIUM} or openssl is missing` }, () => {
  let browser: Browser;
  let server: HttpsServer;
  /** What evil.example.test tosses; set once the attacker has a valid session id. */
  let tossed = "";

  before(async () => {
    const sessions = createSessions<{ user: string }>({
      secret: "cookie-tossing-test-secret-0123456789abcdef",
      store: memoryStore(),
      cookie: { name: COOKIE, secure: true, path: "/", sameSite: "Lax" },
    });
    server = await startHttps(await selfSignedCertificate(DOMAIN), async (request) => {
      const url = new URL(request.url);
      if (url.hostname === `evil.${DOMAIN}`) {
        // Written by hand: serializeCookie refuses a comma in a value.
        return new Response("hello from a sibling", { headers: { "set-cookie": tossed } });
      }
      return await sessions.handle(request, (_request, session) => {
        if (url.pathname === "/login") session.set("user", url.searchParams.get("user") ?? "");
        return Response.json({ user: session.get("user") ?? null });
      });
    });
    browser = await launchChromiumMapped(DOMAIN);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const app = (path: string): string => `https://app.${DOMAIN}:${server.port}${path}`;
  const evil = (path: string): string => `https://evil.${DOMAIN}:${server.port}${path}`;

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(10_000);
    return context;
  }

  async function whoami(context: BrowserContext, url: string): Promise<{ user: string | null }> {
    const page = await context.newPage();
    const response = await page.goto(url);
    assert.ok(response?.ok(), `GET ${url} answered ${response?.status()}`);
    if (!response) throw new Error("no response"); // narrowed for tsc; the assert above already failed
    const body = (await response.json()) as { user: string | null };
    await page.close();
    return body;
  }

  async function sessionId(context: BrowserContext): Promise<string> {
    const cookie = (await context.cookies(app("/"))).find((c) => c.name === COOKIE);
    assert.ok(cookie?.value, `no ${COOKIE} cookie in the jar`);
    return cookie.value;
  }

  test("the victim's next request is still the victim's session", async () => {
    // The attacker logs in on the real app and gets a valid session id of his own.
    const attacker = await newContext();
    assert.deepEqual(await whoami(attacker, app("/login?user=attacker")), { user: "attacker" });
    const attackerId = await sessionId(attacker);
    await attacker.close();
    tossed = `theme=dark,${COOKIE}=${attackerId}; Domain=${DOMAIN}; Path=/; Secure`;

    const victim = await newContext();
    try {
      assert.deepEqual(await whoami(victim, app("/login?user=victim")), { user: "victim" });
      const victimId = await sessionId(victim);
      assert.ok(victimId !== attackerId);

      // The victim visits the sibling, which tosses its cookie onto the whole domain.
      const page = await victim.newPage();
      await page.goto(evil("/"));
      await page.close();
      const theme = (await victim.cookies(app("/"))).find((c) => c.name === "theme");
      assert.ok(theme?.value === `dark,${COOKIE}=${attackerId}` && theme.domain === `.${DOMAIN}`, "Chromium did not store the tossed cookie");

      // Next request to the app: the browser really sends the attacker's id last...
      const before = server.seen.length;
      const body = await whoami(victim, app("/whoami"));
      const sent = server.seen.slice(before).find((r) => r.path === "/whoami")?.cookie ?? "";
      assert.ok(
        sent === `${COOKIE}=${victimId}; theme=dark,${COOKIE}=${attackerId}`,
        "the Cookie header Chromium sent is not the victim's cookie followed by the tossed one",
      );
      // ...and the app still runs as the victim.
      assert.deepEqual(body, { user: "victim" });
    } finally {
      await victim.close();
    }
  });
});
