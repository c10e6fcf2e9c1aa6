/**
 * examples/django-bridge in Chromium: a real Django 3.2 project (Debian's python3-django,
 * `manage.py runserver`) and the satchel Hono app share ONE `django_session` table (a SQLite file
 * Django's migrate created) and ONE `sessionid` cookie, on two ports of 127.0.0.1 (a browser sends
 * a host's cookies to all its ports).
 *
 * - A Django login (`django.contrib.auth.login()`, which cycles the key) and a Django cart item are
 *   read by Hono under the same cookie; a Hono `flush()` deletes the row, so Django says
 *   "anonymous", even when the old cookie is replayed.
 * - A cart item added by Hono with `session.modify()` is seen by Django, and the login survives
 *   satchel re-encoding the row (Django still verifies `_auth_user_hash`).
 * - A session satchel creates (anonymous visitor on the Hono side) is a live session for Django,
 *   whose login then keeps its data.
 * - A login made on the Hono side (`session.login()`) is accepted by Django's `get_user()`; a
 *   password change on the Django side then logs the user out of both: the Hono app's `authHash`
 *   option (reading `auth_user.password`) ends the session on its next request, as Django does.
 *   An anonymous cart survives a Hono login (the key is cycled, the data kept).
 * - `node examples/django-bridge/start.ts` migrates, serves both and stops both on SIGTERM.
 *
 * Run: `node_modules/.bin/node --test tests/browser/django_bridge.test.ts`. Without Django or
 * Chromium it fails under CI=true and prints a loud skip line elsewhere.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import type { TestContext } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { CHROMIUM, addItem, cartItems, chromiumAvailable, freePort, launchChromium, sessionCookie, startServer, submit } from "./_harness.ts";
import type { RunningServer } from "./_harness.ts";
import { serviceAvailable } from "../_env.ts";
import { HERE, PYTHON, bridgeEnv, djangoCommand, djangoVersion, freshDemo, honoCommand, migrate } from "../../examples/django-bridge/setup.ts";

const version = djangoVersion();
const haveDjango = await serviceAvailable(`Django (apt-get install python3-django; run by ${PYTHON})`, async () => {
  if (version instanceof Error) throw version;
});
const haveChromium = haveDjango && (await chromiumAvailable());

describe(`Django ${haveDjango ? version : ""} and satchel's Hono app share one session in Chromium`, {
  skip: !haveDjango ? "Django is missing" : !haveChromium ? `${CHROMIUM} is missing` : false,
  timeout: 120_000,
}, () => {
  const demo = haveChromium ? freshDemo() : { secret: "", dir: "", db: "" };
  let browser: Browser | undefined;
  let django: RunningServer | undefined;
  let hono: RunningServer | undefined;
  let db: DatabaseSync | undefined;

  before(async () => {
    migrate(demo.secret, demo.db);
    db = new DatabaseSync(demo.db, { readOnly: true, timeout: 5000 });
    const env = bridgeEnv(demo.secret, demo.db);
    [browser, django, hono] = await Promise.all([
      launchChromium(),
      startServer(djangoCommand("{port}"), env, 30_000),
      startServer(honoCommand("{port}"), env),
    ]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([django?.stop(), hono?.stop()]);
    db?.close();
    rmSync(demo.dir, { recursive: true, force: true });
  });

  async function open(t: TestContext): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext();
    context.setDefaultTimeout(10_000);
    t.after(() => context.close());
    return { context, page: await context.newPage() };
  }
  /** Both apps on 127.0.0.1, so one cookie jar entry serves both ports. */
  const dj = (path: string): string => `${django!.direct}${path}`;
  const hn = (path: string): string => `${hono!.direct}${path}`;
  async function whoami(page: Page): Promise<string> {
    const response = await page.goto(dj("/whoami"));
    return (await response!.text()).trim();
  }
  async function djangoLogin(page: Page): Promise<void> {
    await page.goto(dj("/login"));
    await submit(page, "#login");
    assert.equal(await whoami(page), "ada");
  }
  const rowCount = (key: string): number =>
    Number((db!.prepare("SELECT COUNT(*) AS n FROM django_session WHERE session_key = ?").get(key) as { n: number }).n);
  const adaId = (): string => String((db!.prepare("SELECT id FROM auth_user WHERE username = 'ada'").get() as { id: number }).id);

  test("Django's login and cart are read by Hono; Hono's logout logs Django out (the row is gone)", async (t) => {
    const { context, page } = await open(t);
    assert.equal(await whoami(page), "anonymous");
    await djangoLogin(page);
    const cookie = await sessionCookie(context, django!.direct);
    assert.ok(cookie, "Django set sessionid");
    assert.match(cookie.value, /^[a-z0-9]{32}$/);
    assert.equal(cookie.domain, "127.0.0.1");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, false);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(rowCount(cookie.value), 1);

    await page.goto(dj("/cart"));
    await addItem(page, "apple");
    assert.deepEqual(await cartItems(page), ["apple"]);

    await page.goto(hn("/cart"));
    assert.deepEqual(await cartItems(page), ["apple"], "Hono reads the cart Django wrote");
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`, "Hono sees django.contrib.auth's _auth_user_id");
    assert.equal((await sessionCookie(context, hono!.direct))?.value, cookie.value, "one cookie for both ports");

    await submit(page, "#logout");
    assert.equal(await page.textContent("#user"), "anonymous");
    assert.deepEqual(await cartItems(page), []);
    assert.equal(await sessionCookie(context, hono!.direct), undefined, "satchel deleted the cookie");
    assert.equal(rowCount(cookie.value), 0, "flush() deleted the django_session row");
    assert.equal(await whoami(page), "anonymous", "Django is logged out too");

    // Not just a missing cookie: the old one, replayed, is dead for Django as well.
    await context.addCookies([{ name: "sessionid", value: cookie.value, domain: "127.0.0.1", path: "/" }]);
    assert.equal(await whoami(page), "anonymous", "the replayed key finds no row");
    await page.goto(dj("/cart"));
    assert.deepEqual(await cartItems(page), []);
  });

  test("a cart item Hono adds with session.modify() is seen by Django, and the login survives it", async (t) => {
    const { context, page } = await open(t);
    await djangoLogin(page);
    await page.goto(dj("/cart"));
    await addItem(page, "apple");
    const key = (await sessionCookie(context, django!.direct))!.value;

    await page.goto(hn("/cart"));
    await addItem(page, "pear");
    assert.deepEqual(await cartItems(page), ["apple", "pear"]);
    assert.equal((await sessionCookie(context, hono!.direct))?.value, key, "satchel updated the row in place, same key");

    await page.goto(dj("/cart"));
    assert.deepEqual(await cartItems(page), ["apple", "pear"], "Django reads the row satchel re-encoded");
    assert.equal(await whoami(page), "ada", "Django still verifies the login (_auth_user_hash) after satchel's write");

    await page.goto(dj("/cart"));
    await addItem(page, "plum");
    await page.goto(hn("/cart"));
    assert.deepEqual(await cartItems(page), ["apple", "pear", "plum"]);
  });

  test("a session satchel creates is live for Django, and Django's login keeps its data", async (t) => {
    const { context, page } = await open(t);
    await page.goto(hn("/cart"));
    await addItem(page, "fig");
    const created = await sessionCookie(context, hono!.direct);
    assert.ok(created, "satchel set sessionid");
    assert.equal(rowCount(created.value), 1, "satchel inserted a django_session row");

    await page.goto(dj("/cart"));
    assert.deepEqual(await cartItems(page), ["fig"], "Django reads the row satchel created");
    await djangoLogin(page);
    const cycled = (await sessionCookie(context, django!.direct))!.value;
    assert.notEqual(cycled, created.value, "Django's login cycled the key (fixation defence)");
    assert.equal(rowCount(created.value), 0, "the old key's row is gone");

    await page.goto(hn("/cart"));
    assert.deepEqual(await cartItems(page), ["fig"], "the data moved to the new key");
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`);
  });

  /** Django's /password view (a demo reset, no update_session_auth_hash): every session of ada goes stale. */
  async function setPassword(password: string): Promise<void> {
    const response = await fetch(dj("/password"), { method: "POST", body: new URLSearchParams({ username: "ada", password }) });
    assert.equal(await response.text(), "changed");
  }

  test("a Hono login is Django's login; a password change on Django logs the Hono side out on its next request", async (t) => {
    const { context, page } = await open(t);
    t.after(() => setPassword("lovelace")); // the other tests log in with the form's default password
    await page.goto(hn("/login?user=ada"));
    assert.equal(new URL(page.url()).pathname, "/cart");
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`, "session.user after session.login()");
    const cookie = (await sessionCookie(context, hono!.direct))!.value;
    assert.equal(rowCount(cookie), 1);
    assert.equal(await whoami(page), "ada", "Django's get_user() accepts satchel's _auth_user_hash");
    await page.goto(hn("/cart"));
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`, "still logged in on Hono (the authHash check passes)");

    await setPassword("a-new-password");
    await page.goto(hn("/cart"));
    assert.equal(await page.textContent("#user"), "anonymous", "the Hono side is logged out (authHash: credentials changed)");
    assert.equal(await sessionCookie(context, hono!.direct), undefined, "satchel deleted the cookie");
    assert.equal(rowCount(cookie), 0, "and the django_session row");
    await context.addCookies([{ name: "sessionid", value: cookie, domain: "127.0.0.1", path: "/" }]);
    assert.equal(await whoami(page), "anonymous", "Django: logged out as well");
  });

  test("a password change is seen by Hono even when Django never looks at the session", async (t) => {
    const { context, page } = await open(t);
    t.after(() => setPassword("lovelace"));
    await djangoLogin(page); // Django's login(), Django's hash
    await page.goto(hn("/cart"));
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`);
    const cookie = (await sessionCookie(context, django!.direct))!.value;
    await setPassword("another-password");
    await page.goto(hn("/cart"));
    assert.equal(await page.textContent("#user"), "anonymous");
    assert.equal(rowCount(cookie), 0, "satchel ended the row before Django saw it");
  });

  test("an anonymous Hono cart survives a Hono login: the key is cycled, the data kept, Django sees both", async (t) => {
    const { context, page } = await open(t);
    await page.goto(hn("/cart"));
    await addItem(page, "quince");
    const before = (await sessionCookie(context, hono!.direct))!.value;
    const login = await page.goto(hn("/login?user=ada"));
    assert.equal(login!.status(), 200, "login of an existing session answers (no store error)");
    assert.equal(await page.textContent("#user"), `Django user id ${adaId()}`);
    assert.deepEqual(await cartItems(page), ["quince"]);
    const after = (await sessionCookie(context, hono!.direct))!.value;
    assert.notEqual(after, before, "session.login() cycled the key (fixation defence)");
    assert.equal(rowCount(before), 0, "the pre-login key is dead");
    assert.equal(await whoami(page), "ada");
    await page.goto(dj("/cart"));
    assert.deepEqual(await cartItems(page), ["quince"]);
  });
});

describe("node examples/django-bridge/start.ts", { skip: haveDjango ? false : "Django is missing", timeout: 90_000 }, () => {
  test("migrates, serves both apps on their ports with one session, and stops both on SIGTERM", async () => {
    const [djangoPort, honoPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [`${HERE}start.ts`, "--django-port", String(djangoPort), "--hono-port", String(honoPort)], {
      env: bridgeEnv("unused", "unused"),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
    const pids = (): number[] => [...(/pid django=(\d+) hono=(\d+)/.exec(output) ?? [])].slice(1).map(Number);
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      const deadline = Date.now() + 45_000;
      for (const port of [djangoPort, honoPort]) {
        for (;;) {
          assert.equal(child.exitCode, null, `start.ts exited early:\n${output}`);
          const up = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
          if (up) break;
          assert.ok(Date.now() < deadline, `port ${port} did not answer:\n${output}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const login = await fetch(`http://127.0.0.1:${djangoPort}/login`, {
        method: "POST",
        body: new URLSearchParams({ username: "ada", password: "lovelace" }),
        redirect: "manual",
      });
      assert.equal(login.status, 303, "the demo user exists after migrate");
      const sessionid = login.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => c.startsWith("sessionid="));
      assert.ok(sessionid);
      const cart = await (await fetch(`http://127.0.0.1:${honoPort}/cart`, { headers: { cookie: sessionid } })).text();
      assert.match(cart, /Django user id \d+/, "the Hono app sees the Django login");

      const [djangoPid, honoPid] = pids();
      assert.ok(djangoPid && honoPid, `start.ts printed the PIDs:\n${output}`);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      assert.equal(await exited, 0, output);
      clearTimeout(timer);
      assert.equal(alive(djangoPid), false, "runserver stopped");
      assert.equal(alive(honoPid), false, "the Hono app stopped");
      const dir = /\(data in (\S+), removed on exit\)/.exec(output)?.[1];
      assert.ok(dir, output);
      assert.equal(existsSync(dir), false, "start.ts removed its temporary directory");
    } finally {
      // Whatever failed above: nothing we started outlives the test.
      for (const pid of pids()) if (alive(pid)) process.kill(pid, "SIGKILL");
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
