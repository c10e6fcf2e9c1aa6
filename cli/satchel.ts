#!/usr/bin/env node
/**
 * The `satchel` command: maintenance for the sessions an application configures.
 *
 * ```sh
 * satchel clear-expired --config ./sessions.ts        # Django's clearsessions; run it from cron
 * satchel decode --config ./sessions.ts <cookie-value> # print the live session a cookie points to
 * ```
 *
 * `--config` names a module (resolved against the working directory) whose default export, or
 * whose `sessions` export, is the result of `createSessions(...)`. If the module also exports a
 * `close()` function (to quit a Redis client, close a `Deno.Kv`, end a pool…), it is awaited
 * before the command exits. Runs unchanged with `node cli/satchel.ts` (Node 24),
 * `deno run -A cli/satchel.ts` and `bun cli/satchel.ts`.
 *
 * Exit status: 0 on success, 1 when the command failed (for example a store that cannot clear
 * expired sessions, or a cookie with no live session), 2 on a usage error.
 *
 * @module
 */
import process from "node:process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const USAGE = `Usage:
  satchel clear-expired --config <module>
      Delete the expired sessions from the configured store (Django's clearsessions).
  satchel decode --config <module> <cookie-value>
      Print the data and expiry of the live session the cookie value points to.
  satchel help

<module> default-exports (or exports as "sessions") the result of createSessions(...);
an exported close() function is awaited before exit.`;

/** What the command needs from a `createSessions()` result (typed structurally). */
interface SessionsLike {
  readonly cookieName?: string;
  clearExpired(): Promise<number>;
  load?(request: Request): Promise<SessionLike>;
}

interface SessionLike {
  readonly id: string | null;
  entries(): [string, unknown][];
  getExpiryDate(): Date;
  getExpireAtBrowserClose(): boolean;
}

class UsageError extends Error {}

interface Parsed {
  command: string | undefined;
  config: string | undefined;
  rest: string[];
}

function parse(argv: readonly string[]): Parsed {
  const parsed: Parsed = { command: undefined, config: undefined, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config" || arg === "-c") {
      const value = argv[++i];
      if (value === undefined || value === "") throw new UsageError(`${arg} needs a module path`);
      parsed.config = value;
    } else if (arg.startsWith("--config=")) {
      parsed.config = arg.slice("--config=".length);
      if (parsed.config === "") throw new UsageError("--config needs a module path");
    } else if (arg === "--help" || arg === "-h") {
      parsed.command = "help";
    } else if (arg === "--") {
      parsed.rest.push(...argv.slice(i + 1));
      break;
    } else if (arg.startsWith("-") && arg.length > 1) {
      throw new UsageError(`unknown option ${arg}`);
    } else if (parsed.command === undefined) {
      parsed.command = arg;
    } else {
      parsed.rest.push(arg);
    }
  }
  return parsed;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function loadConfig(path: string): Promise<{ sessions: SessionsLike; close: (() => unknown) | undefined }> {
  const url = pathToFileURL(resolve(process.cwd(), path)).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (error) {
    throw new Error(`cannot load the config module ${path}: ${message(error)}`, { cause: error });
  }
  const candidate = mod.default ?? mod.sessions;
  if (typeof candidate !== "object" || candidate === null || typeof (candidate as SessionsLike).clearExpired !== "function") {
    throw new Error(`the config module ${path} must default-export (or export as "sessions") the result of createSessions()`);
  }
  const close = typeof mod.close === "function" ? (mod.close as () => unknown) : undefined;
  return { sessions: candidate as SessionsLike, close };
}

async function clearExpired(sessions: SessionsLike): Promise<number> {
  let removed: number;
  try {
    removed = await sessions.clearExpired();
  } catch (error) {
    if (error instanceof TypeError) {
      console.error("Session store doesn't support clearing expired sessions.");
      return 1;
    }
    throw error;
  }
  console.log(`Removed ${removed} expired session${removed === 1 ? "" : "s"}.`);
  return 0;
}

async function decode(sessions: SessionsLike, value: string | undefined): Promise<number> {
  if (value === undefined) throw new UsageError("decode needs a cookie value");
  if (typeof sessions.load !== "function") throw new Error("the configured sessions object cannot load sessions");
  const name = sessions.cookieName ?? "sessionid";
  let request: Request;
  try {
    request = new Request("http://localhost/", { headers: { cookie: `${name}=${value}` } });
  } catch {
    console.error("That is not a valid cookie value.");
    return 1;
  }
  const session = await sessions.load(request);
  const entries = session.entries();
  // Server stores give a live session its id; the cookie store (id always null) only has data.
  if (session.id === null && entries.length === 0) {
    console.error("No live session for that cookie value (unknown, expired, tampered or empty).");
    return 1;
  }
  const expireAtBrowserClose = session.getExpireAtBrowserClose();
  console.log(JSON.stringify({
    data: Object.fromEntries(entries),
    expires: session.getExpiryDate().toISOString(),
    expireAtBrowserClose,
  }, null, 2));
  return 0;
}

/** Run the command line `argv` (without the runtime and script); resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    console.error(`satchel: ${message(error)}\n\n${USAGE}`);
    return 2;
  }
  const { command, config, rest } = parsed;
  if (command === undefined || command === "help") {
    (command === "help" ? console.log : console.error)(USAGE);
    return command === "help" ? 0 : 2;
  }
  if (command !== "clear-expired" && command !== "decode") {
    console.error(`satchel: unknown command ${command}\n\n${USAGE}`);
    return 2;
  }
  if (config === undefined) {
    console.error(`satchel: ${command} needs --config <module>\n\n${USAGE}`);
    return 2;
  }
  if (command === "clear-expired" && rest.length > 0) {
    console.error(`satchel: clear-expired takes no arguments\n\n${USAGE}`);
    return 2;
  }
  let close: (() => unknown) | undefined;
  try {
    const loaded = await loadConfig(config);
    close = loaded.close;
    return command === "clear-expired" ? await clearExpired(loaded.sessions) : await decode(loaded.sessions, rest[0]);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`satchel: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`satchel: ${command} failed: ${message(error)}`);
    return 1;
  } finally {
    if (close) {
      try {
        await close();
      } catch (error) {
        console.error(`satchel: close() failed: ${message(error)}`);
      }
    }
  }
}

// Exit explicitly: a config module may hold open handles (database pools, timers).
process.exit(await main(process.argv.slice(2)));
