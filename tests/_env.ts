/**
 * Test environment helpers shared by every suite: which runtime runs us, whether we are in CI,
 * and how a suite that needs a service (Redis, PostgreSQL, MariaDB, ...) behaves when it is absent:
 * under `CI=true` it fails; elsewhere it prints a loud skip line naming the service.
 */
import process from "node:process";

export const runtime: "deno" | "bun" | "workerd" | "node" =
  "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

export const inCI: boolean = process.env.CI === "true" || process.env.CI === "1";

/**
 * Resolve to `true` when `probe` succeeds. When it fails: in CI, throw (so the suite fails);
 * outside CI, print a loud skip line and resolve to `false`.
 */
export async function serviceAvailable(service: string, probe: () => Promise<unknown>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (inCI) throw new Error(`${service} is required in CI but is not reachable: ${reason}`);
    console.warn(`\n!!!!! SKIPPED: ${service} is not reachable (${reason}); its tests did not run. !!!!!\n`);
    return false;
  }
}

/** A controllable clock in epoch milliseconds, starting at the real time so backend TTLs stay sane. */
export function fakeClock(start: number = Math.floor(Date.now() / 1000) * 1000): {
  now: () => number;
  advance: (ms: number) => void;
  set: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; }, set: (ms) => { t = ms; } };
}
