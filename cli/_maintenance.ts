/**
 * `satchel clear-expired` (Django's `clearsessions`) and `satchel decode` (one session's data and
 * stored expiry).
 *
 * - `clear-expired` refuses a memory store: its records live in the app's process, and a fresh
 *   one in the CLI's process is always empty, so "Removed 0" would be a lie.
 * - `decode` prints the expiry the store or signed cookie holds (`sessions.inspect()`, read-only),
 *   never one computed from the config, and never echoes the cookie or id, in output or errors.
 *
 * @module
 */
import type { Inspection } from "../core/engine.ts";
import { Failure, need, refuseMemoryStore, storeError, unquoted, UsageError } from "./_config.ts";
import type { ConfiguredSessions } from "./_config.ts";
import { progress, safeJson, withProgress } from "./_terminal.ts";
import type { Output } from "./_terminal.ts";

export async function clearExpired(sessions: ConfiguredSessions, out: Output): Promise<number> {
  refuseMemoryStore(
    sessions,
    "clear-expired",
    "Memory stores sweep expired sessions by themselves; for a store the CLI can clear, configure fileStore, sqlStore or denoKvStore.",
  );
  if (sessions.serverSide === false) {
    throw new Failure("clear-expired: the config uses the cookie store; its sessions live in browsers and expire there. Nothing to clear.");
  }
  const bar = progress();
  let removed: number;
  try {
    removed = await withProgress(bar, "removing expired sessions", () => sessions.clearExpired());
    bar.show(`removed ${removed}…`);
  } catch (error) {
    if (error instanceof TypeError && /doesn't support clearing/.test(error.message)) {
      throw new Failure("Session store doesn't support clearing expired sessions.");
    }
    throw storeError("clear-expired", error);
  } finally {
    // Erased on a failure too, so the error starts its own line.
    bar.done();
  }
  await out.line(`Removed ${removed} expired session${removed === 1 ? "" : "s"}.`);
  return 0;
}

const SECRET_HINT = "check that SECRET (and its fallbacks) match the app's";

export async function decode(sessions: ConfiguredSessions, value: string | undefined, out: Output): Promise<number> {
  if (value === undefined || value === "") throw new UsageError("decode needs a cookie value or session id", "decode");
  refuseMemoryStore(sessions, "decode", "Decode with the config of a store the CLI can reach (fileStore, sqlStore, redisStore, denoKvStore).");
  const inspect = need(sessions, "inspect", "decode");
  // A pasted "name=value", quoted or with whitespace around: keep the value only.
  const name = sessions.cookieName ?? "sessionid";
  value = unquoted(value);
  if (value.startsWith(`${name}=`)) value = unquoted(value.slice(name.length + 1));
  let found: Inspection;
  try {
    found = await inspect(value);
  } catch (error) {
    throw storeError("decode", error);
  }
  if (found.status !== "live") throw new Failure(notFound(found.status, sessions.serverSide !== false));
  // Escaped like every output: the data is the app's, and may hold terminal escapes.
  await out.line(safeJson({ data: found.data, expires: new Date(found.expires).toISOString() }, 2));
  return 0;
}

function notFound(status: Exclude<Inspection["status"], "live">, serverSide: boolean): string {
  switch (status) {
    case "malformed":
      return serverSide
        ? "That is not a session id of this store (ids are 8 to 64 lower-case letters and digits); was it a cookie-store value?"
        : "That is not a signed session cookie value.";
    case "bad-signature":
      return `The cookie does not verify under any configured secret (or it expired): ${SECRET_HINT}.`;
    case "expired":
      return "That session has expired.";
    case "unknown":
      return "No session with that id in the store (expired, logged out, or created under another SECRET: " +
        `server stores key records by an HMAC of the id; ${SECRET_HINT}).`;
  }
}
