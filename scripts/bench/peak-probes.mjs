// Peak probes for the benchmark pages (a benchmark helper, not part of the package): two small
// wasm modules, assembled here from text by binaryen's JS API (pinned in tools/), that measure
// the machine's simd128 multiply-add peak and its relaxed-SIMD fused multiply-add peak.
//
// Why not only fewclick's own probe (`benchSimdPeak`, src/kernels/mod.rs, in the bench build):
// the bench build is simd128 only, since a module holding one relaxed-SIMD instruction fails to
// validate where there is none (Node 20), so the fused peak needs a module of its own; and how many
// independent chains reach the peak depends on the engine's register allocation (in Chromium 156
// 8 chains of multiply-then-add measure 19 GFLOP/s, 14 chains 39 on session 15's AMD EPYC), so
// each module runs several chain counts and the page takes the best.
//
// `run<C>(iters)` runs C independent chains `r = r·m + a` iters times (multiply then add in
// `mulAdd`, one f32x4.relaxed_madd in `fma`); an iteration is C × 4 lanes × 2 flops.
import binaryen from '../../tools/node_modules/binaryen/index.js';

const CHAINS = { mulAdd: [8, 10, 12, 14, 16], fma: [8, 10, 12] };

function chainFunction(kind, chains) {
  const locals = Array.from({ length: chains }, (_, i) => `(local $a${i} v128)`).join(' ');
  const init = Array.from({ length: chains }, (_, i) => `(local.set $a${i} (f32x4.splat (f32.const 1)))`).join(' ');
  const op = (i) =>
    kind === 'fma'
      ? `(f32x4.relaxed_madd (local.get $a${i}) (local.get $m) (local.get $c))`
      : `(f32x4.add (f32x4.mul (local.get $a${i}) (local.get $m)) (local.get $c))`;
  const step = Array.from({ length: chains }, (_, i) => `(local.set $a${i} ${op(i)})`).join(' ');
  let sum = '(local.get $a0)';
  for (let i = 1; i < chains; i++) sum = `(f32x4.add ${sum} (local.get $a${i}))`;
  return `(func (export "run${chains}") (param $n i32) (result f32) ${locals} (local $m v128) (local $c v128)
    ${init}
    (local.set $m (f32x4.splat (f32.const 0.999999)))
    (local.set $c (f32x4.splat (f32.const 1e-7)))
    (if (i32.gt_s (local.get $n) (i32.const 0)) (then
      (loop $l ${step} (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))
    (f32x4.extract_lane 0 ${sum}))`;
}

function assemble(kind) {
  const module = binaryen.parseText(`(module ${CHAINS[kind].map((c) => chainFunction(kind, c)).join('\n')})`);
  try {
    module.setFeatures(binaryen.Features.SIMD128 | (kind === 'fma' ? binaryen.Features.RelaxedSIMD : 0));
    if (!module.validate()) throw new Error(`the ${kind} peak probe does not validate`);
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

/** The two probe modules' bytes: `{ mulAdd, fma }`, each exporting run<C> for its chain counts. */
export function peakProbeModules() {
  return { mulAdd: assemble('mulAdd'), fma: assemble('fma') };
}

/** Hands `modules` (from peakProbeModules) to the pages `page` (playwright) opens next, as
 * window.__peakProbes = { mulAdd, fma } (Uint8Arrays), before their scripts run. */
export async function injectPeakProbes(page, modules) {
  await page.addInitScript(
    ([mulAdd, fma]) => {
      window.__peakProbes = { mulAdd: new Uint8Array(mulAdd), fma: new Uint8Array(fma) };
    },
    [Array.from(modules.mulAdd), Array.from(modules.fma)],
  );
}
