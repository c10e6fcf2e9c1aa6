// The installed npm package, used the way a consumer uses it: scripts/consumer-test.sh copies
// this file into a temporary project OUTSIDE the repository, where `@satchel/session` was
// installed from the `npm pack` tarball, and runs it unchanged under Node 20, Node 24, Bun and
// Deno. Every subpath of the package's "exports" map is imported by its bare specifier (so
// through the exports map, from node_modules) and exercised: a request is handled and the
// session comes back on the next request. A subpath with no check here fails the run, so a new
// subpath cannot ship unexercised.
//
// Plain JavaScript on purpose: this is what a consumer without TypeScript runs.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runtime = typeof Deno !== "undefined" ? "deno" : typeof Bun !== "undefined" ? "bun" : "node";
const version = runtime === "deno" ? Deno.version.deno : runtime === "bun" ? Bun.version : process.versions.node;
const SECRET = "consumer-test-secret-0123456789abcdef";
const pkg = JSON.parse(readFileSync("node_modules/@satchel/session/package.json", "utf8"));
const core = await import("@satchel/session");

/** Set a value in one request, read it back in the next (the cookie is all that travels). */
async function roundTrip(handle, label) {
  const first = await handle(new Request("https://consumer.example/"), (session) => session.set("n", 41));
  const cookies = first.headers.getSetCookie();
  assert.equal(cookies.length, 1, `${label}: one Set-Cookie`);
  assert.match(cookies[0], /^sessionid=[^;]+;/, `${label}: the session cookie`);
  const cookie = cookies[0].split(";")[0];
  let seen;
  const second = await handle(new Request("https://consumer.example/", { headers: { cookie } }), (session) => {
    seen = session.get("n");
  });
  assert.equal(second.status, 200, `${label}: second request answered`);
  assert.equal(seen, 41, `${label}: the value comes back`);
}

/** roundTrip() through `sessions.handle` with the given store. */
function viaHandle(store) {
  const sessions = core.createSessions({ secret: SECRET, store });
  return (request, touch) => sessions.handle(request, (_r, session) => (touch(session), new Response("ok")));
}

/** A Map-backed stand-in for a Workers KV namespace binding. */
function fakeKv() {
  const map = new Map();
  return {
    get: async (key) => map.get(key) ?? null,
    put: async (key, value) => void map.set(key, value),
    delete: async (key) => void map.delete(key),
  };
}

/** A Map-backed stand-in for a Durable Object namespace whose objects are real `SessionObject`s. */
function fakeDurableObjects(SessionObject) {
  const objects = new Map();
  const storageOf = () => {
    const map = new Map();
    return {
      get: async (key) =>
        Array.isArray(key) ? new Map(key.filter((k) => map.has(k)).map((k) => [k, map.get(k)])) : map.get(key),
      put: async (entries) => void Object.entries(entries).forEach(([k, v]) => map.set(k, v)),
      delete: async (keys) => keys.filter((k) => map.delete(k)).length,
      deleteAll: async () => map.clear(),
      setAlarm: async () => {},
      deleteAlarm: async () => {},
    };
  };
  return {
    idFromName: (name) => name,
    get: (id) => {
      if (!objects.has(id)) objects.set(id, new SessionObject({ storage: storageOf() }));
      const object = objects.get(id);
      return { fetch: (input, init) => object.fetch(new Request(input, init)) };
    },
  };
}

/** node-redis's `sendCommand` over a Map: just GET and SET ... NX, all a create-then-load needs. */
function fakeRedis(sent) {
  const map = new Map();
  return {
    sendCommand: async ([command, key, value, ...flags]) => {
      sent.push(command);
      if (command === "GET") return map.get(key) ?? null;
      if (command === "SET" && flags.includes("NX")) return map.has(key) ? null : (map.set(key, value), "OK");
      throw new Error(`the fake Redis does not implement ${command}`);
    },
  };
}

/** An in-memory SQLite database from the runtime, or undefined (Node 20 has no node:sqlite). */
async function sqliteDatabase() {
  if (runtime === "bun") return new (await import("bun:sqlite")).Database(":memory:");
  try {
    return new (await import("node:sqlite")).DatabaseSync(":memory:");
  } catch {
    return undefined;
  }
}

const checks = {
  ".": async (m) => {
    assert.equal(typeof m.SessionError, "function");
    assert.match(m.serializeCookie("a", "b", {}), /^a=b/);
    await roundTrip(viaHandle(undefined), "memoryStore (default)");
    await roundTrip(viaHandle(m.cookieStore()), "cookieStore()");
    await roundTrip(viaHandle(m.cookieStore({ encrypt: true })), "cookieStore({ encrypt: true })");
  },
  "./fetch": async (m) => {
    const sessions = core.createSessions({ secret: SECRET });
    let touch;
    const handler = m.withSession(sessions, (_request, session) => (touch(session), new Response("ok")));
    await roundTrip((request, t) => ((touch = t), handler(request)), "withSession()");
  },
  "./django": async (m) => {
    // Django's session_data format: what one side encodes, the other decodes; a wrong key gives null.
    const value = await m.encodeSessionData({ cart: ["sku-1"], "clé": "é" }, SECRET);
    const back = await m.decodeSessionData(value, SECRET);
    if (JSON.stringify(back) !== JSON.stringify({ cart: ["sku-1"], "clé": "é" })) throw new Error("Django session_data did not round-trip");
    if ((await m.decodeSessionData(value, `${SECRET}-other`)) !== null) throw new Error("a wrong key decoded");
    return "encodeSessionData/decodeSessionData round trip";
  },
  "./hono": async (m) => {
    const { Hono } = await import("hono");
    let touch;
    const app = new Hono().use(m.session(core.createSessions({ secret: SECRET })));
    app.get("/", (c) => (touch(c.var.session), c.text("ok")));
    await roundTrip((request, t) => ((touch = t), app.request(request)), "Hono session()");
  },
  "./elysia": async (m) => {
    const { Elysia } = await import("elysia");
    let touch;
    const app = new Elysia().use(m.session(core.createSessions({ secret: SECRET })))
      .get("/", ({ session }) => (touch(session), "ok"));
    await roundTrip((request, t) => ((touch = t), app.handle(request)), "Elysia session()");
  },
  "./node": async (m) => {
    // A real node:http server on loopback (Node's own, Bun's and Deno's node:http).
    const { createServer } = await import("node:http");
    let touch;
    const server = createServer(m.withSession(core.createSessions({ secret: SECRET }), (req, res) => {
      touch(req.session);
      res.end("ok");
    }));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${server.address().port}/`;
    try {
      await roundTrip(async (request, t) => {
        touch = t;
        const response = await fetch(url, { headers: request.headers });
        await response.arrayBuffer();
        return response;
      }, "node:http withSession()");
    } finally {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
  },
  "./stores/file": async (m) => {
    const dir = mkdtempSync(join(tmpdir(), "satchel-consumer-"));
    try {
      await roundTrip(viaHandle(m.fileStore({ dir })), "fileStore()");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  "./stores/sql": async (m) => {
    assert.throws(() => m.sqlStore({ client: {} }), TypeError);
    const db = await sqliteDatabase();
    if (db === undefined) return "sqlStore() rejects a non-client; no node:sqlite here for a round trip";
    await roundTrip(viaHandle(m.sqlStore({ client: db })), "sqlStore() on SQLite");
  },
  "./stores/redis": async (m) => {
    const sent = [];
    await roundTrip(viaHandle(m.redisStore({ client: fakeRedis(sent) })), "redisStore()");
    assert.deepEqual(sent, ["SET", "GET"]);
  },
  "./stores/tiered": async (m) => {
    await roundTrip(
      viaHandle(m.tieredStore({ cache: core.memoryStore(), store: core.memoryStore() })),
      "tieredStore()",
    );
  },
  "./stores/deno-kv": async (m) => {
    if (runtime === "deno") {
      const kv = await Deno.openKv(":memory:");
      try {
        await roundTrip(viaHandle(m.denoKvStore({ kv })), "denoKvStore() on Deno KV");
      } finally {
        kv.close();
      }
      return;
    }
    // Elsewhere: a well-formed cookie makes exactly one read of an empty KV, giving an empty session.
    const reads = [];
    const kv = {
      get: async () => ({ value: null, versionstamp: null }),
      list: (selector) => (reads.push(selector), []),
      atomic() {},
    };
    const sessions = core.createSessions({ secret: SECRET, store: m.denoKvStore({ kv }) });
    const cookie = `sessionid=${"a".repeat(32)}`;
    const response = await sessions.handle(
      new Request("https://consumer.example/", { headers: { cookie } }),
      (_r, s) => new Response(String(s.keys().length)),
    );
    assert.equal(await response.text(), "0");
    assert.equal(reads.length, 1);
    return "denoKvStore() over a stand-in KV (no Deno here)";
  },
  "./stores/cloudflare-kv": async (m) => {
    await roundTrip(viaHandle(m.cloudflareKvStore({ namespace: fakeKv() })), "cloudflareKvStore()");
  },
  "./stores/durable-object": async (m) => {
    const namespace = fakeDurableObjects(m.SessionObject);
    await roundTrip(viaHandle(m.durableObjectStore({ namespace })), "durableObjectStore() + SessionObject");
  },
};

const subpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");
const unchecked = subpaths.filter((subpath) => !(subpath in checks));
const stale = Object.keys(checks).filter((subpath) => !subpaths.includes(subpath));
assert.deepEqual({ unchecked, stale }, { unchecked: [], stale: [] }, "every exported subpath has exactly one check");

const failures = [];
for (const subpath of subpaths) {
  const specifier = `@satchel/session${subpath.slice(1)}`;
  try {
    const note = await checks[subpath](await import(specifier));
    console.log(`  ok   ${specifier}${note ? ` (${note})` : ""}`);
  } catch (error) {
    failures.push(specifier);
    console.log(`  FAIL ${specifier}: ${error?.stack ?? error}`);
  }
}
console.log(
  `${runtime} ${version}: ${subpaths.length - failures.length} of ${subpaths.length} subpaths imported and exercised`,
);
if (failures.length > 0) {
  throw new Error(`${runtime} ${version}: failed: ${failures.join(", ")}`);
}
