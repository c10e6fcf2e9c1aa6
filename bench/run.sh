#!/usr/bin/env bash
# Run the benchmark on Node 24, Deno and Bun (3 runs each) and print a markdown report with
# ratios to the reference floor measured in the same run. Usage: bash bench/run.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
[ -d bench/node_modules ] || (cd bench && npm ci --no-audit --no-fund)
BIN=node_modules/.bin
runs="${1:-3}"
out="$(mktemp)"
for i in $(seq 1 "$runs"); do
  "$BIN/node" bench/run.ts >> "$out"
  "$BIN/deno" run -A bench/run.ts >> "$out"
  "$BIN/bun" bench/run.ts >> "$out"
done
"$BIN/node" bench/report.ts < "$out"
