// The relaxed-SIMD fused multiply-add peak probe for the benchmark pages (a benchmark helper,
// not part of the package). fewclick's own probe (`benchSimdPeak`, src/kernels/mod.rs) lives in
// the bench build, which is simd128 only: a module holding one relaxed-SIMD instruction fails to
// validate in engines without it (Node 20), so the fused peak comes from this separate module,
// assembled here from text by binaryen's JS API (pinned in tools/).
//
// `run<C>(iters)` runs C independent chains `r = fma(r, m, a)` (f32x4.relaxed_madd) iters times;
// each iteration is C × 4 lanes × 2 flops. A chain waits on one fused multiply-add (4 to 5 cycles
// on x86-64), so the peak needs about 8 to 10 chains; the page takes the best of 8, 10 and 12.
import binaryen from '../../tools/node_modules/binaryen/index.js';

export const FMA_CHAINS = [8, 10, 12];

function chainFunction(chains) {
  const locals = Array.from({ length: chains }, (_, i) => `(local $a${i} v128)`).join(' ');
  const init = Array.from({ length: chains }, (_, i) => `(local.set $a${i} (f32x4.splat (f32.const 1)))`).join(' ');
  const step = Array.from(
    { length: chains },
    (_, i) => `(local.set $a${i} (f32x4.relaxed_madd (local.get $a${i}) (local.get $m) (local.get $c)))`,
  ).join(' ');
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

/** The probe module's bytes: exports run8, run10, run12. */
export function fmaProbeBytes() {
  const module = binaryen.parseText(`(module ${FMA_CHAINS.map(chainFunction).join('\n')})`);
  try {
    module.setFeatures(binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
    if (!module.validate()) throw new Error('the FMA probe module does not validate');
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}
