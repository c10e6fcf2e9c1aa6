#!/usr/bin/env bash
# The npm package as a consumer gets it: `npm pack` (which builds dist/ through the "prepack"
# script), then, in a temporary project OUTSIDE the repository, `npm install <tarball>` offline
# and use it:
#   - the tarball's contents, and no pointer to an unshipped file (tests/consumer/package-contents.mjs)
#   - publint and @arethetypeswrong/cli (profile esm-only) on the tarball
#   - every exports subpath imported and exercised (tests/consumer/exercise.mjs) under the
#     machine's Node (20), Node 24, Bun and Deno (through the project's node_modules)
#   - a Worker bundled from the installed package with esbuild, run in workerd (miniflare)
#   - tsc on a TypeScript consumer under moduleResolution bundler / node16 / nodenext (node10:
#     unsupported, asserted to fail)
# Exits non-zero if any check failed; prints one line per check. Run by scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
BIN="$REPO/node_modules/.bin"
system_node="$(PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v node_modules | paste -sd:)" command -v node || true)"
system_node="${system_node:-$BIN/node}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/satchel-consumer.XXXXXX")"
[ -n "${KEEP_CONSUMER_TMP:-}" ] || trap 'rm -rf "$TMP"' EXIT
case "$TMP" in "$REPO"/*) echo "the temporary project must be outside the repository" >&2; exit 1 ;; esac

failed=0
check() { # name, command...
  local name="$1"; shift
  local start=$SECONDS
  if "$@" > "$TMP/out.log" 2>&1; then
    echo "ok    $name ($((SECONDS - start)) s)"
    grep -E '^  (ok|FAIL)|^(workerd|package contents)' "$TMP/out.log" | sed 's/^/      /' || true
  else
    echo "FAIL  $name ($((SECONDS - start)) s)"
    sed 's/^/      /' "$TMP/out.log" | tail -60
    failed=1
  fi
}

# 1. Pack. `npm pack` runs "prepack" (tsup), exactly as `npm publish` would.
mkdir -p "$TMP/pack" "$TMP/app"
if ! npm pack --pack-destination "$TMP/pack" --no-fund --no-audit > "$TMP/pack.log" 2>&1; then
  echo "FAIL  npm pack"; sed 's/^/      /' "$TMP/pack.log" | tail -40; exit 1
fi
tarball="$(ls "$TMP"/pack/*.tgz)"
echo "ok    npm pack: $(basename "$tarball"), $(tar tzf "$tarball" | wc -l) files, $(( $(stat -c %s "$tarball") / 1024 )) KiB"
tar xzf "$tarball" -C "$TMP/pack"

check "tarball contents and dead-end references" "$BIN/node" tests/consumer/package-contents.mjs "$TMP/pack/package"
check "publint" "$BIN/publint" run --strict "$tarball"
# attw exits 0 on a package with no types at all ("This package does not contain types"): fail then too.
attw() {
  local out; out="$("$BIN/attw" "$tarball" --profile esm-only --no-color --format table-flipped 2>&1)"
  local rc=$?; echo "$out"
  [ $rc -eq 0 ] && ! grep -q "does not contain types" <<< "$out"
}
check "arethetypeswrong (esm-only)" attw

# 2. A consumer project outside the repository: the tarball from the cache-free file path,
# offline (zero runtime dependencies; hono and elysia are optional peers, so npm leaves them out).
cd "$TMP/app"
printf '{ "name": "satchel-consumer", "private": true, "type": "module" }\n' > package.json
if ! npm install "$tarball" --offline --no-audit --no-fund --no-package-lock > "$TMP/install.log" 2>&1; then
  echo "FAIL  npm install <tarball> --offline"; sed 's/^/      /' "$TMP/install.log" | tail -40; exit 1
fi
echo "ok    npm install <tarball> --offline into $TMP/app"
# The optional peers, as a consumer using those adapters has them, and @types/node for the full
# declaration check: linked from the repo's devDependencies.
mkdir -p node_modules/@types
for dep in hono elysia @types/node; do ln -s "$REPO/node_modules/$dep" "node_modules/$dep"; done
cp "$REPO/tests/consumer/exercise.mjs" "$REPO/tests/consumer/worker.mjs" .

check "Node $("$system_node" --version) (machine)" "$system_node" exercise.mjs
check "Node $("$BIN/node" --version)" "$BIN/node" exercise.mjs
check "Bun $("$BIN/bun" --version)" "$BIN/bun" exercise.mjs
check "Deno $("$BIN/deno" --version | head -1 | cut -d' ' -f2)" \
  "$BIN/deno" run --node-modules-dir=manual --unstable-kv --allow-all --quiet exercise.mjs
check "workerd (esbuild bundle, miniflare)" "$BIN/node" "$REPO/tests/consumer/workerd.mjs" "$TMP/app"
check "TypeScript consumers (tsc moduleResolution)" "$BIN/node" "$REPO/tests/consumer/typecheck.mjs" "$TMP/app"

exit $failed
