/**
 * `cookieStore({ chunks: 3 })` in real Chromium: a session near the cap (about 11 KB, three
 * cookies) is stored by the browser, sent back and read whole; shrinking it deletes the stale
 * chunks from the browser's jar; logging out deletes them all. Served in this process through
 * `@satchel/session/node` on localhost (a secure context, so the default `Secure` cookies are kept).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext } from "playwright-core";
import { cookieStore, createSessions } from "../../mod.ts";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { withSession } from "../../adapters/node.ts";
import { CHROMIUM, chromiumAvailable, freePort, launchChromium } from "./_harness.ts";

const ready = await chromiumAvailable();
const sessions = createSessions<{ blob: string }>({ secret: "browser-chunks-secret-0123456789abcdef", store: cookieStore({ chunks: 3 }) });
/** Text that does not compress: 3 random bytes become 4 base64 characters. */
const noise = (chars: number) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(chars)))).slice(0, chars);
let big = "";

describe("chunked cookie sessions in Chromium", { skip: ready ? false : `${CHROMIUM} is missing` }, () => {
  let browser: Browser;
  let context: BrowserContext;
  let base = "";
  let server: Server;

  before(async () => {
    const port = await freePort();
    server = createServer(withSession(sessions, async (req, res) => {
      const s = req.session;
      const action = req.url ?? "/";
      if (action === "/big") s.set("blob", (big = noise(11_000)));
      else if (action === "/small") s.set("blob", "small");
      else if (action === "/logout") await s.flush();
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ length: (s.get("blob") ?? "").length, same: s.get("blob") === big }));
    }));
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    base = `http://localhost:${port}/`;
    browser = await launchChromium();
    context = await browser.newContext();
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const names = async () => (await context.cookies()).map((c) => c.name).sort();
  const get = async (path: string) => await (await context.request.get(new URL(path, base).href)).json();

  test("near the cap: three chunks kept by the browser and read back whole; stale chunks and logout clean up", async () => {
    assert.equal((await get("/big")).length, 11_000);
    assert.deepEqual(await names(), ["sessionid.0", "sessionid.1", "sessionid.2"]);
    for (const cookie of await context.cookies()) assert.ok(cookie.name.length + cookie.value.length <= 4096);
    assert.deepEqual(await get("/read"), { length: 11_000, same: true }, "the browser sent all three back and they verify as one");
    await get("/small");
    assert.deepEqual(await names(), ["sessionid"], "the chunks are gone from the browser");
    await get("/big");
    await get("/logout");
    assert.deepEqual(await names(), []);
  });
});
