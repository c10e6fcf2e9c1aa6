/**
 * satchel's Node middleware (`@satchel/session/node`) against express-session, both on Express 5
 * with in-memory stores, over real loopback HTTP in one process: a keep-alive client sends one
 * request at a time and each case reports the median time per request of 5 samples (rounds
 * interleave the cases; a warm-up first), alongside a bare Express app without sessions. Bounded: 6 cases × (0.3 + 5 × 0.4) s, about
 * 14 s, with the defaults; `BENCH_SAMPLE_MS` changes the sample length.
 *
 * Usage: `node bench/express.ts` (Node 24). The client shares the process and the CPU with the
 * servers, so read the differences to `express.bare`, not the absolute numbers.
 *
 * Not the same work on both sides, by design of each library: satchel re-sends the cookie on each
 * save (Django's rule, a fresh expiry) and signs nothing for the memory store (the cookie is the
 * random id); express-session signs the id with HMAC on every request that reads the session and
 * sets the cookie only when it is new (no `rolling`, no `maxAge`).
 */
import { Agent, request } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import express from "express";
import expressSession from "express-session";
import { createSessions, memoryStore } from "../mod.ts";
import { session, sessionOf } from "../adapters/node.ts";
import { SECRET } from "./_data.ts";

const SAMPLE_MS = Number(process.env.BENCH_SAMPLE_MS ?? 400);
type Visits = { visits: number };

function bare(): express.Express {
  const app = express();
  app.get("/read", (_req, res) => void res.send("0"));
  app.post("/write", (_req, res) => void res.send("0"));
  return app;
}

function satchel(): express.Express {
  const sessions = createSessions<Visits>({ secret: SECRET, store: memoryStore() });
  const app = express();
  app.use(session(sessions));
  app.get("/read", (req, res) => void res.send(String(sessionOf(req, sessions).get("visits", 0))));
  app.post("/write", (req, res) => {
    const s = sessionOf(req, sessions);
    s.set("visits", s.get("visits", 0) + 1);
    res.send(String(s.get("visits")));
  });
  return app;
}

function peer(): express.Express {
  const app = express();
  app.use(expressSession({ secret: SECRET, resave: false, saveUninitialized: false, store: new expressSession.MemoryStore() }));
  const visits = (req: express.Request) => (req.session as unknown as { visits?: number }).visits ?? 0;
  app.get("/read", (req, res) => void res.send(String(visits(req))));
  app.post("/write", (req, res) => {
    (req.session as unknown as { visits: number }).visits = visits(req) + 1;
    res.send(String(visits(req)));
  });
  return app;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function send(port: number, method: string, path: string, cookie: string | undefined): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, agent, headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.headers["set-cookie"] ?? []));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function measure(run: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) await run();
    n += 16;
    now = performance.now();
  }
  return ((now - start) * 1e3) / n; // µs per request
}

const apps: [string, express.Express][] = [["express.bare", bare()], ["satchel.node", satchel()], ["express-session", peer()]];
const servers: Server[] = [];
type Case = { name: string; what: string; run: () => Promise<unknown>; samples: number[] };
const cases: Case[] = [];
for (const [name, app] of apps) {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  // A session with data, as a returning visitor has.
  const cookie = (await send(port, "POST", "/write", undefined))[0]?.split(";")[0];
  if (name !== "express.bare" && !cookie) throw new Error(`${name} set no cookie`);
  cases.push({ name: `${name}.read`, what: "GET: load the session, read a value", run: () => send(port, "GET", "/read", cookie), samples: [] });
  cases.push({ name: `${name}.write`, what: "POST: load, change a value, save", run: () => send(port, "POST", "/write", cookie), samples: [] });
}
// Rounds interleave the cases, so drift on a shared machine hits them alike.
for (const c of cases) await measure(c.run, 300);
for (let round = 0; round < 5; round++) for (const c of cases) c.samples.push(await measure(c.run, SAMPLE_MS));
for (const server of servers) {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
agent.destroy();
const rows = cases.map((c) => ({ name: c.name, what: c.what, us: [...c.samples].sort((a, b) => a - b)[2]! }));

const base = (kind: string) => rows.find((r) => r.name === `express.bare.${kind}`)!.us;
console.log(`Node ${process.versions.node}, ${SAMPLE_MS} ms samples, serial keep-alive requests over loopback\n`);
console.log("| case | µs/request | over bare Express | what |\n|---|--:|--:|---|");
for (const r of rows) {
  const kind = r.name.endsWith(".read") ? "read" : "write";
  console.log(`| \`${r.name}\` | ${r.us.toFixed(1)} | ${r.name.startsWith("express.bare") ? "" : `+${(r.us - base(kind)).toFixed(1)} µs`} | ${r.what} |`);
}
