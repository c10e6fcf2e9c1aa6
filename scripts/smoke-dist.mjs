// The built npm package works for a plain JavaScript consumer on the machine's own Node (20+):
// import every subpath the way a user would (through package.json "exports"), then do a round trip.
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (subpath === "./package.json") continue;
  const mod = await import(new URL(`../${target.import}`, import.meta.url).href);
  assert.ok(Object.keys(mod).length > 0, `${subpath} exports something`);
}
const { createSessions, cookieStore } = await import(new URL("../dist/mod.js", import.meta.url).href);
for (const store of [undefined, cookieStore()]) {
  const sessions = createSessions({ secret: "smoke-test-secret-0123456789abcdef", store });
  const first = await sessions.handle(new Request("https://x/"), (_r, s) => { s.set("n", 1); return new Response("ok"); });
  const cookie = first.headers.getSetCookie()[0].split(";")[0];
  const second = await sessions.handle(new Request("https://x/", { headers: { cookie } }), (_r, s) => new Response(String(s.get("n"))));
  assert.equal(await second.text(), "1");
}
console.log(`dist smoke test passed on Node ${process.version}: ${Object.keys(pkg.exports).length - 1} subpaths import, round trips work`);
