/**
 * The shopping cart of examples/cart, as an Elysia app with `@satchel/session/elysia`: add
 * items, view the cart, log in (the session id is cycled), log out (flushed), keep the session
 * only until the browser closes. server.ts serves it on Bun.
 */
import { Elysia } from "elysia";
import { createSessions, memoryStore } from "../../mod.ts";
import type { SessionsOptions } from "../../mod.ts";
import { session } from "../../adapters/elysia.ts";
import { DEMO_SECRET, back, cartPage, field, html } from "../_cart_page.ts";
import type { Cart } from "../_cart_page.ts";

export type { Cart };

/** The cart app; `options` go to `createSessions` (memory store and a demo secret by default). */
export function cartApp(options: Partial<SessionsOptions> = {}) {
  const sessions = createSessions<Cart>({
    secret: DEMO_SECRET,
    store: memoryStore(),
    ...options,
  });
  return new Elysia()
    .use(session(sessions))
    .get("/", ({ session }) => html(cartPage("Elysia", session.get("cart", []), session.get("user"))))
    .post("/add", ({ session, body }) => {
      const item = field(body as Record<string, unknown> | null, "item", 100);
      if (item) session.modify("cart", (cart = []) => [...cart, item]);
      return back();
    })
    .post("/login", async ({ session, body }) => {
      const user = field(body as Record<string, unknown> | null, "user", 50);
      if (!user) return back();
      // Against session fixation: a new id for the same data, the old id dead.
      await session.cycleKey();
      session.set("user", user);
      return back();
    })
    .post("/logout", async ({ session }) => {
      await session.flush();
      return back();
    })
    .post("/browser-session", ({ session }) => {
      session.setExpiry(0);
      return back();
    })
    .get("/api/cart", ({ session }) => ({ cart: session.get("cart", []), user: session.get("user") ?? null }));
}
