/**
 * Run every case on the current runtime and print one JSON line per case:
 * median ns/op over 5 samples of ~200 ms each after 300 ms of warm-up.
 * Usage: node bench/run.ts | deno run -A bench/run.ts | bun bench/run.ts
 */
import { allCases } from "./cases.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const SAMPLE_MS = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.BENCH_SAMPLE_MS ?? 200);

async function measure(run: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 32; i++) await run();
    n += 32;
    now = performance.now();
  }
  return ((now - start) * 1e6) / n;
}

const cases = await allCases();
for (const c of cases) {
  await measure(c.run, 300);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push(await measure(c.run, SAMPLE_MS));
  samples.sort((a, b) => a - b);
  console.log(JSON.stringify({ runtime, name: c.name, ns: Math.round(samples[2]!), min: Math.round(samples[0]!), max: Math.round(samples[4]!), description: c.description }));
}
