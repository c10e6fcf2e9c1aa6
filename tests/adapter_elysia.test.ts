/**
 * `@satchel/session/elysia`: real Requests through a real Elysia app (`app.handle`). Elysia
 * targets Bun; its Web Standard adapter also runs these tests under Node 24 and Deno.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Elysia } from "elysia";
import { createSessions, memoryStore, SessionError } from "../mod.ts";
import { session } from "../adapters/elysia.ts";
import { cookieValue, SECRET, setCookies, spyStore } from "./_http.ts";

type Cart = { cart: string[]; user: string };


function cartApp() {
  const store = spyStore();
  const sessions = createSessions<Cart>({ secret: SECRET, store });
  const app = new Elysia()
    .use(session(sessions))
    .get("/cart", ({ session }) => ({ cart: session.get("cart", []) }))
    .get("/plain", () => "no session access")
    .post("/add/:item", ({ session, params }) => {
      session.set("cart", [...session.get("cart", []), params.item]);
      return "added";
    })
    .post("/login/:user", async ({ session, params }) => {
      await session.cycleKey();
      session.set("user", params.user);
      return "in";
    })
    .post("/logout", async ({ session }) => {
      await session.flush();
      return "out";
    })
    .post("/throw", ({ session }) => {
      session.set("user", "mallory");
      throw new Error("boom");
    })
    .post("/status-503", ({ session, status }) => {
      session.set("user", "mallory");
      return status(503, "unavailable");
    })
    .post("/set-500", ({ session, set }) => {
      session.set("user", "mallory");
      set.status = 500;
      return "broken";
    })
    .post("/set-500-name", ({ session, set }) => {
      session.set("user", "mallory");
      set.status = "Internal Server Error";
      return "broken";
    })
    .post("/response-500", ({ session }) => {
      session.set("user", "mallory");
      return new Response("broken", { status: 500 });
    })
    .post("/status-404", ({ session, status }) => {
      session.set("user", "kept");
      return status(404, "missing");
    })
    .post("/redirect", ({ session }) => {
      session.set("user", "redirected");
      return Response.redirect("https://example.test/cart", 303);
    })
    .post("/proxied", ({ session }) => {
      session.set("user", "proxied");
      return immutable(new Response("upstream", { headers: { vary: "Accept-Encoding", "set-cookie": "theme=dark; Path=/" } }));
    })
    .post("/own-headers", ({ session }) => {
      session.set("user", "own");
      return new Response("own", { headers: { vary: "Accept-Encoding", "set-cookie": "theme=dark; Path=/" } });
    })
    .post("/jar", ({ session, cookie }) => {
      session.set("user", "jar");
      cookie.theme!.value = "dark";
      cookie.lang!.set({ value: "en", path: "/" });
      return "jar";
    })
    .post("/jar-logout", async ({ session, cookie }) => {
      await session.flush();
      cookie.theme!.value = "none";
      return "out";
    })
    .post("/set-headers", ({ session, set }) => {
      session.set("user", "headers");
      set.headers["Vary"] = "Accept-Language";
      set.headers["set-cookie"] = "theme=light; Path=/";
      return "ok";
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
const post = (path: string, id?: string): Request =>
  new Request(`http://localhost${path}`, { method: "POST", headers: cookieHeader(id) });
const get = (path: string, id?: string): Request => new Request(`http://localhost${path}`, { headers: cookieHeader(id) });

async function cartOf(app: ReturnType<typeof cartApp>["app"], id: string | undefined): Promise<string[]> {
  const response = await app.handle(get("/cart", id));
  assert.equal(response.status, 200);
  return ((await response.json()) as { cart: string[] }).cart;
}

describe("elysia session() plugin", () => {
  test("a value set in one request is read in the next", async () => {
    const { app } = cartApp();
    const first = await app.handle(post("/add/apple"));
    assert.equal(first.status, 200);
    const id = cookieValue(first);
    assert.match(id ?? "", /^[a-z0-9]{32}$/);
    const [cookie] = setCookies(first);
    assert.equal(cookie!.attributes.httponly, true);
    assert.equal(cookie!.attributes.samesite, "Lax");
    assert.equal(first.headers.get("vary"), "Cookie");
    assert.equal(first.headers.get("cache-control"), "private, no-store");
    const second = await app.handle(post("/add/pear", id));
    assert.equal(cookieValue(second), id);
    assert.deepEqual(await cartOf(app, id), ["apple", "pear"]);
  });

  test("flush deletes the record and the cookie", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const out = await app.handle(post("/logout", id));
    assert.equal(out.status, 200);
    const [deletion] = setCookies(out);
    assert.equal(deletion?.name, "sessionid");
    assert.equal(deletion?.value, "");
    assert.equal(deletion?.attributes["max-age"], "0");
    assert.equal(await store.has(id), false);
    assert.deepEqual(await cartOf(app, id), []);
  });

  test("cycleKey issues a new id and kills the old one", async () => {
    const { app, store } = cartApp();
    const before = cookieValue(await app.handle(post("/add/apple")))!;
    const after = cookieValue(await app.handle(post("/login/alice", before)));
    assert.ok(after && after !== before);
    assert.equal(await store.has(before), false);
    assert.deepEqual(await cartOf(app, after), ["apple"]);
    assert.deepEqual(await cartOf(app, before), []);
  });

  test("Vary: Cookie when the session was read, nothing when it was not", async () => {
    const { app } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const read = await app.handle(get("/cart", id));
    assert.equal(read.headers.get("vary"), "Cookie");
    assert.deepEqual(read.headers.getSetCookie(), []);
    const plain = await app.handle(get("/plain", id));
    assert.equal(plain.headers.get("vary"), null);
    assert.deepEqual(plain.headers.getSetCookie(), []);
  });

  test("nothing is saved when the handler throws (Elysia's error handling answers 500)", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const writes = store.writes;
    const response = await app.handle(post("/throw", id));
    assert.equal(response.status, 500);
    assert.deepEqual(response.headers.getSetCookie(), []);
    const fresh = await app.handle(post("/throw"));
    assert.equal(fresh.status, 500);
    assert.deepEqual(fresh.headers.getSetCookie(), []);
    assert.equal(store.writes, writes);
  });

  test("nothing is saved when an onError hook answers with a value", async () => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const app = new Elysia()
      .onError(({ set }) => {
        set.status = 502;
        return "custom error";
      })
      .use(session(sessions))
      .post("/", ({ session }) => {
        session.set("user", "mallory");
        throw new Error("boom");
      });
    const response = await app.handle(post("/"));
    assert.equal(response.status, 502);
    assert.equal(await response.text(), "custom error");
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(store.writes, 0);
  });

  for (const path of ["/status-503", "/set-500", "/set-500-name", "/response-500"]) {
    test(`nothing is saved when the handler answers 5xx (${path.slice(1)})`, async () => {
      const { app, store } = cartApp();
      const response = await app.handle(post(path));
      assert.ok(response.status >= 500, `status ${response.status}`);
      assert.deepEqual(response.headers.getSetCookie(), []);
      assert.equal(store.writes, 0);
    });
  }

  test("a 4xx answer is committed, as Django commits 4xx responses", async () => {
    const { app, store } = cartApp();
    const response = await app.handle(post("/status-404"));
    assert.equal(response.status, 404);
    assert.ok(cookieValue(response));
    assert.equal(store.writes, 1);
  });

  test("a returned Response.redirect() (immutable headers) still gets the cookie", async () => {
    const { app } = cartApp();
    const response = await app.handle(post("/redirect"));
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "https://example.test/cart");
    assert.ok(cookieValue(response));
    assert.equal(response.headers.get("vary"), "Cookie");
  });

  test("a returned Response keeps its own Set-Cookie and Vary beside the session's", async () => {
    const { app } = cartApp();
    const response = await app.handle(post("/own-headers"));
    const names = setCookies(response).map((c) => c.name).sort();
    assert.deepEqual(names, ["sessionid", "theme"]);
    assert.equal(response.headers.get("vary"), "Accept-Encoding, Cookie");
  });

  test("a returned immutable Response is copied, keeping its own Vary and Set-Cookie", async () => {
    const { app } = cartApp();
    const response = await app.handle(post("/proxied"));
    assert.equal(await response.text(), "upstream");
    assert.equal(response.headers.get("vary"), "Accept-Encoding, Cookie");
    assert.deepEqual(setCookies(response).map((c) => c.name).sort(), ["sessionid", "theme"]);
  });

  test("the session cookie survives cookies set through Elysia's cookie jar", async () => {
    const { app } = cartApp();
    const response = await app.handle(post("/jar"));
    const cookies = setCookies(response);
    assert.deepEqual(cookies.map((c) => c.name).sort(), ["lang", "sessionid", "theme"]);
    const ours = cookies.find((c) => c.name === "sessionid")!;
    assert.match(ours.value, /^[a-z0-9]{32}$/);
    assert.equal(ours.attributes.httponly, true);
    assert.equal(ours.attributes.secure, true);
    assert.equal(ours.attributes.path, "/");
    assert.equal(ours.attributes.samesite, "Lax");
    assert.equal(ours.attributes["max-age"], "1209600");
    assert.ok(ours.attributes.expires);
    assert.deepEqual(await cartOf(app, ours.value), [], "the jar-written id is a live session");
    const user = await app.handle(get("/plain", ours.value));
    assert.equal(user.status, 200);
  });

  test("a logout's deletion cookie survives cookies set through the jar", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const response = await app.handle(post("/jar-logout", id));
    const cookies = setCookies(response);
    assert.deepEqual(cookies.map((c) => c.name).sort(), ["sessionid", "theme"]);
    const deletion = cookies.find((c) => c.name === "sessionid")!;
    assert.equal(deletion.value, "");
    assert.equal(deletion.attributes["max-age"], "0");
    assert.equal(deletion.attributes.expires, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(await store.has(id), false);
  });

  test("set.headers written by the handler are merged, whatever their case", async () => {
    const { app } = cartApp();
    const response = await app.handle(post("/set-headers"));
    assert.deepEqual(setCookies(response).map((c) => c.name).sort(), ["sessionid", "theme"]);
    assert.equal(response.headers.get("vary"), "Accept-Language, Cookie");
  });

  test("registering the plugin twice, or in a sub-plugin too, loads and commits once", async () => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const routes = new Elysia().use(session(sessions)).post("/add/:item", ({ session, params }) => {
      session.set("cart", [...session.get("cart", []), params.item]);
      return "added";
    });
    const app = new Elysia().use(session(sessions)).use(session(sessions)).use(routes).get(
      "/cart",
      ({ session }) => ({ cart: session.get("cart", []) }),
    );
    const first = await app.handle(post("/add/apple"));
    assert.equal(first.status, 200);
    assert.equal(setCookies(first).length, 1, "one Set-Cookie");
    assert.equal(store.writes, 1, "one save");
    const id = cookieValue(first)!;
    const loads = store.loads;
    const second = await app.handle(post("/add/pear", id));
    assert.equal(store.loads - loads, 1, "one load per request");
    assert.equal(second.headers.get("vary"), "Cookie", "Vary is not doubled");
    const cart = await app.handle(get("/cart", id));
    assert.deepEqual(((await cart.json()) as { cart: string[] }).cart, ["apple", "pear"]);
  });

  test("two different session sets both register (different seeds)", async () => {
    const a = createSessions<{ a: number }>({ secret: SECRET, store: memoryStore(), cookie: { name: "a" } });
    const b = createSessions<{ b: number }>({ secret: SECRET, store: memoryStore(), cookie: { name: "b" } });
    const app = new Elysia().use(session(a)).use(session(b)).get("/", ({ session }) => {
      // The later plugin's `session` is the one handlers see.
      session.set("b", 1);
      return "ok";
    });
    const response = await app.handle(get("/"));
    assert.deepEqual(setCookies(response).map((c) => c.name), ["b"]);
  });

  test("503 when the store fails at load", async () => {
    const { app, store } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    store.down = true;
    const response = await app.handle(post("/add/pear", id));
    assert.equal(response.status, 503);
    assert.match(await response.text(), /session store is unavailable/);
    store.down = false;
    assert.deepEqual(await cartOf(app, id), ["apple"]);
  });

  test("400 when the session is deleted by a concurrent request before this one saves", async () => {
    const { app, sessions } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const racing = new Elysia().use(session(sessions)).post("/", async ({ session }) => {
      const out = await app.handle(post("/logout", id));
      assert.equal(out.status, 200);
      session.set("user", "late");
      return "ok";
    });
    const response = await racing.handle(post("/", id));
    assert.equal(response.status, 400);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("a SessionError thrown by the handler is answered like one at load or commit, with no cookie", async () => {
    const { app, store, sessions } = cartApp();
    const id = cookieValue(await app.handle(post("/add/apple")))!;
    const writes = store.writes;
    const codes = [["SESSION_INTERRUPTED", 400], ["SESSION_CONFLICT", 409], ["STORE_UNAVAILABLE", 503]] as const;
    const thrower = new Elysia().use(session(sessions)).post("/:code", ({ session, params }) => {
      session.set("user", "never saved");
      throw new SessionError(params.code as (typeof codes)[number][0], "thrown by the handler");
    });
    for (const [code, status] of codes) {
      const response = await thrower.handle(post(`/${code}`, id));
      assert.equal(response.status, status, code);
      assert.deepEqual(response.headers.getSetCookie(), [], code);
    }
    assert.equal(store.writes, writes, "nothing saved");
    const failing = { ...store, delete: () => Promise.reject(new Error("store down")) };
    const down = new Elysia().use(session(createSessions<Cart>({ secret: SECRET, store: failing }))).post("/logout", async ({ session }) => {
      await session.flush();
      return "out";
    });
    const response = await down.handle(post("/logout", id));
    assert.equal(response.status, 503);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("an app onError registered before the plugin observes session errors; the plugin still answers", async () => {
    const store = spyStore();
    const seen: string[] = [];
    const app = new Elysia()
      .onError(({ error }) => {
        seen.push(error instanceof SessionError ? error.code : "other");
      })
      .use(session(createSessions<Cart>({ secret: SECRET, store })))
      .post("/", async ({ session }) => {
        session.set("user", "u");
        throw new SessionError("SESSION_CONFLICT", "conflict");
      });
    const response = await app.handle(post("/"));
    assert.equal(response.status, 409);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.deepEqual(seen, ["SESSION_CONFLICT"]);
  });

  test("503 with no cookie when the store fails at commit", async () => {
    const store = spyStore();
    const failing = { ...store, create: () => Promise.reject(new Error("store down")) };
    const app = new Elysia().use(session(createSessions<Cart>({ secret: SECRET, store: failing }))).post("/", ({ session }) => {
      session.set("user", "u");
      return "ok";
    });
    const response = await app.handle(post("/"));
    assert.equal(response.status, 503);
    assert.match(await response.text(), /session store is unavailable/);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("a mapResponse hook registered before the plugin does not skip the commit", async () => {
    const store = spyStore();
    const app = new Elysia()
      .mapResponse({ as: "global" }, ({ responseValue }) => {
        if (typeof responseValue === "string") return new Response(responseValue.toUpperCase(), { headers: { "x-mapped": "1" } });
      })
      .use(session(createSessions<Cart>({ secret: SECRET, store })))
      .post("/add/:item", ({ session, params }) => {
        session.set("cart", [...session.get("cart", []), params.item]);
        return "added";
      })
      .get("/cart", ({ session }) => session.get("cart", []).join(","));
    const first = await app.handle(post("/add/apple"));
    assert.equal(await first.text(), "ADDED");
    assert.equal(first.headers.get("x-mapped"), "1");
    const id = cookieValue(first);
    assert.match(id ?? "", /^[a-z0-9]{32}$/);
    assert.equal(first.headers.get("vary"), "Cookie");
    assert.equal(store.writes, 1);
    await app.handle(post("/add/pear", id));
    assert.equal(await (await app.handle(get("/cart", id))).text(), "APPLE,PEAR");
  });

  test("an onError hook registered after the plugin that returns a Response still gets a 4xx committed", async () => {
    const store = spyStore();
    const app = new Elysia()
      .use(session(createSessions<Cart>({ secret: SECRET, store })))
      .onError(({ error }) => new Response(`handled: ${(error as Error).message}`, { status: 403 }))
      .post("/", ({ session, status }) => {
        session.set("user", "u");
        throw status(403, "forbidden");
      })
      .post("/boom", ({ session }) => {
        session.set("user", "u");
        throw new Error("boom");
      });
    const response = await app.handle(post("/"));
    assert.equal(response.status, 403);
    assert.ok(cookieValue(response), "committed");
    assert.equal(store.writes, 1);
    const boom = await app.handle(post("/boom"));
    assert.equal(boom.status, 403);
    assert.equal(await boom.text(), "handled: boom");
    assert.deepEqual(boom.headers.getSetCookie(), [], "an unknown error counts as a 500: nothing saved");
    assert.equal(store.writes, 1);
  });

  test("a beforeHandle hook that answers early still gets the session committed", async () => {
    const store = spyStore();
    const app = new Elysia()
      .use(session(createSessions<Cart>({ secret: SECRET, store })))
      .onBeforeHandle(({ session, status }) => {
        session.set("user", "guest");
        return status(401, "sign in first");
      })
      .get("/", () => "never");
    const response = await app.handle(get("/"));
    assert.equal(response.status, 401);
    assert.ok(cookieValue(response));
    assert.equal(store.writes, 1);
  });

  test("rejects what is not a createSessions() result", () => {
    assert.throws(() => session({} as never), TypeError);
  });
});
