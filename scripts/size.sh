#!/usr/bin/env bash
# Where the bytes of a shipped wasm build go: its functions by size, optimised exactly as
# scripts/build-wasm.sh does but with the names kept (-g), and the total per crate. For whoever
# works on size (issue 11); not a test.
#
#   bash scripts/size.sh [simd|base|gpu] [--top N]     (default: simd, the top 40)
#
# Builds that variant as scripts/build-wasm.sh does (ship_build; quick when nothing changed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

variant=simd
top=40
while [ $# -gt 0 ]; do
  case "$1" in
    simd | base | gpu) variant="$1" ;;
    --top) top="${2:?--top needs a number}"; shift ;;
    *) die "usage: bash scripts/size.sh [simd|base|gpu] [--top N]" ;;
  esac
  shift
done
features=("${WASM_OPT_FEATURES[@]}")
[ "$variant" != base ] && features+=(--enable-simd)

step "cargo build ($variant, as shipped)"
raw="$(ship_build "$variant")"
work="$(mktemp -d "${TMPDIR:-/tmp}/fewclick-size.XXXXXX")"
trap 'rm -rf "$work"' EXIT
wasm-bindgen --target web --out-dir "$work" "$raw"
"$WASM_OPT" -O3 -g "${features[@]}" "$work/fewclick_bg.wasm" -o "$work/named.wasm"
# As build-wasm.sh ships it (the named copy above keeps the names).
ship_optimise "$variant" "$work"
step "$variant build: $(wc -c <"$work/opt.wasm") bytes shipped ($(gzip -9 -c "$work/opt.wasm" | wc -c) gzip -9); functions by code size"
"$WASM_OPT" "$work/named.wasm" "${features[@]}" --func-metrics -o /dev/null 2>&1 \
  | awk '/^func: /{name=substr($0,7)} /\[binary-bytes\]/{if(name!=""){print $3 "\t" name; name=""}}' \
  | sort -rn >"$work/funcs.tsv"
head -n "$top" "$work/funcs.tsv" | awk -F'\t' '{printf "%8d  %s\n", $1, $2}'
step "code bytes per crate (the first path segment of each name; an export's shim holds what was inlined into it)"
awk -F'\t' '{
  n = $2
  if (n ~ / shim$/ || n ~ /^__wbg/) c = "exports (shims)"
  else {
    gsub(/^<+/, "", n)
    # <f64 as core::fmt::Display>::fmt counts for the crate of the trait.
    if (match(n, /^[a-z0-9&\[\]; ]+ as /)) n = substr(n, RLENGTH + 1)
    gsub(/^<+/, "", n)
    c = n
    sub(/(::|\[| as |>|<).*/, "", c)
  }
  bytes[c] += $1
} END { for (c in bytes) printf "%8d  %s\n", bytes[c], c }' "$work/funcs.tsv" | sort -rn | head -n 20
