# Shared shell helpers for scripts/*.sh. Source it; do not run it.
#
# The wasm build settings live here, in one place: every script that compiles the crate for
# wasm32 (build-wasm.sh, test.sh, bench.sh) calls `wasm_env <variant>` so the SIMD and the
# baseline builds each keep their own target directory and flags and never rebuild each other.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# Progress lines: "==> doing X", "  ok: X", "error: X" (to stderr), then exit.
step() { printf '==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Flags every wasm build gets. RUSTFLAGS replaces any rustflags in .cargo/config.toml, so a flag
# the crate needs on wasm belongs here.
WASM_RUSTFLAGS_COMMON=""

# wasm_env simd|relaxed|base|gpu|bench: exports RUSTFLAGS and CARGO_TARGET_DIR for that build. `gpu` is the
# SIMD build with the WebGPU backend compiled in (web-sys's WebGPU bindings need
# --cfg=web_sys_unstable_apis); the others answer rankAsync() on the CPU and say why. `bench` is
# the SIMD build with the cargo feature `bench` (syntheticModel and the kernel probes; ship_build
# adds the feature). `relaxed` is the SIMD build with relaxed SIMD too (fused multiply-adds in the
# kernels; loaded where the engine validates it). Each build keeps its own target directory.
wasm_env() {
  local simd="-C target-feature=+simd128" webgpu="--cfg=web_sys_unstable_apis" flags
  case "$1" in
    simd) flags="$simd" ;;
    relaxed) flags="$simd,+relaxed-simd" ;;
    base) flags="" ;;
    gpu) flags="$webgpu $simd" ;;
    bench) flags="$simd" ;;
    *) die "wasm_env: unknown variant '$1' (expected simd, relaxed, base, gpu or bench)" ;;
  esac
  export RUSTFLAGS="${WASM_RUSTFLAGS_COMMON:+$WASM_RUSTFLAGS_COMMON }$flags"
  local dir="$1"
  [ "$1" = gpu ] && dir="simd-webgpu"
  [ "$1" = bench ] && dir="simd-bench"
  [ "$1" = relaxed ] && dir="simd-relaxed"
  export CARGO_TARGET_DIR="$ROOT/target/wasm-$dir"
}

# The exact wasm-bindgen version Cargo.toml pins (`wasm-bindgen = "=X"`); the CLI must match it.
pinned_wasm_bindgen() {
  sed -n 's/^wasm-bindgen *= *"=\([0-9][0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1
}

# The crate version (first `version = "..."` line, in [package]).
crate_version() {
  sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1
}

# Sum of the gzip -9 sizes in bytes of the given files, each compressed on its own (as a server
# sends them).
gz_size() {
  local total=0 f
  for f in "$@"; do total=$((total + $(gzip -9c "$f" | wc -c))); done
  echo "$total"
}

# Binaryen's wasm-opt: the version pinned in tools/package-lock.json (npm `binaryen`). Debian's
# wasm-opt 108 cannot be used: it rewrites modules with two tables (wasm-bindgen's externref table
# beside the function table) so that `__wbindgen_externrefs` exports the funcref table, and the
# module then fails to instantiate. Override with WASM_OPT=/path/to/wasm-opt (build-wasm.sh still
# instantiates the result to prove it works).
WASM_OPT="${WASM_OPT:-$ROOT/tools/node_modules/.bin/wasm-opt}"

# Binaryen features rustc's wasm32 target emits by default (since Rust 1.82/1.87): bulk memory,
# sign extension, non-trapping float-to-int, mutable globals, reference types (wasm-bindgen's
# externref table) and multivalue. The SIMD build adds --enable-simd.
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

# ship_optimise VARIANT DIR: DIR holds wasm-bindgen's output (fewclick_bg.wasm, fewclick.js);
# writes DIR/opt.wasm as the package ships it and makes DIR/fewclick.js follow its names.
#   1. -O3, and the metadata sections a browser never reads stripped;
#   2. import and export names minified (wasm-bindgen's carry 16-hex-digit hashes), the glue
#      renamed to match by scripts/lib/minify-wasm-names.mjs: about 1.5 KB gzip off the wasm;
#   3. a second round: -O4 twice around merging functions that differ only in constants; for the
#      CPU builds then functions ordered by calls (small indices for the most called), which
#      makes the gpu build's gzip larger instead. Measured per build (ARCHITECTURE.md, "A second
#      round of wasm-opt"): SIMD 0.6 KB, gpu 0.4 KB gzip off.
# build-wasm.sh ships the result; size.sh weighs it.
ship_optimise() {
  local variant="$1" dir="$2" features=("${WASM_OPT_FEATURES[@]}") second=(-O4 --merge-similar-functions -O4)
  [ "$variant" != base ] && features+=(--enable-simd)
  [ "$variant" = relaxed ] && features+=(--enable-relaxed-simd)
  [ "$variant" != gpu ] && second+=(--reorder-functions)
  "$WASM_OPT" -O3 "${features[@]}" --strip-target-features --strip-producers \
    "$dir/fewclick_bg.wasm" -o "$dir/o3.wasm" \
    || die "wasm-opt failed on the $variant build (features: ${features[*]})"
  "$WASM_OPT" "${features[@]}" --minify-imports-and-exports-and-modules "$dir/o3.wasm" -o "$dir/min.wasm" >/dev/null \
    || die "wasm-opt could not minify the $variant build's import and export names"
  node "$ROOT/scripts/lib/minify-wasm-names.mjs" "$dir/o3.wasm" "$dir/min.wasm" "$dir/fewclick.js" \
    || die "the $variant glue could not follow its wasm's minified names"
  "$WASM_OPT" "${features[@]}" "${second[@]}" "$dir/min.wasm" -o "$dir/opt.wasm" \
    || die "wasm-opt's second round failed on the $variant build"
}

# The project's one nightly, pinned in fuzz/rust-toolchain.toml: cargo-fuzz builds with it, and
# the shipped wasm builds do (their panic strategy needs -Zbuild-std; see ship_build).
pinned_nightly() {
  local n
  n="$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' "$ROOT/fuzz/rust-toolchain.toml")"
  [ -n "$n" ] || die "could not read the pinned nightly (channel = \"...\") from fuzz/rust-toolchain.toml"
  printf '%s\n' "$n"
}

# nightly_toolchain: installs the pinned nightly with rust-src (what -Zbuild-std compiles) unless
# it is there (scripts/setup.sh, scripts/fuzz.sh).
nightly_toolchain() {
  local n
  n="$(pinned_nightly)"
  step "Rust $n with rust-src (cargo-fuzz builds; the shipped wasm builds)"
  if ! rustup toolchain list 2>/dev/null | grep -q "^$n-"; then
    rustup toolchain install "$n" --profile minimal --component rust-src
    ok "installed"
  elif ! rustup component list --toolchain "$n" --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain "$n"
    ok "rust-src added"
  else
    ok "already installed"
  fi
}

# ship_build simd|base|gpu|bench: compiles that wasm variant as the package ships it and prints the
# raw .wasm's path. wasm_env's flags, on the pinned nightly with std rebuilt (-Zbuild-std) and
# panics as an immediate trap (-Cpanic=immediate-abort): no panic messages, source locations or
# the formatting behind them in a page. A panic was a trap before too (wasm32 cannot unwind, and
# its default panic hook prints nowhere); nothing in the core panics by design (fuzzed, see
# ARCHITECTURE.md). The tests' wasm builds (test.sh) stay on stable with the standard strategy.
# LLVM's inliner runs with a threshold of 10 instead of 225 (SHIP_INLINE_THRESHOLD overrides it,
# for measuring): cold code stays out of line where it was copied into each caller (2.7 KB gzip
# off the CPU page, 4 KB off the gpu page); the kernels and the small accessors of the hot path
# are #[inline] or #[inline(always)], which the threshold does not touch.
SHIP_INLINE_THRESHOLD="${SHIP_INLINE_THRESHOLD:-10}"
ship_build() {
  local n
  n="$(pinned_nightly)"
  (
    wasm_env "$1"
    export RUSTFLAGS="$RUSTFLAGS -Zunstable-options -Cpanic=immediate-abort -Cllvm-args=-inline-threshold=$SHIP_INLINE_THRESHOLD --cfg fewclick_ship"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR/\/wasm-//ship-}"
    local features=()
    [ "$1" = bench ] && features=(--features bench)
    cargo "+$n" build --lib --release --no-default-features "${features[@]}" --target wasm32-unknown-unknown \
      -Zbuild-std=std,panic_abort --quiet >&2
    printf '%s\n' "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/fewclick.wasm"
  )
}

# bench_cli OUT: the benchmarks' common start: an empty OUT (JSON rows, its folder created) and
# the release CLI built (target/release/fewclick).
bench_cli() {
  mkdir -p "$(dirname "$1")"
  : >"$1"
  step "build (cargo build --release --bin fewclick)"
  cargo build --release --bin fewclick || die "cargo build failed"
  ok "target/release/fewclick"
}

# fuzz_tools: makes sure the pinned nightly and the cargo-fuzz that fuzz/Cargo.toml pins are
# installed (scripts/setup.sh and scripts/fuzz.sh both call it; each check is quick when they
# are), and sets FUZZ_NIGHTLY to the nightly's name.
fuzz_tools() {
  FUZZ_NIGHTLY="$(pinned_nightly)"
  local pin have
  pin="$(sed -n 's/^cargo-fuzz-version *= *"\([^"]*\)".*/\1/p' "$ROOT/fuzz/Cargo.toml")"
  [ -n "$pin" ] || die "could not read cargo-fuzz-version from fuzz/Cargo.toml"
  nightly_toolchain
  step "cargo-fuzz $pin"
  have="$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" || true
  if [ "$have" = "$pin" ]; then
    ok "already installed"
  else
    note "found '${have:-none}'; cargo install cargo-fuzz --version $pin --locked (about 2 minutes)"
    cargo install cargo-fuzz --version "$pin" --locked --quiet
    have="$(cargo fuzz --version | awk '{print $2}')"
    [ "$have" = "$pin" ] || die "installed cargo-fuzz reports '$have', expected $pin"
    ok "installed"
  fi
}

# The Python package's virtual environment (python/: maturin, Ray, pyarrow, pandas, pytest from
# python/requirements.txt); python_env creates it if needed and installs the pinned packages.
PY_VENV="$ROOT/python/.venv"
python_env() {
  command -v python3 >/dev/null || die "python3 not found: install CPython 3.9 or later first"
  step "Python environment python/.venv (python/requirements.txt: maturin, ray, pyarrow, pandas, pytest)"
  local stamp="$PY_VENV/.requirements.txt"
  if [ -x "$PY_VENV/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/python/requirements.txt"; then
    ok "already installed"
  else
    [ -x "$PY_VENV/bin/python" ] || python3 -m venv "$PY_VENV"
    "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/python/requirements.txt"
    cp "$ROOT/python/requirements.txt" "$stamp"
    ok "installed"
  fi
  note "$("$PY_VENV/bin/python" --version); maturin $("$PY_VENV/bin/maturin" --version | awk '{print $2}'); ray $("$PY_VENV/bin/python" -c 'import ray; print(ray.__version__)')"
}

# Builds the Python package's wheel (release) into target/wheels and installs it into python/.venv.
python_package() {
  rm -f "$ROOT"/target/wheels/fewclick-*.whl
  "$PY_VENV/bin/maturin" build --release --quiet -m "$ROOT/python/Cargo.toml" -o "$ROOT/target/wheels" \
    -i "$PY_VENV/bin/python"
  "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$ROOT"/target/wheels/fewclick-*.whl
}

# peer_pins_ok DIR: whether DIR/.venv holds exactly every `name==version` of DIR/requirements.txt.
peer_pins_ok() {
  [ -x "$1/.venv/bin/python" ] || return 1
  "$1/.venv/bin/python" - "$1/requirements.txt" <<'PYEOF'
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

# peer_venv DIR NAME: a benchmark peer's own venv, DIR/.venv, with DIR/requirements.txt installed
# from the package registry; created on first use, reinstalled only when a pin changes. Sets
# PEER_PY to its python. Messages go to stderr (the peers print JSON rows on stdout).
peer_venv() {
  local dir="$1" name="$2" venv="$1/.venv" pins
  command -v python3 >/dev/null || die "python3 not found: install CPython 3.9 or later first"
  pins="$(grep -v '^#' "$dir/requirements.txt" | xargs)"
  PEER_PY="$venv/bin/python"
  if peer_pins_ok "$dir"; then
    printf '%s peer: %s already installed in %s\n' "$name" "$pins" "$venv" >&2
  else
    printf '%s peer: installing %s into %s (a few minutes)\n' "$name" "$pins" "$venv" >&2
    [ -x "$PEER_PY" ] || python3 -m venv "$venv"
    "$PEER_PY" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt" >&2
    peer_pins_ok "$dir" || die "$venv does not hold the pinned versions after pip install"
  fi
}
