/**
 * The machine's own Node 20 (the first `node` on PATH outside node_modules), for the tests that run
 * the built CLI the way the npm package ships it (tests/cli.test.ts, tests/review_cli.test.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

/** The path of the machine's Node 20, or `null` when the first `node` on PATH is not Node 20. */
export function systemNode(): string | null {
  for (const entry of (process.env.PATH ?? "").split(":")) {
    if (entry === "" || entry.includes("node_modules")) continue;
    const candidate = join(entry, "node");
    if (!existsSync(candidate)) continue;
    const v = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    return v.status === 0 && v.stdout.startsWith("v20.") ? candidate : null;
  }
  return null;
}
