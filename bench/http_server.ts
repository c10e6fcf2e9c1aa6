/**
 * One HTTP server for the load test (bench/http.ts starts it, one case per process).
 * Usage: `bun bench/http_server.ts <case>`, `deno run -A bench/http_server.ts <case>`,
 * `node bench/http_server.ts <case>`; it listens on 127.0.0.1, an ephemeral port, and prints
 * `PORT <n>` once ready.
 *
 * Every session case answers `GET /` the same way: a visitor without a session gets one holding
 * DATA (about 500 B of JSON); a returning visitor's counter is read, bumped and saved, so each
 * request loads the session, changes it and re-issues the cookie (re-signed by the cookie
 * stores, re-stored by the memory stores). The `bare` cases answer the same body with no sessions.
 *
 * Cases on Bun and Deno (`Bun.serve` / `Deno.serve` + Hono):
 *   hono.bare, hono.satchel (satchel's Hono middleware, cookie store), hono.honoSession
 *   (@hono/session, JWE cookie), hono.honoSessions (hono-sessions, iron cookie).
 * Cases on Node (`node:http` + Express 5), memory stores on both sides:
 *   express.bare, express.satchel (`session(sessions)` + `sessionOf`), express.session (express-session).
 */
import { Hono } from "hono";
import { createSessions, cookieStore, memoryStore } from "../mod.ts";
import { DATA, SECRET } from "./_data.ts";

type Data = typeof DATA;

type Serve = (options: object, handler?: unknown) => unknown;
type Runtime = { Deno?: { args: string[]; serve: Serve }; Bun?: { serve: Serve }; process?: { argv: string[] } };
const g = globalThis as unknown as Runtime;
const name = (g.Deno ? g.Deno.args : g.process!.argv.slice(2))[0] ?? "";

async function honoApp(kind: string): Promise<Hono> {
  if (kind === "hono.bare") return new Hono().get("/", (c) => c.text("43"));
  if (kind === "hono.satchel") {
    const { session } = await import("../adapters/hono.ts");
    const sessions = createSessions<Data>({ secret: SECRET, store: cookieStore() });
    const app = new Hono<{ Variables: { session: import("../mod.ts").Session<Data> } }>();
    app.use(session(sessions));
    return app.get("/", (c) => {
      const s = c.var.session;
      if (!s.has("visits")) s.update(DATA);
      else s.set("visits", s.get("visits", 0) + 1);
      return c.text(String(s.get("visits")));
    }) as unknown as Hono;
  }
  if (kind === "hono.honoSession") {
    const { useSession } = await import("@hono/session");
    const app = new Hono();
    app.use(useSession({ secret: "bench-secret-0123456789-abcdefghij" }));
    return app.get("/", async (c) => {
      const session = c.get("session" as never) as { get(): Promise<Record<string, unknown> | null>; update(d: object): Promise<void> };
      const data = (await session.get()) as Data | null;
      const next = data ? { ...data, visits: data.visits + 1 } : { ...DATA };
      await session.update(next);
      return c.text(String(next.visits));
    });
  }
  if (kind === "hono.honoSessions") {
    const { sessionMiddleware, CookieStore } = await import("hono-sessions");
    const app = new Hono();
    app.use(sessionMiddleware({ store: new CookieStore(), encryptionKey: SECRET, expireAfterSeconds: 1209600, cookieOptions: { path: "/", httpOnly: true, sameSite: "Lax" } }) as never);
    return app.get("/", (c) => {
      const session = c.get("session" as never) as { get(k: string): unknown; set(k: string, v: unknown): void };
      const visits = session.get("visits") as number | null; // null when absent
      if (visits == null) for (const [k, v] of Object.entries(DATA)) session.set(k, v);
      else session.set("visits", visits + 1);
      return c.text(String(session.get("visits")));
    });
  }
  throw new Error(`unknown case ${kind}`);
}

async function expressApp(kind: string) {
  const { default: express } = await import("express");
  const app = express();
  if (kind === "express.bare") {
    app.get("/", (_req, res) => void res.send("43"));
  } else if (kind === "express.satchel") {
    const { session, sessionOf } = await import("../adapters/node.ts");
    const sessions = createSessions<Data>({ secret: SECRET, store: memoryStore() });
    app.use(session(sessions));
    app.get("/", (req, res) => {
      const s = sessionOf(req, sessions);
      if (!s.has("visits")) s.update(DATA);
      else s.set("visits", s.get("visits", 0) + 1);
      res.send(String(s.get("visits")));
    });
  } else if (kind === "express.session") {
    const { default: expressSession } = await import("express-session");
    app.use(expressSession({ secret: SECRET, resave: false, saveUninitialized: false, store: new expressSession.MemoryStore() }));
    app.get("/", (req, res) => {
      const s = req.session as unknown as Partial<Data>;
      if (s.visits === undefined) Object.assign(s, DATA);
      else s.visits++;
      res.send(String(s.visits));
    });
  } else throw new Error(`unknown case ${kind}`);
  return app;
}

if (name.startsWith("express.")) {
  const app = await expressApp(name);
  const server = app.listen(0, "127.0.0.1", () => console.log(`PORT ${(server.address() as { port: number }).port}`));
} else {
  const app = await honoApp(name);
  if (g.Bun) {
    const server = g.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch }) as { port: number };
    console.log(`PORT ${server.port}`);
  } else if (g.Deno) {
    g.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }: { port: number }) => console.log(`PORT ${port}`) }, app.fetch);
  } else {
    throw new Error("Hono cases run on Bun or Deno");
  }
}
