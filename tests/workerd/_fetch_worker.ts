/**
 * A Worker written the way the README tells users to: `export default { fetch: withSession(...) }`,
 * with the sessions built from `env` (secret and store), the Durable Object class re-exported,
 * and no Node compatibility flag. `env.STORE` picks the store: `"kv"`, `"do"`, or the cookie store
 * signed (`"cookie"`) or encrypted (`"sealed"`).
 *
 * Routes: `/set?note=…` stores a note, `/get` reports it (plus what reached the handler),
 * `/logout` flushes the session.
 */
import { cookieStore, createSessions } from "../../mod.ts";
import { withSession } from "../../adapters/fetch.ts";
import { cloudflareKvStore } from "../../stores/cloudflare_kv.ts";
import type { KVNamespaceLike } from "../../stores/cloudflare_kv.ts";
import { durableObjectStore } from "../../stores/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../stores/durable_object.ts";

export { SessionObject } from "../../stores/durable_object.ts";

interface Env {
  KV: KVNamespaceLike;
  SESSIONS: DurableObjectNamespaceLike;
  SECRET: string;
  STORE: "kv" | "do" | "cookie" | "sealed";
}

interface Ctx {
  waitUntil(promise: Promise<unknown>): void;
}

let built = 0;

export default {
  fetch: withSession(
    (env: Env, _ctx: Ctx) => {
      built += 1;
      return createSessions<{ note: string }>({
        secret: env.SECRET,
        store: env.STORE === "do"
          ? durableObjectStore({ namespace: env.SESSIONS })
          : env.STORE === "cookie" || env.STORE === "sealed"
          ? cookieStore({ encrypt: env.STORE === "sealed", compress: 16 })
          : cloudflareKvStore({ namespace: env.KV }),
      });
    },
    async (request, session, env, ctx) => {
      const url = new URL(request.url);
      if (url.pathname === "/set") {
        session.set("note", url.searchParams.get("note") ?? "");
        return new Response("stored");
      }
      if (url.pathname === "/get") {
        return Response.json({
          note: session.get("note") ?? null,
          store: env.STORE,
          waitUntil: typeof ctx.waitUntil,
          built,
        });
      }
      if (url.pathname === "/logout") {
        await session.flush();
        return new Response("bye");
      }
      return new Response("not found", { status: 404 });
    },
  ),
};
