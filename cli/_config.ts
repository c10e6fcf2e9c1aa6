/**
 * Loading the `--config` module, and the failures every command shares: a usage error (exit 2), a
 * failure whose message names the fix (exit 1), and a store that did not answer.
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError } from "../core/errors.ts";
import type { Sessions } from "../core/engine.ts";

/**
 * What a config module exports: the result of `createSessions()`. Only `clearExpired` is checked
 * when loading; a method the commands need but the object lacks (a config built with an older
 * satchel than this CLI) is reported by `need()`.
 */
export type ConfiguredSessions =
  & Pick<Sessions, "clearExpired">
  & Partial<Pick<Sessions, "cookieName" | "inProcessStore" | "inspect" | "list" | "count" | "revoke" | "revokeUser">>
  & {
    /** The engine's: `false` for the cookie store (not part of the `Sessions` interface). */
    readonly serverSide?: boolean;
  };

export class UsageError extends Error {
  command: string;
  constructor(message: string, command = "main") {
    super(message);
    this.command = command;
  }
}

/** A failure whose message already names the fix. */
export class Failure extends Error {}

/** `Name [code]: message`, sanitized (no keys, ids or control characters). */
export function describe(error: unknown): string {
  const d = describeError(error);
  return `${d.name}${d.code === undefined ? "" : ` [${d.code}]`}: ${d.message}`;
}

export function storeError(operation: string, error: unknown): Failure {
  return new Failure(
    `${operation} failed: the session store did not answer: ${describe(error)}. ` +
      "Check that the store is running and reachable with the host, port and credentials the config uses.",
  );
}

/**
 * A value as an operator pastes it: surrounding whitespace (a copied newline) and one pair of
 * surrounding quotes (the JSON quotes of `list --json`, a shell-quoted copy) removed.
 */
export function unquoted(value: string): string {
  return value.trim().replace(/^(["'])(.*)\1$/s, "$2").trim();
}

/** The package version: package.json next to the source (repo) or two levels up (dist/cli/). */
export function version(): string {
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

/** Why a `.ts` config failed to load on Node, by the error's code; `""` when it is not about TypeScript. */
function typeScriptHint(path: string, code: string | number | undefined): string {
  if (!/\.m?ts$/.test(path)) return "";
  if (code === "ERR_UNKNOWN_FILE_EXTENSION") return " (a .ts config needs Node 24, Deno or Bun; on older Node write it as .mjs)";
  if (code === "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") {
    return " (Node only strips types: no enum, namespace or parameter properties; run the CLI with Deno or Bun, or write the config as .mjs)";
  }
  return "";
}

const isSessions = (value: unknown): value is ConfiguredSessions =>
  typeof value === "object" && value !== null && typeof (value as ConfiguredSessions).clearExpired === "function";

/** A `SessionStore` exported where `createSessions({ store })` belongs: it has clearExpired() too, but no handle(). */
function isStore(value: unknown): boolean {
  const v = value as Record<string, unknown> | null;
  return typeof v === "object" && v !== null && typeof v.handle !== "function" &&
    ["load", "create", "save", "delete"].every((method) => typeof v[method] === "function");
}

/**
 * The config's sessions: the default export or the `sessions` export, whichever is the result of
 * `createSessions()` (the default export may be the app's own), after calling it when it is a
 * function and awaiting it when it is a Promise (`export default init()`).
 */
export async function loadConfig(path: string): Promise<{ sessions: ConfiguredSessions; close: (() => unknown) | undefined }> {
  const url = pathToFileURL(resolve(process.cwd(), path)).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (error) {
    throw new Failure(`cannot load the config module ${path}: ${describe(error)}${typeScriptHint(path, describeError(error).code)}`);
  }
  const close = typeof mod.close === "function" ? (mod.close as () => unknown) : undefined;
  let store = false;
  for (const exported of new Set([mod.default, mod.sessions])) {
    let candidate = exported;
    try {
      candidate = await (typeof candidate === "function" ? (candidate as () => unknown)() : candidate);
    } catch (error) {
      const what = typeof exported === "function" ? "exported function" : "exported Promise";
      throw new Failure(`the config module ${path}'s ${what} failed: ${describe(error)}`);
    }
    if (isStore(candidate)) store = true;
    else if (isSessions(candidate)) return { sessions: candidate, close };
  }
  if (store) throw new Failure(`the config module ${path} exports a store; export createSessions({ store, secret }) instead`);
  throw new Failure(
    `the config module ${path} must default-export (or export as "sessions") the result of createSessions(), or a function returning it`,
  );
}

/** `sessions[method]`, bound; a `Failure` naming the fix when the config's satchel predates it. */
export function need<K extends "inspect" | "list" | "count" | "revoke" | "revokeUser">(
  sessions: ConfiguredSessions,
  method: K,
  command: string,
): NonNullable<ConfiguredSessions[K]> {
  const fn = sessions[method];
  if (typeof fn !== "function") {
    throw new Failure(
      `${command}: the config's sessions object has no ${method}(): its createSessions() comes from an older ` +
        `@satchel/session than this CLI (${version()}). Upgrade the package the app uses, or run the CLI it installed (npx satchel).`,
    );
  }
  return fn.bind(sessions) as NonNullable<ConfiguredSessions[K]>;
}

/** Refuse a memory store: the CLI's process would see a new, empty one. */
export function refuseMemoryStore(sessions: ConfiguredSessions, command: string, instead: string): void {
  if (sessions.inProcessStore !== true) return;
  throw new Failure(
    `${command}: the config uses a memory store. Its sessions live inside the app's process; the CLI would see ` +
      `a new, empty one. ${instead}`,
  );
}
