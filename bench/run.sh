#!/usr/bin/env bash
# The whole benchmark in one command: in-process cases (hot path, peers, scaling) on Node 24,
# Deno and Bun (3 runs each, interleaved), server stores against their raw clients (Node), and
# HTTP over loopback with wrk. Writes bench/RESULTS.md and bench/results.svg.
# Usage: bash bench/run.sh [runs]   (about 6 to 8 minutes on a 2-core machine)
# Environment: BENCH_SAMPLE_MS (in-process sample length, default 150), BENCH_HTTP_SECONDS (5),
# BENCH_HTTP_WARMUP (1), REDIS_URL, PG_URL (default: the local services).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)
bash scripts/ensure-deps.sh
[ -d bench/node_modules ] || (cd bench && npm ci --no-audit --no-fund)
# The HTTP load generator: Debian's wrk, installed from the distribution's archive when absent.
if ! command -v wrk >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
  echo "Installing wrk from Debian (apt-get install -y wrk) ..."
  $as_root apt-get install -y wrk >/dev/null 2>&1 || { $as_root apt-get update -qq && $as_root apt-get install -y wrk >/dev/null; } || echo "Could not install wrk: the HTTP cases will be skipped."
fi
BIN=node_modules/.bin
runs="${1:-3}"
export BENCH_SAMPLE_MS="${BENCH_SAMPLE_MS:-150}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$runs"); do
  echo "In-process run $i of $runs (node, deno, bun) ..." >&2
  "$BIN/node" bench/run.ts >> "$out"
  "$BIN/deno" run -A bench/run.ts >> "$out"
  "$BIN/bun" bench/run.ts >> "$out"
done
echo "Server stores (node) ..." >&2
"$BIN/node" bench/stores.ts >> "$out"
echo "HTTP with wrk ..." >&2
"$BIN/node" bench/http.ts >> "$out"
BENCH_COMMAND="bash bench/run.sh $runs" BENCH_ELAPSED_S=$(( $(date +%s) - started )) BENCH_LOAD_START="$load_start" \
  "$BIN/node" bench/report.ts < "$out"
echo "Wrote bench/RESULTS.md and bench/results.svg in $(( $(date +%s) - started )) s." >&2
