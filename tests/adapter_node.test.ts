/**
 * `@satchel/session/node`: real `node:http` servers and a real Express 5 app on 127.0.0.1
 * (random ports), driven with `fetch`, under Node 24, Node 20 (through an esbuild bundle:
 * scripts in the report), Bun and Deno.
 *
 * Every behaviour is checked on both front doors: `withSession` around a plain `(req, res)`
 * handler, and `app.use(session(sessions))` + `app.use(sessionErrors())` on Express.
 */
import { describe, test } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import express from "express";
import type { NextFunction as ExpressNext, Request as ExpressRequest, Response as ExpressResponse } from "express";
import { createSessions, memoryStore, SessionError } from "../mod.ts";
import type { SessionErrorCode, Sessions, SessionsOptions, SessionStore } from "../mod.ts";
import { session, sessionErrors, sessionOf, toRequest, withSession } from "../adapters/node.ts";
import type { SessionRequest } from "../adapters/node.ts";
import { SECRET, spyStore } from "./_http.ts";
import { runtime } from "./_env.ts";
import type { SpyStore } from "./_http.ts";

type Cart = { cart: string[]; user: string };
type Route = (req: SessionRequest<Cart>, res: ServerResponse) => void | Promise<void>;

/** A promise the test opens from outside, to hold a handler mid-response. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Listen on a random 127.0.0.1 port; closed when the test ends. */
async function listen(t: TestContext, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function query(req: IncomingMessage, name: string): string {
  return new URL(req.url ?? "/", "http://x").searchParams.get(name) ?? "";
}

/** The routes, written once against `node:http` and mounted on both front doors. */
function routes(ctl: { gate: ReturnType<typeof gate>; base: string }): Record<string, Route> {
  return {
    "/cart": (req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ cart: req.session.get("cart", []), user: req.session.get("user") ?? null }));
    },
    "/plain": (_req, res) => {
      res.end("no session access");
    },
    "/add": (req, res) => {
      req.session.set("cart", [...req.session.get("cart", []), query(req, "item")]);
      res.end("added");
    },
    "/logout": async (req, res) => {
      await req.session.flush();
      res.end("out");
    },
    "/login": async (req, res) => {
      await req.session.cycleKey();
      req.session.set("user", query(req, "user"));
      res.end("in");
    },
    "/throw": (req) => {
      req.session.set("user", "mallory");
      throw new Error("boom");
    },
    "/status-500": (req, res) => {
      req.session.set("user", "mallory");
      res.statusCode = 500;
      res.end("failed");
    },
    "/write-head-503": (req, res) => {
      req.session.set("user", "mallory");
      res.writeHead(503, { "content-type": "text/plain" }).end("down");
    },
    "/session-error": (req) => {
      req.session.set("user", "never saved");
      throw new SessionError(query(req, "code") as SessionErrorCode, "thrown by the handler");
    },
    "/stream": async (req, res) => {
      req.session.set("user", "streamer");
      res.writeHead(200, "Streaming", { "content-type": "text/plain" });
      res.write("first\n");
      await ctl.gate.wait;
      res.write("second\n");
      res.end("last\n");
    },
    "/stream-implicit": async (req, res) => {
      req.session.set("user", "implicit");
      res.write("first\n");
      await ctl.gate.wait;
      res.end("last\n");
    },
    "/pipe": (req, res) => {
      req.session.set("user", "piped");
      res.setHeader("content-type", "text/plain");
      Readable.from(["a\n", "b\n", "c\n"]).pipe(res);
    },
    "/flush": async (req, res) => {
      req.session.set("user", "flusher");
      res.setHeader("content-type", "text/plain");
      res.flushHeaders();
      await ctl.gate.wait;
      res.end("done");
    },
    "/cookies": (req, res) => {
      res.setHeader("set-cookie", ["theme=dark; Path=/", "lang=en; Path=/"]);
      req.session.set("user", "cookie monster");
      res.writeHead(201, { "Set-Cookie": "extra=1; Path=/", "Cache-Control": "no-cache" });
      res.end();
    },
    "/head-array": (req, res) => {
      req.session.set("user", "array");
      res.writeHead(200, ["set-cookie", "a=1", "set-cookie", "b=2", "vary", "Accept-Encoding"]);
      res.end("ok");
    },
    "/vary": (req, res) => {
      res.setHeader("vary", "Accept-Encoding");
      res.end(String(req.session.get("user") ?? "anonymous"));
    },
    "/race": async (req, res) => {
      // A logout in another tab lands while this request runs.
      const out = await fetch(`${ctl.base}/logout`, { method: "POST", headers: { cookie: String(req.headers.cookie) } });
      assert.equal(out.status, 200);
      await out.arrayBuffer();
      req.session.set("user", "late");
      res.end("as the user");
    },
    "/echo-body": async (req, res) => {
      let body = "";
      for await (const chunk of req) body += String(chunk);
      req.session.set("user", body);
      res.end(body);
    },
  };
}

interface Harness {
  url: string;
  store: SpyStore;
  sessions: Sessions<Cart>;
  ctl: { gate: ReturnType<typeof gate>; base: string };
  /** Errors that reached the app's own error handling (not SessionErrors). */
  errors: unknown[];
}

type Flavor = (t: TestContext, options?: Partial<SessionsOptions> & { store?: SessionStore }) => Promise<Harness>;

const plain: Flavor = async (t, options = {}) => {
  const store = spyStore();
  const sessions = createSessions<Cart>({ secret: SECRET, store, onEvent: () => {}, ...options });
  const ctl = { gate: gate(), base: "" };
  const table = routes(ctl);
  const errors: unknown[] = [];
  const handler = withSession(sessions, async (req, res) => {
    const route = table[new URL(req.url ?? "/", "http://x").pathname];
    if (!route) {
      res.statusCode = 404;
      return void res.end("not found");
    }
    await route(req, res);
  });
  const url = await listen(t, (req, res) => {
    handler(req, res).catch((error: unknown) => {
      // What a plain node:http app does with a failed handler.
      errors.push(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end("Internal Server Error");
      }
    });
  });
  ctl.base = url;
  return { url, store, sessions, ctl, errors };
};

const viaExpress: Flavor = async (t, options = {}) => {
  const store = spyStore();
  const sessions = createSessions<Cart>({ secret: SECRET, store, onEvent: () => {}, ...options });
  const ctl = { gate: gate(), base: "" };
  const errors: unknown[] = [];
  const app = express();
  app.use(session(sessions));
  for (const [path, route] of Object.entries(routes(ctl))) {
    app.all(path, (req, res) => route(req as unknown as SessionRequest<Cart>, res));
  }
  app.get("/express/json", (req, res) => {
    sessionOf(req, sessions).set("user", "json");
    res.json({ ok: true });
  });
  app.post("/express/redirect", (req, res) => {
    sessionOf(req, sessions).set("user", "redirected");
    res.redirect(303, "/cart");
  });
  app.post("/express/cookie", (req, res) => {
    res.cookie("theme", "dark");
    sessionOf(req, sessions).set("user", "jar");
    res.send("ok");
  });
  app.use(sessionErrors());
  app.use((error: unknown, _req: ExpressRequest, res: ExpressResponse, _next: ExpressNext) => {
    errors.push(error);
    res.status(500).send(error instanceof SessionError ? error.code : "app error handler");
  });
  const url = await listen(t, app);
  ctl.base = url;
  return { url, store, sessions, ctl, errors };
};

async function call(h: Harness, path: string, init: { method?: string; cookie?: string | undefined; body?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = init.cookie ? { cookie: `sessionid=${init.cookie}` } : {};
  return await fetch(`${h.url}${path}`, { method: init.method ?? "POST", headers, body: init.body, redirect: "manual" });
}

/** The session id a response sets, if any. */
function idOf(response: Response): string | undefined {
  const line = response.headers.getSetCookie().find((l) => l.startsWith("sessionid="));
  return line?.slice("sessionid=".length).split(";")[0];
}

async function cartOf(h: Harness, id: string | undefined): Promise<{ cart: string[]; user: string | null }> {
  const response = await call(h, "/cart", { method: "GET", cookie: id });
  assert.equal(response.status, 200);
  return (await response.json()) as { cart: string[]; user: string | null };
}

for (const [name, flavor] of [["node:http withSession", plain], ["Express 5 session()", viaExpress]] as const) {
  describe(name, () => {
    test("a value set in one request is read in the next, with Django's cookie and cache headers", async (t) => {
      const h = await flavor(t);
      const first = await call(h, "/add?item=apple");
      assert.equal(await first.text(), "added");
      const id = idOf(first);
      assert.match(id ?? "", /^[a-z0-9]{32}$/);
      const line = first.headers.getSetCookie()[0]!;
      for (const attribute of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=1209600"]) assert.ok(line.includes(attribute), attribute);
      assert.equal(first.headers.get("vary"), "Cookie");
      assert.equal(first.headers.get("cache-control"), "private, no-store");
      const second = await call(h, "/add?item=pear", { cookie: id });
      assert.equal(idOf(second), id, "each save re-sends the cookie (fresh expiry), same id");
      assert.deepEqual(await cartOf(h, id), { cart: ["apple", "pear"], user: null });
      const untouched = await call(h, "/plain", { method: "GET", cookie: id });
      assert.equal(untouched.headers.get("vary"), null, "no Vary when the session was not read");
    });

    test("flush deletes the record and the cookie; cycleKey moves the data to a new id", async (t) => {
      const h = await flavor(t);
      const id = idOf(await call(h, "/add?item=apple"))!;
      const login = await call(h, "/login?user=alice", { cookie: id });
      const next = idOf(login)!;
      assert.notEqual(next, id);
      assert.deepEqual(await cartOf(h, next), { cart: ["apple"], user: "alice" });
      assert.deepEqual(await cartOf(h, id), { cart: [], user: null }, "the old id is dead");
      const out = await call(h, "/logout", { cookie: next });
      assert.ok(out.headers.getSetCookie().some((l) => /^sessionid=;/.test(l) && /Max-Age=0/.test(l)));
      assert.deepEqual(await cartOf(h, next), { cart: [], user: null });
    });

    test("nothing is saved on 5xx: a thrown error, statusCode = 500, writeHead(503)", async (t) => {
      const h = await flavor(t);
      for (const path of ["/throw", "/status-500", "/write-head-503"]) {
        const writes = h.store.writes;
        const response = await call(h, path);
        assert.ok(response.status >= 500, path);
        assert.deepEqual(response.headers.getSetCookie(), [], path);
        assert.equal(h.store.writes, writes, `${path}: nothing saved`);
        await response.arrayBuffer();
      }
      assert.equal((h.errors[0] as Error).message, "boom", "a plain error reaches the app's own error handling");
    });

    test("res.write() streaming: the cookie leaves with the head and the body flows before the end", { timeout: 10_000 }, async (t) => {
      const h = await flavor(t);
      for (const path of ["/stream", "/stream-implicit"]) {
        h.ctl.gate = gate();
        const response = await call(h, path);
        assert.equal(response.status, 200);
        // Deno's node:http sends the standard reason phrase whatever the app sets.
        if (path === "/stream" && runtime !== "deno") assert.equal(response.statusText, "Streaming");
        const id = idOf(response);
        assert.ok(id, `${path}: Set-Cookie in the streamed head`);
        assert.equal(response.headers.get("cache-control"), "private, no-store");
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        while (!text.includes("first\n")) text += decoder.decode((await reader.read()).value);
        assert.equal(text, "first\n", "the first chunk arrived while the handler still waits");
        h.ctl.gate.open();
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value);
        assert.equal(text, path === "/stream" ? "first\nsecond\nlast\n" : "first\nlast\n");
        assert.equal((await cartOf(h, id)).user, path === "/stream" ? "streamer" : "implicit");
      }
    });

    test("stream.pipe(res): the cookie goes with the head, the body is intact", async (t) => {
      const h = await flavor(t);
      const response = await call(h, "/pipe", { method: "GET" });
      assert.equal(await response.text(), "a\nb\nc\n");
      assert.equal((await cartOf(h, idOf(response))).user, "piped");
    });

    test("res.flushHeaders(): the head is committed and sent before the body", { timeout: 10_000 }, async (t) => {
      const h = await flavor(t);
      const response = await call(h, "/flush"); // resolves on the head, while the handler waits on the gate
      const id = idOf(response);
      assert.ok(id, "Set-Cookie in the flushed head");
      assert.equal(response.headers.get("content-type"), "text/plain");
      h.ctl.gate.open();
      assert.equal(await response.text(), "done");
      assert.equal((await cartOf(h, id)).user, "flusher");
    });

    test("Set-Cookie headers the app set are kept beside the session's; its Cache-Control and Vary are respected", async (t) => {
      const h = await flavor(t);
      const response = await call(h, "/cookies");
      assert.equal(response.status, 201);
      const names = response.headers.getSetCookie().map((l) => l.split("=")[0]);
      // writeHead's own Set-Cookie replaces setHeader's, as Node does; the session's is appended.
      assert.deepEqual(names, ["extra", "sessionid"]);
      assert.equal(response.headers.get("cache-control"), "no-cache", "the app's Cache-Control wins");
      const array = await call(h, "/head-array");
      assert.deepEqual(array.headers.getSetCookie().map((l) => l.split("=")[0]), ["a", "b", "sessionid"]);
      assert.equal(array.headers.get("vary"), "Accept-Encoding, Cookie");
      const vary = await call(h, "/vary", { method: "GET" });
      assert.equal(vary.headers.get("vary"), "Accept-Encoding, Cookie");
    });

    test("503 when the store fails at load: the handler does not run, no cookie", async (t) => {
      const h = await flavor(t);
      const id = idOf(await call(h, "/add?item=apple"))!;
      h.store.down = true;
      const response = await call(h, "/add?item=pear", { cookie: id });
      assert.equal(response.status, 503);
      assert.match(await response.text(), /session store is unavailable/);
      assert.deepEqual(response.headers.getSetCookie(), []);
      h.store.down = false;
      assert.deepEqual((await cartOf(h, id)).cart, ["apple"]);
    });

    test("a SessionError thrown by the handler answers 400/409/503 without a cookie; nothing saved", async (t) => {
      const h = await flavor(t);
      const id = idOf(await call(h, "/add?item=apple"))!;
      const writes = h.store.writes;
      for (const [code, status] of [["SESSION_INTERRUPTED", 400], ["SESSION_CONFLICT", 409], ["STORE_UNAVAILABLE", 503]] as const) {
        for (const cookie of [id, undefined]) {
          const response = await call(h, `/session-error?code=${code}`, { cookie });
          assert.equal(response.status, status, code);
          assert.doesNotMatch(await response.text(), /app error handler|Internal/);
          assert.deepEqual(response.headers.getSetCookie(), [], code);
        }
      }
      assert.equal(h.store.writes, writes, "nothing saved");
      assert.deepEqual(h.errors, [], "session errors do not reach the app's error handler");
    });

    test("a logout against a store that cannot delete answers 503 (flush() rejects in the handler)", async (t) => {
      const inner = memoryStore();
      let failDeletes = false;
      const store: SessionStore = {
        load: (k, now) => inner.load(k, now),
        create: (k, r) => inner.create(k, r),
        save: (k, r, v) => inner.save(k, r, v),
        delete: (k) => (failDeletes ? Promise.reject(new Error("store down")) : inner.delete(k)),
      };
      const h = await flavor(t, { store });
      const id = idOf(await call(h, "/add?item=apple"))!;
      failDeletes = true;
      const response = await call(h, "/logout", { cookie: id });
      assert.equal(response.status, 503);
      assert.deepEqual(response.headers.getSetCookie(), []);
      failDeletes = false;
      assert.deepEqual((await cartOf(h, id)).cart, ["apple"], "still logged in: the client can retry");
    });

    test("400 when a concurrent request deletes the session before this one saves (commit fails; the held body is replaced)", async (t) => {
      const h = await flavor(t);
      const id = idOf(await call(h, "/add?item=apple"))!;
      const response = await call(h, "/race", { cookie: id });
      assert.equal(response.status, 400);
      const body = await response.text();
      assert.doesNotMatch(body, /as the user/);
      assert.match(body, /session ended/);
      assert.deepEqual(response.headers.getSetCookie(), []);
    });

    test("503 when the store fails at commit: the app's answer is replaced, no cookie", async (t) => {
      const inner = memoryStore();
      const store: SessionStore = {
        load: (k, now) => inner.load(k, now),
        create: () => Promise.reject(new Error("store down")),
        save: () => Promise.reject(new Error("store down")),
        delete: (k) => inner.delete(k),
      };
      const h = await flavor(t, { store });
      const response = await call(h, "/add?item=apple");
      assert.equal(response.status, 503);
      assert.doesNotMatch(await response.text(), /added/);
      assert.deepEqual(response.headers.getSetCookie(), []);
    });

    test("HEAD requests: the session loads and commits, no body", async (t) => {
      const h = await flavor(t);
      const added = await call(h, "/add?item=apple", { method: "HEAD" });
      assert.equal(added.status, 200);
      assert.equal(await added.text(), "");
      const id = idOf(added);
      assert.ok(id, "a HEAD request that changes the session gets the cookie");
      const read = await call(h, "/cart", { method: "HEAD", cookie: id });
      assert.equal(read.headers.get("vary"), "Cookie");
      assert.deepEqual(read.headers.getSetCookie(), []);
      assert.deepEqual((await cartOf(h, id)).cart, ["apple"]);
    });

    test("the request body is left for the handler", async (t) => {
      const h = await flavor(t);
      const response = await call(h, "/echo-body", { body: "posted text" });
      assert.equal(await response.text(), "posted text");
      assert.equal((await cartOf(h, idOf(response))).user, "posted text");
    });

    test("a commit failure the core does not answer (serialization) saves nothing and sets no cookie", async (t) => {
      const failing = { stringify: (): string => { throw new Error("cannot"); }, parse: (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown> };
      const h = await flavor(t, { serializer: failing });
      const original = console.error;
      const logged: unknown[] = [];
      console.error = (...args: unknown[]) => void logged.push(args);
      try {
        const response = await call(h, "/add?item=apple");
        assert.equal(response.status, 500);
        assert.doesNotMatch(await response.text(), /added/);
        assert.deepEqual(response.headers.getSetCookie(), []);
      } finally {
        console.error = original;
      }
      if (flavor === viaExpress) assert.equal((h.errors[0] as SessionError).code, "SERIALIZATION_FAILED", "next(error): Express's error handler");
      else assert.match(String(logged[0]), /SERIALIZATION_FAILED/);
    });
  });
}

describe("Express 5 specifics", () => {
  test("res.json, res.redirect and res.cookie responses carry the session cookie", async (t) => {
    const h = await viaExpress(t);
    const json = await call(h, "/express/json", { method: "GET" });
    assert.deepEqual(await json.json(), { ok: true });
    assert.equal((await cartOf(h, idOf(json))).user, "json");
    const redirect = await call(h, "/express/redirect");
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.get("location"), "/cart");
    assert.equal((await cartOf(h, idOf(redirect))).user, "redirected");
    const jar = await call(h, "/express/cookie");
    assert.deepEqual(jar.headers.getSetCookie().map((l) => l.split("=")[0]), ["theme", "sessionid"]);
  });

  test("errors other than SessionError reach Express's error handler unchanged", async (t) => {
    const h = await viaExpress(t);
    const response = await call(h, "/throw");
    assert.equal(response.status, 500);
    assert.equal(await response.text(), "app error handler");
    assert.equal((h.errors[0] as Error).message, "boom");
  });

  test("Express's default error handler answers a thrown error 500 and saves nothing", async (t) => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const app = express();
    app.set("env", "test"); // no stack trace logging
    app.use(session(sessions));
    app.post("/", (req) => {
      sessionOf(req, sessions).set("user", "mallory");
      throw new Error("boom");
    });
    const url = await listen(t, app);
    const response = await fetch(url, { method: "POST" });
    assert.equal(response.status, 500);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(store.writes, 0);
  });

  test("mounting the middleware twice loads once; sessionOf returns req.session", async (t) => {
    const store = spyStore();
    const sessions = createSessions<Cart>({ secret: SECRET, store });
    const app = express();
    app.use(session(sessions));
    const router = express.Router();
    router.use(session(sessions));
    router.post("/", (req, res) => {
      const s = sessionOf(req, sessions);
      assert.equal(s, (req as unknown as SessionRequest<Cart>).session);
      s.set("cart", [...s.get("cart", []), "x"]);
      res.send(String(s.get("cart", []).length));
    });
    app.use("/r", router);
    const url = await listen(t, app);
    const first = await fetch(`${url}/r`, { method: "POST" });
    assert.equal(await first.text(), "1");
    assert.equal(first.headers.getSetCookie().length, 1, "committed once");
    const id = idOf(first)!;
    const loads = store.loads;
    const second = await fetch(`${url}/r`, { method: "POST", headers: { cookie: `sessionid=${id}` } });
    assert.equal(await second.text(), "2");
    assert.equal(store.loads - loads, 1, "one store read");
  });

  test("sessionOf() without the middleware is a TypeError", async (t) => {
    const sessions = createSessions<Cart>({ secret: SECRET });
    const app = express();
    let caught: unknown;
    app.get("/", (req, res) => {
      try {
        sessionOf(req, sessions);
      } catch (error) {
        caught = error;
      }
      res.end();
    });
    const url = await listen(t, app);
    await (await fetch(url)).arrayBuffer();
    assert.ok(caught instanceof TypeError);
  });
});

describe("node:http specifics", () => {
  test("a non-session error from the handler rejects withSession's promise, as it would unwrapped", async (t) => {
    const h = await plain(t);
    const response = await call(h, "/throw");
    assert.equal(response.status, 500);
    assert.equal((h.errors[0] as Error).message, "boom");
  });

  test("misuse throws synchronously, as Node does: a bad status, a bad chunk, writeHead after the head", async (t) => {
    const sessions = createSessions<Cart>({ secret: SECRET });
    const thrown: string[] = [];
    const url = await listen(t, withSession(sessions, (req, res) => {
      req.session.set("user", "u");
      try {
        res.writeHead(42);
      } catch (error) {
        thrown.push((error as { code: string }).code);
      }
      try {
        res.write(42 as unknown as string);
      } catch (error) {
        thrown.push((error as { code: string }).code);
      }
      res.writeHead(200);
      try {
        res.end(null as unknown as string); // a falsy chunk is ignored by end(), as Node does
        res.writeHead(201);
      } catch (error) {
        thrown.push((error as { code: string }).code);
      }
      assert.equal(res.headersSent, true, "the head is on its way");
    }));
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
    assert.ok(idOf(response));
    assert.deepEqual(thrown, ["ERR_HTTP_INVALID_STATUS_CODE", "ERR_INVALID_ARG_TYPE", "ERR_HTTP_HEADERS_SENT"]);
  });

  test("toRequest() builds method, URL and headers, and survives what a Request cannot hold", () => {
    const fake = (method: string, url: string, rawHeaders: string[]) => ({ method, url, rawHeaders, socket: {} }) as unknown as IncomingMessage;
    const ok = toRequest(fake("POST", "/a?b=1", ["Host", "shop.test:8080", "Cookie", "sessionid=abc", "Cookie", "x=1"]));
    assert.equal(ok.method, "POST");
    assert.equal(ok.url, "http://shop.test:8080/a?b=1");
    assert.equal(ok.headers.get("cookie"), "sessionid=abc; x=1", "several Cookie lines join with '; '");
    assert.equal(ok.body, null, "no body");
    const odd = toRequest(fake("CONNECT", "shop.test:443", ["Host", "bad host/", "Cookie", "sessionid=abc"]));
    assert.equal(odd.method, "GET");
    assert.equal(odd.url, "http://localhost/");
    assert.equal(odd.headers.get("cookie"), "sessionid=abc");
    const relative = toRequest(fake("GET", "//evil.test/x", []));
    assert.equal(new URL(relative.url).host, "localhost");
  });

  test("withSession() and session() refuse bad arguments", () => {
    assert.throws(() => withSession({} as Sessions<Cart>, () => {}), TypeError);
    assert.throws(() => withSession(createSessions<Cart>({ secret: SECRET }), null as unknown as () => void), TypeError);
    assert.throws(() => session(null as unknown as Sessions<Cart>), TypeError);
  });
});
