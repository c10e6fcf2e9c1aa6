#!/usr/bin/env node
/**
 * The `satchel` command: maintenance and operations for the sessions an application configures.
 *
 * ```sh
 * satchel clear-expired --config ./sessions.mjs          # Django's clearsessions; run it from cron
 * satchel decode --config ./sessions.mjs <cookie or id>  # the data and stored expiry of one session
 * satchel list --config ./sessions.mjs [--user U] [--json]
 * satchel count --config ./sessions.mjs [--user U]
 * satchel revoke --config ./sessions.mjs <handle>        # or --user U: log a user out everywhere
 * ```
 *
 * `--config` names a module (resolved against the working directory) whose default export, or
 * whose `sessions` export, is the result of `createSessions(...)`, a Promise of it, or a (possibly
 * async) function returning one. An exported `close()` is awaited before exit, for at most 3 s.
 * `.js`/`.mjs` configs run on any supported Node (the npm package's `dist/cli/satchel.js`); `.ts`
 * configs need a runtime that strips types (Node 24, Deno, Bun).
 *
 * Decisions, written down:
 * - Output: results go to stdout; progress goes to stderr, only on a terminal (or with
 *   `SATCHEL_PROGRESS=1`), as one overwritten line erased before the result. Nothing a store or
 *   an app put in a session (user keys, data) reaches the terminal unescaped (`_terminal.ts`).
 * - Never an id or a cookie value in output or errors; sessions are named by the core's handles.
 * - Memory stores are refused by every command: their records live in the app's process.
 * - Store failures are described by `describeError` (class, code, sanitized message) only.
 * - The commands live in `_maintenance.ts` (clear-expired, decode) and `_operations.ts` (list,
 *   count, revoke); the texts in `_help.ts`.
 *
 * Exit status: 0 success, 1 failure (store, config, no such session, output that cannot be
 * written), 2 usage error. A reader that went away (`satchel list | head`) is not a failure.
 *
 * @module
 */
import process from "node:process";
import { describe, Failure, loadConfig, UsageError, version } from "./_config.ts";
import { HELP } from "./_help.ts";
import { clearExpired, decode } from "./_maintenance.ts";
import { count, list, revoke } from "./_operations.ts";
import { Output } from "./_terminal.ts";

interface Parsed {
  command: string | undefined;
  config: string | undefined;
  user: string | undefined;
  json: boolean;
  help: boolean;
  version: boolean;
  rest: string[];
}

const COMMANDS = new Set(["clear-expired", "decode", "list", "count", "revoke", "help"]);
/** The CLI's own options: after `--user`/`--config`, one of them means the value is missing (an empty, unquoted `$U`). */
const OPTIONS = new Set(["--config", "-c", "--user", "-u", "--json", "--help", "-h", "--version", "-v", "-V", "--"]);
/**
 * A `list` handle (sealed, base64url) or a cookie value (base64url segments) may start with "-":
 * for revoke and decode it is taken as the value, not an option.
 */
const DASHED_VALUE = /^-[A-Za-z0-9_.:-]{38,}$/;
/** An unknown option is named in the error only when it looks like one: anything else may be a pasted cookie. */
const OPTION_NAME = /^--?[a-z][a-z-]{0,24}$/;

/** `--name value` or `--name=value`; `undefined` when `arg` is not that option. */
function optionValue(argv: readonly string[], i: number, long: string, short: string, command: string | undefined): { value: string; next: number } | undefined {
  const arg = argv[i]!;
  let value: string | undefined;
  let next = i;
  if (arg === long || arg === short) {
    value = argv[++next];
    // `--user=--json` still names such a user.
    if (value !== undefined && OPTIONS.has(value)) value = undefined;
  } else if (arg.startsWith(`${long}=`)) {
    value = arg.slice(long.length + 1);
  } else {
    return undefined;
  }
  if (value === undefined || value === "") throw new UsageError(`${long} needs ${long === "--config" ? "a file path" : "a value"}`, command);
  return { value, next };
}

function parse(argv: readonly string[]): Parsed {
  const parsed: Parsed = { command: undefined, config: undefined, user: undefined, json: false, help: false, version: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const config = optionValue(argv, i, "--config", "-c", parsed.command);
    const user = config ? undefined : optionValue(argv, i, "--user", "-u", parsed.command);
    // Given twice, one would silently win: refused (revoke --user a --user b must not end b's sessions only).
    if ((config && parsed.config !== undefined) || (user && parsed.user !== undefined)) {
      throw new UsageError(`${config ? "--config" : "--user"} given twice`, parsed.command);
    }
    if (config) {
      parsed.config = config.value;
      i = config.next;
    } else if (user) {
      parsed.user = user.value;
      i = user.next;
    } else if (arg === "--json") {
      parsed.json = true;
    } else if (arg === "--help" || arg === "-h") {
      parsed.help = true;
    } else if (arg === "--version" || arg === "-v" || arg === "-V") {
      parsed.version = true;
    } else if (arg === "--") {
      parsed.rest.push(...argv.slice(i + 1));
      break;
    } else if ((parsed.command === "revoke" || parsed.command === "decode") && DASHED_VALUE.test(arg)) {
      parsed.rest.push(arg);
    } else if (arg.startsWith("-") && arg.length > 1) {
      // Never echo an unknown option's value part, nor an "option" that may be a pasted cookie.
      const name = arg.split("=")[0]!;
      throw new UsageError(OPTION_NAME.test(name) ? `unknown option ${name}` : "unknown option (not shown: not an option name)", parsed.command);
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

/** What the command line asks of a command other than its config; a `UsageError` when it does not fit. */
function check(command: string, { user, json, rest }: Parsed): void {
  if (user !== undefined && !["list", "count", "revoke"].includes(command)) throw new UsageError(`${command} has no --user option`, command);
  if (json && command !== "list") throw new UsageError(`${command} has no --json option`, command);
  const most = command === "decode" || (command === "revoke" && user === undefined) ? 1 : 0;
  if (rest.length > most) {
    throw new UsageError(
      command === "revoke" ? "revoke takes a handle or --user, not both" : `${command} takes ${most === 1 ? "one value" : "no arguments"}`,
      command,
    );
  }
  if (command === "revoke" && user === undefined && rest.length === 0) {
    throw new UsageError("revoke needs a session handle (from satchel list) or --user <user>", command);
  }
}

/** Run the command line `argv` (without the runtime and script); resolves to the exit status. */
async function main(argv: readonly string[], out: Output): Promise<number> {
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
    await out.line(version());
    return 0;
  }
  if (command === "help") {
    const topic = rest[0];
    if (topic !== undefined && !(topic in HELP && topic !== "main")) {
      console.error(`satchel: no help for that topic\n\n${HELP.main}`);
      return 2;
    }
    await out.line(HELP[topic ?? "main"]!);
    return 0;
  }
  if (parsed.help) {
    await out.line(HELP[command ?? "main"]!);
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
  let close: (() => unknown) | undefined;
  try {
    check(command, parsed);
    const loaded = await loadConfig(config);
    close = loaded.close;
    const sessions = loaded.sessions;
    const user = parsed.user;
    switch (command) {
      case "clear-expired":
        return await clearExpired(sessions, out);
      case "decode":
        return await decode(sessions, rest[0], out);
      case "list":
        return await list(sessions, user === undefined ? { json: parsed.json } : { user, json: parsed.json }, out);
      case "count":
        return await count(sessions, user === undefined ? {} : { user }, out);
      default:
        return await revoke(sessions, user === undefined ? { handle: rest[0]! } : { user }, out);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`satchel: ${error.message}\n\n${HELP[error.command] ?? HELP.main}`);
      return 2;
    }
    console.error(`satchel: ${error instanceof Failure ? error.message : `${command} failed: ${describe(error)}`}`);
    return 1;
  } finally {
    if (close) await closeConfig(close);
  }
}

const CLOSE_TIMEOUT_MS = 3000;

/**
 * Await the config's `close()`, for at most 3 s: one that never settles (a pool waiting on a
 * checked-out client) must neither hang the command nor change its exit status.
 */
async function closeConfig(close: () => unknown): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS)));
  try {
    const closed = Promise.resolve().then(close).then(() => true);
    if (!await Promise.race([closed, timedOut])) {
      console.error(`satchel: close() did not finish in ${CLOSE_TIMEOUT_MS / 1000} s; exiting without waiting for it`);
    }
  } catch (error) {
    console.error(`satchel: close() failed: ${describe(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

// Exit explicitly (a config module may hold open handles: database pools, timers), once stdout
// has been handed everything: a piped stdout may still be writing. Output that could not be
// written (a full disk) fails the command; a reader that went away (EPIPE) does not.
const out = new Output();
let status = await main(process.argv.slice(2), out);
await out.flush();
if (out.failure !== undefined) {
  console.error(`satchel: cannot write the output: ${describe(out.failure)}`);
  if (status === 0) status = 1;
}
process.exit(status);
