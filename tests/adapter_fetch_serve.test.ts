/**
 * withSession() and the Hono middleware behind the runtime's own HTTP server: Deno.serve under
 * Deno, Bun.serve under Bun, node:http through `@hono/node-server` under Node. Real sockets, real
 * cookies, and each server's real second handler argument (Deno's per-request `info`, Bun's
 * server, node-server's per-request `{ incoming, outgoing }`), so the factory form
 * (`withSession((env) => createSessions(...), handler)`) is tested where it used to build new
 * sessions, and a new memory store, for every request.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createSessions, memoryStore } from "../mod.ts";
import type { Sessions } from "../mod.ts";
import { withSession } from "../adapters/fetch.ts";
import { session } from "../adapters/hono.ts";
import type { SessionVariables } from "../adapters/hono.ts";
import { SECRET } from "./_http.ts";
import { runtime } from "./_env.ts";

// deno-lint-ignore no-explicit-any
type Handler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

const serverName = runtime === "deno" ? "Deno.serve" : runtime === "bun" ? "Bun.serve" : "@hono/node-server";

async function listen(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
  const g = globalThis as unknown as {
    Deno?: { serve(o: { port: number; hostname: string; onListen?: () => void }, h: Handler): { addr: { port: number }; shutdown(): Promise<void> } };
    Bun?: { serve(o: { port: number; hostname: string; fetch: Handler }): { port: number; stop(force?: boolean): unknown } };
  };
  if (g.Deno) {
    const server = g.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
    return { url: `http://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
  }
  if (g.Bun) {
    const server = g.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler });
    return { url: `http://127.0.0.1:${server.port}/`, close: async () => { await server.stop(true); } };
  }
  const { serve } = await import("@hono/node-server");
  let server!: ReturnType<typeof serve>;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: handler, port: 0, hostname: "127.0.0.1", overrideGlobalObjects: false }, (info) => resolve(info.port));
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((done) => { server.close(() => done()); (server as { closeAllConnections?: () => void }).closeAllConnections?.(); }),
  };
}

/** Two requests against `url`; the second sends the first's cookie. Returns both bodies. */
async function twoVisits(url: string): Promise<{ bodies: string[]; cookies: string[] }> {
  const first = await fetch(url);
  const setCookie = first.headers.getSetCookie();
  const cookie = setCookie[0]?.split(";")[0] ?? "";
  const second = await fetch(url, { headers: { cookie } });
  return { bodies: [await first.text(), await second.text()], cookies: [cookie, second.headers.getSetCookie()[0]?.split(";")[0] ?? ""] };
}

test(`withSession() serves sessions over real HTTP on ${serverName}`, async () => {
  const sessions = createSessions<{ n: number }>({ secret: SECRET, cookie: { secure: false } });
  const server = await listen(withSession(sessions, (_req, session) => {
    session.set("n", session.get("n", 0) + 1);
    return new Response(String(session.get("n")));
  }));
  try {
    const first = await fetch(server.url);
    assert.equal(await first.text(), "1");
    const setCookie = first.headers.getSetCookie();
    assert.equal(setCookie.length, 1);
    assert.match(setCookie[0]!, /^sessionid=[a-z0-9]{32}; Max-Age=1209600; Expires=.*; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.equal(first.headers.get("vary"), "Cookie");
    const cookie = setCookie[0]!.split(";")[0]!;
    const second = await fetch(server.url, { headers: { cookie } });
    assert.equal(await second.text(), "2");
    assert.equal(second.headers.getSetCookie()[0]!.split(";")[0], cookie, "same id");
  } finally {
    await server.close();
  }
});

test(`withSession(factory) builds the sessions once, so a memory-store session persists, on ${serverName}`, async () => {
  const built: Sessions<{ n: number }>[] = [];
  const server = await listen(withSession(
    () => {
      // A new memory store per call: a second call would forget the first request's session.
      const sessions = createSessions<{ n: number }>({ secret: SECRET, store: memoryStore(), cookie: { secure: false } });
      built.push(sessions);
      return sessions;
    },
    (_req, session) => {
      session.set("n", session.get("n", 0) + 1);
      return new Response(String(session.get("n")));
    },
  ));
  try {
    const { bodies, cookies } = await twoVisits(server.url);
    assert.deepEqual(bodies, ["1", "2"]);
    assert.equal(cookies[1], cookies[0], "same id");
    assert.equal(built.length, 1, "the factory ran once");
  } finally {
    await server.close();
  }
});

test(`Hono session(factory of c.env) builds the sessions once on ${serverName}`, async () => {
  let calls = 0;
  const app = new Hono<{ Variables: SessionVariables<{ n: number }> }>();
  app.use(session(() => {
    calls++;
    return createSessions<{ n: number }>({ secret: SECRET, store: memoryStore(), cookie: { secure: false } });
  }));
  app.get("/", (c) => {
    const n = c.var.session.get("n", 0) + 1;
    c.var.session.set("n", n);
    return c.text(String(n));
  });
  const server = await listen(app.fetch);
  try {
    const { bodies } = await twoVisits(server.url);
    assert.deepEqual(bodies, ["1", "2"]);
    assert.equal(calls, 1);
  } finally {
    await server.close();
  }
});
