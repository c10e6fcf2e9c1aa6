/** Small helpers for driving sessions with real Requests and reading real Responses. */
import { createSessions, memoryStore } from "../mod.ts";
import type { MemoryStore, Session, SessionData, SessionStore, Sessions, SessionsOptions } from "../mod.ts";
import { fakeClock } from "./_env.ts";

export const SECRET = "test-secret-0123456789-abcdefghijklmnop";

/** The parsed Set-Cookie lines of a response, by cookie name. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
  raw: string;
}

export function setCookies(response: Response): SetCookie[] {
  return response.headers.getSetCookie().map((raw) => {
    const [pair, ...rest] = raw.split(";");
    const eq = pair!.indexOf("=");
    const attributes: Record<string, string | true> = {};
    for (const part of rest) {
      const i = part.indexOf("=");
      if (i < 0) attributes[part.trim().toLowerCase()] = true;
      else attributes[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1).trim();
    }
    return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes, raw };
  });
}

/** The session cookie's value in a response, or undefined when none was set. */
export function cookieValue(response: Response, name = "sessionid"): string | undefined {
  return setCookies(response).find((c) => c.name === name)?.value;
}

export function request(cookie?: string, init: RequestInit & { name?: string } = {}): Request {
  const { name = "sessionid", ...rest } = init;
  const headers = new Headers(rest.headers);
  if (cookie !== undefined) headers.append("cookie", `${name}=${cookie}`);
  return new Request("https://example.test/", { ...rest, headers });
}

/** createSessions with a fake clock and test defaults. */
export function setup<T extends SessionData = SessionData>(options: Partial<SessionsOptions> = {}): {
  sessions: Sessions<T>;
  clock: ReturnType<typeof fakeClock>;
} {
  const clock = fakeClock(1_700_000_000_000);
  const sessions = createSessions<T>({ secret: SECRET, now: clock.now, ...options });
  return { sessions, clock };
}

/** Run one request through `sessions.handle`. */
export function run<T extends SessionData>(
  sessions: Sessions<T>,
  cookie: string | undefined,
  fn: (session: Session<T>) => void | Promise<void>,
  status = 200,
): Promise<Response> {
  return sessions.handle(request(cookie), async (_req, session) => {
    await fn(session);
    return new Response("body", { status });
  });
}

/** A memory store that counts its calls and can be made to fail on load (`down = true`). */
export interface SpyStore extends SessionStore {
  readonly calls: { load: number; create: number; save: number; delete: number };
  readonly loads: number;
  /** Creates plus saves. */
  readonly writes: number;
  readonly deletes: number;
  readonly size: number;
  down: boolean;
  /** Whether a live record exists under `key` (not counted). */
  has(key: string): Promise<boolean>;
  clearExpired(now: number): Promise<number>;
}

export function spyStore(): SpyStore {
  const inner: MemoryStore = memoryStore();
  const calls = { load: 0, create: 0, save: 0, delete: 0 };
  const store: SpyStore = {
    rawIds: true,
    calls,
    down: false,
    get loads() { return calls.load; },
    get writes() { return calls.create + calls.save; },
    get deletes() { return calls.delete; },
    get size() { return inner.size; },
    load: (key, now) => {
      calls.load++;
      return store.down ? Promise.reject(new Error("store down")) : inner.load(key, now);
    },
    create: (key, record) => { calls.create++; return inner.create(key, record); },
    save: (key, record, version) => { calls.save++; return inner.save(key, record, version); },
    delete: (key) => { calls.delete++; return inner.delete(key); },
    has: async (key) => (await inner.load(key, Date.now())) !== null,
    clearExpired: (now) => inner.clearExpired(now),
  };
  return store;
}
