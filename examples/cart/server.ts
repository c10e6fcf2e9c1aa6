/**
 * The cart demo server: `npm run demo` (Node 24; `-- --port N`, `-- --host H`), or
 * `npx deno run -A examples/cart/server.ts` and `npx bun examples/cart/server.ts` from a checkout.
 * Memory store by default, no server needed;
 * `--store sqlite` (`npm run demo -- --store sqlite`) keeps sessions in `examples/cart/sessions.db`
 * through `sqlStore`, so they survive a restart.
 *
 * Knobs for the browser tests (all optional; unset, the demo uses the library defaults):
 * `SATCHEL_DEMO_MAX_AGE` (cookie max age, seconds), `SATCHEL_DEMO_IDLE` (idle timeout, seconds),
 * `SATCHEL_DEMO_SECURE=0` (no `Secure` attribute), `SATCHEL_DEMO_CLOCK_FILE` (the server clock is
 * the real time plus the milliseconds written in that file, read on every call).
 */
import process from "node:process";
import { cartApp } from "./app.ts";
import type { SessionStore, SessionsOptions } from "../../mod.ts";
import { sqlStore } from "../../stores/sql.ts";
import { hostFrom, portFrom, serve } from "../_serve.ts";

const env = process.env;
const options: Omit<Partial<SessionsOptions>, "store"> = {};
if (env.SATCHEL_DEMO_MAX_AGE) options.cookie = { maxAge: Number(env.SATCHEL_DEMO_MAX_AGE) };
if (env.SATCHEL_DEMO_SECURE === "0") options.cookie = { ...options.cookie, secure: false };
if (env.SATCHEL_DEMO_IDLE) options.idleTimeout = Number(env.SATCHEL_DEMO_IDLE);
const clockFile = env.SATCHEL_DEMO_CLOCK_FILE;
if (clockFile) {
  const { readFileSync } = await import("node:fs");
  options.now = () => Date.now() + (Number(readFileSync(clockFile, "utf8").trim()) || 0);
}

const storeIndex = process.argv.indexOf("--store");
const storeName = storeIndex >= 0 ? process.argv[storeIndex + 1] : (env.SATCHEL_DEMO_STORE ?? "memory");
let store: SessionStore | undefined;
if (storeName === "sqlite") {
  const file = new URL("./sessions.db", import.meta.url).pathname;
  const client = "Bun" in globalThis
    ? new (await import("bun:sqlite" as string)).Database(file)
    : new (await import("node:sqlite")).DatabaseSync(file);
  store = sqlStore({ client });
} else if (storeName !== "memory") {
  console.error(`unknown --store ${storeName}: use memory or sqlite`);
  process.exit(2);
}

const url = await serve(cartApp(store ? { ...options, store } : options), portFrom(8000), hostFrom());
console.log(`satchel cart demo on ${url} (${storeName} store)`);
