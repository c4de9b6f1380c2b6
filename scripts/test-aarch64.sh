#!/usr/bin/env bash
# The library's unit tests cross-compiled for aarch64 and run under qemu-user: the NEON matrix
# kernel (src/kernels/neon.rs) bit for bit against the portable twin and against the f64 oracle,
# and the trainer's gradient and Hessian-vector checks on top of it. qemu emulates the
# instructions, so this checks results, not speed. scripts/setup.sh installs the target, the
# cross linker and qemu-user.
#
#   bash scripts/test-aarch64.sh [cargo test filters...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null \
  || die "aarch64-linux-gnu-gcc or qemu-aarch64 missing: run bash scripts/setup.sh"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
cargo test --release --target aarch64-unknown-linux-gnu --lib "$@"
