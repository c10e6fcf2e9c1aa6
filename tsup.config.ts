import { defineConfig } from "tsup";
import { readFileSync } from "node:fs";

// Runs on `npm run build` and on `prepack` (so `npm pack` / `npm publish` always ship a fresh
// dist/; `npm ci` and `npm install` do not run it).
//
// One entry per subpath in deno.json, so the npm and JSR packages export the same names:
// deno.json maps "./node" to "./adapters/node.ts", tsup builds "adapters/node" into
// dist/adapters/node.{js,d.ts}, and package.json's "./node" points there. The build refuses to
// run when the two manifests disagree, so a subpath cannot be added to one and not the other.
const denoExports = JSON.parse(readFileSync("deno.json", "utf8")).exports as Record<string, string>;
const npmExports = JSON.parse(readFileSync("package.json", "utf8")).exports as Record<
  string,
  string | { types: string; import: string }
>;
const entry: Record<string, string> = {};
const mismatches: string[] = [];
for (const [subpath, file] of Object.entries(denoExports)) {
  const name = file.replace(/^\.\//, "").replace(/\.ts$/, "");
  entry[name] = file;
  const target = npmExports[subpath];
  if (typeof target !== "object" || target.import !== `./dist/${name}.js` || target.types !== `./dist/${name}.d.ts`) {
    mismatches.push(`${subpath}: deno.json has ${file}, package.json should have ./dist/${name}.{js,d.ts}`);
  }
}
for (const subpath of Object.keys(npmExports)) {
  if (subpath !== "./package.json" && !(subpath in denoExports)) mismatches.push(`${subpath}: missing from deno.json`);
}
if (mismatches.length > 0) {
  throw new Error(`package.json and deno.json exports differ:\n  ${mismatches.join("\n  ")}`);
}

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
