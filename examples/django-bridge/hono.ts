/**
 * The Hono half of the Django bridge (Node 24 through `@hono/node-server`): it reads and writes
 * the very `django_session` rows the Django project (djangoapp/) uses, under the same `sessionid`
 * cookie. Browsers send a cookie to every port of its host, so a visitor logged in on Django's
 * port arrives here with that session, and a logout here logs them out of Django too.
 *
 * - GET `/cart`: the cart (`session.get("cart")`) and Django's login (`session.user`, the `_auth_user_id`).
 * - POST `/cart` item=...: add with `session.modify("cart", ...)`; Django's `/cart` sees it.
 * - GET `/login?user=ada`: satchel's `session.login()`, which Django's `get_user()` accepts (demo
 *   only: no password asked; a real app authenticates first, and logs in from a POST).
 * - POST `/logout`: `await session.flush()`: the row is deleted, so Django says "anonymous".
 *
 * Both halves check the login against the user's current password hash: Django in `get_user()`,
 * satchel through the `authHash` option (reading `auth_user.password`). A password change on
 * Django's side (its `/password`) therefore logs the user out here on the next request too.
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

/** What this app keeps in the Django session besides the login keys (`session.user` reads those). */
export type Shared = {
  cart: string[];
};

const SECRET_KEY = process.env.BRIDGE_SECRET_KEY;
const DB = process.env.BRIDGE_DB;
if (!SECRET_KEY || !DB) {
  console.error("BRIDGE_SECRET_KEY and BRIDGE_DB are not set: start the demo with `node examples/django-bridge/start.ts`");
  process.exit(2);
}

// Django writes the same file from another process: wait up to 5 s for its lock instead of failing.
const db = new DatabaseSync(DB, { timeout: 5000 });
const userByName = db.prepare("SELECT id, password FROM auth_user WHERE username = ?");
const passwordOf = db.prepare("SELECT password FROM auth_user WHERE id = ?");

/**
 * The user's current password field, or null when the user is gone: what Django's
 * `get_session_auth_hash()` is computed from. Read on every request of a logged-in session.
 */
function authHash(userKey: string): string | null {
  const row = passwordOf.get(Number(userKey)) as { password: string } | undefined;
  return row ? row.password : null;
}

const sessions = createSessions<Shared>({
  secret: SECRET_KEY,
  // layout "django": Django's table and raw session keys; secret: Django's signed session_data.
  store: sqlStore({ client: db, layout: "django", secret: SECRET_KEY }),
  // Django's cookie: same name, path "/", host-only, SameSite=Lax, HttpOnly. Not Secure: plain http on 127.0.0.1.
  cookie: { name: "sessionid", secure: false, sameSite: "Lax" },
  // Django's get_user() rule on this side: a changed password ends the session here too.
  authHash,
});

const app = new Hono<{ Variables: SessionVariables<Shared> }>();
app.use(session(sessions));

app.get("/cart", (c) => {
  const cart = c.var.session.get("cart", []);
  const user = c.var.session.user;
  return c.html(`<!doctype html><meta charset="utf-8"><title>Hono side</title>
<h1>Cart <small>(Hono, same session as Django)</small></h1>
<p id="user">${user === null ? "anonymous" : `Django user id ${escape(String(user))}`}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(String(item))}</li>`).join("")}</ul>
<form method="post" action="/cart"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/logout"><button id="logout">Log out (of Django too)</button></form>`);
});

app.post("/cart", async (c) => {
  const item = field(await c.req.parseBody().catch(() => ({})), "item", 100);
  if (item) c.var.session.modify("cart", (cart = []) => [...cart, item]);
  return c.redirect("/cart", 303);
});

app.get("/login", async (c) => {
  // Demo only (see the module comment): look the user up in Django's auth_user and log them in as
  // Django's login() would: key cycled (or the session flushed if it was someone else's),
  // _auth_user_id, _auth_user_backend and _auth_user_hash (an HMAC of the password hash) written.
  const row = userByName.get(c.req.query("user") ?? "") as { id: number; password: string } | undefined;
  if (!row) return c.text("no such user", 404);
  await c.var.session.login(String(row.id), { authHash: row.password });
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
