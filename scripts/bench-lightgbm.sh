#!/usr/bin/env bash
# The LightGBM peer evaluation on the trivago slice (bench/peers/lightgbm/session_ranker.py): lambdarank
# models on nested feature sets beside the display order and the "engaged items first" rule, test
# MRR with paired bootstrap intervals. Installs the pinned LightGBM, numpy and pandas into
# bench/peers/lightgbm/.venv on first use (again only when a pin changes). Reads
# ../shared/data/trivago/sessions.csv, writes nothing. Not a test: CI does not run it. About 5
# minutes on 2 threads.
#
#   bash scripts/bench-lightgbm.sh [--sessions PATH] [--seed N] [--split 0.8] [--sets A,B,C,D]
#
# The arguments go to session_ranker.py unchanged; its docstring says what each feature set holds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

step "LightGBM peer (bench/peers/lightgbm: $(grep -v '^#' bench/peers/lightgbm/requirements.txt | xargs))"
peer_venv "$ROOT/bench/peers/lightgbm" lightgbm
step "session_ranker.py ${*:-}"
exec "$PEER_PY" bench/peers/lightgbm/session_ranker.py "$@"
