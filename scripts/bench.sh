#!/usr/bin/env bash
# Builds the package (scripts/build-wasm.sh), then runs the benchmark (scripts/bench.mjs) and
# prints its tables; arguments go to bench.mjs (--quick, --no-chromium, --no-node).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
bash scripts/build-wasm.sh
step "benchmark (about 2 to 4 minutes)"
node scripts/bench.mjs "$@"
