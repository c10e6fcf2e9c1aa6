/**
 * No lost updates and no resurrection on Deno KV (`denoKvStore()` over `Deno.openKv(":memory:")`,
 * a fresh database per check): the race scenarios of tests/concurrency_stores.test.ts, the
 * store's handling of the engine's tombstone save, and fast-check scheduler interleavings of
 * modify / get-then-set / flush / cycleKey requests. The checks themselves live in
 * tests/workerd/_checks_concurrency.ts, shared with the Durable Object run inside workerd.
 *
 * Deno KV exists only in Deno: under Node and Bun every check is registered as skipped.
 */
import { runtime } from "./_env.ts";
import { denoKvStore } from "../stores/deno_kv.ts";
import type { DenoKvLike } from "../stores/deno_kv.ts";
import { concurrencyChecks } from "./workerd/_checks_concurrency.ts";

const openKv = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<DenoKvLike & { close(): void }> } }).Deno?.openKv;

if (runtime !== "deno" || !openKv) console.log(`Deno KV concurrency: skipped on ${runtime}, as Deno KV exists only in Deno`);

concurrencyChecks(
  "denoKvStore()",
  async () => {
    const kv = await openKv!(":memory:");
    return { store: denoKvStore({ kv, prefix: ["satchel", "concurrency"] }), close: async () => kv.close() };
  },
  runtime === "deno" && openKv ? {} : { skip: "Deno KV exists only in Deno" },
);
