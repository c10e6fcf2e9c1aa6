/**
 * The shopping cart from Django's session guides, as one fetch handler:
 * add items, view the cart, log in (the session id is cycled), log out (flushed).
 * Runs unchanged on Node, Deno, Bun and Workers; see server.ts for how it is served.
 */
import { createSessions, memoryStore } from "../../mod.ts";
import type { Session, SessionStore, SessionsOptions } from "../../mod.ts";
import { withSession } from "../../adapters/fetch.ts";
import { DEMO_SECRET, back, cartPage, field, html } from "../_cart_page.ts";
import type { Cart } from "../_cart_page.ts";

export type { Cart };

/** Build the app's fetch handler. */
export function cartApp(options: Partial<SessionsOptions> & { store?: SessionStore } = {}): (request: Request) => Promise<Response> {
  const sessions = createSessions<Cart>({
    secret: DEMO_SECRET,
    store: memoryStore(),
    ...options,
  });
  return withSession(sessions, (request, session) => cartRoutes(request, session, "fetch handler"));
}

/**
 * The cart's routes for any fetch-style handler (this app and the Worker share them); `where`
 * names the runtime on the page.
 */
export async function cartRoutes(request: Request, session: Session<Cart>, where: string): Promise<Response> {
  const url = new URL(request.url);
  const form = request.method === "POST" ? await request.formData().catch(() => new FormData()) : null;
  switch (`${request.method} ${url.pathname}`) {
    case "GET /":
      return html(cartPage(where, session.get("cart", []), session.get("user")));
    case "POST /add": {
      const item = field(form, "item", 100);
      if (item) session.modify("cart", (cart = []) => [...cart, item]);
      return back();
    }
    case "POST /login": {
      const user = field(form, "user", 50);
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
}
