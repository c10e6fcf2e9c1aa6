/**
 * The shopping cart of examples/cart, as a Hono app with `@satchel/session/hono`: add items,
 * view the cart, log in (the session id is cycled), log out (flushed), keep the session only
 * until the browser closes. The same app runs on Bun, Deno, Node and Workers; bun.ts, deno.ts
 * and node.ts serve it.
 */
import { Hono } from "hono";
import { createSessions, memoryStore } from "../../mod.ts";
import type { SessionsOptions } from "../../mod.ts";
import { session } from "../../adapters/hono.ts";
import type { SessionVariables } from "../../adapters/hono.ts";
import { DEMO_SECRET, cartPage, field } from "../_cart_page.ts";
import type { Cart } from "../_cart_page.ts";

export type { Cart };


/** The cart app; `options` go to `createSessions` (memory store and a demo secret by default). */
export function cartApp(runtime: string, options: Partial<SessionsOptions> = {}): Hono<{ Variables: SessionVariables<Cart> }> {
  const sessions = createSessions<Cart>({
    secret: DEMO_SECRET,
    store: memoryStore(),
    ...options,
  });
  const app = new Hono<{ Variables: SessionVariables<Cart> }>();
  app.use(session(sessions));
  const body = (c: { req: { parseBody(): Promise<Record<string, unknown>> } }) => c.req.parseBody().catch(() => ({}));

  app.get("/", (c) => c.html(cartPage(`Hono on ${runtime}`, c.var.session.get("cart", []), c.var.session.get("user"))));
  app.post("/add", async (c) => {
    const item = field(await body(c), "item", 100);
    if (item) c.var.session.modify("cart", (cart = []) => [...cart, item]);
    return c.redirect("/", 303);
  });
  app.post("/login", async (c) => {
    const user = field(await body(c), "user", 50);
    if (!user) return c.redirect("/", 303);
    // Against session fixation: a new id for the same data, the old id dead.
    await c.var.session.cycleKey();
    c.var.session.set("user", user);
    return c.redirect("/", 303);
  });
  app.post("/logout", async (c) => {
    await c.var.session.flush();
    return c.redirect("/", 303);
  });
  app.post("/browser-session", (c) => {
    c.var.session.setExpiry(0);
    return c.redirect("/", 303);
  });
  app.get("/api/cart", (c) => c.json({ cart: c.var.session.get("cart", []), user: c.var.session.get("user") ?? null }));
  return app;
}
