#!/usr/bin/env bash
# Installs what building and testing fewclick needs on a fresh machine (Debian, rustup, Node 20,
# network to the package registries only). Idempotent: each step checks first and says what it
# did. Run as root, or with sudo available for apt-get.
#
#   - the wasm32-unknown-unknown Rust target
#   - wasm-bindgen-cli at exactly the version Cargo.toml pins
#   - Chromium + chromedriver (apt) for the headless browser tests
#   - the aarch64-unknown-linux-gnu Rust target, its cross linker and qemu-user (apt), which run
#     the library's tests on aarch64, where the NEON kernel is (scripts/test-aarch64.sh)
#   - tools/: playwright-core, typescript, vite, react + react-dom (the fewclick/react test), binaryen's
#     wasm-opt, esbuild (minifies the shipped JS), from tools/package-lock.json
#   - the nightly Rust fuzz/rust-toolchain.toml pins, with rust-src (the shipped wasm builds rebuild
#     std with it: scripts/lib/common.sh ship_build), and cargo-fuzz at the version fuzz/Cargo.toml
#     pins (scripts/fuzz.sh)
#   - python/.venv: maturin, Ray, pyarrow, pandas and pytest at python/requirements.txt's versions
#     (the Python package and its Ray driver: scripts/test-python.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm not found: install Node 20 first"

step "Rust target wasm32-unknown-unknown"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  ok "already installed"
else
  rustup target add wasm32-unknown-unknown
  ok "installed"
fi

pin="$(pinned_wasm_bindgen)"
[ -n "$pin" ] || die "could not read the pinned wasm-bindgen version (wasm-bindgen = \"=X\") from Cargo.toml"
step "wasm-bindgen-cli $pin"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
if [ "$have" = "$pin" ] && [ "$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}')" = "$pin" ]; then
  ok "already installed"
else
  note "found '${have:-none}'; cargo install wasm-bindgen-cli --version $pin (about 2 minutes)"
  cargo install wasm-bindgen-cli --version "$pin" --quiet
  have="$(wasm-bindgen --version | awk '{print $2}')"
  [ "$have" = "$pin" ] || die "installed wasm-bindgen reports '$have', expected $pin (is another wasm-bindgen earlier in PATH?)"
  ok "installed"
fi

step "Chromium and chromedriver (apt)"
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  ok "already installed"
else
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  command -v chromium >/dev/null && command -v chromedriver >/dev/null || die "apt-get did not install chromium and chromedriver"
  ok "installed"
fi
note "$(chromium --version 2>/dev/null | head -n1); $(chromedriver --version | head -n1 | cut -d'(' -f1)"

step "aarch64 cross target and qemu-user (the NEON kernel's tests: scripts/test-aarch64.sh)"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
  && command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  ok "already installed"
else
  rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
  if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
  fi
  command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null \
    || die "apt-get did not install gcc-aarch64-linux-gnu and qemu-user"
  ok "installed"
fi

step "tools/ (npm ci: playwright-core, typescript, vite, react, react-dom, binaryen, esbuild)"
# npm ci wipes and reinstalls; skip it when node_modules already matches the lock file.
stamp="tools/node_modules/.package-lock.json"
if [ -f "$stamp" ] && [ "$stamp" -nt tools/package-lock.json ] && [ "$stamp" -nt tools/package.json ]; then
  ok "already installed"
else
  (cd tools && npm ci --no-audit --no-fund --loglevel=error)
  ok "installed"
fi
[ -x "$WASM_OPT" ] || die "wasm-opt missing at $WASM_OPT after npm ci"
note "$("$WASM_OPT" --version)"

# The pinned nightly (shipped wasm builds, fuzzing) and cargo-fuzz (scripts/fuzz.sh).
fuzz_tools

# The Python package's build and test environment (maturin, Ray, pyarrow, pandas, pytest).
python_env

step "setup complete"
