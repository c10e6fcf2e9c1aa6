#!/usr/bin/env bash
# satchel's one test command (`npm test`): type-check, lint, JSR dry run, doc examples, README
# code blocks, the npm package as a consumer installs it (scripts/consumer-test.sh), then the
# same test files under Bun, Deno, workerd (miniflare), Chromium, and last Node 24, whose
# test-runner summary closes the run. Exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/node_modules/.bin"
bash scripts/ensure-deps.sh

declare -a recap=()
failed=0
step() {
  local name="$1"; shift
  echo
  echo "===== $name"
  local start=$SECONDS
  if "$@"; then recap+=("ok    $name ($((SECONDS - start)) s)")
  else recap+=("FAIL  $name ($((SECONDS - start)) s)"); failed=1; fi
}

# Test files for the three native runtimes: everything directly under tests/.
mapfile -t files < <(ls tests/*.test.ts)

step "typecheck (tsc --strict)" "$BIN/tsc" -p . --noEmit
step "lint (deno lint)" "$BIN/deno" lint --quiet
step "JSR (deno publish --dry-run)" "$BIN/deno" publish --dry-run --allow-dirty --quiet
step "doc examples (deno test --doc)" "$BIN/deno" test --doc --no-check -A --unstable-kv --quiet mod.ts core/ adapters/ stores/
step "README code blocks (tsc --strict)" "$BIN/node" scripts/check-readme.mjs
# The npm package as a consumer installs it: `npm pack` (builds dist/ via prepack), installed
# into a temporary project outside the repo, every subpath exercised on the machine's Node 20,
# Node 24, Bun, Deno and workerd; publint, attw, tsc moduleResolution bundler/node16/nodenext.
step "npm package consumer test (pack, install, 4 runtimes + workerd, publint, attw, tsc)" bash scripts/consumer-test.sh
step "Bun $("$BIN/bun" --version)" "$BIN/bun" test "${files[@]/#/./}"
step "Deno $("$BIN/deno" --version | head -1 | cut -d' ' -f2)" "$BIN/deno" test -A --unstable-kv --no-check --quiet "${files[@]}"
if compgen -G "tests/workerd/*.test.ts" > /dev/null; then
  step "workerd (miniflare)" "$BIN/node" --test tests/workerd/*.test.ts
fi
if compgen -G "tests/browser/*.test.ts" > /dev/null; then
  step "browser (Chromium + playwright-core)" "$BIN/node" --test tests/browser/*.test.ts
fi

echo
echo "===== recap"
printf '%s\n' "${recap[@]}"
echo
echo "===== Node $("$BIN/node" --version)"
"$BIN/node" --test "${files[@]}" || failed=1
exit $failed
