#!/usr/bin/env bash
# `npm run demo`: the shopping-cart demo on Node 24 with the memory store (no server needed).
# Pass `-- --store sqlite` for the SQLite store, `-- --port N` for another port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node_modules/.bin/node examples/cart/server.ts "$@"
