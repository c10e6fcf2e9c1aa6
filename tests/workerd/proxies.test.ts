/**
 * The shared conformance suite itself (tests/_store_suite.ts under the real `node:test`), run
 * from Node against workerd's KV and Durable Object bindings through miniflare's binding
 * proxies. It complements stores.test.ts, which runs the same suite inside workerd through the
 * `node:test` shim: here nothing is shimmed, only the transport differs.
 *
 * Node 24 only: `node_modules/.bin/node --test 'tests/workerd/*.test.ts'`.
 */
import { test } from "node:test";
import { runtime } from "../_env.ts";
import { testStore } from "../_store_suite.ts";
import { cloudflareKvStore } from "../../stores/cloudflare_kv.ts";
import type { KVNamespaceLike } from "../../stores/cloudflare_kv.ts";
import { durableObjectStore } from "../../stores/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../stores/durable_object.ts";

if (runtime !== "node") {
  console.log(`workerd binding proxies: skipped on ${runtime}, as miniflare drives workerd from Node only`);
  test("workerd binding proxies", { skip: "miniflare drives workerd from Node only" }, () => {});
} else {
  const { bundleWorker, runId, startWorker } = await import("./_harness.ts");
  const bundle = await bundleWorker("./_fetch_worker.ts");
  const run = runId();
  /** A fresh workerd per suite (about 0.3 s to start), disposed by the suite's `close`. */
  const open = () =>
    startWorker(bundle.code, {
      kvNamespaces: ["KV"],
      durableObjects: { SESSIONS: { className: "SessionObject", useSQLite: true } },
      bindings: { SECRET: "unused-in-this-file-0123456789abcdef", STORE: "kv" },
    });

  testStore("cloudflareKvStore() via proxy", async () => {
    const mf = open();
    const namespace = (await mf.getKVNamespace("KV")) as unknown as KVNamespaceLike;
    return { store: cloudflareKvStore({ namespace, prefix: `${run}:` }), close: () => mf.dispose() };
  }, { cas: false, clearExpired: false });

  testStore("durableObjectStore() via proxy", async () => {
    const mf = open();
    const namespace = (await mf.getDurableObjectNamespace("SESSIONS")) as unknown as DurableObjectNamespaceLike;
    return { store: durableObjectStore({ namespace, name: `${run}:` }), close: () => mf.dispose() };
  }, { cas: true, clearExpired: false });
}
