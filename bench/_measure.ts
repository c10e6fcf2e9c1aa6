/** The timing loop shared by the in-process benchmarks. */

/**
 * Nanoseconds per request of `run` (which does `per` requests each call), awaited serially for
 * about `ms` milliseconds: small calls are batched so the clock is read rarely.
 */
export async function measure(run: () => Promise<unknown>, per: number, ms: number): Promise<number> {
  const batch = Math.max(1, Math.floor(32 / per));
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) await run();
    n += batch * per;
    now = performance.now();
  }
  return ((now - start) * 1e6) / n;
}

/** The median, minimum and maximum of `samples` (rounded ns). */
export function summarize(samples: number[]): { ns: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { ns: Math.round(s[Math.floor(s.length / 2)]!), min: Math.round(s[0]!), max: Math.round(s[s.length - 1]!) };
}
