#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): builds the wheel with maturin, installs it
# into python/.venv, builds the fewclick CLI (the determinism tests compare with `fewclick train`),
# then runs the tests on a local Ray cluster of 2 CPUs over Parquet shards the tests write.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
[ -x "$PY_VENV/bin/python" ] || python_env
step "the Python package (maturin build --release, pip install)"
python_package
ok "$(ls target/wheels/fewclick-*.whl | xargs -n1 basename)"
step "the fewclick CLI (cargo build --release)"
cargo build --release --bin fewclick --quiet
step "pytest python/tests"
# Ray's own warnings about this sandbox (no dashboard, token files) are not the tests' business.
RAY_DEDUP_LOGS=0 "$PY_VENV/bin/python" -m pytest -p no:cacheprovider -q python/tests "$@"
