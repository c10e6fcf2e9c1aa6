// Type-check every ```ts / ```typescript block of README.md (Node 24: `node scripts/check-readme.mjs`).
//
// Each block becomes its own module (so blocks never see each other's declarations: a block
// declares what it uses) in a temporary directory under .tmp/ (git-ignored, inside the repo so
// that "hono", "postgres", "redis"... resolve to the devDependencies). `@satchel/session` and its
// subpaths resolve to the repository's sources through `paths` generated from deno.json's exports,
// and the repo's tsc checks the blocks with `strict`. The runtime globals a snippet may use without
// declaring them are Node's (@types/node), the DOM's, and the small `Deno` / `Bun` surface in
// RUNTIME_GLOBALS below.
//
// A block opts out only with `<!-- readme-check: skip -->` on the line right before its fence
// (blank lines between are allowed). Errors are reported as README.md:line:column.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const SKIP = "<!-- readme-check: skip -->";
const RUNTIME_GLOBALS = `// Ambient runtime APIs the README's snippets may use (the part satchel's docs need).
import type { DenoKvLike } from "@satchel/session/stores/deno-kv";
declare global {
  type FetchHandler = (request: Request) => Response | Promise<Response>;
  const Deno: {
    serve(handler: FetchHandler): unknown;
    serve(options: { port?: number; hostname?: string }, handler: FetchHandler): unknown;
    openKv(path?: string): Promise<DenoKvLike & { close(): void }>;
  };
  const Bun: {
    serve(options: { fetch: FetchHandler; port?: number; hostname?: string }): unknown;
  };
}
export {};
`;

// 1. The blocks.
// argv[2]: another markdown file to check the same way (used to test this script).
const lines = readFileSync(process.argv[2] ?? join(repo, "README.md"), "utf8").split("\n");
const blocks = [];
const skipped = [];
for (let i = 0; i < lines.length; i++) {
  const open = /^```(ts|typescript)\s*$/.exec(lines[i]);
  if (!open) continue;
  const start = i + 1; // 0-based index of the block's first line
  let end = start;
  while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
  let before = i - 1;
  while (before >= 0 && lines[before].trim() === "") before--;
  const entry = { fence: i + 1, first: start + 1, code: lines.slice(start, end).join("\n") };
  (before >= 0 && lines[before].trim() === SKIP ? skipped : blocks).push(entry);
  i = end;
}

// 2. The project.
mkdirSync(join(repo, ".tmp"), { recursive: true });
const dir = mkdtempSync(join(repo, ".tmp", "readme-check-"));
const deno = JSON.parse(readFileSync(join(repo, "deno.json"), "utf8"));
const paths = Object.fromEntries(
  Object.entries(deno.exports).map(([subpath, file]) => [`@satchel/session${subpath.slice(1)}`, [join(repo, file)]]),
);
const files = blocks.map((block) => {
  const name = `readme_L${String(block.fence).padStart(4, "0")}.ts`;
  // `export {}` makes a block without imports a module too, so blocks never share a scope.
  writeFileSync(join(dir, name), `${block.code}\nexport {};\n`);
  return name;
});
writeFileSync(join(dir, "runtime_globals.d.ts"), RUNTIME_GLOBALS);
writeFileSync(
  join(dir, "tsconfig.json"),
  JSON.stringify(
    {
      compilerOptions: {
        target: "es2022",
        module: "preserve",
        moduleResolution: "bundler",
        lib: ["es2023", "dom", "dom.iterable"],
        types: ["node"],
        typeRoots: [join(repo, "node_modules/@types")],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        paths,
      },
      files: ["runtime_globals.d.ts", ...files],
    },
    null,
    2,
  ),
);

// 3. Check, and map each error back to README.md.
let output = "";
let tscFailed = false;
try {
  execFileSync(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", dir], {
    encoding: "utf8",
    stdio: "pipe",
  });
} catch (error) {
  tscFailed = true;
  output = `${error.stdout ?? ""}${error.stderr ?? ""}`;
}
if (!process.env.KEEP_README_CHECK) rmSync(dir, { recursive: true, force: true });

const byFence = new Map(blocks.map((block) => [block.fence, block]));
const failing = new Set();
const report = [];
const elsewhere = [];
for (const line of output.split("\n")) {
  const match = /^(?:.*[\\/])?readme_L(\d+)\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
  if (match) {
    const block = byFence.get(Number(match[1]));
    failing.add(block.fence);
    report.push(`README.md:${block.first + Number(match[2]) - 1}:${match[3]}: ${match[4]}`);
  } else if (/\(\d+,\d+\): error/.test(line)) {
    elsewhere.push(line);
  } else if (line.startsWith("  ") && report.length > 0) {
    report.push(`  ${line}`);
  }
}
if (tscFailed && report.length === 0 && elsewhere.length === 0) {
  console.log(output);
  console.log("README code blocks: tsc failed without a located error (see above)");
  process.exit(1);
}
if (elsewhere.length > 0) {
  console.log(
    `(not README errors: ${elsewhere.length} in the repository's own sources, which the typecheck step reports)`,
  );
}
for (const block of skipped) console.log(`skipped  README.md:${block.fence} (${SKIP})`);
if (report.length > 0) {
  console.log(report.join("\n"));
  console.log(
    `README code blocks: ${
      blocks.length - failing.size
    } of ${blocks.length} type-check; failing blocks start at README.md:${[...failing].join(", ")}`,
  );
  process.exit(1);
}
console.log(`README code blocks: all ${blocks.length} type-check (${skipped.length} skipped by marker)`);
