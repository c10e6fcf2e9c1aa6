/**
 * The shopping cart of examples/cart, as an Elysia app with `@satchel/session/elysia`: add
 * items, view the cart, log in (the session id is cycled), log out (flushed), keep the session
 * only until the browser closes. server.ts serves it on Bun.
 */
import { Elysia } from "elysia";
import { createSessions, memoryStore } from "../../mod.ts";
import type { SessionsOptions } from "../../mod.ts";
import { session } from "../../adapters/elysia.ts";

export type Cart = {
  cart: string[];
  user: string;
};

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const html = (body: string): Response =>
  new Response(`<!doctype html><meta charset="utf-8"><title>satchel cart (Elysia)</title>${body}`, {
    headers: { "content-type": "text/html; charset=utf-8" },
  });

const back = (): Response => new Response(null, { status: 303, headers: { location: "/" } });

/** A form field from Elysia's parsed body, trimmed and bounded. */
const field = (body: unknown, name: string, max: number): string =>
  String((body as Record<string, unknown> | null | undefined)?.[name] ?? "").trim().slice(0, max);

/** The cart app; `options` go to `createSessions` (memory store and a demo secret by default). */
export function cartApp(options: Partial<SessionsOptions> = {}) {
  const sessions = createSessions<Cart>({
    secret: "demo-secret-change-me-0123456789abcdef",
    store: memoryStore(),
    ...options,
  });
  return new Elysia()
    .use(session(sessions))
    .get("/", ({ session }) => {
      const cart = session.get("cart", []);
      const user = session.get("user");
      return html(`
<h1>Cart <small>(Elysia)</small></h1>
<p id="user">${user ? `Logged in as <b>${escape(user)}</b>` : "Anonymous"}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>
<p id="count">${cart.length} item(s)</p>
<form method="post" action="/add"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/login"><input name="user" placeholder="name"> <button id="login">Log in</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/browser-session"><button id="browser-session">Keep only until the browser closes</button></form>`);
    })
    .post("/add", ({ session, body }) => {
      const item = field(body, "item", 100);
      if (item) session.set("cart", [...session.get("cart", []), item]);
      return back();
    })
    .post("/login", async ({ session, body }) => {
      const user = field(body, "user", 50);
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
