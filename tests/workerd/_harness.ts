/**
 * Node-side helpers for the workerd tests: bundle a worker entry with esbuild, start it in
 * miniflare (workerd), and turn the JSON results of checks that ran inside workerd back into
 * one `node:test` test each, so a failure names its check.
 *
 * Node 24 only (miniflare needs Node >= 22); Deno and Bun do not run this directory.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Plugin } from "esbuild";
import { Miniflare } from "miniflare";
import type { MiniflareOptions } from "miniflare";
import type { TestResult } from "./_node_test_shim.ts";

/** workerd's dates: recent enough for `deleteAll()` to clear alarms, supported by the installed workerd. */
export const COMPATIBILITY_DATE = "2026-07-01";

const SHIM = fileURLToPath(new URL("./_node_test_shim.ts", import.meta.url));

/** Resolve `node:test` to the shim; leave every other `node:` module to workerd's `nodejs_compat`. */
const nodeTestShim: Plugin = {
  name: "node-test-shim",
  setup(b) {
    b.onResolve({ filter: /^node:test$/ }, () => ({ path: SHIM }));
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** A bundled worker: its code and the modules it leaves for the runtime to provide. */
export interface Bundle {
  code: string;
  /** Import specifiers left external (e.g. `node:assert/strict`). */
  externals: string[];
}

/** Bundle `entry` (a path relative to this directory) into one ES module for workerd. */
export async function bundleWorker(entry: string): Promise<Bundle> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [nodeTestShim],
  });
  const externals = new Set<string>();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const imported of input.imports) if (imported.external) externals.add(imported.path);
  }
  return { code: result.outputFiles[0]!.text, externals: [...externals].sort() };
}

/** Start `code` in miniflare with the given bindings. */
export function startWorker(code: string, options: Omit<MiniflareOptions, "script" | "modules">): Miniflare {
  return new Miniflare({
    modules: true,
    script: code,
    compatibilityDate: COMPATIBILITY_DATE,
    ...options,
  } as MiniflareOptions);
}

/** GET `path` from the worker and parse the JSON answer (failing loudly on anything else). */
export async function getJson<T>(mf: Miniflare, path: string): Promise<T> {
  const response = await mf.dispatchFetch(`http://localhost${path}`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${text.slice(0, 2000)}`);
  return JSON.parse(text) as T;
}

/**
 * Register one `node:test` per result under `describe(title)`: a pass passes, a skip skips
 * with its reason, a failure fails with the message and stack from workerd.
 */
export function registerResults(title: string, results: TestResult[]): void {
  describe(title, () => {
    for (const result of results) {
      test(result.name, (t) => {
        if (result.status === "skip") return t.skip(result.error);
        if (result.status === "fail") assert.fail(`failed inside workerd:\n${result.error}`);
      });
    }
  });
}

/** A unique prefix for this run's keys and object names. */
export function runId(): string {
  return `r${Date.now().toString(36)}${crypto.randomUUID().slice(0, 8)}`;
}
