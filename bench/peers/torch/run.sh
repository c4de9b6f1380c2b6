#!/usr/bin/env bash
# The torch.func peer of `fewclick bench-train`: creates bench/peers/torch/.venv on first use
# (python3 -m venv, then pip install -r requirements.txt from the package registry), skips the
# install when the venv already holds the pinned versions (peer_venv, scripts/lib/common.sh), then
# runs bench_train.py with the arguments given (--algorithms, --steps, --threads, --seed). JSON
# rows on stdout, the rest on stderr. Not a test: CI does not run it.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$DIR/../../../scripts/lib/common.sh"
peer_venv "$DIR" torch
exec "$PEER_PY" "$DIR/bench_train.py" "$@"
