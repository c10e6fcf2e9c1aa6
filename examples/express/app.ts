/**
 * The shopping cart of examples/cart, as an Express 5 app with `@satchel/session/node`: add
 * items, view the cart, log in (the session id is cycled), log out (flushed), keep the session
 * only until the browser closes. server.ts serves it (`npm run example:express`).
 */
import express from "express";
import type { Express } from "express";
import { createSessions, memoryStore } from "../../mod.ts";
import type { Session, SessionsOptions } from "../../mod.ts";
import { session, sessionErrors } from "../../adapters/node.ts";
import { DEMO_SECRET, cartPage, field } from "../_cart_page.ts";
import type { Cart } from "../_cart_page.ts";

export type { Cart };

// Types `req.session` in every handler (Express 5's Request extends node:http's IncomingMessage).
declare module "node:http" {
  interface IncomingMessage {
    session: Session<Cart>;
  }
}

/** The cart app; `options` go to `createSessions` (memory store and a demo secret by default). */
export function cartApp(options: Partial<SessionsOptions> = {}): Express {
  const sessions = createSessions<Cart>({
    secret: DEMO_SECRET,
    store: memoryStore(),
    ...options,
  });
  const app = express();
  app.disable("x-powered-by");
  app.use(session(sessions));
  app.use(express.urlencoded({ extended: false, limit: "4kb" }));
  const form = (body: unknown) => (typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {});

  app.get("/", (req, res) => {
    res.type("html").send(cartPage("Express 5 on Node", req.session.get("cart", []), req.session.get("user")));
  });
  app.post("/add", (req, res) => {
    const item = field(form(req.body), "item", 100);
    if (item) req.session.set("cart", [...req.session.get("cart", []), item]);
    res.redirect(303, "/");
  });
  app.post("/login", async (req, res) => {
    const user = field(form(req.body), "user", 50);
    if (user) {
      // Against session fixation: a new id for the same data, the old id dead.
      await req.session.cycleKey();
      req.session.set("user", user);
    }
    res.redirect(303, "/");
  });
  app.post("/logout", async (req, res) => {
    await req.session.flush();
    res.redirect(303, "/");
  });
  app.post("/browser-session", (req, res) => {
    req.session.setExpiry(0);
    res.redirect(303, "/");
  });
  app.get("/api/cart", (req, res) => {
    res.json({ cart: req.session.get("cart", []), user: req.session.get("user") ?? null });
  });
  // After the routes: a session error thrown by a handler (a store outage during logout, ...)
  // answers 400/409/503 without a cookie; everything else reaches Express's error handler.
  app.use(sessionErrors());
  return app;
}
