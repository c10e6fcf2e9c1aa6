// TypeScript consumers of the installed package (argv[2] is the temporary consumer project):
// one file imports every subpath of the exports map by its bare specifier and uses the types,
// then the repo's tsc checks it (strict, without skipLibCheck, so our .d.ts files are checked
// too) under each `moduleResolution` a consumer may use.
//
// Supported: "bundler", "node16" and "nodenext" (they read the exports map). "node10" (the old
// "node") ignores exports maps, so it cannot see any subpath: it is unsupported, and this script
// asserts that it indeed fails, so the README's statement stays true.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const project = resolve(process.argv[2] ?? ".");
const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
const pkg = JSON.parse(readFileSync(join(project, "node_modules/@satchel/session/package.json"), "utf8"));
const subpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");

const lines = subpaths.map((subpath, i) => `import * as m${i} from "@satchel/session${subpath.slice(1)}";`);
lines.push(
  `export type All = [${subpaths.map((_, i) => `typeof m${i}`).join(", ")}];`,
  // Typed use: generics flow from createSessions() to the handler's session.
  `const sessions = m0.createSessions<{ visits: number }>({ secret: "a-secret-of-at-least-32-characters!" });`,
  `export const handled: Promise<Response> = sessions.handle(new Request("https://x.example/"), (_request, session) => {`,
  `  const visits: number = session.get("visits", 0) + 1;`,
  `  session.set("visits", visits);`,
  `  // @ts-expect-error: "visits" is a number`,
  `  session.set("visits", "many");`,
  `  return new Response(String(visits));`,
  `});`,
);
assert.equal(subpaths[0], ".", "the root export comes first");
writeFileSync(join(project, "types.ts"), lines.join("\n") + "\n");

// Resolution and typed use of every subpath, as most projects check (skipLibCheck: true, no
// @types/node): what a consumer sees. Then "declarations": our own .d.ts files checked in full
// (skipLibCheck: false, with @types/node as a Node consumer has it) for every subpath but
// ./elysia, whose peer's own declarations need bun-types and do not pass a full check.
const settings = {
  bundler: { module: "preserve", moduleResolution: "bundler" },
  node16: { module: "node16", moduleResolution: "node16" },
  nodenext: { module: "nodenext", moduleResolution: "nodenext" },
  declarations: { module: "nodenext", moduleResolution: "nodenext", skipLibCheck: false, types: ["node"] },
  node10: { module: "commonjs", moduleResolution: "node10" },
};
const own = subpaths.map((subpath, i) =>
  subpath === "./elysia"
    ? ""
    : `import type * as m${i} from "@satchel/session${subpath.slice(1)}";\nexport type M${i} = typeof m${i};`
);
writeFileSync(join(project, "declarations.ts"), own.join("\n") + "\n");
let failed = false;
for (const [name, options] of Object.entries(settings)) {
  const config = `tsconfig.${name}.json`;
  writeFileSync(
    join(project, config),
    JSON.stringify(
      {
        compilerOptions: {
          target: "es2022",
          lib: ["es2023", "dom", "dom.iterable"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          ...options,
        },
        files: [name === "declarations" ? "declarations.ts" : "types.ts"],
      },
      null,
      2,
    ),
  );
  const start = Date.now();
  let output = "";
  let ok = true;
  try {
    execFileSync(process.execPath, [tsc, "-p", config], { cwd: project, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    ok = false;
    output = `${error.stdout ?? ""}${error.stderr ?? ""}`;
  }
  const took = `${Math.round((Date.now() - start) / 1000)} s`;
  if (name === "node10") {
    if (ok) {
      failed = true;
      console.log("  FAIL moduleResolution node10 resolved every subpath: the README calls it unsupported, update it");
    } else {
      console.log(
        `  ok   moduleResolution node10: unsupported, as documented (${took}; ${
          output.split("\n")[0].slice(0, 110)
        }...)`,
      );
    }
  } else if (ok) {
    console.log(
      name === "declarations"
        ? `  ok   declarations: the package's .d.ts files pass a full strict check (skipLibCheck: false, ./elysia aside; ${took})`
        : `  ok   moduleResolution ${name}: all ${subpaths.length} subpaths resolve to their types, strict check passes (${took})`,
    );
  } else {
    failed = true;
    console.log(`  FAIL moduleResolution ${name}:\n${output}`);
  }
}
if (failed) throw new Error("the package's types do not work for every supported moduleResolution");
