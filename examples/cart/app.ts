/**
 * The shopping cart from Django's session guides, as one fetch handler:
 * add items, view the cart, log in (the session id is cycled), log out (flushed).
 * Runs unchanged on Node, Deno, Bun and Workers; see server.ts for how it is served.
 */
import { createSessions, memoryStore } from "../../mod.ts";
import type { SessionStore, SessionsOptions } from "../../mod.ts";
import { withSession } from "../../adapters/fetch.ts";

export interface Cart {
  cart: string[];
  user: string;
}

const page = (body: string): Response =>
  new Response(`<!doctype html><meta charset="utf-8"><title>satchel cart</title>${body}`, {
    headers: { "content-type": "text/html; charset=utf-8" },
  });

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const back = (to = "/"): Response => new Response(null, { status: 303, headers: { location: to } });

/** Build the app's fetch handler. */
export function cartApp(options: Partial<SessionsOptions> & { store?: SessionStore } = {}): (request: Request) => Promise<Response> {
  const sessions = createSessions<Cart>({
    secret: "demo-secret-change-me-0123456789abcdef",
    store: memoryStore(),
    ...options,
  });
  return withSession(sessions, async (request, session) => {
    const url = new URL(request.url);
    const form = request.method === "POST" ? await request.formData().catch(() => new FormData()) : null;
    switch (`${request.method} ${url.pathname}`) {
      case "GET /": {
        const cart = session.get("cart", []);
        const user = session.get("user");
        return page(`
<h1>Cart</h1>
<p id="user">${user ? `Logged in as <b>${escape(user)}</b>` : "Anonymous"}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>
<p id="count">${cart.length} item(s)</p>
<form method="post" action="/add"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/login"><input name="user" placeholder="name"> <button id="login">Log in</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/browser-session"><button id="browser-session">Keep only until the browser closes</button></form>
<p id="cookie-visible"></p>
<script>document.getElementById("cookie-visible").textContent = "document.cookie=" + JSON.stringify(document.cookie);</script>`);
      }
      case "POST /add": {
        const item = String(form?.get("item") ?? "").trim().slice(0, 100);
        if (item) session.set("cart", [...session.get("cart", []), item]);
        return back();
      }
      case "POST /login": {
        const user = String(form?.get("user") ?? "").trim().slice(0, 50);
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
  });
}
