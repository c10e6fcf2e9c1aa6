#!/usr/bin/env bash
# Install the project's devDependencies (Node 24, Deno, Bun, workerd, ... all from npm) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ]; then
  echo "Installing devDependencies (npm ci) ..."
  npm ci --no-audit --no-fund
fi
