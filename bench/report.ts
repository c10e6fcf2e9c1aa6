/** Turn run.ts JSON lines (several runs, several runtimes) into a markdown table of medians and ratios. */
import { readFileSync } from "node:fs";

type Row = { runtime: string; name: string; ns: number; description: string };
const rows: Row[] = readFileSync(0, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Row);
const runtimes = ["node", "deno", "bun"].filter((r) => rows.some((x) => x.runtime === r));
const names = [...new Set(rows.map((r) => r.name))];
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const cell = (runtime: string, name: string) => median(rows.filter((r) => r.runtime === runtime && r.name === name).map((r) => r.ns));
const fmt = (n: number) => n.toLocaleString("en-US");

console.log(`| case | ${runtimes.map((r) => `${r} ns/op`).join(" | ")} | what |`);
console.log(`|---|${runtimes.map(() => "--:").join("|")}|---|`);
for (const name of names) {
  const d = rows.find((r) => r.name === name)!.description;
  console.log(`| \`${name}\` | ${runtimes.map((r) => fmt(cell(r, name))).join(" | ")} | ${d} |`);
}
const ratio = (label: string, f: (rt: string) => number) =>
  console.log(`| ${label} | ${runtimes.map((r) => `${f(r).toFixed(2)}×`).join(" | ")} |`);
console.log(`\n| ratio (same runtime, same run) | ${runtimes.join(" | ")} |`);
console.log(`|---|${runtimes.map(() => "--:").join("|")}|`);
const c = cell;
ratio("satchel cookie round trip ÷ floor in a handler: (satchel.cookie.rt − fetch.bare) ÷ (ref.rt.fetch − fetch.bare)", (r) => (c(r, "satchel.cookie.rt") - c(r, "fetch.bare")) / (c(r, "ref.rt.fetch") - c(r, "fetch.bare")));
ratio("satchel cookie round trip ÷ ref.rt", (r) => c(r, "satchel.cookie.rt") / c(r, "ref.rt"));
ratio("satchel cookie read-only ÷ ref.load", (r) => c(r, "satchel.cookie.load") / c(r, "ref.load"));
ratio("satchel memory round trip ÷ ref.rt", (r) => c(r, "satchel.memory.rt") / c(r, "ref.rt"));
ratio("satchel untouched ÷ fetch.bare", (r) => c(r, "satchel.untouched") / c(r, "fetch.bare"));
ratio("iron-session ÷ satchel cookie round trip", (r) => c(r, "peer.ironSession.rt") / c(r, "satchel.cookie.rt"));
ratio("jose HS256 round trip ÷ satchel cookie round trip", (r) => c(r, "peer.jose.rt") / c(r, "satchel.cookie.rt"));
ratio("Hono + @hono/session: (case − hono.bare) ÷ satchel cookie round trip", (r) => (c(r, "peer.honoSession.rt") - c(r, "hono.bare")) / c(r, "satchel.cookie.rt"));
