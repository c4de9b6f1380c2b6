#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer): the targets in fuzz/fuzz_targets/.
#
#   bash scripts/fuzz.sh [--seconds N] [target...]     (default: 300 s each, every target)
#
#   model_reader    Model::from_bytes; a model read writes back and reads back equal; Reranker::new
#   loaders         the trainer's session-log loaders (JSONL, CSV, trivago, Parquet) and the
#                   promises a loaded dataset keeps; write_jsonl round trip
#   session_reader  EventLog::import of exported sessions; export ∘ import round trip
#   reranker_ops    the Reranker's API driven by arbitrary call sequences and floats
#
# Installs the pinned nightly (fuzz/rust-toolchain.toml) and cargo-fuzz (fuzz/Cargo.toml,
# package.metadata.fewclick) when missing, builds the targets in release mode with debug
# assertions and overflow checks and without a sanitizer (fewclick's native code has no `unsafe`;
# AddressSanitizer typically slows the build and halves the executions), seeds the scratch corpus
# fuzz/corpus/<target> from the committed fuzz/seeds/<target>, runs each target for N seconds and
# prints one line per target. Exits non-zero if a target crashed (a panic, a failed invariant, an
# input over the memory or time limit), naming the input under fuzz/artifacts/<target>/.
# Reproduce one with: fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

ALL_TARGETS=(model_reader loaders session_reader reranker_ops)
# Largest input per target: a few seeds' worth (models and sessions are ~1.5 KB, an op sequence
# is bounded by the harness anyway).
declare -A MAX_LEN=([model_reader]=16384 [loaders]=8192 [session_reader]=16384 [reranker_ops]=4096)

seconds=300
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || die "--seconds needs a number"; seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      [[ " ${ALL_TARGETS[*]} " == *" $1 "* ]] || die "unknown target '$1' (expected: ${ALL_TARGETS[*]})"
      targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive whole number, got '$seconds'"
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

fuzz_tools
nightly="$FUZZ_NIGHTLY"

host="$(rustc "+$nightly" -vV | sed -n 's/^host: //p')"
bin_dir="$ROOT/fuzz/target/$host/release"

step "build ${targets[*]} (release, debug assertions, no sanitizer)"
t0=$SECONDS
if [ ${#targets[@]} -eq ${#ALL_TARGETS[@]} ]; then
  (cd fuzz && cargo "+$nightly" fuzz build --sanitizer none)
else
  for t in "${targets[@]}"; do (cd fuzz && cargo "+$nightly" fuzz build --sanitizer none "$t"); done
fi
ok "built in $((SECONDS - t0)) s"

failed=()
for t in "${targets[@]}"; do
  step "fuzz $t for $seconds s"
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  # The committed seeds join the scratch corpus (never overwriting what a run found).
  if [ -d "fuzz/seeds/$t" ]; then cp -n "fuzz/seeds/$t"/* "$corpus"/ 2>/dev/null || true; fi
  log="$artifacts/run.log"
  rc=0
  "$bin_dir/$t" "$corpus" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="${MAX_LEN[$t]}" -timeout=30 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 &
  pid=$!
  wait "$pid" || rc=$?
  # The loaders target's input files, named by its process id.
  rm -f "${TMPDIR:-/tmp}/fewclick-fuzz-loaders-$pid".*
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  # libFuzzer names what it saved; slow-unit-* files (over 10 s, not failures) are only noted.
  found="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | grep -E '/(crash|leak|timeout|oom)-[^/]*$' || true)"
  slow="$(sed -n 's/.*Test unit written to \(.*slow-unit-.*\)$/\1/p' "$log" || true)"
  line="$t: ${execs:-?} executions in $seconds s ($(( ${execs:-0} / seconds ))/s), corpus $(ls "$corpus" | wc -l) inputs"
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    printf '    FAIL: %s, crash (libFuzzer exit %s, log %s)\n' "$line" "$rc" "$log"
    grep -E "panicked at|^ERROR: libFuzzer|SUMMARY" "$log" | grep -v "load must catch" | head -n 5 | sed 's/^/      /' || true
    for f in $found; do note "input: $f  (reproduce: $bin_dir/$t $f)"; done
    failed+=("$t")
  else
    ok "$line, 0 crashes"
  fi
  for f in $slow; do note "slow input (over 10 s, not a failure): $f"; done
done

[ ${#failed[@]} -eq 0 ] || die "fuzzing found crashes in: ${failed[*]}"
step "fuzzing done: ${targets[*]}, no crashes"
