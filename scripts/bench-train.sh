#!/usr/bin/env bash
# The training benchmark (issue 12), both sides: builds the release CLI, runs `fewclick bench-train`,
# runs the torch.func peer (bench/peers/torch/run.sh, which installs torch into its own venv on
# first use), and prints meta-steps/s side by side with the ratio. Not a test: CI does not run it.
#
#   bash scripts/bench-train.sh [--no-peer] [--algorithms LIST] [--steps N] [--warmup N]
#                               [--threads N] [--seed N]
#
# The other arguments go to both sides unchanged. The JSON rows land in
# bench-results/bench-train.jsonl (fewclick's first, then the peer's).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

peer=1
args=()
for a in "$@"; do
  case "$a" in
    --no-peer) peer=0 ;;
    *) args+=("$a") ;;
  esac
done

out="$ROOT/bench-results/bench-train.jsonl"
mkdir -p "$(dirname "$out")"

step "build (cargo build --release --bin fewclick)"
cargo build --release --bin fewclick || die "cargo build failed"
ok "target/release/fewclick"

step "fewclick bench-train ${args[*]:-}"
target/release/fewclick bench-train "${args[@]}" >"$out" || die "fewclick bench-train failed"

if [ "$peer" = 1 ]; then
  step "torch.func peer (bench/peers/torch: $(grep -v '^#' bench/peers/torch/requirements.txt | xargs))"
  bash bench/peers/torch/run.sh "${args[@]}" >>"$out" || die "the torch.func peer failed (bench/peers/torch/run.sh)"
fi

step "side by side (meta-steps/s; ratio = fewclick / torch.func; rows in ${out#"$ROOT"/})"
python3 - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
side = {s: {r["algorithm"]: r for r in rows if r["side"] == s} for s in ("fewclick", "torch.func")}
first = rows[0]
print(f"{first['params']} parameters, meta-batch {first['meta_batch']}, {first['inner_steps']} inner steps, "
      f"{first['threads']} threads, {first['steps']} timed steps after {first['warmup']}, seed {first['seed']}")
print()
print("| algorithm | fewclick steps/s | torch.func steps/s | ratio |")
print("|---|---|---|---|")
for alg, f in side["fewclick"].items():
    t = side["torch.func"].get(alg)
    fs = f["meta_steps_per_s"]
    ts = f"{t['meta_steps_per_s']:.2f}" if t else "—"
    ratio = f"{fs / t['meta_steps_per_s']:.2f}×" if t else "—"
    print(f"| {alg} | {fs:.2f} | {ts} | {ratio} |")
EOF
