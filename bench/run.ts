/**
 * Run every in-process case on the current runtime and print one JSON line per case:
 * median ns per request over 5 samples (BENCH_SAMPLE_MS each, default 200 ms) after a warm-up,
 * the samples taken in 5 rounds over all cases,
 * preceded by one line naming the runtime and its version.
 * Usage: node bench/run.ts | deno run -A bench/run.ts | bun bench/run.ts
 */
import { allCases } from "./cases.ts";
import { scalingCases } from "./scaling.ts";
import { measure, summarize } from "./_measure.ts";

const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string }; process?: { versions: { node: string }; env: Record<string, string | undefined> } };
const runtime = g.Deno ? "deno" : g.Bun ? "bun" : "node";
const version = g.Deno?.version.deno ?? g.Bun?.version ?? g.process?.versions.node ?? "?";
const SAMPLE_MS = Number(g.process?.env.BENCH_SAMPLE_MS ?? 200);

console.log(JSON.stringify({ kind: "meta", runtime, version }));
const cases = [...(await allCases()), ...(await scalingCases())];
const live = cases.filter((c) => !c.skip);
for (const c of live) await measure(c.run, c.per ?? 1, Math.max(150, SAMPLE_MS));
// Rounds interleave the cases, so a burst of load on a shared machine hits a case and its floor alike.
const samples = new Map(live.map((c) => [c, [] as number[]]));
for (let round = 0; round < 5; round++) for (const c of live) samples.get(c)!.push(await measure(c.run, c.per ?? 1, SAMPLE_MS));
for (const c of cases) {
  if (c.skip) console.log(JSON.stringify({ kind: "micro", runtime, name: c.name, skip: c.skip, description: c.description }));
  else console.log(JSON.stringify({ kind: "micro", runtime, name: c.name, ...summarize(samples.get(c)!), description: c.description }));
}
