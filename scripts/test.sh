#!/usr/bin/env bash
# The project's test command: everything CI runs, in order, stopping at the first failure.
#
#   1. scripts/setup.sh                       (tools; idempotent)
#   2. cargo test                             (native, default features)
#      scripts/test-aarch64.sh                (the library's tests on aarch64, under qemu-user)
#      scripts/test-python.sh                 (the Python package and its Ray driver, pytest)
#   3. scripts/fuzz.sh --seconds 30           (cargo-fuzz smoke: each fuzz target 30 s)
#   4. tests/core.rs compiled to wasm32 and run by wasm-bindgen-test-runner:
#        SIMD build      in Node and in headless Chromium
#        baseline build  in Node and in headless Chromium
#   5. scripts/build-wasm.sh                  (the npm package in pkg/), then the pages' size budget
#   6. scripts/test-js.sh                     (the packed package from Node, tsc, Chromium)
#
# Logs of each stage go to test-artifacts/<stage>.log; a summary is printed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

ARTIFACTS="$ROOT/test-artifacts"
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

SUMMARY=()
STARTED=$SECONDS
current=""

finish() {
  local rc=$?
  echo
  echo "==================== fewclick test summary ===================="
  local line
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
  if [ "$rc" -ne 0 ] && [ -n "$current" ]; then
    echo "  FAILED  $current  (log: ${ARTIFACTS#"$ROOT"/}/$current.log)"
  fi
  echo "  total time: $((SECONDS - STARTED)) s"
  if [ "$rc" -eq 0 ]; then echo "  result: PASS"; else echo "  result: FAIL (exit $rc)"; fi
  echo "================================================================"
}
trap finish EXIT

# Sums "test result: ok. N passed; M failed; K ignored" lines (cargo and wasm-bindgen-test).
count_tests() {
  awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
       END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$1"
}
passed_count() { awk '/test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$1"; }

# stage NAME CMD...: runs CMD with its output shown and logged; stops the script if it fails.
stage() {
  current="$1"
  shift
  local log="$ARTIFACTS/$current.log" t0=$SECONDS
  step "$current"
  "$@" 2>&1 | tee "$log"
  LAST_LOG="$log"
  LAST_SECONDS=$((SECONDS - t0))
  current=""
}

stage setup bash scripts/setup.sh
SUMMARY+=("ok      setup ($LAST_SECONDS s)")

stage native-tests cargo test
SUMMARY+=("ok      native cargo test: $(count_tests "$LAST_LOG") ($LAST_SECONDS s)")

# The library's unit tests on aarch64 under qemu-user: the NEON kernel against the portable twin
# bit for bit, and the trainer's checks on top of it.
stage aarch64-tests bash scripts/test-aarch64.sh
grep -q 'neon_matmul_is_bit_identical_to_the_portable_twin \.\.\. ok' "$LAST_LOG" \
  || { current=aarch64-tests; die "the NEON kernel's test did not run on aarch64"; }
SUMMARY+=("ok      aarch64 (qemu-user) library tests: $(count_tests "$LAST_LOG") ($LAST_SECONDS s)")

# The Python package (maturin wheel) and the Ray driver on a local 2-CPU cluster: determinism
# against `fewclick train`, a killed worker, checkpoint and resume.
stage python-tests bash scripts/test-python.sh
SUMMARY+=("ok      Python package + Ray driver: $(grep -Eo '[0-9]+ passed[^=]*' "$LAST_LOG" | tail -n1) ($LAST_SECONDS s)")

# Coverage-guided fuzzing smoke (cargo-fuzz, fuzz/): every target FUZZ_SECONDS (30) from the
# committed seeds plus what earlier runs found; a crash fails the stage and names its input under
# fuzz/artifacts/<target>/. Longer runs: bash scripts/fuzz.sh --seconds 600.
fuzz_seconds="${FUZZ_SECONDS:-30}"
stage fuzz-smoke bash scripts/fuzz.sh --seconds "$fuzz_seconds"
execs="$(sed -n 's/^ *ok: \([a-z_]*\): \([0-9]*\) executions.*/\1 \2/p' "$LAST_LOG" | paste -sd, - | sed 's/,/, /g')"
SUMMARY+=("ok      fuzz smoke, $fuzz_seconds s a target, no crash: $execs executions ($LAST_SECONDS s)")

# wasm32 tests: one build per variant (its own CARGO_TARGET_DIR and RUSTFLAGS), run twice.
wasm_tests() {
  local variant="$1" where="$2"
  (
    wasm_env "$variant"
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
    export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
    if [ "$where" = chromium ]; then
      export WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver
    else
      unset WASM_BINDGEN_USE_BROWSER CHROMEDRIVER
    fi
    cargo test --target wasm32-unknown-unknown --no-default-features --test core
  )
}
# The relaxed SIMD build runs in Chromium only: Node 20 validates relaxed SIMD only behind a flag.
for spec in simd:node simd:chromium relaxed:chromium base:node base:chromium; do
  variant="${spec%%:*}" where="${spec#*:}"
  stage "wasm-$variant-$where" wasm_tests "$variant" "$where"
  # A runner that skips (a test file pinned to another mode) still exits 0: insist that tests
  # ran, and ran where they were meant to.
  [ "$(passed_count "$LAST_LOG")" -gt 0 ] || { current="wasm-$variant-$where"; die "no wasm tests ran ($LAST_LOG)"; }
  if [ "$where" = chromium ]; then
    grep -q "Running headless tests in Chrome" "$LAST_LOG" || { current="wasm-$variant-$where"; die "the tests did not run in headless Chromium"; }
  fi
  SUMMARY+=("ok      wasm $variant build in $where: $(count_tests "$LAST_LOG") ($LAST_SECONDS s)")
done

stage build-wasm bash scripts/build-wasm.sh
sizes="$(sed -n 's/.*a page loads, \(CPU\|gpu\) build[^:]*: *\([0-9]*\) bytes.*/\1 \2 B/p' "$LAST_LOG" | paste -sd, - | sed 's/,/, /g' || true)"
[ -n "$sizes" ] || { current=build-wasm; die "build-wasm.sh printed no page sizes ($LAST_LOG)"; }
SUMMARY+=("ok      npm package built; a page loads (gzip): $sizes ($LAST_SECONDS s)")
# The size budget: a page that grows past it fails the test command. Issue 11's targets, 60 KB
# (CPU) and 75 KB (gpu), are met since session 19, so the budget is the targets themselves (it was
# a ratchet at the page's weight until then; lower it further as the pages shrink).
CPU_PAGE_BUDGET=60000
GPU_PAGE_BUDGET=75000
current=size-budget
cpu_page="$(node -p "require('$ROOT/target/pkg-sizes.json').cpu_page_gzip")"
gpu_page="$(node -p "require('$ROOT/target/pkg-sizes.json').gpu_page_gzip")"
verdict="CPU page $cpu_page B (budget $CPU_PAGE_BUDGET, target 60000), gpu page $gpu_page B (budget $GPU_PAGE_BUDGET, target 75000)"
echo "size budget: $verdict" | tee "$ARTIFACTS/size-budget.log"
[ "$cpu_page" -le "$CPU_PAGE_BUDGET" ] && [ "$gpu_page" -le "$GPU_PAGE_BUDGET" ] || die "a page is over its size budget: $verdict"
SUMMARY+=("ok      size budget (gzip): $verdict")
current=""

stage js-tests bash scripts/test-js.sh
SUMMARY+=("ok      JS package tests: $(grep -E '^# (pass|fail)' "$LAST_LOG" | awk '{s[$2] += $3} END {printf "%d passed, %d failed", s["pass"], s["fail"]}'), tsc --noEmit strict ($LAST_SECONDS s)")

# The demo store end to end in headless Chromium (search, clicks re-rank, same-origin requests only,
# personalisation off = catalogue order, screenshots into test-artifacts/).
stage demo-e2e node tests/e2e/run.mjs
SUMMARY+=("ok      demo end to end in headless Chromium: $(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$LAST_LOG" | tail -n1) ($LAST_SECONDS s)")

# WebGPU kernels and rankAsync (tests/webgpu.rs) in headless Chromium with --enable-unsafe-webgpu
# (SwiftShader): a build with --cfg=web_sys_unstable_apis in its own target directory.
webgpu_tests() {
  (
    wasm_env gpu
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
    export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
    export WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver
    export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webgpu/webdriver.json"
    cargo test --target wasm32-unknown-unknown --no-default-features --test webgpu -- --nocapture
  )
}
stage webgpu-chromium webgpu_tests
[ "$(passed_count "$LAST_LOG")" -gt 0 ] || { current=webgpu-chromium; die "no WebGPU tests ran ($LAST_LOG)"; }
grep -q "Running headless tests in Chrome" "$LAST_LOG" || { current=webgpu-chromium; die "the WebGPU tests did not run in headless Chromium"; }
SUMMARY+=("ok      WebGPU kernels + rankAsync in headless Chromium (SwiftShader): $(count_tests "$LAST_LOG") ($LAST_SECONDS s)")
