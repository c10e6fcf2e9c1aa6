/**
 * The Hono half of the Django bridge (Node 24 through `@hono/node-server`): it reads and writes
 * the very `django_session` rows the Django project (djangoapp/) uses, under the same `sessionid`
 * cookie. Browsers send a cookie to every port of its host, so a visitor logged in on Django's
 * port arrives here with that session, and a logout here logs them out of Django too.
 *
 * - GET `/cart`: the cart (`session.get("cart")`) and Django's login (`session.get("_auth_user_id")`).
 * - POST `/cart` item=...: add with `session.modify("cart", ...)`; Django's `/cart` sees it.
 * - POST `/logout`: `await session.flush()`: the row is deleted, so Django says "anonymous".
 *
 * Run it through `node examples/django-bridge/start.ts`, which passes `BRIDGE_SECRET_KEY` (Django's
 * `SECRET_KEY`), `BRIDGE_DB` (the SQLite file Django's `migrate` created) and `PORT`.
 */
import { DatabaseSync } from "node:sqlite";
import process from "node:process";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createSessions } from "../../mod.ts";
import { session } from "../../adapters/hono.ts";
import type { SessionVariables } from "../../adapters/hono.ts";
import { sqlStore } from "../../stores/sql.ts";
import { escape, field } from "../_cart_page.ts";
import { portFrom } from "../_serve.ts";

/** What this app reads from the Django session: its own cart, and the key django.contrib.auth's `login()` sets. */
export type Shared = {
  cart: string[];
  _auth_user_id: string;
};

const SECRET_KEY = process.env.BRIDGE_SECRET_KEY;
const DB = process.env.BRIDGE_DB;
if (!SECRET_KEY || !DB) {
  console.error("BRIDGE_SECRET_KEY and BRIDGE_DB are not set: start the demo with `node examples/django-bridge/start.ts`");
  process.exit(2);
}

// Django writes the same file from another process: wait up to 5 s for its lock instead of failing.
const db = new DatabaseSync(DB, { timeout: 5000 });
const sessions = createSessions<Shared>({
  secret: SECRET_KEY,
  // layout "django": Django's table and raw session keys; secret: Django's signed session_data.
  store: sqlStore({ client: db, layout: "django", secret: SECRET_KEY }),
  // Django's cookie: same name, path "/", host-only, SameSite=Lax, HttpOnly. Not Secure: plain http on 127.0.0.1.
  cookie: { name: "sessionid", secure: false, sameSite: "Lax" },
});

const app = new Hono<{ Variables: SessionVariables<Shared> }>();
app.use(session(sessions));

app.get("/cart", (c) => {
  const cart = c.var.session.get("cart", []);
  const user = c.var.session.get("_auth_user_id");
  return c.html(`<!doctype html><meta charset="utf-8"><title>Hono side</title>
<h1>Cart <small>(Hono, same session as Django)</small></h1>
<p id="user">${user === undefined ? "anonymous" : `Django user id ${escape(String(user))}`}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(String(item))}</li>`).join("")}</ul>
<form method="post" action="/cart"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/logout"><button id="logout">Log out (of Django too)</button></form>`);
});

app.post("/cart", async (c) => {
  const item = field(await c.req.parseBody().catch(() => ({})), "item", 100);
  if (item) c.var.session.modify("cart", (cart = []) => [...cart, item]);
  return c.redirect("/cart", 303);
});

app.post("/logout", async (c) => {
  // Deletes the django_session row and the cookie: Django's next request is anonymous.
  await c.var.session.flush();
  return c.redirect("/cart", 303);
});

const port = portFrom(8011);
const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => {
  console.log(`Hono side on http://127.0.0.1:${port}/cart (satchel, Django's table)`);
});
const stop = (): void => {
  server.close();
  db.close();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
