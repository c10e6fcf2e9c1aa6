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

// The Durable Object class must be exported by the Worker's entry module.
export { SessionObject } from "../../stores/durable_object.ts";

export interface Env {
  SESSIONS: DurableObjectNamespaceLike;
  SESSIONS_KV?: KVNamespaceLike;
  SESSION_SECRET: string;
  SESSION_STORE?: string;
}

export type Cart = {
  cart: string[];
  user: string;
};

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const back = (): Response => new Response(null, { status: 303, headers: { location: "/" } });

function page(store: string, session: Session<Cart>): Response {
  const cart = session.get("cart", []);
  const user = session.get("user");
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>satchel cart (Worker)</title>
<h1>Cart <small>(Cloudflare Worker, ${escape(store)} store)</small></h1>
<p id="user">${user ? `Logged in as <b>${escape(user)}</b>` : "Anonymous"}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>
<p id="count">${cart.length} item(s)</p>
<form method="post" action="/add"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/login"><input name="user" placeholder="name"> <button id="login">Log in</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/browser-session"><button id="browser-session">Keep only until the browser closes</button></form>`,
    { headers: { "content-type": "text/html; charset=utf-8" } },
  );
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
  fetch: withSession(sessionsFor, async (request: Request, session: Session<Cart>, env: Env) => {
    const url = new URL(request.url);
    const form = request.method === "POST" ? await request.formData().catch(() => new FormData()) : null;
    const field = (name: string, max: number): string => String(form?.get(name) ?? "").trim().slice(0, max);
    switch (`${request.method} ${url.pathname}`) {
      case "GET /":
        return page(kvSelected(env) ? "KV" : "Durable Object", session);
      case "POST /add": {
        const item = field("item", 100);
        if (item) session.set("cart", [...session.get("cart", []), item]);
        return back();
      }
      case "POST /login": {
        const user = field("user", 50);
        if (!user) return back();
        // Against session fixation: a new id for the same data, the old id dead.
        await session.cycleKey();
        session.set("user", user);
        return back();
      }
      case "POST /logout":
        await session.flush();
        return back();
      case "POST /browser-session":
        session.setExpiry(0);
        return back();
      case "GET /api/cart":
        return Response.json({ cart: session.get("cart", []), user: session.get("user") ?? null });
      default:
        return new Response("Not Found", { status: 404 });
    }
  }),
};
