/**
 * What a committed session does to a `Response`: the `Set-Cookie` and `Vary` headers (Django's
 * `patch_vary_headers`), `Cache-Control` for responses that set the cookie, and the answers for
 * session conditions (400/409/503).
 *
 * @module
 */
import { SessionError } from "./errors.ts";

/**
 * The answer for a session condition, wherever it was thrown (load, the handler, commit): 400 for
 * an interrupted session (Django's `SessionInterrupted`), 409 for a conflicting concurrent change,
 * 503 for a store outage; `null` for anything else. Never sets a cookie.
 */
export function errorResponse(error: unknown): Response | null {
  if (!(error instanceof SessionError)) return null;
  if (error.code === "SESSION_INTERRUPTED") return new Response("Bad Request: the session ended during the request.", { status: 400 });
  if (error.code === "SESSION_CONFLICT") {
    return new Response("Conflict: the session was changed by a concurrent request; retry.", { status: 409 });
  }
  if (error.code === "STORE_UNAVAILABLE") return new Response("Service Unavailable: the session store is unavailable.", { status: 503 });
  return null;
}

/** Merge a header list value case-insensitively (Django's `patch_vary_headers`). */
export function patchVary(existing: string | null, add: string): string {
  if (!existing) return add;
  const items = existing.split(",").map((v) => v.trim()).filter((v) => v !== "");
  if (items.includes("*")) return "*";
  const lower = add.toLowerCase();
  if (!items.some((v) => v.toLowerCase() === lower)) items.push(add);
  return items.join(", ");
}

function writeHeaders(headers: Headers, cookies: string[], vary: boolean): void {
  if (vary) headers.set("vary", patchVary(headers.get("vary"), "Cookie"));
  for (const line of cookies) headers.append("set-cookie", line);
  // A response that sets the session cookie must not be stored by shared caches.
  if (cookies.length > 0 && !headers.has("cache-control")) headers.set("cache-control", "private, no-store");
}

export function applyHeaders(response: Response, cookies: string[], vary: boolean): Response {
  try {
    writeHeaders(response.headers, cookies, vary);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  // Immutable headers (Response.redirect(), a fetch() result): copy the response once.
  const copy = new Response(response.body, response);
  writeHeaders(copy.headers, cookies, vary);
  return copy;
}
