#!/usr/bin/env bash
# The training benchmark (issue 12), both sides: builds the release CLI, runs `fewclick bench-train`,
# runs the torch.func peer (bench/peers/torch/run.sh, which installs torch into its own venv on
# first use), and prints meta-steps/s side by side with the ratio. Not a test: CI does not run it.
#
#   bash scripts/bench-train.sh [--no-peer] [--rounds N] [--algorithms LIST] [--steps N]
#                               [--warmup N] [--threads N] [--seed N]
#
# --rounds N (default 3) runs both sides N times, taking turns (fewclick, peer, fewclick, ...), and
# reports each side's median over the rounds, the ratio of the medians and the range of the
# per-round ratios: a single run of either side moves by ±20 % on a shared 2-core machine. The
# other arguments go to both sides unchanged. The JSON rows, each with its round, land in
# bench-results/bench-train.jsonl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

peer=1
rounds=3
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-peer) peer=0 ;;
    --rounds) rounds="${2:?--rounds needs a count}"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, got $rounds"

out="$ROOT/bench-results/bench-train.jsonl"
bench_cli "$out"

# tag ROUND: copies the JSON rows on stdin to stdout with "round": ROUND added.
tag() {
  python3 -c 'import json, sys
for line in sys.stdin:
    if line.strip():
        row = json.loads(line)
        row["round"] = int(sys.argv[1])
        print(json.dumps(row))' "$1"
}

for round in $(seq "$rounds"); do
  step "round $round of $rounds: fewclick bench-train ${args[*]:-}"
  target/release/fewclick bench-train "${args[@]}" | tag "$round" >>"$out" || die "fewclick bench-train failed"
  if [ "$peer" = 1 ]; then
    step "round $round of $rounds: torch.func peer (bench/peers/torch: $(grep -v '^#' bench/peers/torch/requirements.txt | xargs))"
    bash bench/peers/torch/run.sh "${args[@]}" | tag "$round" >>"$out" \
      || die "the torch.func peer failed (bench/peers/torch/run.sh)"
  fi
done

step "side by side (meta-steps/s; ratio = fewclick / torch.func; rows in ${out#"$ROOT"/})"
python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def runs(side, alg):
    return [r["meta_steps_per_s"] for r in rows if r["side"] == side and r["algorithm"] == alg]
first = rows[0]
rounds = max(r["round"] for r in rows)
print(f"{first['params']} parameters, meta-batch {first['meta_batch']}, {first['inner_steps']} inner steps, "
      f"{first['threads']} threads, {first['steps']} timed steps after {first['warmup']}, seed {first['seed']}, "
      f"{rounds} round(s) taking turns; medians over the rounds")
print()
print("| algorithm | fewclick steps/s | torch.func steps/s | ratio of medians | per-round ratios |")
print("|---|---|---|---|---|")
for alg in dict.fromkeys(r["algorithm"] for r in rows if r["side"] == "fewclick"):
    f, t = runs("fewclick", alg), runs("torch.func", alg)
    fm = statistics.median(f)
    if t:
        tm = statistics.median(t)
        per = [a / b for a, b in zip(f, t)]
        print(f"| {alg} | {fm:.1f} | {tm:.1f} | {fm / tm:.2f}× | {min(per):.2f}–{max(per):.2f}× |")
    else:
        print(f"| {alg} | {fm:.1f} | — | — | — |")
EOF
