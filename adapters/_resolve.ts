/**
 * Shared by the adapters: turn a `createSessions()` result, or a factory of the runtime's extra
 * handler arguments, into a lookup that never builds a `Sessions` per request (keys are imported
 * once, and a memory store keeps its sessions).
 *
 * **When the factory runs.** The first extra argument means different things per runtime. On
 * Cloudflare Workers it is `env`, the bindings object workerd hands to every request of an
 * isolate (and a new one only when the bindings change): there the factory runs once per
 * distinct `env` object (memoized in a WeakMap). Everywhere else it is a per-request object
 * (`Deno.serve`'s `ServeHandlerInfo`, `@hono/node-server`'s `{ incoming, outgoing }`) or a
 * long-lived one (`Bun.serve`'s server), and nothing tells them apart reliably by shape: there
 * the factory runs once per process, with the arguments of the first request. Workers are
 * recognised by `navigator.userAgent === "Cloudflare-Workers"`, which workerd sets.
 *
 * @module
 */
import type { Sessions } from "../mod.ts";

/** Whether this code runs in workerd, where the first extra handler argument is the long-lived `env`. */
export function inWorkerd(): boolean {
  const nav = (globalThis as { navigator?: { userAgent?: unknown } }).navigator;
  return nav?.userAgent === "Cloudflare-Workers";
}

/**
 * Build the lookup; throws `TypeError` for anything else. `what` names the caller in the message.
 * `perEnv` (default: `inWorkerd()`) chooses one `Sessions` per `env` object rather than one per
 * process; tests pass it explicitly.
 */
export function sessionsResolver<T extends object, Env>(
  source: Sessions<T> | ((env: Env, ...rest: unknown[]) => Sessions<T>),
  what: string,
  perEnv: boolean = inWorkerd(),
): (env: Env, ...rest: unknown[]) => Sessions<T> {
  if (typeof source === "function") {
    const factory = source;
    const byEnv = new WeakMap<object, Sessions<T>>();
    let single: Sessions<T> | undefined;
    const build = (env: Env, rest: unknown[]): Sessions<T> => {
      const built = factory(env, ...rest);
      if (!isSessions(built)) throw new TypeError(`Cannot ${what}: the sessions factory must return a createSessions() result`);
      return built;
    };
    return (env, ...rest) => {
      if (!perEnv || typeof env !== "object" || env === null) return (single ??= build(env, rest));
      let found = byEnv.get(env);
      if (!found) byEnv.set(env, (found = build(env, rest)));
      return found;
    };
  }
  if (isSessions(source)) return () => source;
  throw new TypeError(`Cannot ${what}: sessions must be a createSessions() result or a function returning one`);
}

function isSessions<T extends object>(value: unknown): value is Sessions<T> {
  return typeof value === "object" && value !== null && typeof (value as Sessions<T>).commit === "function";
}
