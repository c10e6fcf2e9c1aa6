/**
 * Shared by the adapters: turn a `createSessions()` result, or a factory of the runtime's `env`
 * (Workers bindings), into a lookup that builds each `Sessions` once per distinct `env` object
 * (memoized in a WeakMap), never per request, so keys are imported once.
 *
 * @module
 */
import type { Sessions } from "../mod.ts";

/** Build the lookup; throws `TypeError` for anything else. `what` names the caller in the message. */
export function sessionsResolver<T extends object, Env>(
  source: Sessions<T> | ((env: Env, ...rest: unknown[]) => Sessions<T>),
  what: string,
): (env: Env, ...rest: unknown[]) => Sessions<T> {
  if (typeof source === "function") {
    const factory = source;
    const byEnv = new WeakMap<object, Sessions<T>>();
    let single: Sessions<T> | undefined;
    return (env, ...rest) => {
      if (typeof env !== "object" || env === null) return (single ??= factory(env, ...rest));
      let found = byEnv.get(env);
      if (!found) byEnv.set(env, (found = factory(env, ...rest)));
      return found;
    };
  }
  if (typeof source === "object" && source !== null && typeof source.commit === "function") return () => source;
  throw new TypeError(`Cannot ${what}: sessions must be a createSessions() result or a function returning one`);
}
