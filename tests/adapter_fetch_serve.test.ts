/**
 * withSession() behind the runtime's own HTTP server: Deno.serve under Deno, Bun.serve under Bun,
 * node:http (through the examples' bridge) under Node. Real sockets, real cookies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSessions } from "../mod.ts";
import { withSession } from "../adapters/fetch.ts";
import { SECRET } from "./_http.ts";
import { runtime } from "./_env.ts";

type Handler = (request: Request) => Promise<Response>;

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
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const response = await handler(new Request(`http://127.0.0.1${req.url}`, { headers: req.headers as Record<string, string> }));
    const headers: Record<string, string | string[]> = {};
    response.headers.forEach((v, k) => { if (k !== "set-cookie") headers[k] = v; });
    if (response.headers.getSetCookie().length) headers["set-cookie"] = response.headers.getSetCookie();
    res.writeHead(response.status, headers).end(await response.text());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test(`withSession() serves sessions over real HTTP on ${runtime === "deno" ? "Deno.serve" : runtime === "bun" ? "Bun.serve" : "node:http"}`, async () => {
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
