/**
 * `satchel list`, `satchel count` and `satchel revoke`: the operators' side of `sessions.list()`,
 * `count()`, `revoke()` and `revokeUser()` (core/operations.ts).
 *
 * - `list` streams: each session is written as the store yields it (one line of text, or one
 *   element of the `--json` array, which is closed after the last), so a large store never sits
 *   in memory. A failure part-way leaves the JSON array unclosed on purpose: a script that
 *   ignores the exit status still fails to parse it instead of reading a partial list.
 * - Sessions are named by the core's sealed handles, never by an id or cookie value; user keys
 *   are escaped (`shown`, `safeJson`).
 * - A memory store is refused (its sessions live in the app's process); so is the cookie store
 *   (its sessions live in the browsers), except that `revoke --user` then prints the core's
 *   explanation of how to end them through `authHash`.
 *
 * @module
 */
import type { SessionInfo } from "../core/operations.ts";
import { Failure, need, refuseMemoryStore, storeError, unquoted } from "./_config.ts";
import type { ConfiguredSessions } from "./_config.ts";
import { progress, safeJson, shown, withProgress } from "./_terminal.ts";
import type { Output } from "./_terminal.ts";

const MEMORY_INSTEAD = "For sessions the CLI can reach, configure fileStore, sqlStore, redisStore or denoKvStore; " +
  "inside the app, sessions.list(), count() and revoke() work on the memory store too.";

/** The checks every operation makes before touching the store. */
function reachable(sessions: ConfiguredSessions, command: string): void {
  refuseMemoryStore(sessions, command, MEMORY_INSTEAD);
  if (sessions.serverSide === false) {
    throw new Failure(
      `${command}: the config uses the cookie store; its sessions live in the browsers, not on the server, so none ` +
        `can be listed, counted or revoked by handle. To end a user's cookie sessions, see "satchel revoke --help" (--user).`,
    );
  }
}

/** A core `TypeError` turned into a message naming the fix; anything else is the store's failure. */
function failure(command: string, error: unknown): Error {
  if (error instanceof Failure) return error;
  if (error instanceof TypeError && /has no list\(\)/.test(error.message)) {
    return new Failure(
      `${command}: the configured store has no list() (SessionStore.list), which list, count and revoke need. ` +
        "Every store satchel ships has one; a custom store needs its own (see SessionStore.list in the docs).",
    );
  }
  if (error instanceof TypeError && /cookie store/.test(error.message)) return new Failure(error.message);
  return storeError(command, error);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** ISO 8601 in UTC, to the second: fixed width, so the columns line up. */
function time(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

const USER_WIDTH = 20;
const TIME_WIDTH = 20;
const SIZE_WIDTH = 7;

function row(user: string, created: string, active: string, expires: string, size: string, handle: string): string {
  return `${user.padEnd(USER_WIDTH)}  ${created.padEnd(TIME_WIDTH)}  ${active.padEnd(TIME_WIDTH)}  ` +
    `${expires.padEnd(TIME_WIDTH)}  ${size.padStart(SIZE_WIDTH)}  ${handle}`;
}

const HEADER = row("USER", "CREATED", "LAST ACTIVITY", "EXPIRES", "SIZE", "HANDLE");

function textLine(info: SessionInfo): string {
  return row(shown(info.user), time(info.created), time(info.lastActivity), time(info.expires), String(info.size), info.handle);
}

/** The fields `--json` prints, in that order; dates become ISO strings. */
function jsonItem(info: SessionInfo): string {
  const { user, created, lastActivity, expires, size, handle } = info;
  return safeJson({ user, created, lastActivity, expires, size, handle });
}

export async function list(sessions: ConfiguredSessions, options: { user?: string; json: boolean }, out: Output): Promise<number> {
  reachable(sessions, "list");
  const listing = need(sessions, "list", "list");
  const of = options.user === undefined ? "" : ` of ${shown(options.user)}`;
  let n = 0;
  // --json: each element is written once the next one (or the end) is known, to place the comma.
  let held: string | undefined;
  try {
    if (options.json) await out.line("[");
    for await (const info of listing(options.user === undefined ? {} : { user: options.user })) {
      if (out.closed) break;
      n++;
      if (options.json) {
        if (held !== undefined) await out.line(`  ${held},`);
        held = jsonItem(info);
      } else {
        if (n === 1) await out.line(HEADER);
        await out.line(textLine(info));
      }
    }
  } catch (error) {
    throw failure("list", error);
  }
  if (options.json) {
    if (held !== undefined) await out.line(`  ${held}`);
    await out.line("]");
  } else {
    await out.line(n === 0 ? `No live sessions${of}.` : `${plural(n, "live session")}${of}.`);
  }
  return 0;
}

export async function count(sessions: ConfiguredSessions, options: { user?: string }, out: Output): Promise<number> {
  reachable(sessions, "count");
  const counting = need(sessions, "count", "count");
  const bar = progress();
  let n: number;
  try {
    n = await withProgress(bar, "counting sessions", () => counting(options.user === undefined ? {} : { user: options.user }));
  } catch (error) {
    throw failure("count", error);
  } finally {
    bar.done();
  }
  await out.line(String(n));
  return 0;
}

export async function revoke(sessions: ConfiguredSessions, target: { handle: string } | { user: string }, out: Output): Promise<number> {
  if ("user" in target) {
    refuseMemoryStore(sessions, "revoke", MEMORY_INSTEAD);
    // The cookie store is left to the core: its TypeError says how to end those sessions (authHash).
    const revokeUser = need(sessions, "revokeUser", "revoke");
    const bar = progress();
    let n: number;
    try {
      n = await withProgress(bar, `revoking the sessions of ${shown(target.user)}`, () => revokeUser(target.user));
    } catch (error) {
      throw failure("revoke", error);
    } finally {
      bar.done();
    }
    await out.line(`Revoked ${plural(n, "session")} of ${shown(target.user)}.`);
    return 0;
  }
  reachable(sessions, "revoke");
  const revokeOne = need(sessions, "revoke", "revoke");
  let ended: boolean;
  try {
    ended = await revokeOne(unquoted(target.handle));
  } catch (error) {
    if (error instanceof TypeError && !/has no list\(\)|cookie store/.test(error.message)) {
      throw new Failure(
        "That is not a session handle of this config. Handles come from \"satchel list\" run with the same config and " +
          "SECRET (one made under a SECRET that is neither the current one nor a fallback is refused); copy it whole.",
      );
    }
    throw failure("revoke", error);
  }
  if (!ended) throw new Failure("No live session for that handle (it ended already, or was revoked).");
  await out.line("Revoked 1 session.");
  return 0;
}
