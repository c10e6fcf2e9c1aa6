/**
 * Flash messages and Django's test cookie. A flashed value survives exactly one later read; two
 * concurrent requests never both take it, and concurrent flashes are never lost (the Remix "flash
 * never clears" and connect-flash problems), on every real backend of tests/_backends.ts (memory,
 * SQLite, files, Redis, PostgreSQL, MariaDB).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieStore, createSessions, memoryStore } from "../mod.ts";
import type { SessionStore } from "../mod.ts";
import { barrier } from "./_barrier.ts";
import { BACKENDS } from "./_backends.ts";

const SECRET = "flash-test-secret-0123456789abcdefghij";
const req = (cookie?: string) => new Request("https://a.example/", { headers: cookie ? { cookie } : {} });
const cookieOf = (response: Response) => response.headers.getSetCookie()[0]?.split(";")[0];

function flows(name: string, open: () => Promise<{ store: SessionStore; close(): Promise<void> } | null>) {
  describe(`flash messages on ${name}`, () => {
    test("a flash survives exactly one later read; flashes of one key queue up", async () => {
      const opened = await open();
      if (!opened) return;
      try {
        const sessions = createSessions({ secret: SECRET, store: opened.store });
        const first = await sessions.handle(req(), (_r, s) => (s.flash("notice", "saved"), s.flash("notice", "mailed"), new Response("")));
        const cookie = cookieOf(first)!;
        const read = async () => await (await sessions.handle(req(cookie), (_r, s) => Response.json(s.takeFlash("notice") ?? null))).json();
        assert.equal(await read(), "saved");
        assert.equal(await read(), "mailed");
        assert.equal(await read(), null);
      } finally {
        await opened.close();
      }
    });

    test("two concurrent reads never both take one flash; a concurrent flash is never lost", async () => {
      const opened = await open();
      if (!opened) return;
      try {
        const sessions = createSessions({ secret: SECRET, store: opened.store });
        for (let round = 0; round < 10; round++) {
          const cookie = cookieOf(await sessions.handle(req(), (_r, s) => (s.flash("notice", "once"), new Response(""))))!;
          const both = barrier(3);
          const [a, b, c] = await Promise.all([
            ...[0, 1].map(() => sessions.handle(req(cookie), async (_r, s) => {
              const value = s.takeFlash("notice");
              await both();
              return Response.json(value ?? null);
            })),
            sessions.handle(req(cookie), async (_r, s) => (await both(), s.flash("notice", "later"), new Response(""))),
          ]);
          const taken = [] as unknown[];
          for (const response of [a!, b!]) if (response.status === 200) taken.push(await response.json());
          assert.ok(taken.filter((v) => v === "once").length <= 1, `round ${round}: a flash taken twice`);
          assert.equal(c!.status, 200);
          // What is left: "later" always, and "once" unless a 200 took it.
          const rest: unknown[] = [];
          for (let i = 0; i < 3; i++) {
            const value = await (await sessions.handle(req(cookie), (_r, s) => Response.json(s.takeFlash("notice") ?? null))).json();
            if (value !== null) rest.push(value);
          }
          assert.ok(rest.includes("later"), `round ${round}: a concurrent flash was lost`);
          assert.equal(rest.includes("once"), !taken.includes("once"), `round ${round}: "once" lost or duplicated`);
        }
      } finally {
        await opened.close();
      }
    });
  });
}

for (const backend of BACKENDS) flows(backend.name, backend.open);

describe("Django's test cookie", () => {
  for (const [name, store] of [["memory store", () => memoryStore()], ["cookie store", () => cookieStore()]] as const) {
    test(`setTestCookie(), then testCookieWorked() on the next request, then deleteTestCookie() (${name})`, async () => {
      const sessions = createSessions({ secret: SECRET, store: store() });
      const set = await sessions.handle(req(), (_r, s) => (s.setTestCookie(), new Response(String(s.testCookieWorked()))));
      const cookie = cookieOf(set)!;
      const worked = await sessions.handle(req(cookie), (_r, s) => {
        const ok = s.testCookieWorked();
        s.deleteTestCookie();
        return new Response(String(ok));
      });
      assert.equal(await worked.text(), "true");
      const refused = await sessions.handle(req(), (_r, s) => new Response(String(s.testCookieWorked())));
      assert.equal(await refused.text(), "false", "a browser that kept no cookie");
      const after = await sessions.handle(req(cookieOf(worked) ?? cookie), (_r, s) => new Response(String(s.testCookieWorked())));
      assert.equal(await after.text(), "false", "deleted");
    });
  }
});
