#!/usr/bin/env bash
# Issue 14's scaling table: meta-steps/s of the Ray driver with 1 and 2 local workers beside
# `fewclick train` (bench/ray/scaling.py; arguments are passed on). Not a test; CI does not run it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
python_env
python_package
cargo build --release --bin fewclick --quiet
"$PY_VENV/bin/python" bench/ray/scaling.py "$@"
