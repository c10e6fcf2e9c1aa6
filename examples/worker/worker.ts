/**
 * The shopping cart of examples/cart as a Cloudflare Worker, with `withSession` from
 * `@satchel/session/fetch` and a Durable Object (default) or Workers KV store.
 *
 * The sessions object is built from `env` by a factory that `withSession` memoizes per `env`:
 * the secret is read and its keys imported once per isolate, never per request.
 *
 * Bindings (see wrangler.toml): `SESSIONS` (the `SessionObject` Durable Object class exported
 * below), optionally `SESSIONS_KV` (a KV namespace), the secret `SESSION_SECRET` (at least 32
 * characters: `wrangler secret put SESSION_SECRET`), and the var `SESSION_STORE` (`"kv"` for
 * KV; anything else uses the Durable Object).
 *
 * Run it locally with `node examples/worker/dev.ts` (workerd through miniflare), or with
 * `npx wrangler dev -c examples/worker/wrangler.toml`.
 */
import { createSessions } from "../../mod.ts";
import type { Session, Sessions } from "../../mod.ts";
import { withSession } from "../../adapters/fetch.ts";
import { cloudflareKvStore } from "../../stores/cloudflare_kv.ts";
import type { KVNamespaceLike } from "../../stores/cloudflare_kv.ts";
import { durableObjectStore } from "../../stores/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../stores/durable_object.ts";
import { cartRoutes } from "../cart/app.ts";
import type { Cart } from "../_cart_page.ts";

export type { Cart };

// The Durable Object class must be exported by the Worker's entry module.
export { SessionObject } from "../../stores/durable_object.ts";

export interface Env {
  SESSIONS: DurableObjectNamespaceLike;
  SESSIONS_KV?: KVNamespaceLike;
  SESSION_SECRET: string;
  SESSION_STORE?: string;
}

const kvSelected = (env: Env): boolean => env.SESSION_STORE === "kv";

/** Called once per `env` object by `withSession`, not per request. */
function sessionsFor(env: Env): Sessions<Cart> {
  const store = kvSelected(env)
    ? cloudflareKvStore({ namespace: env.SESSIONS_KV! })
    : durableObjectStore({ namespace: env.SESSIONS });
  return createSessions<Cart>({ secret: env.SESSION_SECRET, store });
}

export default {
  fetch: withSession(sessionsFor, (request: Request, session: Session<Cart>, env: Env) =>
    cartRoutes(request, session, `Cloudflare Worker, ${kvSelected(env) ? "KV" : "Durable Object"} store`)),
};
