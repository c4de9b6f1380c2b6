#!/usr/bin/env bash
# The torch.func peer of `fewclick bench-train`: creates bench/peers/torch/.venv on first use
# (python3 -m venv, then pip install -r requirements.txt from the package registry), skips the
# install when the venv already holds the pinned versions, then runs bench_train.py with the
# arguments given (--algorithms, --steps, --threads, --seed). JSON rows on stdout, the rest on
# stderr. Not a test: CI does not run it.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$DIR/.venv"
PY="$VENV/bin/python"

# Every `name==version` line of requirements.txt must be what the venv has installed.
pinned_ok() {
  [ -x "$PY" ] || return 1
  "$PY" - "$DIR/requirements.txt" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        sys.exit(1)
    if have.split("+")[0] != want.strip():
        sys.exit(1)
PYEOF
}

if pinned_ok; then
  echo "torch peer: $(grep -v '^#' "$DIR/requirements.txt" | xargs) already installed in $VENV" >&2
else
  echo "torch peer: installing $(grep -v '^#' "$DIR/requirements.txt" | xargs) into $VENV (a few minutes)" >&2
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$DIR/requirements.txt" >&2
  pinned_ok || { echo "error: $VENV does not hold the pinned versions after pip install" >&2; exit 1; }
fi
exec "$PY" "$DIR/bench_train.py" "$@"
