#!/usr/bin/env node
/**
 * The `satchel` command: maintenance for the sessions an application configures.
 *
 * ```sh
 * satchel clear-expired --config ./sessions.mjs          # Django's clearsessions; run it from cron
 * satchel decode --config ./sessions.mjs <cookie or id>  # the data and stored expiry of one session
 * ```
 *
 * `--config` names a module (resolved against the working directory) whose default export, or
 * whose `sessions` export, is the result of `createSessions(...)` or a (possibly async) function
 * returning one. An exported `close()` is awaited before exit. `.js`/`.mjs` configs run on any
 * supported Node (the npm package's `dist/cli/satchel.js`); `.ts` configs need a runtime that
 * strips types (Node 24, Deno, Bun).
 *
 * Decisions, written down:
 * - Output: the result goes to stdout, one line; progress goes to stderr, only on a terminal (or
 *   with `SATCHEL_PROGRESS=1`), as one overwritten line erased before the result.
 * - `clear-expired` refuses a memory store: its records live in the app's process, and a fresh
 *   one in the CLI's process is always empty, so "Removed 0" would be a lie.
 * - `decode` prints the expiry the store or signed cookie holds, never one computed from the
 *   config, and never echoes the cookie or id, in output or in errors.
 * - Store failures are described by `describeError` (class, code, sanitized message) only.
 *
 * Exit status: 0 success, 1 failure (store, config, no such session), 2 usage error.
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError } from "../core/errors.ts";

const CONFIG_HELP = `  -c, --config <file>  a module whose default export (or "sessions" export) is the result of
                       createSessions(...), or a function returning one; an exported close()
                       is awaited before exit. .js/.mjs on any Node; .ts on Node 24, Deno, Bun.
  -h, --help           show this help`;

const HELP: Record<string, string> = {
  main: `Usage: satchel <command> [options]

Commands:
  clear-expired   delete expired sessions from the configured store (Django's clearsessions)
  decode          print one session's data and stored expiry
  help [command]  show help

Options:
  -h, --help       show help (also: satchel <command> --help)
  -v, --version    print the version

Example:
  satchel clear-expired --config ./sessions.mjs

Exit status: 0 success, 1 failure, 2 usage error.`,
  "clear-expired": `Usage: satchel clear-expired --config <file>

Delete every expired session from the configured store (file, SQL, Deno KV, tiered).
Prints "Removed N expired sessions." on stdout; on a terminal, progress on stderr.
Refuses a memory store: its sessions live in the app's process, not the CLI's.

Options:
${CONFIG_HELP}

Example (crontab, hourly):
  0 * * * *  cd /srv/app && npx satchel clear-expired --config ./sessions.mjs`,
  decode: `Usage: satchel decode --config <file> <cookie-value-or-session-id>

Print, as JSON, the data of the session a cookie value (cookie store) or session id
(server stores) points to, and the expiry stored with it. The value is never echoed.
Tip: pass the value through an environment variable to keep it out of shell history.

Options:
${CONFIG_HELP}

Example:
  satchel decode --config ./sessions.mjs "$SESSION_COOKIE"`,
};

/** What the command needs from a `createSessions()` result (typed structurally). */
interface SessionsLike {
  readonly cookieName?: string;
  readonly serverSide?: boolean;
  /** Proposed core field: `true` when the store keeps records in this process only (memoryStore). */
  readonly inProcessStore?: boolean;
  clearExpired(): Promise<number>;
  load?(request: Request): Promise<SessionLike>;
  /** Proposed core method: the stored record behind a cookie value, without touching it. */
  inspect?(value: string): Promise<Inspection>;
}

/** What `inspect` answers (proposed core API). */
type Inspection =
  | { status: "live"; data: Record<string, unknown>; expires: number }
  | { status: "unknown" | "bad-signature" | "expired" | "malformed" };

interface SessionLike {
  readonly id: string | null;
  entries(): [string, unknown][];
}

class UsageError extends Error {
  command: string;
  constructor(message: string, command = "main") {
    super(message);
    this.command = command;
  }
}

/** A failure whose message already names the fix. */
class Failure extends Error {}

interface Parsed {
  command: string | undefined;
  config: string | undefined;
  help: boolean;
  version: boolean;
  rest: string[];
}

const COMMANDS = new Set(["clear-expired", "decode", "help"]);

function parse(argv: readonly string[]): Parsed {
  const parsed: Parsed = { command: undefined, config: undefined, help: false, version: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config" || arg === "-c") {
      const value = argv[++i];
      if (value === undefined || value === "") throw new UsageError(`${arg} needs a file path`, parsed.command);
      parsed.config = value;
    } else if (arg.startsWith("--config=")) {
      parsed.config = arg.slice("--config=".length);
      if (parsed.config === "") throw new UsageError("--config needs a file path", parsed.command);
    } else if (arg === "--help" || arg === "-h") {
      parsed.help = true;
    } else if (arg === "--version" || arg === "-v" || arg === "-V") {
      parsed.version = true;
    } else if (arg === "--") {
      parsed.rest.push(...argv.slice(i + 1));
      break;
    } else if (arg.startsWith("-") && arg.length > 1) {
      // Never echo an unknown option's value part: it might be a pasted cookie.
      const name = arg.split("=")[0]!.slice(0, 40);
      throw new UsageError(`unknown option ${name}`, parsed.command);
    } else if (parsed.command === undefined) {
      // A long unknown word may be a pasted cookie or id: name it only when it is short.
      if (!COMMANDS.has(arg)) throw new UsageError(arg.length <= 20 ? `unknown command "${arg}"` : "unknown command (not shown: too long)");
      parsed.command = arg;
    } else {
      parsed.rest.push(arg);
    }
  }
  return parsed;
}

/** The package version: package.json next to the source (repo) or two levels up (dist/cli/). */
function version(): string {
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "@satchel/session" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // try the next place
    }
  }
  return "unknown";
}

function describe(error: unknown): string {
  const d = describeError(error);
  return `${d.name}${d.code === undefined ? "" : ` [${d.code}]`}: ${d.message}`;
}

async function loadConfig(path: string): Promise<{ sessions: SessionsLike; close: (() => unknown) | undefined }> {
  const url = pathToFileURL(resolve(process.cwd(), path)).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (error) {
    const hint = /\.m?ts$/.test(path) && /Unknown file extension|ERR_UNKNOWN_FILE_EXTENSION|SyntaxError/.test(describe(error))
      ? " (a .ts config needs Node 24, Deno or Bun; on older Node write it as .mjs)"
      : "";
    throw new Failure(`cannot load the config module ${path}: ${describe(error)}${hint}`);
  }
  const close = typeof mod.close === "function" ? (mod.close as () => unknown) : undefined;
  let candidate = mod.default ?? mod.sessions;
  if (typeof candidate === "function") {
    try {
      candidate = await (candidate as () => unknown)();
    } catch (error) {
      throw new Failure(`the config module ${path}'s exported function failed: ${describe(error)}`);
    }
  }
  if (typeof candidate !== "object" || candidate === null || typeof (candidate as SessionsLike).clearExpired !== "function") {
    throw new Failure(
      `the config module ${path} must default-export (or export as "sessions") the result of createSessions(), or a function returning it`,
    );
  }
  return { sessions: candidate as SessionsLike, close };
}

/** An overwritten stderr line, only when stderr is a terminal or SATCHEL_PROGRESS=1. */
function progress(): { show(text: string): void; done(): void } {
  const forced = process.env.SATCHEL_PROGRESS;
  const on = forced === "1" || (forced !== "0" && process.stderr.isTTY === true);
  let shown = false;
  return {
    show(text) {
      if (!on) return;
      process.stderr.write(`\r\x1b[2K${text}`);
      shown = true;
    },
    done() {
      if (on && shown) process.stderr.write("\r\x1b[2K");
    },
  };
}

function storeError(operation: string, error: unknown): Failure {
  return new Failure(
    `${operation} failed: the session store did not answer: ${describe(error)}. ` +
      "Check that the store is running and reachable with the host, port and credentials the config uses.",
  );
}

async function clearExpired(sessions: SessionsLike): Promise<number> {
  if (sessions.inProcessStore === true) {
    throw new Failure(
      "clear-expired: the config uses a memory store. Its sessions live inside the app's process; the CLI would clear " +
        "a new, empty one. Memory stores sweep expired sessions by themselves; for a store the CLI can clear, configure " +
        "fileStore, sqlStore or denoKvStore.",
    );
  }
  if (sessions.serverSide === false) {
    throw new Failure("clear-expired: the config uses the cookie store; its sessions live in browsers and expire there. Nothing to clear.");
  }
  const bar = progress();
  const started = Date.now();
  bar.show("removing expired sessions…");
  const timer = setInterval(() => bar.show(`removing expired sessions… ${Math.round((Date.now() - started) / 1000)} s`), 1000);
  let removed: number;
  try {
    removed = await sessions.clearExpired();
  } catch (error) {
    if (error instanceof TypeError && /doesn't support clearing/.test(error.message)) {
      throw new Failure("Session store doesn't support clearing expired sessions.");
    }
    throw storeError("clear-expired", error);
  } finally {
    clearInterval(timer);
  }
  bar.show(`removed ${removed}…`);
  bar.done();
  console.log(`Removed ${removed} expired session${removed === 1 ? "" : "s"}.`);
  return 0;
}

const SECRET_HINT = "check that SECRET (and its fallbacks) match the app's";

async function decode(sessions: SessionsLike, value: string | undefined): Promise<number> {
  if (value === undefined || value === "") throw new UsageError("decode needs a cookie value or session id", "decode");
  if (sessions.inProcessStore === true) {
    throw new Failure("decode: the config uses a memory store; its sessions live inside the app's process, not the CLI's.");
  }
  const serverSide = sessions.serverSide !== false;
  // A pasted "name=value" or a quoted value: keep the value only.
  const name = sessions.cookieName ?? "sessionid";
  if (value.startsWith(`${name}=`)) value = value.slice(name.length + 1);
  value = value.replace(/^"(.*)"$/, "$1");
  if (typeof sessions.inspect === "function") {
    let found: Inspection;
    try {
      found = await sessions.inspect(value);
    } catch (error) {
      throw storeError("decode", error);
    }
    if (found.status === "live") return print(found.data, found.expires);
    throw new Failure(notFound(found.status, serverSide));
  }
  if (typeof sessions.load !== "function") throw new Failure("the configured sessions object cannot load sessions");
  let request: Request;
  try {
    request = new Request("http://localhost/", { headers: { cookie: `${name}=${value}` } });
  } catch {
    throw new Failure(notFound("malformed", serverSide));
  }
  let session: SessionLike;
  let entries: [string, unknown][];
  try {
    session = await sessions.load(request);
    entries = session.entries();
  } catch (error) {
    throw storeError("decode", error);
  }
  if (entries.length === 0 && (serverSide ? session.id === null : true)) {
    const malformed = serverSide ? !/^[a-z0-9]{8,64}$/.test(value) : !/^[A-Za-z0-9._:~-]+$/.test(value);
    throw new Failure(notFound(malformed ? "malformed" : serverSide ? "unknown" : "bad-signature", serverSide));
  }
  // Without the core's inspect(), the stored expiry is not reachable: say so, never compute one.
  return print(Object.fromEntries(entries), null);
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

function print(data: Record<string, unknown>, expires: number | null): number {
  console.log(JSON.stringify({ data, expires: expires === null ? null : new Date(expires).toISOString() }, null, 2));
  if (expires === null) console.error("satchel: this satchel version does not expose the stored expiry; shown as null.");
  return 0;
}

/** Run the command line `argv` (without the runtime and script); resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    const usage = error as UsageError;
    console.error(`satchel: ${usage.message}\n\n${HELP[usage.command] ?? HELP.main}`);
    return 2;
  }
  const { command, config, rest } = parsed;
  if (parsed.version) {
    console.log(version());
    return 0;
  }
  if (command === "help") {
    const topic = rest[0];
    if (topic !== undefined && !(topic in HELP && topic !== "main")) {
      console.error(`satchel: no help for that topic\n\n${HELP.main}`);
      return 2;
    }
    console.log(HELP[topic ?? "main"]);
    return 0;
  }
  if (parsed.help) {
    console.log(HELP[command ?? "main"]);
    return 0;
  }
  if (command === undefined) {
    console.error(HELP.main);
    return 2;
  }
  if (config === undefined) {
    console.error(`satchel: ${command} needs --config <file>\n\n${HELP[command]}`);
    return 2;
  }
  if (rest.length > (command === "decode" ? 1 : 0)) {
    console.error(`satchel: ${command} takes ${command === "decode" ? "one value" : "no arguments"}\n\n${HELP[command]}`);
    return 2;
  }
  let close: (() => unknown) | undefined;
  try {
    const loaded = await loadConfig(config);
    close = loaded.close;
    return command === "clear-expired" ? await clearExpired(loaded.sessions) : await decode(loaded.sessions, rest[0]);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`satchel: ${error.message}\n\n${HELP[error.command] ?? HELP.main}`);
      return 2;
    }
    console.error(`satchel: ${error instanceof Failure ? error.message : `${command} failed: ${describe(error)}`}`);
    return 1;
  } finally {
    if (close) {
      try {
        await close();
      } catch (error) {
        console.error(`satchel: close() failed: ${describe(error)}`);
      }
    }
  }
}

// Exit explicitly: a config module may hold open handles (database pools, timers).
process.exit(await main(process.argv.slice(2)));
