#!/usr/bin/env bash
# Builds the package (scripts/build-wasm.sh), installs the benchmark's TF.js peer
# (bench/peers/tfjs/), then runs the benchmark (scripts/bench.mjs) and prints its tables;
# arguments go to bench.mjs (--quick, --no-chromium, --no-node, --no-peer, --peer-only).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

# The TF.js peer (scripts/bench/peer-tfjs.mjs): the exact versions bench/peers/tfjs/package.json
# pins, in a folder of its own outside the package (its node_modules is git-ignored). npm install
# runs only when an installed version differs from its pin or is missing.
install_peer() {
  local dir="$ROOT/bench/peers/tfjs"
  step "TF.js peer (bench/peers/tfjs: $(node -p "Object.entries(require('$dir/package.json').dependencies).map(([n, v]) => n + ' ' + v).join(', ')"))"
  local check="const d = require('$dir/package.json').dependencies;
    for (const [n, v] of Object.entries(d)) {
      let have; try { have = require('$dir/node_modules/' + n + '/package.json').version; } catch { have = null; }
      if (have !== v) process.exit(1);
    }"
  if node -e "$check" 2>/dev/null; then
    ok "already installed"
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || die "npm install in bench/peers/tfjs failed"
    node -e "$check" || die "bench/peers/tfjs/node_modules does not hold the pinned versions after npm install"
    ok "installed"
  fi
}

bash scripts/build-wasm.sh
# bench.mjs runs the peer unless told --no-peer or --no-chromium (--peer-only runs it anyway).
args=" $* "
if [[ "$args" == *" --peer-only "* || ("$args" != *" --no-peer "* && "$args" != *" --no-chromium "*) ]]; then
  install_peer
fi
step "benchmark (about 2 to 4 minutes, and about 1 more with the TF.js peer)"
node scripts/bench.mjs "$@"
