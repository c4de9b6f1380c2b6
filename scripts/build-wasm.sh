#!/usr/bin/env bash
# Builds the npm package in pkg/: five wasm builds of the same crate, the loader, types, the
# worker entry, the React hook (fewclick/react) and the server-side item lookup (fewclick/server)
# from pkg-config/. A page downloads one build:
#   fewclick_gpu.wasm   SIMD + the WebGPU backend (browsers with navigator.gpu), glue fewclick_gpu.js
#   fewclick_relaxed.wasm SIMD + relaxed SIMD (fused multiply-adds), CPU only: engines that
#                       validate relaxed SIMD (Chromium)                        glue fewclick_wasm.js
#   fewclick_simd.wasm  SIMD, CPU only                                          glue fewclick_wasm.js
#   fewclick_base.wasm  no SIMD, CPU only (engines without simd128)             glue fewclick_wasm.js
#   fewclick_bench.wasm SIMD + syntheticModel and the kernel probes, loaded by syntheticModel() on
#                       first use (benchmarks, smoke tests), never to rank      glue fewclick_bench.js
#
#   scripts/build-wasm.sh    release builds, wasm-opt -O3
#
# Needs: the pinned nightly with rust-src (scripts/lib/common.sh ship_build), wasm-bindgen-cli at the version Cargo.toml
# pins, node + tools/node_modules (binaryen's wasm-opt), gzip (scripts/setup.sh installs them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

PKG="$ROOT/pkg"
WORK="$ROOT/target/wasm-bindgen"   # intermediate outputs (git-ignored with target/)

# --- tools --------------------------------------------------------------------------------
pin="$(pinned_wasm_bindgen)"
[ -n "$pin" ] || die "could not read the pinned wasm-bindgen version (wasm-bindgen = \"=X\") from Cargo.toml"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
[ "$have" = "$pin" ] || die "wasm-bindgen CLI is '${have:-missing}', Cargo.toml pins $pin: run scripts/setup.sh"
[ -x "$WASM_OPT" ] || command -v "$WASM_OPT" >/dev/null || die "wasm-opt not found at $WASM_OPT: run scripts/setup.sh (npm ci in tools/)"
command -v node >/dev/null || die "node is missing"
rustup component list --toolchain "$(pinned_nightly)" --installed 2>/dev/null | grep -q '^rust-src' \
  || die "the pinned nightly $(pinned_nightly) with rust-src is missing (the shipped builds rebuild std): run scripts/setup.sh"

# --- compile, bind, optimise each build -----------------------------------------------------
build_variant() {
  local variant="$1"
  (
    step "cargo +$(pinned_nightly) build ($variant, as shipped: see ship_build in scripts/lib/common.sh)"
    local raw
    raw="$(ship_build "$variant")"
    [ -f "$raw" ] || die "cargo did not produce $raw"
    rm -rf "$WORK/$variant"
    wasm-bindgen --target web --out-dir "$WORK/$variant" "$raw"
    step "wasm-opt ($variant, $("$WASM_OPT" --version)): -O3, names minified, a second round (ship_optimise in scripts/lib/common.sh)"
    ship_optimise "$variant" "$WORK/$variant"
    ok "$variant: $(wc -c <"$raw") bytes raw -> $(wc -c <"$WORK/$variant/opt.wasm") bytes optimised"
  )
}
build_variant simd
build_variant relaxed
build_variant base
build_variant gpu
build_variant bench

# --- checks ---------------------------------------------------------------------------------
step "checking the builds"
# Validating without --enable-simd must fail for the SIMD build (the flag took effect) and pass
# for the baseline (it runs on engines without simd128). Both files have no target_features
# section any more, so wasm-opt uses exactly the features named here.
"$WASM_OPT" "${WASM_OPT_FEATURES[@]}" "$WORK/base/opt.wasm" -o /dev/null >/dev/null 2>&1 \
  || die "the baseline build contains SIMD instructions (or uses a feature not in WASM_OPT_FEATURES)"
if "$WASM_OPT" "${WASM_OPT_FEATURES[@]}" "$WORK/simd/opt.wasm" -o /dev/null >/dev/null 2>&1; then
  die "the SIMD build contains no SIMD instructions: was RUSTFLAGS ignored?"
fi
ok "baseline has no simd128 instructions; the SIMD build has them"
if "$WASM_OPT" "${WASM_OPT_FEATURES[@]}" --enable-simd "$WORK/relaxed/opt.wasm" -o /dev/null >/dev/null 2>&1; then
  die "the relaxed SIMD build contains no relaxed SIMD instructions: was RUSTFLAGS ignored?"
fi
"$WASM_OPT" "${WASM_OPT_FEATURES[@]}" --enable-simd "$WORK/simd/opt.wasm" -o /dev/null >/dev/null 2>&1 \
  || die "the SIMD build contains relaxed SIMD instructions (engines without relaxed SIMD would refuse it)"
ok "only the relaxed build has relaxed SIMD instructions"
# The loader ships one glue for both builds; that is only right while their exports match.
for v in base relaxed; do
  cmp -s "$WORK/simd/fewclick.js" "$WORK/$v/fewclick.js" \
    || die "the wasm-bindgen glue of the SIMD and $v builds differ (different exports per build?); pkg-config/core.js assumes one glue"
done
ok "wasm-bindgen glue identical for the three CPU builds"
grep -q "createComputePipeline" "$WORK/gpu/fewclick.js" || die "the gpu build's glue does not import createComputePipeline: was --cfg=web_sys_unstable_apis ignored?"
if grep -q "createComputePipeline" "$WORK/simd/fewclick.js"; then die "the CPU builds import WebGPU functions"; fi
ok "only the gpu build imports WebGPU"

# The bench exports live in the bench build only (src/wasm/bench.rs); the builds a page ranks with
# must not carry them.
for v in simd relaxed gpu; do
  if grep -qE "export function (syntheticModel|benchScoringKernel|benchSimdPeak)\b" "$WORK/$v/fewclick.js"; then
    die "the $v build exports a bench function: was it built with --features bench?"
  fi
done
grep -q "export function syntheticModel" "$WORK/bench/fewclick.js" || die "the bench build does not export syntheticModel"
ok "syntheticModel and the kernel probes only in the bench build"

# --- assemble pkg/ --------------------------------------------------------------------------
step "assembling pkg/"
rm -rf "$PKG"
mkdir -p "$PKG"
cp "$WORK/simd/opt.wasm" "$PKG/fewclick_simd.wasm"
cp "$WORK/relaxed/opt.wasm" "$PKG/fewclick_relaxed.wasm"
cp "$WORK/base/opt.wasm" "$PKG/fewclick_base.wasm"
cp "$WORK/gpu/opt.wasm" "$PKG/fewclick_gpu.wasm"
cp "$WORK/bench/opt.wasm" "$PKG/fewclick_bench.wasm"
# The glue's fallback URL ('fewclick_bg.wasm') names a file the package does not ship; bundlers
# would try to resolve it. The loader always passes the wasm it picked, so make the fallback an
# explicit error instead. Fail loudly if a new wasm-bindgen changes that line.
default_line="module_or_path = new URL('fewclick_bg.wasm', import.meta.url);"
n="$(grep -cF "$default_line" "$WORK/simd/fewclick.js" || true)"
[ "$n" = 1 ] || die "expected the wasm-bindgen glue to contain exactly one \"$default_line\" (found $n); update scripts/build-wasm.sh for this wasm-bindgen version"
# The gpu and bench builds' glues get the same treatment.
for glue in simd:fewclick_wasm.js gpu:fewclick_gpu.js bench:fewclick_bench.js; do
  n="$(grep -cF "$default_line" "$WORK/${glue%%:*}/fewclick.js" || true)"
  [ "$n" = 1 ] || die "expected the ${glue%%:*} glue to contain exactly one \"$default_line\" (found $n); update scripts/build-wasm.sh for this wasm-bindgen version"
  DEFAULT_LINE="$default_line" node -e '
    const fs = require("fs");
    const [src, dst] = process.argv.slice(1);
    const text = fs.readFileSync(src, "utf8").replace(process.env.DEFAULT_LINE,
      "throw new Error(\"fewclick: load the package through its entry point, not the raw glue\");");
    fs.writeFileSync(dst, text);
  ' "$WORK/${glue%%:*}/fewclick.js" "$PKG/${glue#*:}"
done
for f in index.js node.js core.js reasons.js session.js integrity.js worker.js worker-client.js react.js server.js index.d.ts worker.d.ts react.d.ts server.d.ts README.md; do
  cp "pkg-config/$f" "$PKG/$f"
done
# The shipped JavaScript minified (esbuild, pinned in tools/): comments and whitespace out, syntax
# shortened, local names shortened. Exported names, property names and the `name` of the error
# classes (set explicitly) are kept, so the API and `error.name` read as documented; a stack trace
# shows short local names. pkg-config/ keeps the commented source; the .d.ts files, where the API
# is documented, ship as written. About 6 KB gzip of a page.
ESBUILD="$ROOT/tools/node_modules/.bin/esbuild"
[ -x "$ESBUILD" ] || die "esbuild missing at $ESBUILD: run scripts/setup.sh (npm ci in tools/)"
# A page's loader is index.js and what it imports statically. Two of those modules are inlined
# where they are imported, so the page fetches two files instead of four (0.5 KB gzip less):
# stability.js into core.js (its only importer) and reasons.js into index.js (node.js imports the
# shipped reasons.js). Every other import stays a module of its own, so the lazily imported
# modules and core.js's other importers share the one core.js; the metafile check fails the build
# if a bundle takes in anything else.
inline_into() {
  local entry="$1" inlined="$2" externals=() m
  for m in pkg-config/*.js fewclick_wasm.js fewclick_gpu.js fewclick_bench.js; do
    m="$(basename "$m")"
    [ "$m" = "$entry" ] || [ "$m" = "$inlined" ] || externals+=("--external:./$m")
  done
  "$ESBUILD" "pkg-config/$entry" --bundle --format=esm --target=esnext --log-level=warning "${externals[@]}" \
    --metafile="$WORK/$entry.meta.json" --outfile="$PKG/$entry" || die "esbuild could not bundle $entry"
  node -e '
    const [meta, want] = process.argv.slice(1);
    const inputs = Object.keys(JSON.parse(require("fs").readFileSync(meta, "utf8")).inputs).sort().join(" ");
    if (inputs !== want) throw new Error(`the bundle took in ${inputs}, expected ${want}`);
  ' "$WORK/$entry.meta.json" "pkg-config/$entry pkg-config/$inlined" || die "$entry's bundle took in more than $inlined"
}
inline_into core.js stability.js
inline_into index.js reasons.js
ok "stability.js inlined into core.js, reasons.js into index.js"
# The gpu build's module is pkg-config/gpu.js (rankAsync's asynchronous half: the wasm awaits
# nothing) bundled with that build's glue, which it re-exports: a page of the gpu build fetches
# one module for both.
cp "$PKG/fewclick_gpu.js" "$WORK/gpu/fewclick_gpu.js"
cp pkg-config/gpu.js "$WORK/gpu/gpu.js"
"$ESBUILD" "$WORK/gpu/gpu.js" --bundle --format=esm --target=esnext --log-level=warning \
  --outfile="$PKG/fewclick_gpu.js" --allow-overwrite || die "esbuild could not bundle gpu.js with the gpu glue"
grep -q "rankAsyncResume" "$PKG/fewclick_gpu.js" || die "the gpu module lacks the glue's rankAsyncResume"
ok "gpu.js bundled with the gpu build's glue (fewclick_gpu.js)"
shipped_js=(index.js node.js core.js reasons.js session.js integrity.js worker.js worker-client.js react.js server.js fewclick_wasm.js fewclick_gpu.js fewclick_bench.js)
for f in "${shipped_js[@]}"; do
  "$ESBUILD" "$PKG/$f" --minify --legal-comments=none --format=esm --target=esnext \
    --log-level=warning --outfile="$PKG/$f.min" || die "esbuild failed on $f"
  mv "$PKG/$f.min" "$PKG/$f"
done
ok "shipped JS minified (whitespace, syntax, local names): ${shipped_js[*]}"
version="$(crate_version)"
node -e '
  const fs = require("fs");
  const [src, dst, version] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(src, "utf8"));
  pkg.version = version;
  for (const f of pkg.files) if (!fs.existsSync(require("path").join(require("path").dirname(dst), f)))
    throw new Error(`package.json lists ${f} but pkg/ has no such file`);
  fs.writeFileSync(dst, JSON.stringify(pkg, null, 2) + "\n");
' pkg-config/package.json "$PKG/package.json" "$version"
ok "pkg/ holds fewclick@$version: $(cd "$PKG" && ls | tr '\n' ' ')"
node scripts/lib/check-pkg.mjs "$PKG" simd || die "the optimised SIMD build does not work (see above)"
# Node 20's V8 validates relaxed SIMD only behind this flag (Chromium ships it).
node --experimental-wasm-relaxed-simd scripts/lib/check-pkg.mjs "$PKG" relaxed \
  || die "the optimised relaxed SIMD build does not work (see above)"
node scripts/lib/check-pkg.mjs "$PKG" baseline || die "the optimised baseline build does not work (see above)"
node scripts/lib/check-pkg.mjs "$PKG" webgpu || die "the optimised gpu build does not work (see above)"

# --- sizes ----------------------------------------------------------------------------------
# The loader is what a page fetches before it can call init(): index.js and everything it imports
# statically (not the modules imported on demand: the worker client, integrity, sessions).
mapfile -t loader_js < <(node scripts/lib/static-imports.mjs "$PKG/index.js")
loader_gz="$(gz_size "${loader_js[@]}")"
glue_gz="$(gz_size "$PKG/fewclick_wasm.js")"
gpu_glue_gz="$(gz_size "$PKG/fewclick_gpu.js")"
simd_gz="$(gz_size "$PKG/fewclick_simd.wasm")"
relaxed_gz="$(gz_size "$PKG/fewclick_relaxed.wasm")"
base_gz="$(gz_size "$PKG/fewclick_base.wasm")"
gpu_gz="$(gz_size "$PKG/fewclick_gpu.wasm")"
# A CPU page loads the relaxed or the SIMD wasm: its budget is the larger of the two.
cpu_wasm_gz=$((relaxed_gz > simd_gz ? relaxed_gz : simd_gz))
cpu_page=$((loader_gz + glue_gz + cpu_wasm_gz))
gpu_page=$((loader_gz + gpu_glue_gz + gpu_gz))
step "sizes (gzip -9)"
note "loader JS ($(for f in "${loader_js[@]}"; do basename "$f"; done | tr "\n" " "| sed "s/ $//")): $loader_gz bytes"
note "CPU glue fewclick_wasm.js + SIMD wasm:            $glue_gz + $simd_gz bytes (relaxed SIMD wasm $relaxed_gz)"
note "gpu glue fewclick_gpu.js + gpu wasm:              $gpu_glue_gz + $gpu_gz bytes"
note "a page loads, CPU build: $cpu_page bytes ($(( (cpu_page + 512) / 1024 )) KiB; no navigator.gpu, or init({ build: 'cpu' }))"
note "a page loads, gpu build: $gpu_page bytes ($(( (gpu_page + 512) / 1024 )) KiB; navigator.gpu present)"
note "baseline wasm (engines without simd128, instead of the SIMD wasm): $base_gz bytes"
mkdir -p "$ROOT/target"
printf '{"loader_js_gzip":%s,"cpu_glue_gzip":%s,"gpu_glue_gzip":%s,"simd_wasm_gzip":%s,"relaxed_wasm_gzip":%s,"base_wasm_gzip":%s,"gpu_wasm_gzip":%s,"cpu_page_gzip":%s,"gpu_page_gzip":%s}\n' \
  "$loader_gz" "$glue_gz" "$gpu_glue_gz" "$simd_gz" "$relaxed_gz" "$base_gz" "$gpu_gz" "$cpu_page" "$gpu_page" >"$ROOT/target/pkg-sizes.json"
