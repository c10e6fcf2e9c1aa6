// Bundle the consumer project's worker.mjs (argv[2] is the project) with esbuild, resolving
// `@satchel/session` from that project's node_modules (the installed tarball), then run it in
// workerd through miniflare: the first request gets a Set-Cookie, the second sends it back and
// sees its session. Node 24 (miniflare needs Node 22+); esbuild and miniflare come from the repo.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const project = resolve(process.argv[2] ?? ".");
const result = await build({
  entryPoints: [join(project, "worker.mjs")],
  absWorkingDir: project,
  bundle: true,
  format: "esm",
  platform: "neutral",
  conditions: ["workerd", "worker", "browser"],
  target: "es2022",
  write: false,
  metafile: true,
  logLevel: "silent",
});
const inputs = Object.keys(result.metafile.inputs);
const externals = Object.values(result.metafile.inputs).flatMap((input) => input.imports.filter((i) => i.external));
assert.deepEqual(
  externals.map((i) => i.path),
  [],
  "the Worker bundle needs no runtime module (no node:, no nodejs_compat)",
);
assert.ok(
  inputs.some((path) => path.startsWith("node_modules/@satchel/session/dist/")),
  `bundled from the installed package: ${inputs.join(", ")}`,
);

const mf = new Miniflare({
  modules: true,
  script: result.outputFiles[0].text,
  compatibilityDate: "2026-07-01",
  bindings: { SESSION_SECRET: "consumer-worker-secret-0123456789abcdef" },
});
try {
  const first = await mf.dispatchFetch("https://worker.example/");
  assert.equal(await first.text(), "visits=1");
  const setCookie = first.headers.getSetCookie();
  assert.equal(setCookie.length, 1, "one Set-Cookie");
  assert.match(setCookie[0], /^sessionid=[A-Za-z0-9_.-]{40,}; .*HttpOnly/i, "a signed cookie-store session cookie");
  const second = await mf.dispatchFetch("https://worker.example/", { headers: { cookie: setCookie[0].split(";")[0] } });
  assert.equal(await second.text(), "visits=2", "the session came back from the cookie");
  assert.equal(second.headers.getSetCookie().length, 1, "the modified session is re-issued");
} finally {
  await mf.dispose();
}
console.log(
  `workerd (miniflare): the installed package bundled (${
    (result.outputFiles[0].text.length / 1024).toFixed(1)
  } KiB, no externals), Set-Cookie issued and read back`,
);
