/**
 * The cart page and helpers every example shares (fetch, Hono, Elysia, Worker), so the apps
 * differ only in how their framework routes requests to the session.
 */

/** The session data of the cart examples. */
export type Cart = {
  cart: string[];
  user: string;
};

/** The demo secret; real apps read theirs from the environment. */
export const DEMO_SECRET = "demo-secret-change-me-0123456789abcdef";

/** HTML-escape text. */
export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The cart page. It prints what `document.cookie` shows, so anyone can see that the
 * HttpOnly session cookie is invisible to scripts (the browser tests check it).
 */
export function cartPage(where: string, cart: readonly string[], user: string | undefined): string {
  return `<!doctype html><meta charset="utf-8"><title>satchel cart (${escape(where)})</title>
<h1>Cart <small>(${escape(where)})</small></h1>
<p id="user">${user ? `Logged in as <b>${escape(user)}</b>` : "Anonymous"}</p>
<ul id="cart">${cart.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>
<p id="count">${cart.length} item(s)</p>
<form method="post" action="/add"><input name="item" placeholder="item"> <button id="add">Add</button></form>
<form method="post" action="/login"><input name="user" placeholder="name"> <button id="login">Log in</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/browser-session"><button id="browser-session">Keep only until the browser closes</button></form>
<p id="cookie-visible"></p>
<script>document.getElementById("cookie-visible").textContent = "document.cookie=" + JSON.stringify(document.cookie);</script>`;
}

/** An HTML response. */
export function html(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });
}

/** The redirect after a form post. */
export function back(): Response {
  return new Response(null, { status: 303, headers: { location: "/" } });
}

/** A form field, trimmed and bounded; `""` when absent. */
export function field(form: FormData | Record<string, unknown> | null | undefined, name: string, max: number): string {
  const value = form instanceof FormData ? form.get(name) : form?.[name];
  return String(value ?? "").trim().slice(0, max);
}
