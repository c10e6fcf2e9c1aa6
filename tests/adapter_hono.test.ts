/**
 * `@satchel/session/hono`: real Requests through a real Hono app (`app.request`), under Node 24,
 * Deno and Bun.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { createSessions, SessionError } from "../mod.ts";
import type { SessionsOptions } from "../mod.ts";
import { session } from "../adapters/hono.ts";
import type { SessionVariables } from "../adapters/hono.ts";
import { cookieValue, SECRET, setCookies, spyStore } from "./_http.ts";

type Cart = { cart: string[]; user: string };


function cartApp(options: Partial<SessionsOptions> = {}) {
  const store = spyStore();
  const sessions = createSessions<Cart>({ secret: SECRET, store, ...options });
  const app = new Hono<{ Variables: SessionVariables<Cart> }>();
  // Hono's default error handler, without its console.error.
  app.onError((error, c) => (error instanceof HTTPException ? error.getResponse() : c.text("Internal Server Error", 500)));
  app.use(session(sessions));
  app.get("/cart", (c) => c.json({ cart: c.get("session").get("cart", []) }));
  app.get("/plain", (c) => c.text("no session access"));
  app.post("/add/:item", (c) => {
    const s = c.var.session;
    s.set("cart", [...s.get("cart", []), c.req.param("item")]);
    return c.text("added");
  });
  app.post("/login/:user", async (c) => {
    await c.var.session.cycleKey();
    c.var.session.set("user", c.req.param("user"));
    return c.text("in");
  });
  app.post("/logout", async (c) => {
    await c.var.session.flush();
    return c.text("out");
  });
  app.post("/throw", (c) => {
    c.var.session.set("user", "mallory");
    throw new Error("boom");
  });
  app.post("/http-401", (c) => {
    c.var.session.set("user", "mallory");
    throw new HTTPException(401, { message: "no" });
  });
  app.post("/503", (c) => {
    c.var.session.set("user", "mallory");
    return c.text("unavailable", 503);
  });
  app.post("/redirect", (c) => {
    c.var.session.set("user", "redirected");
    return Response.redirect("https://example.test/cart", 303);
  });
  app.post("/proxied", (c) => {
    c.var.session.set("user", "proxied");
    return immutable(new Response("upstream", { headers: { vary: "Accept-Encoding", "set-cookie": "theme=dark; Path=/" } }));
  });
  app.post("/vary", (c) => {
    c.header("vary", "Accept-Encoding");
    c.var.session.set("user", "v");
    return c.text("ok");
  });
  return { app, store, sessions };
}

/** The response with headers that refuse changes, as a `fetch()` result's do. */
function immutable(response: Response): Response {
  const refuse = (): never => {
    throw new TypeError("immutable headers");
  };
  for (const method of ["set", "append", "delete"]) Object.defineProperty(response.headers, method, { value: refuse });
  return response;
}

const cookieHeader = (id: string | undefined): Record<string, string> => (id ? { cookie: `sessionid=${id}` } : {});

async function cartOf(app: Hono<{ Variables: SessionVariables<Cart> }>, id: string | undefined): Promise<string[]> {
  const response = await app.request("/cart", { headers: cookieHeader(id) });
  assert.equal(response.status, 200);
  return ((await response.json()) as { cart: string[] }).cart;
}

describe("hono session() middleware", () => {
  test("a value set in one request is read in the next", async () => {
    const { app } = cartApp();
    const first = await app.request("/add/apple", { method: "POST" });
    assert.equal(first.status, 200);
    const id = cookieValue(first);
    assert.match(id ?? "", /^[a-z0-9]{32}$/);
    const [cookie] = setCookies(first);
    assert.equal(cookie!.attributes.httponly, true);
    assert.equal(cookie!.attributes.path, "/");
    assert.equal(first.headers.get("vary"), "Cookie");
    assert.equal(first.headers.get("cache-control"), "private, no-store");
    const second = await app.request("/add/pear", { method: "POST", headers: cookieHeader(id) });
    assert.equal(cookieValue(second), id, "an existing session keeps its id");
    assert.deepEqual(await cartOf(app, id), ["apple", "pear"]);
  });

  test("c.get('session') and c.var.session are the same Session", async () => {
    const { sessions } = cartApp();
    const app = new Hono<{ Variables: SessionVariables<Cart> }>();
    app.use(session(sessions));
    app.get("/", (c) => c.text(String(c.get("session") === c.var.session)));
    assert.equal(await (await app.request("/")).text(), "true");
  });

  test("flush deletes the record and the cookie", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    const out = await app.request("/logout", { method: "POST", headers: cookieHeader(id) });
    const [deletion] = setCookies(out);
    assert.equal(deletion?.name, "sessionid");
    assert.equal(deletion?.value, "");
    assert.equal(deletion?.attributes["max-age"], "0");
    assert.equal(await store.has(id), false);
    assert.deepEqual(await cartOf(app, id), [], "the old cookie reads an empty session");
  });

  test("cycleKey issues a new id and kills the old one", async () => {
    const { app, store } = cartApp();
    const before = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    const login = await app.request("/login/alice", { method: "POST", headers: cookieHeader(before) });
    const after = cookieValue(login);
    assert.ok(after && after !== before, "a new id is sent");
    assert.equal(await store.has(before), false);
    assert.deepEqual(await cartOf(app, after), ["apple"], "the data moved to the new id");
    assert.deepEqual(await cartOf(app, before), []);
  });

  test("Vary: Cookie when the session was read, nothing when it was not", async () => {
    const { app } = cartApp();
    const id = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    const read = await app.request("/cart", { headers: cookieHeader(id) });
    assert.equal(read.headers.get("vary"), "Cookie");
    assert.deepEqual(read.headers.getSetCookie(), [], "reading does not re-send the cookie");
    const plain = await app.request("/plain", { headers: cookieHeader(id) });
    assert.equal(plain.headers.get("vary"), null);
    assert.deepEqual(plain.headers.getSetCookie(), []);
  });

  test("an existing Vary header is merged, not replaced", async () => {
    const { app } = cartApp();
    const response = await app.request("/vary", { method: "POST" });
    assert.equal(response.headers.get("vary"), "Accept-Encoding, Cookie");
    assert.ok(cookieValue(response));
  });

  test("nothing is saved when the handler throws (Hono's default error handler answers 500)", async (t) => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const app = new Hono<{ Variables: SessionVariables<Cart> }>().use(session(sessions));
    app.post("/add", (c) => {
      c.var.session.set("cart", ["apple"]);
      return c.text("added");
    });
    app.post("/throw", (c) => {
      c.var.session.set("user", "mallory");
      throw new Error("boom");
    });
    const quiet = console.error;
    console.error = () => {}; // the default handler logs the error
    t.after(() => {
      console.error = quiet;
    });
    const id = cookieValue(await app.request("/add", { method: "POST" }))!;
    const writes = store.writes;
    const response = await app.request("/throw", { method: "POST", headers: cookieHeader(id) });
    assert.equal(response.status, 500);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(store.writes, writes);
    const fresh = await app.request("/throw", { method: "POST" });
    assert.equal(fresh.status, 500);
    assert.deepEqual(fresh.headers.getSetCookie(), [], "no session is created either");
    assert.equal(store.writes, writes);
  });

  test("nothing is saved when a custom onError answers 5xx", async () => {
    const { app, store } = cartApp();
    app.onError((_error, c) => c.text("custom", 502));
    const response = await app.request("/throw", { method: "POST" });
    assert.equal(response.status, 502);
    assert.equal(await response.text(), "custom");
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(store.writes, 0);
  });

  test("a thrown HTTPException with a 4xx status is committed, as Django commits 4xx responses", async () => {
    const { app, store } = cartApp();
    const response = await app.request("/http-401", { method: "POST" });
    assert.equal(response.status, 401);
    assert.ok(cookieValue(response));
    assert.equal(store.writes, 1);
  });

  test("nothing is saved when the handler returns 5xx", async () => {
    const { app, store } = cartApp();
    const response = await app.request("/503", { method: "POST" });
    assert.equal(response.status, 503);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(store.writes, 0);
  });

  test("a Response.redirect() (immutable headers) still gets the cookie", async () => {
    const { app } = cartApp();
    const response = await app.request("/redirect", { method: "POST" });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "https://example.test/cart");
    const id = cookieValue(response);
    assert.ok(id);
    assert.equal(response.headers.get("vary"), "Cookie");
    assert.equal(setCookies(response).length, 1, "exactly one Set-Cookie after the response is replaced");
  });

  test("an immutable response is replaced with a copy that keeps its own Vary and Set-Cookie", async () => {
    const { app } = cartApp();
    const response = await app.request("/proxied", { method: "POST" });
    assert.equal(await response.text(), "upstream");
    assert.equal(response.headers.get("vary"), "Accept-Encoding, Cookie");
    assert.deepEqual(setCookies(response).map((c) => c.name), ["theme", "sessionid"]);
  });

  test("503 when the store fails at load; the handler does not run", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    store.down = true;
    const response = await app.request("/add/pear", { method: "POST", headers: cookieHeader(id) });
    assert.equal(response.status, 503);
    assert.match(await response.text(), /session store is unavailable/);
    store.down = false;
    assert.deepEqual(await cartOf(app, id), ["apple"]);
  });

  test("400 when the session is deleted by a concurrent request before this one saves", async () => {
    const { app, sessions } = cartApp();
    const id = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    const racing = new Hono<{ Variables: SessionVariables<Cart> }>();
    racing.use(session(sessions));
    racing.post("/", async (c) => {
      // A logout in another tab lands while this request runs.
      const out = await app.request("/logout", { method: "POST", headers: cookieHeader(id) });
      assert.equal(out.status, 200);
      c.var.session.set("user", "late");
      return c.text("ok");
    });
    const response = await racing.request("/", { method: "POST", headers: cookieHeader(id) });
    assert.equal(response.status, 400);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("errors other than SessionError at commit reach Hono's error handler", async () => {
    const failing = { stringify: (): string => { throw new Error("cannot"); }, parse: (text: string): Record<string, unknown> => JSON.parse(text) };
    const sessions = createSessions<Cart>({ secret: SECRET, store: spyStore(), serializer: failing });
    const app = new Hono<{ Variables: SessionVariables<Cart> }>();
    app.onError((error, c) => c.text(error instanceof SessionError ? error.code : "other", 500));
    app.use(session(sessions));
    app.get("/", (c) => {
      c.var.session.set("user", "u");
      return c.text("ok");
    });
    const response = await app.request("/");
    assert.equal(response.status, 500);
    assert.equal(await response.text(), "SERIALIZATION_FAILED");
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("a SessionError thrown by the handler is answered like one at load or commit; onError still sees it", async () => {
    const { app, store, sessions } = cartApp();
    const seen: unknown[] = [];
    app.onError((error, c) => {
      seen.push(error);
      return c.text("app error handler", 500);
    });
    const id = cookieValue(await app.request("/add/apple", { method: "POST" }))!;
    const codes = [["SESSION_INTERRUPTED", 400], ["SESSION_CONFLICT", 409], ["STORE_UNAVAILABLE", 503]] as const;
    const thrower = new Hono<{ Variables: SessionVariables<Cart> }>();
    thrower.onError((error, c) => {
      seen.push(error);
      return c.text("app error handler", 500);
    });
    thrower.use(session(sessions));
    thrower.post("/:code", (c) => {
      c.var.session.set("user", "never saved");
      throw new SessionError(c.req.param("code") as (typeof codes)[number][0], "thrown by the handler");
    });
    const writes = store.writes;
    for (const [code, status] of codes) {
      const response = await thrower.request(`/${code}`, { method: "POST", headers: cookieHeader(id) });
      assert.equal(response.status, status, code);
      assert.doesNotMatch(await response.text(), /app error handler/);
      assert.deepEqual(response.headers.getSetCookie(), [], code);
      assert.equal((seen.at(-1) as SessionError).code, code, "Hono passed the error to onError first");
    }
    assert.equal(store.writes, writes, "nothing saved");
    // The real thing: a logout against a store that cannot delete.
    const failing = { ...store, delete: () => Promise.reject(new Error("store down")) };
    const down = new Hono<{ Variables: SessionVariables<Cart> }>().use(session(createSessions<Cart>({ secret: SECRET, store: failing })));
    down.post("/logout", async (c) => {
      await c.var.session.flush();
      return c.text("out");
    });
    const quiet = console.error;
    console.error = () => {}; // Hono's default onError logs the error it is given
    try {
      const response = await down.request("/logout", { method: "POST", headers: cookieHeader(id) });
      assert.equal(response.status, 503);
      assert.deepEqual(response.headers.getSetCookie(), []);
    } finally {
      console.error = quiet;
    }
  });

  test("a store failure at load or commit answers 503 and is left in c.error for outer middleware", async () => {
    const store = spyStore();
    const failing = { ...store, create: () => Promise.reject(new Error("store down")) };
    const sessions = createSessions<Cart>({ secret: SECRET, store: failing });
    const observed: unknown[] = [];
    const app = new Hono<{ Variables: SessionVariables<Cart> }>();
    app.use(async (c, next) => {
      await next();
      observed.push(c.error);
    });
    app.use(session(sessions));
    app.post("/add", (c) => {
      c.var.session.set("cart", ["apple"]);
      return c.text("added");
    });
    const atCommit = await app.request("/add", { method: "POST" });
    assert.equal(atCommit.status, 503);
    assert.deepEqual(atCommit.headers.getSetCookie(), []);
    assert.equal((observed.at(-1) as SessionError).code, "STORE_UNAVAILABLE");
    store.down = true;
    const atLoad = await app.request("/add", { method: "POST", headers: cookieHeader("a".repeat(32)) });
    assert.equal(atLoad.status, 503);
    assert.deepEqual(atLoad.headers.getSetCookie(), []);
    assert.equal((observed.at(-1) as SessionError).code, "STORE_UNAVAILABLE");
  });

  test("non-session errors thrown by the handler still reach the app's onError and its answer", async () => {
    const { app, store } = cartApp();
    app.onError((error, c) => c.text(`handled: ${error.message}`, 418));
    const response = await app.request("/throw", { method: "POST" });
    assert.equal(response.status, 418);
    assert.equal(await response.text(), "handled: boom");
    assert.ok(cookieValue(response), "a 4xx answer is committed");
    assert.equal(store.writes, 1);
  });

  test("mounting the middleware twice loads and commits once", async () => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const sub = new Hono<{ Variables: SessionVariables<Cart> }>().use(session(sessions));
    sub.post("/add/:item", (c) => {
      c.var.session.set("cart", [...c.var.session.get("cart", []), c.req.param("item")]);
      return c.text("added");
    });
    const app = new Hono<{ Variables: SessionVariables<Cart> }>().use(session(sessions));
    app.use("/shop/*", session(sessions));
    app.route("/shop", sub);
    const first = await app.request("/shop/add/apple", { method: "POST" });
    assert.equal(first.status, 200);
    assert.equal(first.headers.getSetCookie().length, 1);
    assert.equal(first.headers.get("vary"), "Cookie");
    assert.equal(store.writes, 1);
    const id = cookieValue(first)!;
    const loads = store.loads;
    const second = await app.request("/shop/add/pear", { method: "POST", headers: cookieHeader(id) });
    assert.equal(store.loads - loads, 1, "one load");
    assert.equal(store.writes, 2, "one save");
    assert.equal(second.headers.get("vary"), "Cookie");
  });

  test("rejects what is not a createSessions() result", () => {
    assert.throws(() => session({} as never), TypeError);
    assert.throws(() => session(null as never), TypeError);
  });
});
