/**
 * What the CLI writes: stdout with backpressure and a closed-pipe stop, the progress line on
 * stderr, and user keys made safe to show.
 *
 * A user key is whatever the app passed to `session.login()`: it can hold ANSI escapes, newlines
 * or bidi overrides that would rewrite an operator's terminal or forge output lines. `shown()`
 * prints it raw only when it has none of those, nor spaces, quotes or backslashes, and JSON-quoted
 * and escaped otherwise; `safeJson()` escapes the same characters in `--json` output (still valid
 * JSON, the same values).
 *
 * @module
 */
import process from "node:process";

/**
 * Characters escaped in `JSON.stringify` output: controls (C0, DEL, C1), format characters (bidi
 * overrides, zero-width), surrogates, private-use and unassigned code points, line and paragraph
 * separators, and spaces other than U+0020. A raw newline there is indentation (strings hold
 * `\n` escaped), so it stays.
 */
const ESCAPED = /(?![\n ])[\p{C}\p{Z}]/gu;
/** A user key with any of these is shown quoted. */
const QUOTED = /[\p{C}\p{Z}"\\]/u;

function escapeUnits(char: string): string {
  let out = "";
  for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}

/** `JSON.stringify(value, null, indent)`, with the characters above escaped too (`JSON.stringify` leaves C1 and bidi raw). */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(ESCAPED, escapeUnits);
}

/** A user key as text output shows it: raw when plain, else JSON-quoted and escaped. `null` (anonymous) is "-". */
export function shown(user: string | null): string {
  if (user === null) return "-";
  return user === "" || user === "-" || QUOTED.test(user) ? safeJson(user) : user;
}

/**
 * stdout, one line at a time: waits for `drain` when the pipe is full (a listing of a large store
 * never sits in memory), and stops writing once stdout has failed. A closed pipe (EPIPE: the
 * reader went away, `satchel list | head`) is a quiet stop; any other failure (a full disk) is
 * kept as `failure`, for the exit status: output errors are never taken for the store's.
 */
export class Output {
  #error: unknown;

  constructor() {
    process.stdout.on("error", (error) => this.#fail(error));
  }

  #fail(error: unknown): void {
    this.#error ??= error ?? new Error("stdout failed");
  }

  /** `true` once stdout has failed: stop producing. */
  get closed(): boolean {
    return this.#error !== undefined;
  }

  /** Why stdout failed, unless it was the reader going away (EPIPE), which is not a failure. */
  get failure(): unknown {
    const code = (this.#error as { code?: unknown } | undefined)?.code;
    return code === "EPIPE" ? undefined : this.#error;
  }

  async line(text: string): Promise<void> {
    if (this.closed) return;
    try {
      if (process.stdout.write(`${text}\n`)) return;
    } catch (error) {
      // Deno's stdout may throw instead of emitting "error".
      this.#fail(error);
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        process.stdout.off("drain", done);
        process.stdout.off("error", done);
        resolve();
      };
      process.stdout.on("drain", done);
      process.stdout.on("error", done);
    });
  }

  /**
   * Resolves once everything written so far has been handed to the OS (before `process.exit`), or
   * stdout has failed: a write callback may never come after a failure, so "error" ends the wait too.
   */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (error?: unknown) => {
        if (error) this.#fail(error);
        process.stdout.off("error", done);
        resolve();
      };
      process.stdout.on("error", done);
      try {
        process.stdout.write("", done);
      } catch (error) {
        done(error);
      }
    });
  }
}

/** An overwritten stderr line, only when stderr is a terminal or SATCHEL_PROGRESS=1. */
export function progress(): { show(text: string): void; done(): void } {
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

/** Run `work` with `label… N s` as the progress line, ticking each second; the line stays for the caller to finish. */
export async function withProgress<R>(bar: ReturnType<typeof progress>, label: string, work: () => Promise<R>): Promise<R> {
  const started = Date.now();
  bar.show(`${label}…`);
  const timer = setInterval(() => bar.show(`${label}… ${Math.round((Date.now() - started) / 1000)} s`), 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
