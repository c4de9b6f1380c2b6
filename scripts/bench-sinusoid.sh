#!/usr/bin/env bash
# The sinusoid of the MAML paper (issue 9), both sides on one machine: builds the release CLI, runs
# `fewclick sinusoid --json`, runs the torch.func peer under the same protocol
# (bench/peers/torch/sinusoid.py through run.sh, which installs torch into its own venv on first
# use), and prints the test MSE after 0 / 1 / 10 inner steps side by side: per seed, and the mean
# over seeds. Not a test: CI does not run it. Both sides are deterministic for a seed, but they
# draw different tasks (each its own generator), so only the means over seeds compare.
#
#   bash scripts/bench-sinusoid.sh [--no-peer] [--algorithms maml,fomaml] [--seed N] [--seeds N]
#                                  [--iterations N] [--test-tasks N] [--test-query N]
#
# The arguments go to both sides unchanged. The JSON rows land in bench-results/sinusoid.jsonl.
# At the default 20,000 iterations, 3 seeds and both algorithms: about 10 min a side on 2 cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

peer=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-peer) peer=0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

out="$ROOT/bench-results/sinusoid.jsonl"
bench_cli "$out"

step "fewclick sinusoid --json ${args[*]:-}"
target/release/fewclick sinusoid --json "${args[@]}" >>"$out" || die "fewclick sinusoid failed"
if [ "$peer" = 1 ]; then
  step "torch.func peer (bench/peers/torch: $(grep -v '^#' bench/peers/torch/requirements.txt | xargs))"
  bash bench/peers/torch/run.sh sinusoid "${args[@]}" >>"$out" || die "the torch.func peer failed (bench/peers/torch/run.sh sinusoid)"
fi

step "side by side (rows in ${out#"$ROOT"/})"
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
steps = rows[0]["eval_steps"]
sides = list(dict.fromkeys(r["side"] for r in rows))
print(f"Sinusoid, {rows[0]['iterations']} iterations; test MSE after {' / '.join(map(str, steps))} inner steps "
      "(mean over the test tasks; median in brackets)")
print()
print("| algorithm | seed | " + " | ".join(sides) + " |")
print("|---|---|" + "---|" * len(sides))
key = lambda r: (r["algorithm"], r["seed"])
for alg, seed in dict.fromkeys(key(r) for r in rows):
    cells = []
    for side in sides:
        r = next((r for r in rows if r["side"] == side and key(r) == (alg, seed)), None)
        cells.append("—" if r is None else " / ".join(f"{m:.3f} ({d:.3f})" for m, d in zip(r["mse"], r["median"])))
    print(f"| {alg} | {seed} | " + " | ".join(cells) + " |")
print()
print("| algorithm (mean over seeds) | " + " | ".join(sides) + " |")
print("|---|" + "---|" * len(sides))
for alg in dict.fromkeys(r["algorithm"] for r in rows):
    cells = []
    for side in sides:
        rs = [r for r in rows if r["side"] == side and r["algorithm"] == alg]
        cells.append("—" if not rs else " / ".join(f"{statistics.fmean(r['mse'][k] for r in rs):.3f}" for k in range(len(steps)))
                     + f" ({len(rs)} seeds)")
    print(f"| {alg} | " + " | ".join(cells) + " |")
PY
