//! The bench build's extra exports (cargo feature `bench`; `fewclick_bench.wasm` in the package):
//! a synthetic model file, and the kernel probes the benchmark reads. They are not in the builds a
//! page loads for ranking: the random initialisation behind them (Box–Muller: `cosf`, `logf`) and
//! the probes were about 14 KB of every page (issue 11). The package's `syntheticModel()` loads
//! this build on first use, in an instance of its own.

use super::{js_error, now_ms, set, JsResult};
use crate::model_file::Model;
use crate::params::Arch;
use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;

/// A randomly initialised model file, for benchmarks and smoke tests (not for ranking shoppers).
#[wasm_bindgen(js_name = syntheticModel)]
pub fn synthetic_model(item_dim: u32, hidden: u32, seed: u32) -> JsResult<Uint8Array> {
    let arch = Arch::new(item_dim as usize, hidden as usize).map_err(|e| js_error(&e))?;
    let mut rng = crate::rng::Rng::new(seed as u64);
    let theta = arch.init(&mut rng);
    let model = Model {
        arch,
        alpha: vec![0.05; theta.len()],
        theta,
        inner: Default::default(),
        max_move: None,
        rank_without_events: false,
        algorithm: "synthetic".into(),
        feature_names: (0..item_dim).map(|i| format!("f{i}")).collect(),
        items: None,
    };
    Ok(Uint8Array::from(model.to_bytes().map_err(|e| js_error(&e))?.as_slice()))
}

/// Benchmark probe: scores `n` random candidates `reps` times through the batched scoring kernel;
/// returns `{ seconds, flops }` (multiply-adds counted as 2 flops).
#[wasm_bindgen(js_name = benchScoringKernel)]
pub fn bench_scoring_kernel(n: u32, item_dim: u32, hidden: u32, reps: u32) -> JsResult<Object> {
    let arch = Arch::new(item_dim as usize, hidden as usize).map_err(|e| js_error(&e))?;
    let (n, d, h) = (n as usize, arch.item_dim, arch.hidden);
    let mut rng = crate::rng::Rng::new(1);
    let theta = arch.init(&mut rng);
    let x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
    let s: Vec<f32> = (0..n * crate::session::SESSION_DIM).map(|_| rng.range(0.0, 1.0)).collect();
    let base = vec![0.0; n];
    let (mut scratch, mut out) = (Vec::new(), vec![0.0; n]);
    let t0 = now_ms();
    for _ in 0..reps {
        crate::scorer::score_candidates(
            &crate::kernels::Fast,
            &arch,
            &theta,
            &x,
            &s,
            &base,
            None,
            &mut scratch,
            &mut out,
        );
    }
    let seconds = (now_ms() - t0) / 1000.0;
    let width = d + crate::session::SESSION_DIM;
    let flops = reps as f64 * n as f64 * (2.0 * (width * h) as f64 + 3.0 * h as f64 + 2.0 * width as f64 + 2.0);
    let o = Object::new();
    set(&o, "seconds", &seconds.into())?;
    set(&o, "flops", &flops.into())?;
    set(&o, "checksum", &out.iter().sum::<f32>().into())?;
    Ok(o)
}

/// Benchmark probe: the simd128 multiply-add peak on this machine, `{ seconds, flops }`; `null` in
/// the baseline (non-SIMD) build.
#[wasm_bindgen(js_name = benchSimdPeak)]
pub fn bench_simd_peak(iters: u32) -> JsResult<JsValue> {
    #[cfg(target_feature = "simd128")]
    {
        let t0 = now_ms();
        let (flops, sink) = crate::kernels::simd_peak_probe(iters);
        let seconds = (now_ms() - t0) / 1000.0;
        let o = Object::new();
        set(&o, "seconds", &seconds.into())?;
        set(&o, "flops", &flops.into())?;
        set(&o, "checksum", &sink.into())?;
        Ok(o.into())
    }
    #[cfg(not(target_feature = "simd128"))]
    {
        let _ = iters;
        Ok(JsValue::NULL)
    }
}
