#!/usr/bin/env bash
# Tests the npm package the way a customer gets it: `npm pack` pkg/, install the tarball into a
# scratch project in a temp dir (offline), then
#   - node --test tests/js/minify-names.test.mjs (the build step that makes each glue follow its
#     wasm's minified import and export names: sections read, renaming, refusals)
#   - node --test tests/js/boundary.test.mjs  (the raw glue, without the package's checks: options
#     and events of every wrong shape are typed errors and change nothing)
#   - node --test tests/js/package.test.mjs   (the API from Node, errors and their codes)
#   - node --test tests/js/items.test.mjs     (the model's item table; fewclick/server on an export)
#   - node --test tests/js/session.test.mjs   (exportSession, { session }, the opt-in { persist })
#   - node --test tests/js/hostile.test.mjs   (a clicking bot, hostile numbers, ids, keys, getters)
#   - tsc --noEmit (strict) on tests/js/consumer*.ts against the package's types (nodenext and
#     bundler resolution with DOM types; Node types without DOM)
#   - node --test tests/js/browser.test.mjs   (headless Chromium: browser entry, worker, SIMD;
#     hostile shoppers and pages through the worker)
#   - node --test tests/js/soak.test.mjs      (the soak's short version through the worker in
#     Chromium: memory flat; an aged reranker as fast as a fresh one, measured alternately;
#     scripts/soak.sh runs the full one)
#   - node --test tests/js/memory.test.mjs    (headless Chromium: the largest accepted configuration
#     ranks; the memory budget refuses with MEMORY_BUDGET instead of a trap)
#   - node --test tests/js/vite.test.mjs      (a Vite app bundling the package and fewclick/react
#     with React from tools/, in headless Chromium; the hook server-rendered in Node)
# Needs pkg/ (scripts/build-wasm.sh) and tools/ (scripts/setup.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

[ -f pkg/package.json ] || die "pkg/ is missing: run scripts/build-wasm.sh first"
TSC="$ROOT/tools/node_modules/.bin/tsc"
[ -x "$TSC" ] || die "typescript is missing in tools/: run scripts/setup.sh"
for dep in react react-dom scheduler; do
  [ -f "$ROOT/tools/node_modules/$dep/package.json" ] || die "$dep is missing in tools/ (the fewclick/react test needs it): run scripts/setup.sh"
done

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/fewclick-consumer.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT

step "npm pack pkg/"
tarball="$(cd pkg && npm pack --silent --pack-destination "$SCRATCH")"
ok "$tarball: $(tar -tzf "$SCRATCH/$tarball" | sed 's|^package/||' | sort | tr '\n' ' ')"
# The public types must not use `any`.
if grep -nwE 'any' pkg/index.d.ts pkg/worker.d.ts pkg/react.d.ts pkg/server.d.ts | grep -vE '^\S+:[0-9]+:\s*(//|\*|/\*)'; then
  die "the package's .d.ts files use 'any'"
fi
ok "no 'any' in the public types"
node scripts/lib/check-api-drift.mjs

step "install the tarball into a scratch project (offline)"
cat >"$SCRATCH/package.json" <<'JSON'
{ "name": "fewclick-consumer", "private": true, "type": "module" }
JSON
(cd "$SCRATCH" && npm install --offline --no-audit --no-fund --loglevel=error "./$tarball")
cp tests/js/package.test.mjs tests/js/consumer.ts tests/js/consumer-node.ts tests/js/tsconfig*.json "$SCRATCH/"
# @types/node for the Node-only consumer, from tools/ (no network needed).
ln -s "$ROOT/tools/node_modules/@types" "$SCRATCH/node_modules/@types"
ok "installed in $SCRATCH"

step "Node: node --test minify-names.test.mjs (the glue follows its wasm's minified import and export names)"
node --test --test-reporter=tap tests/js/minify-names.test.mjs

step "Node: node --test boundary.test.mjs (the raw wasm glue: options and events read field by field)"
node --test --test-reporter=tap tests/js/boundary.test.mjs

step "Node: node --test package.test.mjs"
(cd "$SCRATCH" && node --test --test-reporter=tap package.test.mjs)

step "Node: node --test items.test.mjs session.test.mjs hostile.test.mjs (the demo model's item table, fewclick/server, sessions across page loads, hostile shoppers and pages)"
cargo run --quiet --bin fewclick -- export-items www/assets/demo.fcm --jsonl "$SCRATCH/demo-items.jsonl"
cp tests/js/items.test.mjs tests/js/session.test.mjs tests/js/hostile.test.mjs "$SCRATCH/"
(cd "$SCRATCH" && FEWCLICK_DEMO_MODEL="$ROOT/www/assets/demo.fcm" FEWCLICK_ITEMS_JSONL="$SCRATCH/demo-items.jsonl" \
  node --test --test-reporter=tap items.test.mjs session.test.mjs hostile.test.mjs)
cp examples/search-api.mjs "$SCRATCH/"
(cd "$SCRATCH" && node search-api.mjs demo-items.jsonl --check)
ok "examples/search-api.mjs answers with the demo model's vectors"

step "TypeScript: tsc --noEmit (strict) against the package's types"
"$TSC" -p "$SCRATCH/tsconfig.json"
ok "consumer.ts (moduleResolution nodenext, DOM): type-checks; every @ts-expect-error is an error"
"$TSC" -p "$SCRATCH/tsconfig.bundler.json"
ok "consumer.ts (moduleResolution bundler, DOM): type-checks"
"$TSC" -p "$SCRATCH/tsconfig.node.json"
ok "consumer-node.ts (Node types only, no DOM): type-checks"

step "Chromium: node --test browser.test.mjs"
FEWCLICK_CONSUMER="$SCRATCH" node --test --test-reporter=tap tests/js/browser.test.mjs

step "Chromium: node --test soak.test.mjs (short; the full soak is scripts/soak.sh)"
FEWCLICK_CONSUMER="$SCRATCH" node --test --test-reporter=tap tests/js/soak.test.mjs

step "Chromium: node --test memory.test.mjs (the largest accepted configuration; the memory budget instead of a trap)"
FEWCLICK_CONSUMER="$SCRATCH" node --test --test-reporter=tap tests/js/memory.test.mjs

step "Vite: node --test vite.test.mjs (a bundler consumer built with Vite, run in Chromium)"
# React for fewclick/react, from tools/ (an optional peer: the steps above ran without it).
for dep in react react-dom scheduler; do ln -s "$ROOT/tools/node_modules/$dep" "$SCRATCH/node_modules/$dep"; done
FEWCLICK_CONSUMER="$SCRATCH" node --test --test-reporter=tap tests/js/vite.test.mjs
