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

export type Cart = {
  cart: string[];
  user: string;
};

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(runtime: string, cart: string[], user: string | undefined): string {
  return `<!doctype html><meta charset="utf-8"><title>satchel cart (Hono)</title>
<h1>Cart <small>(Hono on ${escape(runtime)})</small></h1>
<p id="user">${user ? `Logged in as <b>${escape(user)}</b>` : "Anonymous"}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>
<p id="count">${cart.length} item(s)</p>
<form method="post" action="/add"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/login"><input name="user" placeholder="name"> <button id="login">Log in</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/browser-session"><button id="browser-session">Keep only until the browser closes</button></form>`;
}

/** The cart app; `options` go to `createSessions` (memory store and a demo secret by default). */
export function cartApp(runtime: string, options: Partial<SessionsOptions> = {}): Hono<{ Variables: SessionVariables<Cart> }> {
  const sessions = createSessions<Cart>({
    secret: "demo-secret-change-me-0123456789abcdef",
    store: memoryStore(),
    ...options,
  });
  const app = new Hono<{ Variables: SessionVariables<Cart> }>();
  app.use(session(sessions));
  const field = async (body: Promise<Record<string, unknown>>, name: string, max: number): Promise<string> =>
    String((await body.catch(() => ({} as Record<string, unknown>)))[name] ?? "").trim().slice(0, max);

  app.get("/", (c) => c.html(page(runtime, c.var.session.get("cart", []), c.var.session.get("user"))));
  app.post("/add", async (c) => {
    const item = await field(c.req.parseBody(), "item", 100);
    if (item) c.var.session.set("cart", [...c.var.session.get("cart", []), item]);
    return c.redirect("/", 303);
  });
  app.post("/login", async (c) => {
    const user = await field(c.req.parseBody(), "user", 50);
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
