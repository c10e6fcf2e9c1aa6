/**
 * A session store that keeps one JSON file per session in a directory: Django's `file`
 * engine, made atomic and compare-and-set. Import it from `@satchel/session/stores/file`.
 *
 * It needs a file system reachable through `node:fs/promises`, so it runs on Node, Deno (with
 * `--allow-read --allow-write` for the directory) and Bun, but not on Cloudflare Workers. The
 * module is loaded lazily, on the first store call, so importing this file costs nothing.
 *
 * **Layout.** The record for key `k` lives in `<dir>/<prefix><k>.json` (`sess_<k>.json` by
 * default). File names are derived only from keys that passed the `[a-z0-9]{8,64}` check, so
 * nothing a client sends can name a path. Writes go to a temporary file in the same directory
 * (`.<prefix><k>.<random>.tmp`, mode `0600`) that is then renamed over the target: a reader sees
 * the old record or the new one, never a truncated file (Laravel #5416). The file holds
 * `{ "satchel": 1, "version", "data", "expires", "created", "active", "expiry"? }`.
 *
 * **Consistency.** `create` claims the name with an exclusive open (`O_EXCL`, `"wx"`), so two
 * creators of one key cannot both succeed (`SESSION_EXISTS`). `save`, `delete` and
 * `clearExpired` are read-compare-write sequences; they are serialized per key twice over:
 * within the process by a promise chain (shared by every `fileStore()` on the same directory),
 * and across processes by a lock file `<prefix><k>.lock` created with `O_EXCL` and removed
 * afterwards. So `save` with a version is a true compare-and-set (a stale version throws
 * `SESSION_CONFLICT`), and a `save` racing a `delete` either lands first or throws
 * `SESSION_INTERRUPTED`: it never recreates the file. A process that dies while holding a lock
 * leaves the lock file behind; it is treated as abandoned once older than `staleLockMs`, and
 * until then writes to that one session wait `lockTimeoutMs` and then fail with
 * `STORE_UNAVAILABLE`. `load` takes no lock.
 *
 * **Expiry.** Files have no native TTL. `load(key, now)` re-checks `expires > now` on the
 * caller's clock and never deletes or creates anything; run `clearExpired(now)` (for example
 * `satchel clear-expired` from cron, as Django's `clearsessions`) to delete expired files. It
 * deletes exactly the session files whose record has `expires <= now`; temporary files, lock
 * files, unreadable or corrupt files and files of other programs are left alone, and a session
 * whose lock another process holds past `lockTimeoutMs` is skipped until the next run.
 *
 * **Durability.** Without `fsync: true`, a power loss can lose the last write of a session (the
 * file may then read as corrupt, which `load` treats as no session); it never exposes a partial
 * record to a running process.
 *
 * Options:
 * - `dir` (required): an existing directory, used only by this store. It is checked on first
 *   use; a missing directory or a non-directory throws a `TypeError`.
 * - `prefix` (default `"sess_"`): file-name prefix, 1 to 32 characters of `[A-Za-z0-9_-]`, so
 *   several applications can share one directory.
 * - `fsync` (default `false`): flush each new file to disk before the rename.
 * - `lockTimeoutMs` (default `2000`): how long a write waits for another process's lock.
 * - `staleLockMs` (default `10000`): age after which a lock file counts as abandoned.
 *
 * @example
 * ```ts ignore
 * import { createSessions } from "@satchel/session";
 * import { fileStore } from "@satchel/session/stores/file";
 *
 * const sessions = createSessions({
 *   secret: process.env.SESSION_SECRET!,
 *   store: fileStore({ dir: "/var/lib/myapp/sessions" }),
 * });
 * // cron: satchel clear-expired --config ./sessions.ts
 * ```
 *
 * @module
 */

import type { LoadedRecord, SessionRecord, SessionStore, Version } from "../core/types.ts";
import { SessionError } from "../core/errors.ts";
import { decodeRecord, encodeRecord, isKey, requireKey, requireRecord } from "./_record.ts";

/** Options of {@linkcode fileStore}. */
export interface FileStoreOptions {
  /** An existing directory for the session files. Required. */
  readonly dir: string;
  /** File-name prefix (`[A-Za-z0-9_-]{1,32}`). @default "sess_" */
  readonly prefix?: string;
  /** Flush every new file to disk before renaming it into place. @default false */
  readonly fsync?: boolean;
  /** Milliseconds a write waits for a lock held by another process. @default 2000 */
  readonly lockTimeoutMs?: number;
  /** Age in milliseconds after which a lock file is considered abandoned. @default 10000 */
  readonly staleLockMs?: number;
}

/** The store {@linkcode fileStore} returns: a `SessionStore` that always has `clearExpired`. */
export interface FileStore extends SessionStore {
  /** The directory this store writes to. */
  readonly dir: string;
  /** Insert if absent; resolves to the new version. */
  create(key: string, record: SessionRecord): Promise<Version>;
  /** Update only, compare-and-set when `version` is given; resolves to the new version. */
  save(key: string, record: SessionRecord, version?: Version): Promise<Version>;
  /** Delete every session file of this store whose record has `expires <= now`; resolves to the count. */
  clearExpired(now: number): Promise<number>;
}

type Fs = typeof import("node:fs/promises");

const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;
const FORMAT = 1;

let fsModule: Promise<Fs> | undefined;
function loadFs(): Promise<Fs> {
  fsModule ??= import("node:fs/promises");
  return fsModule;
}

/** Per-path promise chains, shared by every store instance in this process. */
const chains = new Map<string, Promise<void>>();

function serialize<T>(path: string, task: () => Promise<T>): Promise<T> {
  const previous = chains.get(path) ?? Promise.resolve();
  const run = previous.then(task);
  const tail = run.then(() => undefined, () => undefined);
  chains.set(path, tail);
  void tail.then(() => {
    if (chains.get(path) === tail) chains.delete(path);
  });
  return run;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Stored {
  readonly version: string;
  readonly record: LoadedRecord;
}

/** A session file's text: `{ "satchel": 1, "version", "data", "expires", "created", "active", "expiry"? }`. */
function encode(record: SessionRecord, version: string): string {
  return encodeRecord(record, { satchel: FORMAT, version });
}

/** Parse a session file; anything that is not a complete record of ours gives `null`. */
function decode(text: string): Stored | null {
  const decoded = decodeRecord(text);
  if (decoded === null) return null;
  const { satchel, version } = decoded.extra;
  if (satchel !== FORMAT || typeof version !== "string") return null;
  return { version, record: { ...decoded.record, version } };
}

/**
 * A store keeping one JSON file per session under `dir`, with atomic replace, compare-and-set
 * saves and `clearExpired`.
 *
 * @param options see {@linkcode FileStoreOptions}; `dir` is required
 * @returns a `SessionStore` (`cas: true`, `clearExpired: true`)
 * @throws {TypeError} when `dir` is not a non-empty string or `prefix` is malformed; a missing
 *   directory is reported by the first store call, as a `TypeError`
 * @throws {RangeError} when a timeout option is not a positive finite number
 *
 * @example Keep sessions in a directory
 * ```ts
 * import { fileStore } from "@satchel/session/stores/file";
 * const store = fileStore({ dir: "/var/lib/myapp/sessions", prefix: "myapp_" });
 * ```
 */
export function fileStore(options: FileStoreOptions): FileStore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create fileStore as options must be an object");
  }
  const { dir, prefix = "sess_", fsync = false, lockTimeoutMs = 2000, staleLockMs = 10_000 } = options;
  if (typeof dir !== "string" || dir === "" || dir.includes("\0")) {
    throw new TypeError("Cannot create fileStore as dir must be a non-empty path");
  }
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new TypeError(`Cannot create fileStore as prefix must match ${PREFIX}: received ${JSON.stringify(prefix)}`);
  }
  for (const [name, value] of [["lockTimeoutMs", lockTimeoutMs], ["staleLockMs", staleLockMs]] as const) {
    if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`Cannot create fileStore as ${name} must be a positive number: received ${String(value)}`);
    }
  }
  const base = dir.endsWith("/") || dir.endsWith("\\") ? dir : `${dir}/`;
  const sessionFile = new RegExp(`^${prefix}([a-z0-9]{8,64})\\.json$`);
  const fileOf = (key: string): string => `${base}${prefix}${key}.json`;
  const lockOf = (key: string): string => `${base}${prefix}${key}.lock`;
  const tempOf = (key: string): string => `${base}.${prefix}${key}.${randomToken()}.tmp`;

  let ready: Promise<Fs> | undefined;
  /** The fs module, once the directory is known to exist (only success is remembered). */
  function fs(): Promise<Fs> {
    if (ready) return ready;
    const check = (async () => {
      const mod = await loadFs();
      let isDir = false;
      try {
        isDir = (await mod.stat(dir)).isDirectory();
      } catch (error) {
        const code = errorCode(error);
        if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
      }
      if (!isDir) throw new TypeError(`Cannot use fileStore as dir is not an existing directory: ${dir}`);
      return mod;
    })();
    ready = check;
    check.catch(() => {
      if (ready === check) ready = undefined;
    });
    return check;
  }

  async function read(mod: Fs, key: string): Promise<Stored | null | "corrupt"> {
    let text: string;
    try {
      text = await mod.readFile(fileOf(key), "utf8");
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return null;
      throw error;
    }
    return decode(text) ?? "corrupt";
  }

  /** Write `text` to a fresh 0600 temp file and rename it over the session file. */
  async function replace(mod: Fs, key: string, text: string): Promise<void> {
    const temp = tempOf(key);
    let renamed = false;
    try {
      const handle = await mod.open(temp, "wx", 0o600);
      try {
        await handle.writeFile(text, "utf8");
        if (fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      await mod.rename(temp, fileOf(key));
      renamed = true;
    } finally {
      if (!renamed) await mod.unlink(temp).catch(() => undefined);
    }
  }

  /** Run `task` holding the key's in-process chain and its cross-process lock file. */
  function locked<T>(mod: Fs, key: string, task: () => Promise<T>): Promise<T> {
    return serialize(fileOf(key), async () => {
      const lock = lockOf(key);
      const deadline = Date.now() + lockTimeoutMs;
      let pause = 2;
      for (;;) {
        try {
          const handle = await mod.open(lock, "wx", 0o600);
          await handle.close();
          break;
        } catch (error) {
          if (errorCode(error) !== "EEXIST") throw error;
        }
        try {
          const info = await mod.stat(lock);
          if (Date.now() - info.mtimeMs > staleLockMs) {
            await mod.unlink(lock).catch(() => undefined);
            continue;
          }
        } catch (error) {
          if (errorCode(error) === "ENOENT") continue;
          throw error;
        }
        if (Date.now() >= deadline) {
          throw new SessionError("STORE_UNAVAILABLE", "Cannot write a session file as another process holds its lock");
        }
        await sleep(pause);
        pause = Math.min(pause * 2, 50);
      }
      try {
        return await task();
      } finally {
        await mod.unlink(lock).catch(() => undefined);
      }
    });
  }

  return {
    kind: "server",
    dir,

    async load(key: string, now: number): Promise<LoadedRecord | null> {
      if (!isKey(key)) return null;
      const stored = await read(await fs(), key);
      if (stored === null || stored === "corrupt") return null;
      return stored.record.expires > now ? stored.record : null;
    },

    async create(key: string, record: SessionRecord): Promise<Version> {
      requireKey(key, "create");
      requireRecord(record, "create");
      const mod = await fs();
      const version = randomToken();
      const text = encode(record, version);
      return serialize(fileOf(key), async () => {
        let claim: Awaited<ReturnType<Fs["open"]>>;
        try {
          claim = await mod.open(fileOf(key), "wx", 0o600);
        } catch (error) {
          if (errorCode(error) === "EEXIST") {
            throw new SessionError("SESSION_EXISTS", "Cannot create the session as its key is already taken");
          }
          throw error;
        }
        await claim.close();
        try {
          await replace(mod, key, text);
        } catch (error) {
          await mod.unlink(fileOf(key)).catch(() => undefined);
          throw error;
        }
        return version;
      });
    },

    async save(key: string, record: SessionRecord, version?: Version): Promise<Version> {
      requireKey(key, "save");
      requireRecord(record, "save");
      const mod = await fs();
      const next = randomToken();
      const text = encode(record, next);
      return locked(mod, key, async () => {
        const stored = await read(mod, key);
        if (stored === null || stored === "corrupt") {
          throw new SessionError("SESSION_INTERRUPTED", "Cannot save the session as it no longer exists");
        }
        if (version !== undefined && stored.version !== String(version)) {
          throw new SessionError("SESSION_CONFLICT", "Cannot save the session as another request changed it first");
        }
        await replace(mod, key, text);
        return next;
      });
    },

    async delete(key: string): Promise<void> {
      requireKey(key, "delete");
      const mod = await fs();
      await locked(mod, key, async () => {
        await mod.unlink(fileOf(key)).catch((error: unknown) => {
          if (errorCode(error) !== "ENOENT") throw error;
        });
      });
    },

    async clearExpired(now: number): Promise<number> {
      if (typeof now !== "number" || Number.isNaN(now)) {
        throw new TypeError("Cannot clear expired session files as now must be a number");
      }
      const mod = await fs();
      let removed = 0;
      for (const name of await mod.readdir(dir)) {
        const key = sessionFile.exec(name)?.[1];
        if (key === undefined) continue;
        const expired = await read(mod, key);
        if (expired === null || expired === "corrupt" || expired.record.expires > now) continue;
        // Re-check under the lock: a concurrent save may have extended the session meanwhile.
        const gone = await locked(mod, key, async () => {
          const current = await read(mod, key);
          if (current === null || current === "corrupt" || current.record.expires > now) return false;
          await mod.unlink(fileOf(key));
          return true;
        }).catch((error: unknown) => {
          // Gone meanwhile, or busy in another process: leave it for the next run.
          if (errorCode(error) === "ENOENT") return false;
          if (error instanceof SessionError && error.code === "STORE_UNAVAILABLE") return false;
          throw error;
        });
        if (gone) removed += 1;
      }
      return removed;
    },
  };
}
