// What the npm tarball ships (argv[2]: the unpacked tarball's package/ directory) and what the JSR
// package ships (the repo's deno.json "publish.include", from the repository root):
//  - every target of package.json "exports" and "bin" is in the tarball, and nothing else
//    than dist/, README.md, LICENSE and package.json is;
//  - no shipped .js or .d.ts file (npm), and no shipped source (JSR, whose docs are generated
//    from the doc comments), points a reader at a file the package does not ship: DESIGN.md,
//    django.md, security.md, shared/, tests/, examples/, bench/ ... Such a pointer is a dead end
//    in an editor's hover or on the JSR docs page. Each one found is listed as file:line.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = resolve(process.argv[2] ?? ".");
const repo = fileURLToPath(new URL("../..", import.meta.url));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

// 1. The tarball's contents.
const pkg = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const shipped = walk(packageDir).map((path) => relative(packageDir, path));
const targets = Object.values(pkg.exports).flatMap((target) =>
  typeof target === "string" ? [target] : Object.values(target)
);
targets.push(...Object.values(pkg.bin ?? {}));
const missing = targets.filter((target) => !existsSync(join(packageDir, target)));
assert.deepEqual(missing, [], "every exports/bin target is in the tarball");
const unexpected = shipped.filter((path) => !/^(dist\/.+\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/.test(path));
assert.deepEqual(unexpected, [], "the tarball ships only dist/*.js, dist/*.d.ts, README.md, LICENSE, package.json");

// 2. Pointers to files that are not shipped. A path-like mention of a markdown file other than the
// README, or of a repository folder that neither package contains.
const DEAD_END =
  /\b(?!README\.md\b)[\w.-]+\.md\b|(?<![\w@/.-])(?:shared|tests|examples|bench|scripts|notes|reference)\/[\w./-]*/g;
function deadEnds(root, files) {
  const found = [];
  for (const file of files) {
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      for (const match of line.matchAll(DEAD_END)) found.push(`${relative(root, file)}:${i + 1}: ${match[0]}`);
    });
  }
  return found;
}
const npmFound = deadEnds(packageDir, walk(join(packageDir, "dist")).filter((path) => /\.(js|d\.ts)$/.test(path)));
const deno = JSON.parse(readFileSync(join(repo, "deno.json"), "utf8"));
const jsrFiles = deno.publish.include
  .map((entry) => join(repo, entry))
  .filter((path) => existsSync(path))
  .flatMap((path) => statSync(path).isDirectory() ? walk(path) : [path])
  .filter((path) => path.endsWith(".ts"));
const jsrFound = deadEnds(repo, jsrFiles);
if (npmFound.length + jsrFound.length > 0) {
  console.log("Doc comments point at files the packages do not ship:");
  for (const line of [...npmFound.map((l) => `npm  ${l}`), ...jsrFound.map((l) => `jsr  ${l}`)]) {
    console.log(`  ${line}`);
  }
  throw new Error(`${npmFound.length + jsrFound.length} reference(s) to unshipped files (see above)`);
}
console.log(
  `package contents: ${shipped.length} files, every exports/bin target present; no reference to an unshipped file in dist/ or in the ${jsrFiles.length} JSR sources`,
);
