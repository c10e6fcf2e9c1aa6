/**
 * The fetch adapter inside workerd: `_fetch_worker.ts` (`export default { fetch: withSession(...) }`)
 * bundled with no `node:` imports and run in miniflare without `nodejs_compat`, on KV and on
 * Durable Objects: a session set by one request is read by the next, `env` and `ctx` reach the
 * handler, the sessions object is built once per `env`, and logout really ends the session.
 *
 * Node 24 only: `node_modules/.bin/node --test 'tests/workerd/*.test.ts'`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runtime } from "../_env.ts";

if (runtime !== "node") {
  console.log(`workerd fetch adapter: skipped on ${runtime}, as miniflare drives workerd from Node only`);
  test("workerd fetch adapter", { skip: "miniflare drives workerd from Node only" }, () => {});
} else {
  const { bundleWorker, startWorker } = await import("./_harness.ts");
  const bundle = await bundleWorker("./_fetch_worker.ts");

  test("workerd: the library and the fetch adapter bundle with no Node imports", () => {
    assert.deepEqual(bundle.externals, []);
  });

  const names = { kv: "cloudflareKvStore()", do: "durableObjectStore()", cookie: "cookieStore()", sealed: "cookieStore({ encrypt: true })" };
  for (const store of ["kv", "do", "cookie", "sealed"] as const) {
    const server = store === "kv" || store === "do";
    // Server stores issue 32-character ids; the cookie store issues the signed or sealed payload.
    const issuedValue = server ? /^sessionid=([a-z0-9]{32});/ : /^sessionid=([A-Za-z0-9_.-]{40,});/;
    describe(`workerd: withSession() on ${names[store]}`, () => {
      let mf: ReturnType<typeof startWorker>;
      let cookie = "";
      const get = async (path: string, sendCookie = true) => {
        const response = await mf.dispatchFetch(`https://worker.example${path}`, {
          headers: sendCookie && cookie ? { cookie: `sessionid=${cookie}` } : {},
        });
        return { response, text: await response.text(), setCookies: response.headers.getSetCookie() };
      };

      before(() => {
        mf = startWorker(bundle.code, {
          kvNamespaces: ["KV"],
          durableObjects: { SESSIONS: { className: "SessionObject", useSQLite: true } },
          bindings: { SECRET: "workerd-fetch-adapter-secret-0123456789abcdef", STORE: store },
        });
      });
      after(async () => {
        await mf.dispose();
      });

      test(`withSession() on ${store}: a request without a cookie gets no session and no Set-Cookie`, async () => {
        const { response, text, setCookies } = await get("/get", false);
        assert.equal(response.status, 200);
        assert.deepEqual(JSON.parse(text), { note: null, store, waitUntil: "function", built: 1 });
        assert.deepEqual(setCookies, []);
      });

      test(`withSession() on ${store}: set in one request, read in the next`, async () => {
        const first = await get("/set?note=hello%20workerd", false);
        assert.equal(first.text, "stored");
        assert.equal(first.setCookies.length, 1);
        const match = issuedValue.exec(first.setCookies[0]!);
        assert.ok(match, first.setCookies[0]);
        assert.match(first.setCookies[0]!, /HttpOnly/i);
        cookie = match[1]!;
        const second = await get("/get");
        assert.deepEqual(JSON.parse(second.text), { note: "hello workerd", store, waitUntil: "function", built: 1 });
        assert.deepEqual(second.setCookies, [], "an unmodified session is not re-sent");
      });

      test(`withSession() on ${store}: logout deletes the cookie${server ? " and the session for good" : ""}`, async () => {
        const bye = await get("/logout");
        assert.equal(bye.text, "bye");
        assert.ok(
          bye.setCookies.some((c) => /^sessionid=;/.test(c) || /^sessionid="";/.test(c)),
          bye.setCookies.join(" | "),
        );
        const after = await get("/get");
        // A cookie session has no server state to delete: a replayed copy stays valid until its
        // signed expiry (documented); a server-side session is gone.
        assert.equal(JSON.parse(after.text).note, server ? null : "hello workerd");
      });

      test(`withSession() on ${store}: a forged cookie is never adopted`, async () => {
        const forged = "abcdefghij0123456789abcdefghij01";
        const response = await mf.dispatchFetch("https://worker.example/set?note=x", {
          headers: { cookie: `sessionid=${forged}` },
        });
        const issued = issuedValue.exec(response.headers.getSetCookie()[0] ?? "")?.[1];
        assert.ok(issued && issued !== forged);
      });
    });
  }
}
