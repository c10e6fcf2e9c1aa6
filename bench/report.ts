/**
 * Turn the JSON lines of run.ts (several runs × runtimes), stores.ts and http.ts into
 * bench/RESULTS.md (machine, targets, every table) and bench/results.svg (the key ratios as a
 * bar chart, drawn here: no chart library). Usage: node bench/report.ts < lines.jsonl
 * Environment: BENCH_COMMAND, BENCH_ELAPSED_S, BENCH_LOAD_START (set by run.sh) describe the run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import process from "node:process";

type Line = {
  kind: string; runtime: string; name: string; description?: string; skip?: string; version?: string;
  ns?: number; rps?: number; rounds?: number[]; latencyMs?: number; non2xx?: number; socketErrors?: number;
  pinned?: boolean; connections?: number; seconds?: number; warmup?: number;
};
const lines: Line[] = readFileSync(0, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
const here = new URL(".", import.meta.url).pathname;
const RUNTIMES = ["node", "deno", "bun"] as const;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const fmt = (n: number | undefined, digits = 0) => n === undefined || !Number.isFinite(n) ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const x = (n: number | undefined) => n === undefined || !Number.isFinite(n) ? "–" : `${n.toFixed(2)}×`;

// ---- in-process cases: median over runs
const micro = lines.filter((l) => l.kind === "micro");
const runtimes = RUNTIMES.filter((r) => micro.some((l) => l.runtime === r));
const runs = Math.max(0, ...runtimes.map((r) => lines.filter((l) => l.kind === "meta" && l.runtime === r).length));
const ns = (runtime: string, name: string) => median(micro.filter((l) => l.runtime === runtime && l.name === name && l.ns !== undefined).map((l) => l.ns!));
const names = [...new Set(micro.map((l) => l.name))];
const describe = (name: string) => lines.find((l) => l.name === name)?.description ?? "";
const skipOf = (name: string) => micro.find((l) => l.name === name && l.skip)?.skip;

// ---- stores and HTTP
const store = (name: string) => lines.find((l) => l.kind === "store" && l.name === name);
const http = lines.filter((l) => l.kind === "http" && l.runtime !== "meta");
const wrkMeta = lines.find((l) => l.kind === "http" && l.runtime === "meta");
const rps = (runtime: string, name: string) => http.find((l) => l.runtime === runtime && l.name === name)?.rps;
const httpBare = (runtime: string) => (runtime === "node" ? rps("node", "express.bare") : rps(runtime, "hono.bare"));

// ---- the issue's targets
type Target = { label: string; short: string; goal: number; dir: "≤" | "≥"; values: Partial<Record<string, number>>; how: string };
const perRuntime = (f: (r: string) => number | undefined) => Object.fromEntries(runtimes.map((r) => [r, f(r)]));
const c = ns;
const storeRatio = (a: string, b: string) => { const s = store(a)?.ns, r = store(b)?.ns; return s && r ? s / r : undefined; };
const targets: Target[] = [
  { label: "cookie store, changed request ÷ WebCrypto floor", short: "cookie changed ÷ floor", goal: 0.5, dir: "≤", values: perRuntime((r) => c(r, "satchel.cookie.rt")! / c(r, "ref.rt")!), how: "`satchel.cookie.rt` ÷ `ref.rt`" },
  { label: "cookie store, read-only request ÷ WebCrypto floor", short: "cookie read-only ÷ floor", goal: 0.3, dir: "≤", values: perRuntime((r) => c(r, "satchel.cookie.load")! / c(r, "ref.rt")!), how: "`satchel.cookie.load` ÷ `ref.rt`" },
  { label: "request with a session cookie that never touches the session ÷ no sessions", short: "cookie, untouched ÷ bare", goal: 1.1, dir: "≤", values: perRuntime((r) => c(r, "satchel.cookie.untouched")! / c(r, "fetch.bare")!), how: "`satchel.cookie.untouched` ÷ `fetch.bare` (both parse the same Cookie header)" },
  { label: "iron-session ÷ satchel cookie store (times faster)", short: "iron-session ÷ satchel", goal: 10, dir: "≥", values: perRuntime((r) => c(r, "peer.ironSession.rt")! / c(r, "satchel.cookie.rt")!), how: "`peer.ironSession.rt` ÷ `satchel.cookie.rt`" },
  { label: "@hono/session ÷ satchel cookie store (times faster)", short: "@hono/session ÷ satchel", goal: 6, dir: "≥", values: perRuntime((r) => (c(r, "peer.honoSession.rt")! - c(r, "hono.bare")!) / c(r, "satchel.cookie.rt")!), how: "(`peer.honoSession.rt` − `hono.bare`) ÷ `satchel.cookie.rt`" },
  { label: "Redis store ÷ raw node-redis", short: "Redis ÷ raw client", goal: 1.2, dir: "≤", values: { node: storeRatio("store.redis.satchel", "store.redis.raw") }, how: "`store.redis.satchel` ÷ `store.redis.raw`" },
  { label: "PostgreSQL store ÷ raw postgres.js (same unprepared calls)", short: "PostgreSQL ÷ raw", goal: 1.2, dir: "≤", values: { node: storeRatio("store.postgres.satchel", "store.postgres.raw") }, how: "`store.postgres.satchel` ÷ `store.postgres.raw`" },
  { label: "PostgreSQL store ÷ raw postgres.js (prepared tagged templates)", short: "PostgreSQL ÷ raw prepared", goal: 1.2, dir: "≤", values: { node: storeRatio("store.postgres.satchel", "store.postgres.rawPrepared") }, how: "`store.postgres.satchel` ÷ `store.postgres.rawPrepared`" },
  { label: "HTTP Bun + Hono, satchel cookie store ÷ no sessions (req/s)", short: "HTTP Bun+Hono ÷ bare", goal: 0.9, dir: "≥", values: { bun: (rps("bun", "hono.satchel") ?? NaN) / (httpBare("bun") ?? NaN) }, how: "req/s `hono.satchel` ÷ `hono.bare` on Bun" },
];
const met = (t: Target, v: number | undefined) => v === undefined || !Number.isFinite(v) ? undefined : t.dir === "≤" ? v <= t.goal : v >= t.goal;
const verdict = (t: Target) => {
  const vs = Object.values(t.values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (vs.length === 0) return "not measured";
  const ok = vs.filter((v) => met(t, v)).length;
  return ok === vs.length ? "**met**" : ok === 0 ? "not met" : `met on ${ok} of ${vs.length}`;
};

// ---- machine
const cpuModel = (() => { try { return /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim(); } catch { return undefined; } })() ?? cpus()[0]?.model ?? "unknown";
const loadNow = (() => { try { return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "); } catch { return "n/a"; } })();
const versions = runtimes.map((r) => `${r === "node" ? "Node" : r === "deno" ? "Deno" : "Bun"} ${lines.find((l) => l.kind === "meta" && l.runtime === r)?.version}`).join(", ");
const pkgVersion = (path: string) => { try { return (JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { version: string }).version; } catch { return "?"; } };
const peers = [
  ["iron-session", "node_modules/iron-session/package.json"], ["jose", "node_modules/jose/package.json"], ["hono", "node_modules/hono/package.json"],
  ["@hono/session", "node_modules/@hono/session/package.json"], ["hono-sessions", "node_modules/hono-sessions/package.json"],
  ["express", "../node_modules/express/package.json"], ["express-session", "../node_modules/express-session/package.json"],
  ["redis (node-redis)", "../node_modules/redis/package.json"], ["postgres (postgres.js)", "../node_modules/postgres/package.json"],
].map(([n, p]) => `${n} ${pkgVersion(p!)}`).join(", ");

// ---- markdown
const out: string[] = [];
const p = (s = "") => out.push(s);
const env = process.env;
p("# Benchmark results");
p();
p(`Generated by \`${env.BENCH_COMMAND ?? "bash bench/run.sh"}\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC` +
  (env.BENCH_ELAPSED_S ? `; the whole command took ${Math.round(Number(env.BENCH_ELAPSED_S))} s.` : "."));
p();
p(`- Machine: ${cpuModel}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}. ` +
  `Load average (1/5/15 min) at the start ${env.BENCH_LOAD_START ?? "n/a"}, at the end ${loadNow}: the machine is shared, so compare ratios measured in the same run, never microseconds across runs.`);
p(`- Runtimes: ${versions}. Load generator: ${wrkMeta?.description ?? "wrk not run"}.`);
p(`- Peers: ${peers}.`);
p(`- In-process cases: each cell is the median of ${runs} run(s) per runtime, each run the median of 5 samples taken in 5 rounds over all cases (a burst of load hits a case and its floor alike) after a warm-up; requests awaited one at a time unless marked in flight. ` +
  "The floor (`ref.*`) is the hand-written cheapest correct signed-cookie round trip (one WebCrypto verify, one sign) of `shared/reference/perf-anchors.md`, measured in the same process.");
p(`- HTTP: one server process per case on 127.0.0.1, loaded by wrk with 1 thread and ${wrkMeta?.connections ?? 32} keep-alive connections for ${wrkMeta?.seconds ?? 5} s after a ${wrkMeta?.warmup ?? 1} s warm-up per case; the ${wrkMeta?.seconds ?? 5} s are 5 rounds that visit the cases of one runtime in turn, and the table gives the median round. ` +
  (wrkMeta?.pinned ? "The server is pinned to CPU 0 and wrk to CPU 1 (`taskset`), so the client and the server never compete for one core (the runtimes' own helper threads, e.g. WebCrypto's, share the server's core). " : "Client and server were not pinned (fewer than 2 cores or no taskset). ") +
  "The client returns the cookies of 256 sessions minted first, in turn, so each request loads, changes and saves a live session and no two requests in flight share one.");
p();
p("## The issue's targets");
p();
p(`| target | goal | ${runtimes.join(" | ")} | verdict | measured as |`);
p(`|---|--:|${runtimes.map(() => "--:").join("|")}|---|---|`);
for (const t of targets) p(`| ${t.label} | ${t.dir} ${t.goal}× | ${runtimes.map((r) => x(t.values[r])).join(" | ")} | ${verdict(t)} | ${t.how} |`);
p();
p("![key ratios](results.svg)");
p();
p("## Hot path, in process (ns per request)");
p();
const hot = names.filter((n) => !n.startsWith("scale."));
p(`| case | ${runtimes.map((r) => `${r} ns`).join(" | ")} | what |`);
p(`|---|${runtimes.map(() => "--:").join("|")}|---|`);
for (const n of hot) p(`| \`${n}\` | ${runtimes.map((r) => fmt(ns(r, n))).join(" | ")} | ${describe(n)} |`);
p();
p(`| ratio (same runtime, same run) | ${runtimes.join(" | ")} |`);
p(`|---|${runtimes.map(() => "--:").join("|")}|`);
const ratio = (label: string, f: (r: string) => number) => p(`| ${label} | ${runtimes.map((r) => x(f(r))).join(" | ")} |`);
ratio("satchel cookie round trip in a handler ÷ floor in a handler: (satchel.cookie.rt − fetch.bare) ÷ (ref.rt.fetch − fetch.bare)", (r) => (c(r, "satchel.cookie.rt")! - c(r, "fetch.bare")!) / (c(r, "ref.rt.fetch")! - c(r, "fetch.bare")!));
ratio("satchel cookie round trip ÷ ref.rt", (r) => c(r, "satchel.cookie.rt")! / c(r, "ref.rt")!);
ratio("satchel cookie read-only ÷ ref.load", (r) => c(r, "satchel.cookie.load")! / c(r, "ref.load")!);
ratio("satchel cookie read-only ÷ ref.rt", (r) => c(r, "satchel.cookie.load")! / c(r, "ref.rt")!);
ratio("satchel memory round trip ÷ ref.rt", (r) => c(r, "satchel.memory.rt")! / c(r, "ref.rt")!);
ratio("satchel untouched (no cookie) ÷ fetch.bare", (r) => c(r, "satchel.untouched")! / c(r, "fetch.bare")!);
ratio("satchel cookie store, cookie sent, untouched ÷ fetch.bare", (r) => c(r, "satchel.cookie.untouched")! / c(r, "fetch.bare")!);
ratio("iron-session ÷ satchel cookie round trip", (r) => c(r, "peer.ironSession.rt")! / c(r, "satchel.cookie.rt")!);
ratio("jose HS256 round trip ÷ satchel cookie round trip", (r) => c(r, "peer.jose.rt")! / c(r, "satchel.cookie.rt")!);
ratio("Hono + @hono/session: (case − hono.bare) ÷ satchel cookie round trip", (r) => (c(r, "peer.honoSession.rt")! - c(r, "hono.bare")!) / c(r, "satchel.cookie.rt")!);
p();
p("## Scaling, in process (ns per changed request)");
p();
p("Session size (one request at a time) and requests in flight (`Promise.all` over `sessions.handle`, one session each, ≈ 500 B of data; reported per request). The cookie store deflates data of 512 B or more.");
p();
p(`| case | ${runtimes.map((r) => `${r} ns`).join(" | ")} | what |`);
p(`|---|${runtimes.map(() => "--:").join("|")}|---|`);
for (const n of names.filter((n) => n.startsWith("scale."))) {
  const skip = skipOf(n);
  p(`| \`${n}\` | ${runtimes.map((r) => (skip ? skip : fmt(ns(r, n)))).join(" | ")} | ${describe(n)} |`);
}
p();
p("## Server stores against the raw client (Node, ns per changed request)");
p();
p("One connection, requests awaited one at a time; satchel's round trip goes through `sessions.handle` (Request, cookie, store key HMAC, load, save, Set-Cookie), the raw one only sends the same commands and parses/serializes the JSON.");
p();
p("| case | ns | ratio to its raw floor | what |");
p("|---|--:|--:|---|");
for (const l of lines.filter((l) => l.kind === "store")) {
  if (l.skip) { p(`| \`${l.name}\` | skipped | | ${l.skip} |`); continue; }
  const floor = l.name.endsWith(".satchel") ? store(l.name.replace(/\.satchel$/, ".raw"))?.ns : undefined;
  p(`| \`${l.name}\` | ${fmt(l.ns)} | ${floor ? x(l.ns! / floor) : ""} | ${l.description} |`);
}
p();
p("## HTTP over loopback (requests per second)");
p();
p("| runtime | case | req/s | ÷ no sessions | mean latency | rounds (req/s) | non-2xx | socket errors | what |");
p("|---|---|--:|--:|--:|---|--:|--:|---|");
for (const l of http) {
  if (l.skip) { p(`| ${l.runtime} | \`${l.name}\` | ${l.skip} | | | | | | ${l.description} |`); continue; }
  p(`| ${l.runtime} | \`${l.name}\` | ${fmt(l.rps)} | ${x(l.rps! / (httpBare(l.runtime) ?? NaN))} | ${fmt(l.latencyMs, 2)} ms | ${(l.rounds ?? []).join(", ")} | ${l.non2xx} | ${l.socketErrors} | ${l.description} |`);
}
p();
p("Not the same work on both sides of the Express rows, by each library's design: satchel re-sends the session cookie on every save (Django's rule, a fresh expiry) and signs nothing for the memory store (the cookie is the random id); express-session signs the id on every request and sends the cookie only when it is new.");
writeFileSync(`${here}RESULTS.md`, out.join("\n") + "\n");

// ---- the chart: one row per target, one bar per runtime, log scale 0.1×..100×, goal marked
const rows = targets.flatMap((t) => runtimes.filter((r) => t.values[r] !== undefined && Number.isFinite(t.values[r]!)).map((r) => ({ t, r, v: t.values[r]! })));
const colors: Record<string, string> = { node: "#3c873a", deno: "#1f4e8c", bun: "#c9a227" };
const W = 860, left = 250, right = 40, top = 50, barH = 14, gap = 4, groupGap = 14;
const lo = Math.log10(0.1), hi = Math.log10(100);
const px = (v: number) => left + ((Math.log10(Math.min(100, Math.max(0.1, v))) - lo) / (hi - lo)) * (W - left - right);
const svg: string[] = [];
let y = top;
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
for (const t of targets) {
  const mine = rows.filter((row) => row.t === t);
  if (mine.length === 0) continue;
  const h = mine.length * (barH + gap) - gap;
  svg.push(`<text x="${left - 10}" y="${y + h / 2 + 4}" text-anchor="end" font-size="12">${esc(t.short)} (${t.dir} ${t.goal}×)</text>`);
  for (const row of mine) {
    const ok = met(t, row.v);
    svg.push(`<rect x="${left}" y="${y}" width="${Math.max(1, px(row.v) - left).toFixed(1)}" height="${barH}" fill="${colors[row.r]}"/>`);
    svg.push(`<text x="${(px(row.v) + 4).toFixed(1)}" y="${y + barH - 3}" font-size="10">${row.r} ${row.v.toFixed(2)}× ${ok ? "✓" : "✗"}</text>`);
    y += barH + gap;
  }
  const gx = px(t.goal).toFixed(1);
  svg.push(`<line x1="${gx}" x2="${gx}" y1="${y - h - gap - 3}" y2="${y - gap + 3}" stroke="#d62728" stroke-width="2"/>`);
  y += groupGap;
}
const H = y + 30;
const ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100].map((v) => `<line x1="${px(v)}" x2="${px(v)}" y1="${top - 6}" y2="${H - 30}" stroke="#ddd"/><text x="${px(v)}" y="${H - 14}" text-anchor="middle" font-size="10">${v}×</text>`);
const legend = runtimes.map((r, i) => `<rect x="${left + i * 90}" y="18" width="12" height="12" fill="${colors[r]}"/><text x="${left + i * 90 + 16}" y="28" font-size="12">${r}</text>`).join("") +
  `<line x1="${left + runtimes.length * 90}" x2="${left + runtimes.length * 90}" y1="16" y2="32" stroke="#d62728" stroke-width="2"/><text x="${left + runtimes.length * 90 + 6}" y="28" font-size="12">goal (✓ met, ✗ not met)</text>`;
writeFileSync(`${here}results.svg`, `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="28" font-size="14" font-weight="bold">satchel: key ratios (log scale)</text>
${ticks.join("\n")}
${legend}
${svg.join("\n")}
</svg>
`);
console.log(out.join("\n"));
