#!/usr/bin/env bash
# The demo store in one command: install the tools (scripts/setup.sh), build the npm package
# (scripts/build-wasm.sh), copy it beside the page (www/pkg/) and serve www/ on
# http://127.0.0.1:8080 (PORT=N to change) until Ctrl-C.
#
#   bash scripts/demo.sh               everything
#   bash scripts/demo.sh --no-setup    skip scripts/setup.sh (the tools are installed)
#   bash scripts/demo.sh --no-build    also skip the wasm build (serve the package already in pkg/)
#   bash scripts/demo.sh --retrain     first regenerate www/assets/ (catalogue + model) with the
#                                      fewclick CLI: simulate, then meta-train (about a minute)
#
# The catalogue and the model the page uses are committed (www/assets/); --retrain rewrites them
# (deterministically: same seed, same bytes); tests/demo_model.rs checks they still fit the code.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

setup=1
build=1
retrain=0
for arg in "$@"; do
  case "$arg" in
    --no-setup) setup=0 ;;
    --no-build) setup=0; build=0 ;;
    --retrain) retrain=1 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done
port="${PORT:-8080}"
[[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"

if [ "$setup" = 1 ]; then bash scripts/setup.sh; fi
if [ "$retrain" = 1 ]; then
  # The settings the committed assets were made with (see tests/demo_model.rs).
  seed=7
  work="$ROOT/out/demo"
  step "fewclick simulate + train (seed $seed) -> www/assets/"
  cargo build --release --bin fewclick --quiet
  ./target/release/fewclick simulate --seed "$seed" --products 192 --sessions 3000 --out-dir "$work"
  ./target/release/fewclick train --format jsonl --sessions "$work/sessions.jsonl" \
    --item-table "$work/item-table.json" --algorithm meta-sgd --hidden 16 --seed "$seed" --validation 0 --out "$work/demo.fcm"
  cp "$work/catalogue.json" "$work/demo.fcm" www/assets/
  ok "www/assets/: catalogue.json $(wc -c <www/assets/catalogue.json) bytes, demo.fcm $(wc -c <www/assets/demo.fcm) bytes"
fi
if [ "$build" = 1 ]; then bash scripts/build-wasm.sh; fi
[ -f pkg/index.js ] && [ -f pkg/worker.js ] || die "pkg/ holds no built package: run without --no-build"
command -v node >/dev/null || die "node is missing: run scripts/setup.sh"

step "copying the package into www/pkg/"
rm -rf www/pkg
mkdir -p www/pkg
cp -R pkg/. www/pkg/
ok "www/pkg/: $(cd www/pkg && ls | tr '\n' ' ')"

step "serving the demo store (Ctrl-C stops)"
exec node scripts/serve-demo.mjs --port "$port"
