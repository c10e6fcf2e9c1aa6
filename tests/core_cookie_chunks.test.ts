/**
 * `cookieStore({ chunks })`: sessions past 4 KB split across `<name>.0 … <name>.<n-1>`, verified
 * as one value, stale chunks deleted, a hard cap with `COOKIE_TOO_LARGE`; off by default.
 * Chromium keeps and sends them back: tests/browser/cookie_chunks.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieStore, createSessions, SessionError } from "../mod.ts";

const SECRET = "chunk-test-secret-0123456789abcdefghijk";

/** Cookies as a browser would keep them: name → value, deletions applied. */
function jarAfter(jar: Map<string, string>, response: Response): Map<string, string> {
  const next = new Map(jar);
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const at = pair!.indexOf("=");
    const name = pair!.slice(0, at);
    if (/Max-Age=0/.test(line)) next.delete(name);
    else next.set(name, pair!.slice(at + 1));
  }
  return next;
}
const header = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
/** Random-looking text that does not compress. */
const noise = (chars: number) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(chars)))).slice(0, chars);

for (const encrypt of [false, true]) {
  describe(`cookieStore({ chunks: 3${encrypt ? ", encrypt: true" : ""} })`, () => {
    const sessions = createSessions<{ blob: string }>({ secret: SECRET, store: cookieStore({ chunks: 3, encrypt }) });
    const visit = async (jar: Map<string, string>, handler: Parameters<typeof sessions.handle>[1]) => {
      const response = await sessions.handle(new Request("https://a.example/", { headers: jar.size ? { cookie: header(jar) } : {} }), handler);
      return { response, jar: jarAfter(jar, response) };
    };

    test("a small session is one plain cookie; a large one is split into chunks and read back whole", async () => {
      let { jar } = await visit(new Map(), (_r, s) => (s.set("blob", "small"), new Response("")));
      assert.deepEqual([...jar.keys()], ["sessionid"]);
      const big = noise(9000);
      ({ jar } = await visit(jar, (_r, s) => (s.set("blob", big), new Response(""))));
      assert.deepEqual([...jar.keys()].sort(), ["sessionid.0", "sessionid.1", "sessionid.2"], "the plain cookie is deleted, three chunks set");
      for (const [name, value] of jar) assert.ok(name.length + value.length <= 4096);
      const read = await visit(jar, (_r, s) => new Response(s.get("blob")));
      assert.equal(await read.response.text(), big);
      // Shrinking deletes the chunks that are no longer needed.
      ({ jar } = await visit(jar, (_r, s) => (s.set("blob", noise(5000)), new Response(""))));
      assert.deepEqual([...jar.keys()].sort(), ["sessionid.0", "sessionid.1"]);
      ({ jar } = await visit(jar, (_r, s) => (s.set("blob", "small again"), new Response(""))));
      assert.deepEqual([...jar.keys()], ["sessionid"]);
      ({ jar } = await visit(jar, async (_r, s) => (await s.flush(), new Response(""))));
      assert.deepEqual([...jar.keys()], [], "logout deletes every cookie");
    });

    test("past the cap: COOKIE_TOO_LARGE, nothing sent", async () => {
      const response = await sessions.handle(new Request("https://a.example/"), (_r, s) => (s.set("blob", noise(13_000)), new Response(""))).catch((e: unknown) => e);
      assert.ok(response instanceof SessionError && response.code === "COOKIE_TOO_LARGE", String(response));
    });

    test("a changed, missing or reordered chunk is no session", async () => {
      const { jar } = await visit(new Map(), (_r, s) => (s.set("blob", noise(6000)), new Response("")));
      const read = async (j: Map<string, string>) => await (await visit(j, (_r, s) => new Response(String(s.get("blob") ?? "none")))).response.text();
      const tampered = new Map(jar);
      tampered.set("sessionid.1", `${jar.get("sessionid.1")!.slice(0, -1)}${jar.get("sessionid.1")!.endsWith("A") ? "B" : "A"}`);
      assert.equal(await read(tampered), "none");
      const missing = new Map(jar);
      missing.delete("sessionid.0");
      assert.equal(await read(missing), "none");
      const swapped = new Map([["sessionid.0", jar.get("sessionid.1")!], ["sessionid.1", jar.get("sessionid.0")!]]);
      assert.equal(await read(swapped), "none");
    });
  });
}

test("chunking is off by default and validated", () => {
  assert.equal(cookieStore().chunks, false);
  for (const bad of [1, 5, 2.5, 0]) assert.throws(() => cookieStore({ chunks: bad }), RangeError);
  assert.throws(() => cookieStore({ chunks: 2, format: "django" }), TypeError);
});
