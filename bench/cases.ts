/**
 * Benchmark cases: satchel, the reference floor (the cheapest correct signed-cookie round trip,
 * as in shared/reference/perf-anchors.md) and peer libraries, all measured in the same process.
 * Each case is one request's worth of work, awaited serially.
 */
import { createSessions, cookieStore, memoryStore } from "../mod.ts";
import { encodeBase64Url, decodeBase64Url } from "../core/_base64.ts";
import { getIronSession } from "iron-session";
import { SignJWT, jwtVerify } from "jose";
import { Hono } from "hono";
import { useSession } from "@hono/session";
import { DATA, SECRET } from "./_data.ts";


/** One benchmark case: `run` does `per` requests' worth of work (default 1); `skip` says why it was not measured. */
export type Case = { name: string; description: string; run: () => Promise<unknown>; per?: number; skip?: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function reference(): Promise<Case[]> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const sign = async (body: string) => encodeBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body))));
  const body = encodeBase64Url(encoder.encode(JSON.stringify(DATA)));
  const cookie = `sid=${body}.${await sign(body)}`;
  const load = async (header: string) => {
    const value = header.slice(header.indexOf("sid=") + 4);
    const dot = value.lastIndexOf(".");
    const payload = value.slice(0, dot);
    const ok = await crypto.subtle.verify("HMAC", key, decodeBase64Url(value.slice(dot + 1))! as Uint8Array<ArrayBuffer>, encoder.encode(payload));
    if (!ok) throw new Error("bad");
    return JSON.parse(decoder.decode(decodeBase64Url(payload)!)) as typeof DATA & { n?: number };
  };
  const save = async (data: unknown) => {
    const out = encodeBase64Url(encoder.encode(JSON.stringify(data)));
    return `sid=${out}.${await sign(out)}; Path=/; HttpOnly; Secure; SameSite=Lax`;
  };
  return [
    { name: "ref.rt", description: "reference round trip: Cookie -> verify -> JSON.parse -> mutate -> stringify -> sign -> Set-Cookie", run: async () => { const d = await load(cookie); d.visits++; return save(d); } },
    { name: "ref.load", description: "reference load only: Cookie -> verify -> JSON.parse", run: () => load(cookie) },
    {
      name: "ref.rt.fetch", description: "reference round trip inside a Request -> Response handler",
      run: async () => {
        const request = new Request("https://bench.test/", { headers: { cookie } });
        const d = await load(request.headers.get("cookie")!);
        d.visits++;
        const response = new Response("ok");
        response.headers.append("set-cookie", await save(d));
        return response;
      },
    },
    { name: "fetch.bare", description: "baseline: the same Request -> Response handler without sessions", run: async () => { const r = new Request("https://bench.test/", { headers: { cookie } }); r.headers.get("cookie"); return new Response("ok"); } },
  ];
}

async function satchel(): Promise<Case[]> {
  const cookieSessions = createSessions<typeof DATA>({ secret: SECRET, store: cookieStore() });
  await cookieSessions.ready();
  const first = await cookieSessions.handle(new Request("https://bench.test/"), (_r, s) => { s.update(DATA); return new Response("ok"); });
  const signed = first.headers.getSetCookie()[0]!.split(";")[0]!;
  const memory = createSessions<typeof DATA>({ secret: SECRET, store: memoryStore() });
  const m = await memory.handle(new Request("https://bench.test/"), (_r, s) => { s.update(DATA); return new Response("ok"); });
  const sid = m.headers.getSetCookie()[0]!.split(";")[0]!;
  const req = (cookie?: string) => new Request("https://bench.test/", cookie ? { headers: { cookie } } : {});
  return [
    { name: "satchel.cookie.rt", description: "satchel cookieStore: handle(), read + write (one verify, one sign)", run: () => cookieSessions.handle(req(signed), (_r, s) => { s.set("visits", s.get("visits", 0) + 1); return new Response("ok"); }) },
    { name: "satchel.cookie.load", description: "satchel cookieStore: handle(), read only (one verify)", run: () => cookieSessions.handle(req(signed), (_r, s) => { s.get("visits"); return new Response("ok"); }) },
    { name: "satchel.memory.rt", description: "satchel memoryStore: handle(), read + write (no crypto)", run: () => memory.handle(req(sid), (_r, s) => { s.set("visits", s.get("visits", 0) + 1); return new Response("ok"); }) },
    { name: "satchel.memory.load", description: "satchel memoryStore: handle(), read only", run: () => memory.handle(req(sid), (_r, s) => { s.get("visits"); return new Response("ok"); }) },
    { name: "satchel.untouched", description: "satchel: handle() of a request without a cookie that never touches the session", run: () => memory.handle(req(), () => new Response("ok")) },
    { name: "satchel.cookie.untouched", description: "satchel cookieStore: handle() of a request carrying a session cookie that never touches the session (lazy: no verify)", run: () => cookieSessions.handle(req(signed), () => new Response("ok")) },
  ];
}

async function peers(): Promise<Case[]> {
  const password = SECRET;
  const seed = new Response("ok");
  const ironSeed = await getIronSession<typeof DATA>(new Request("https://bench.test/"), seed, { password, cookieName: "iron" });
  Object.assign(ironSeed, DATA);
  await ironSeed.save();
  const ironCookie = seed.headers.getSetCookie()[0]!.split(";")[0]!;

  const jwtKey = await crypto.subtle.importKey("raw", encoder.encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const jwt = await new SignJWT({ ...DATA }).setProtectedHeader({ alg: "HS256" }).sign(jwtKey);

  const hono = new Hono();
  hono.use(useSession({ secret: "bench-secret-0123456789-abcdefghij" }));
  hono.get("/", async (c) => {
    const session = c.get("session" as never) as { get(): Promise<Record<string, unknown> | null>; update(d: object): Promise<void> };
    const data = (await session.get()) ?? { ...DATA };
    await session.update({ ...data, visits: (data.visits as number) + 1 });
    return c.text("ok");
  });
  const honoSeed = await hono.request("/");
  const honoCookie = honoSeed.headers.getSetCookie()[0]!.split(";")[0]!;
  const bare = new Hono();
  bare.get("/", (c) => c.text("ok"));

  return [
    {
      name: "peer.ironSession.rt", description: "iron-session@8 getIronSession(Request, Response) -> mutate -> save()",
      run: async () => {
        const response = new Response("ok");
        const s = await getIronSession<typeof DATA>(new Request("https://bench.test/", { headers: { cookie: ironCookie } }), response, { password, cookieName: "iron" });
        s.visits++;
        await s.save();
        return response;
      },
    },
    {
      name: "peer.jose.rt", description: "jose@6 compact JWS HS256 verify -> mutate -> sign (CryptoKey)",
      run: async () => {
        const { payload } = await jwtVerify(jwt, jwtKey);
        return new SignJWT({ ...payload, visits: (payload.visits as number) + 1 }).setProtectedHeader({ alg: "HS256" }).sign(jwtKey);
      },
    },
    { name: "peer.honoSession.rt", description: "Hono + @hono/session@0.2 (JWE) get() + update()", run: async () => hono.request("/", { headers: { cookie: honoCookie } }) },
    { name: "hono.bare", description: "baseline: Hono app.request() without session middleware", run: async () => bare.request("/", { headers: { cookie: honoCookie } }) },
  ];
}

export async function allCases(): Promise<Case[]> {
  return [...(await reference()), ...(await satchel()), ...(await peers())];
}
