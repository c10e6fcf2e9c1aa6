import { defineConfig } from "tsup";
import { readFileSync } from "node:fs";

// One entry per subpath in deno.json, so the npm and JSR packages export the same names.
const exports = JSON.parse(readFileSync("deno.json", "utf8")).exports as Record<string, string>;
const entry = Object.fromEntries(
  Object.values(exports).map((file) => [file.replace(/^\.\//, "").replace(/\.ts$/, ""), file]),
);

entry["cli/satchel"] = "cli/satchel.ts";

export default defineConfig({
  entry,
  format: ["esm"],
  dts: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  splitting: true,
  external: ["hono", "elysia", "cloudflare:workers", /^node:/, /^bun:/],
});
