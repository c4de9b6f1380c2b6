#!/usr/bin/env bash
# The full soak (figures and checks, about 7 to 12 minutes on 2 cores): a long session through
# the package's worker-backed reranker in headless Chromium (tests/js/soak.test.mjs with
# FEWCLICK_SOAK=full). Phase A: a 1,000-item result set, 1,000,000 events and 10,000 ranks, once
# with the default eventCapacity (256) and once with 100,000; phase B: 200 result sets of
# 100,000 items with prices, a rank after each. Checks that the wasm memory is flat once the log
# is full, and that the reranker does not get slower as it ages: at the end of each phase A run,
# the aged reranker and a fresh one (same worker, model and options, filled to where the log is
# just full) are measured alternately, batch by batch, and the p99 and the median of record() and
# of rank() for the aged one must be within 20 % of the fresh one's (a second interleaved round
# if the first fails; each ratio the better of the two). Both are measured in the same seconds,
# so the machine's load falls on both. The first/last-window figures are printed, not checked;
# the rules are at the top of tests/js/soak.test.mjs. Prints the figures as JSON lines and keeps
# them in bench-results/soak.jsonl. test-js.sh runs the short version.
# Needs pkg/ (scripts/build-wasm.sh) and tools/ (scripts/setup.sh); serves pkg/ as it is.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

[ -f pkg/package.json ] || die "pkg/ is missing: run scripts/build-wasm.sh first"
[ -f tools/node_modules/playwright-core/package.json ] || die "playwright-core is missing in tools/: run scripts/setup.sh"

mkdir -p bench-results
OUT="$ROOT/bench-results/soak.jsonl"
step "soak, full (phase A twice, then phase B; progress every tenth)"
set +e
FEWCLICK_SOAK=full node --test --test-reporter=spec tests/js/soak.test.mjs | tee "$OUT.log"
rc=${PIPESTATUS[0]}
set -e
grep -E '^\s*\{' "$OUT.log" | sed -E 's/^\s+//' >"$OUT"
rm -f "$OUT.log"
[ "$rc" -eq 0 ] || die "the soak failed (figures in ${OUT#"$ROOT"/})"
ok "figures in ${OUT#"$ROOT"/}"
