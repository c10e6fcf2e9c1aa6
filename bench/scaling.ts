/**
 * Scaling cases, in process: the cost of one changed request through `sessions.handle` as the
 * session grows (about 100 B, 1 KB and 4 KB of JSON) and as more requests are in flight at once
 * (1, 16 and 256, started together with `Promise.all` and reported per request).
 *
 * Every in-flight request uses its own session (its own cookie), as concurrent users do: two
 * changed requests on one memory-store session would be a compare-and-set conflict, which is a
 * different thing to measure. The data is JSON that looks like a shopping cart (deflate gets about
 * what it gets on real sessions), so the 4 KB session still fits in one cookie once compressed;
 * a size the cookie store refuses is reported, not hidden.
 */
import { createSessions, cookieStore, memoryStore } from "../mod.ts";
import type { Sessions } from "../mod.ts";
import type { Case } from "./cases.ts";
import { SECRET } from "./_data.ts";

type Cart = { userId: string; visits: number; items: { sku: string; qty: number; title: string }[] };

/** A cart whose JSON is at least `bytes` long (the first item that reaches it stays). */
export function cartOfSize(bytes: number): Cart {
  const cart: Cart = { userId: "u_1234567890", visits: 0, items: [] };
  for (let i = 0; JSON.stringify(cart).length < bytes; i++) {
    cart.items.push({ sku: `sku-${((i + 1) * 2654435761 >>> 0).toString(16)}`, qty: (i % 5) + 1, title: `Item number ${i}` });
  }
  return cart;
}

const request = (cookie: string) => new Request("https://bench.test/", { headers: { cookie } });
const change = (_r: Request, s: { set(k: "visits", v: number): void; get(k: "visits", d: number): number }) => {
  s.set("visits", s.get("visits", 0) + 1);
  return new Response("ok");
};

/** `count` sessions holding `data`, as the cookies a returning visitor sends. */
async function mint(sessions: Sessions<Cart>, data: Cart, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await sessions.handle(new Request("https://bench.test/"), (_r, s) => {
      s.update(data);
      return new Response("ok");
    });
    if (r.status !== 200) throw new Error(`minting a session answered ${r.status}`);
    const cookie = r.headers.getSetCookie()[0]?.split(";")[0];
    if (!cookie) throw new Error("minting a session set no cookie");
    cookies.push(cookie);
  }
  return cookies;
}

const stores = { cookie: () => cookieStore(), memory: () => memoryStore() } as const;

export async function scalingCases(): Promise<Case[]> {
  const cases: Case[] = [];
  for (const [store, make] of Object.entries(stores)) {
    for (const [label, bytes] of [["100B", 100], ["1KB", 1024], ["4KB", 4096]] as const) {
      const sessions = createSessions<Cart>({ secret: SECRET, store: make() });
      const data = cartOfSize(bytes);
      const name = `scale.${store}.size.${label}`;
      const description = `${store} store: changed request, ${JSON.stringify(data).length} B of session JSON`;
      let cookie: string;
      try {
        [cookie] = (await mint(sessions, data, 1)) as [string];
      } catch (error) {
        cases.push({ name, description, skip: `not measured: ${(error as { code?: string }).code ?? (error as Error).message}`, run: () => Promise.resolve() });
        continue;
      }
      cases.push({ name, description, run: () => sessions.handle(request(cookie), change) });
    }
    for (const inFlight of [1, 16, 256]) {
      const sessions = createSessions<Cart>({ secret: SECRET, store: make() });
      const cookies = await mint(sessions, cartOfSize(500), inFlight);
      cases.push({
        name: `scale.${store}.inflight.${inFlight}`,
        description: `${store} store: changed request, ${inFlight} in flight (Promise.all, one session each), per request`,
        per: inFlight,
        run: () => Promise.all(cookies.map((c) => sessions.handle(request(c), change))),
      });
    }
  }
  return cases;
}
