#!/usr/bin/env bash
# The torch.func peers: creates bench/peers/torch/.venv on first use (python3 -m venv, then pip
# install -r requirements.txt from the package registry), skips the install when the venv already
# holds the pinned versions (peer_venv, scripts/lib/common.sh), then runs
#   - bench_train.py, the peer of `fewclick bench-train`, with the arguments given (--algorithms,
#     --steps, --threads, --seed);
#   - sinusoid.py, the peer of `fewclick sinusoid`, when the first argument is `sinusoid`
#     (--algorithms, --seed, --seeds, --iterations, --test-tasks, --test-query, --threads).
# JSON rows on stdout, the rest on stderr. Not a test: CI does not run it.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$DIR/../../../scripts/lib/common.sh"
peer_venv "$DIR" torch
if [ "${1:-}" = sinusoid ]; then
  shift
  exec "$PEER_PY" -W ignore::UserWarning "$DIR/sinusoid.py" "$@"
fi
exec "$PEER_PY" "$DIR/bench_train.py" "$@"
