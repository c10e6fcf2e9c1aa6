/**
 * The Worker example (examples/worker/worker.ts) inside workerd: bundled with esbuild, run by
 * miniflare with real Durable Object and KV bindings, driven with real requests. Checks the
 * cart flow (set and read across requests, login cycles the id, logout ends the session) on
 * both stores, and that the env-based factory runs once: the bundle counts `createSessions()`
 * calls and `crypto.subtle.importKey` calls inside workerd. Also runs the Hono middleware in
 * workerd, with its sessions built from `c.env`.
 *
 * Node 24 only (miniflare drives workerd from Node): `node --test tests/worker_example.test.ts`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "./_env.ts";

if (runtime !== "node") {
  console.log(`worker example: skipped on ${runtime}, as miniflare drives workerd from Node only`);
  test("worker example in workerd", { skip: "miniflare drives workerd from Node only" }, () => {});
} else {
  const { readFile } = await import("node:fs/promises");
  const { fileURLToPath } = await import("node:url");
  const { build } = await import("esbuild");
  const { Miniflare } = await import("miniflare");

  const root = fileURLToPath(new URL("../", import.meta.url));
  const workerPath = `${root}examples/worker/worker.ts`;
  const modPath = `${root}mod.ts`;

  // Entry: the example's own default export and Durable Object class, plus a counters route.
  const entry = `
import worker from ${JSON.stringify(workerPath)};
export { SessionObject } from ${JSON.stringify(workerPath)};
let imports = 0;
const subtle = crypto.subtle;
const importKey = subtle.importKey;
subtle.importKey = function (...args) { imports++; return importKey.apply(subtle, args); };
export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__counters") {
      return Response.json({ factory: globalThis.__satchelFactoryCalls ?? 0, importKey: imports });
    }
    return worker.fetch(request, env, ctx);
  },
};`;
  // The example's `createSessions` import, wrapped to count calls of the factory in worker.ts.
  const counting = `
import { createSessions as create } from ${JSON.stringify(modPath)};
export * from ${JSON.stringify(modPath)};
export function createSessions(options) {
  globalThis.__satchelFactoryCalls = (globalThis.__satchelFactoryCalls ?? 0) + 1;
  return create(options);
}`;
  const result = await build({
    stdin: { contents: entry, resolveDir: root, sourcefile: "worker-example-entry.js", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [{
      name: "count-create-sessions",
      setup(b) {
        b.onResolve({ filter: /\/mod\.ts$/ }, (args) =>
          args.importer === workerPath ? { path: "counting-mod", namespace: "counting" } : undefined);
        b.onLoad({ filter: /.*/, namespace: "counting" }, () => ({ contents: counting, resolveDir: root, loader: "js" }));
      },
    }],
  });
  const code = result.outputFiles[0]!.text;
  const externals = Object.values(result.metafile.inputs).flatMap((input) =>
    input.imports.filter((i) => i.external).map((i) => i.path)
  );

  test("worker example: bundles with no runtime-specific imports, wrapping the example's createSessions", () => {
    assert.deepEqual(externals, []);
    assert.ok(code.includes("__satchelFactoryCalls"), "the counting wrapper is in the bundle");
  });

  test("worker example: wrangler.toml binds and migrates the exported Durable Object class", async () => {
    const toml = await readFile(`${root}examples/worker/wrangler.toml`, "utf8");
    const active = toml.split("\n").filter((line) => !line.trimStart().startsWith("#")).join("\n");
    assert.match(active, /^main = "worker\.ts"$/m);
    assert.match(active, /\[\[durable_objects\.bindings\]\]\nname = "SESSIONS"\nclass_name = "SessionObject"/);
    assert.match(active, /\[\[migrations\]\]\ntag = "v1"\nnew_sqlite_classes = \["SessionObject"\]/);
    assert.match(active, /^SESSION_STORE = "durable-object"$/m);
    assert.doesNotMatch(active, /SESSION_SECRET\s*=/, "no secret in the config file");
  });

  // The Hono middleware on Workers, with sessions built from `c.env` by a factory.
  const honoEntry = `
import { Hono } from "hono";
import { session } from ${JSON.stringify(`${root}adapters/hono.ts`)};
import { createSessions } from ${JSON.stringify(modPath)};
import { durableObjectStore } from ${JSON.stringify(`${root}stores/durable_object.ts`)};
export { SessionObject } from ${JSON.stringify(`${root}stores/durable_object.ts`)};
let built = 0;
const app = new Hono();
app.use(session((env) => {
  built++;
  return createSessions({ secret: env.SESSION_SECRET, store: durableObjectStore({ namespace: env.SESSIONS }) });
}));
app.get("/count", (c) => {
  const n = c.var.session.get("n", 0) + 1;
  c.var.session.set("n", n);
  return c.json({ n, built });
});
app.post("/logout", async (c) => {
  await c.var.session.flush();
  return c.text("bye");
});
export default app;`;
  const honoBundle = await build({
    stdin: { contents: honoEntry, resolveDir: root, sourcefile: "hono-worker-entry.js", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });

  describe("hono session() middleware inside workerd", () => {
    let mf: InstanceType<typeof Miniflare>;
    before(async () => {
      mf = new Miniflare({
        modules: true,
        script: honoBundle.outputFiles[0]!.text,
        compatibilityDate: "2026-07-01",
        durableObjects: { SESSIONS: { className: "SessionObject", useSQLite: true } },
        bindings: { SESSION_SECRET: "hono-worker-test-secret-0123456789abcdef" },
      });
      await mf.ready;
    });
    after(async () => {
      await mf.dispose();
    });

    test("hono on workerd: a counter survives across requests, the factory of c.env runs once, logout ends it", async () => {
      const first = await mf.dispatchFetch("https://hono.example/count");
      assert.deepEqual(await first.json(), { n: 1, built: 1 });
      const id = /^sessionid=([a-z0-9]{32});/.exec(first.headers.getSetCookie()[0] ?? "")?.[1];
      assert.ok(id);
      const headers = { cookie: `sessionid=${id}` };
      for (const n of [2, 3]) {
        const next = await mf.dispatchFetch("https://hono.example/count", { headers });
        assert.deepEqual(await next.json(), { n, built: 1 });
        assert.equal(next.headers.get("vary"), "Cookie");
      }
      const out = await mf.dispatchFetch("https://hono.example/logout", { method: "POST", headers });
      assert.equal(await out.text(), "bye");
      assert.match(out.headers.getSetCookie()[0] ?? "", /^sessionid=;.*Max-Age=0/);
      const again = await mf.dispatchFetch("https://hono.example/count", { headers });
      assert.equal(((await again.json()) as { n: number }).n, 1, "the old id is dead");
    });
  });

  for (const store of ["durable-object", "kv"] as const) {
    describe(`worker example on ${store === "kv" ? "Workers KV" : "a Durable Object"}`, () => {
      let mf: InstanceType<typeof Miniflare>;
      let cookie: string | undefined;

      const send = async (method: string, path: string, form?: Record<string, string>, withCookie = true) => {
        const headers: Record<string, string> = {};
        if (withCookie && cookie) headers.cookie = `sessionid=${cookie}`;
        const response = await mf.dispatchFetch(`https://cart.example${path}`, {
          method,
          headers,
          body: form ? new URLSearchParams(form) : undefined,
          redirect: "manual",
        });
        const text = await response.text();
        const setCookie = response.headers.getSetCookie().find((line) => line.startsWith("sessionid="));
        return { response, text, setCookie };
      };
      const cart = async (id = cookie) => {
        const saved = cookie;
        cookie = id;
        try {
          const { response, text } = await send("GET", "/api/cart");
          assert.equal(response.status, 200);
          return JSON.parse(text) as { cart: string[]; user: string | null };
        } finally {
          cookie = saved;
        }
      };
      const counters = async () => {
        const response = await mf.dispatchFetch("https://cart.example/__counters");
        return (await response.json()) as { factory: number; importKey: number };
      };

      before(async () => {
        mf = new Miniflare({
          modules: true,
          script: code,
          compatibilityDate: "2026-07-01",
          durableObjects: { SESSIONS: { className: "SessionObject", useSQLite: true } },
          kvNamespaces: ["SESSIONS_KV"],
          bindings: { SESSION_SECRET: "worker-example-test-secret-0123456789abcdef", SESSION_STORE: store },
        });
        await mf.ready;
      });
      after(async () => {
        await mf.dispose();
      });

      test(`${store}: no factory call and no key import before the first request`, async () => {
        assert.deepEqual(await counters(), { factory: 0, importKey: 0 });
      });

      test(`${store}: the page names the store`, async () => {
        const { response, text } = await send("GET", "/", undefined, false);
        assert.equal(response.status, 200);
        assert.match(text, store === "kv" ? /KV store/ : /Durable Object store/);
      });

      test(`${store}: items added in one request are in the cart in the next`, async () => {
        const first = await send("POST", "/add", { item: "apple" }, false);
        assert.equal(first.response.status, 303);
        const match = /^sessionid=([a-z0-9]{32});/.exec(first.setCookie ?? "");
        assert.ok(match, first.setCookie);
        assert.match(first.setCookie!, /HttpOnly/);
        cookie = match[1]!;
        const second = await send("POST", "/add", { item: "pear" });
        assert.equal(second.setCookie?.split(";")[0], `sessionid=${cookie}`);
        assert.deepEqual(await cart(), { cart: ["apple", "pear"], user: null });
      });

      test(`${store}: login cycles the id and the old id is dead`, async () => {
        const before = cookie!;
        const login = await send("POST", "/login", { user: "alice" });
        const after = /^sessionid=([a-z0-9]{32});/.exec(login.setCookie ?? "")?.[1];
        assert.ok(after && after !== before);
        cookie = after;
        assert.deepEqual(await cart(), { cart: ["apple", "pear"], user: "alice" });
        assert.deepEqual(await cart(before), { cart: [], user: null });
      });

      test(`${store}: browser-session makes the cookie a session cookie`, async () => {
        const { setCookie } = await send("POST", "/browser-session");
        assert.ok(setCookie);
        assert.doesNotMatch(setCookie, /Max-Age|Expires/i);
        assert.deepEqual((await cart()).user, "alice");
      });

      test(`${store}: logout deletes the cookie and the session`, async () => {
        const old = cookie!;
        const out = await send("POST", "/logout");
        assert.equal(out.response.status, 303);
        assert.match(out.setCookie ?? "", /^sessionid=;.*Max-Age=0/);
        assert.deepEqual(await cart(old), { cart: [], user: null });
      });

      test(`${store}: the env factory ran once and keys were imported only for the first requests`, async () => {
        const seen = await counters();
        assert.equal(seen.factory, 1);
        assert.ok(seen.importKey > 0, "the sessions imported their keys");
        for (let i = 0; i < 5; i++) await send("POST", "/add", { item: `item-${i}` }, false);
        assert.deepEqual(await counters(), seen, "five more sessions: no new factory call, no new key import");
      });
    });
  }
}
