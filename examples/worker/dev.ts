/**
 * Run the cart Worker locally without wrangler: bundle worker.ts with esbuild and serve it from
 * workerd through miniflare, with the bindings of wrangler.toml (in memory).
 *
 *   node examples/worker/dev.ts [--port 8005] [--store kv|durable-object]
 *
 * Node 24 (miniflare needs Node 22 or later).
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { portFrom } from "../_serve.ts";

const port = portFrom(8005);
const storeFlag = process.argv.indexOf("--store");
const store = storeFlag >= 0 ? process.argv[storeFlag + 1] ?? "durable-object" : "durable-object";

const bundle = await build({
  entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  write: false,
  logLevel: "warning",
});

const mf = new Miniflare({
  modules: true,
  script: bundle.outputFiles[0]!.text,
  compatibilityDate: "2026-07-01",
  host: "127.0.0.1",
  port,
  durableObjects: { SESSIONS: { className: "SessionObject", useSQLite: true } },
  kvNamespaces: ["SESSIONS_KV"],
  bindings: {
    SESSION_SECRET: process.env.SESSION_SECRET ?? "dev-only-worker-secret-0123456789abcdef",
    SESSION_STORE: store,
  },
});
const url = await mf.ready;
console.log(`satchel Worker cart on http://localhost:${url.port}/ (workerd, ${store === "kv" ? "KV" : "Durable Object"} store)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void mf.dispose().finally(() => process.exit(0));
  });
}
