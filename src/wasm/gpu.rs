//! The asynchronous rank, `rankAsync(backend?)`: the same adaptation and ranking as the
//! synchronous `rank()`, with the inner loop, the session features and the scoring on WebGPU
//! where that is chosen (one submission, one readback).
//!
//! * `backend`: `"auto"` (default) uses WebGPU when the page has a working device and a one-time
//!   calibration for this size bucket and adapt scope showed it faster than the CPU; `"webgpu"`
//!   uses it whenever it works; `"cpu"` never does. (`rank()` stays synchronous and CPU-only.)
//! * A GPU failure (no adapter, a lost device, a validation or out-of-memory error, a failed
//!   readback) ranks that call on the CPU, with the same ranking, and rules WebGPU out for the
//!   page; the result's `fallbackReason` and the `gpuFallbackReason` getter say why. A device busy
//!   with another reranker's call, or an input beyond the device's limits, sends only that call
//!   to the CPU (with its `fallbackReason`).
//! * The result is `rank()`'s object plus `fallbackReason`; `backend` is `"webgpu"` when the GPU
//!   scored the candidates.
//!
//! While a `rankAsync` is pending, the reranker is borrowed: await it before the next call on the
//! same reranker (other rerankers are free).

use super::{js_error, now_ms, set, JsResult, Reranker};
use crate::gpu::select::Preference;
use crate::reranker::Ranking;
use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

thread_local! {
    /// The page's backend decisions and the reason WebGPU is ruled out, if it is.
    static SELECTOR: std::cell::RefCell<crate::gpu::select::Selector> = Default::default();
}

const WEBGPU: &str = "webgpu";

/// A ranking, the backend that scored it, and why WebGPU was wanted but not used.
type Outcome = (Ranking, &'static str, Option<String>);

#[wasm_bindgen]
impl Reranker {
    /// `rank()` as a Promise, scoring on WebGPU where chosen (see the module docs).
    #[wasm_bindgen(js_name = rankAsync)]
    pub async fn rank_async(&mut self, backend: Option<String>) -> JsResult<Object> {
        use crate::gpu::select::Plan;
        let pref = Preference::parse(backend.as_deref().unwrap_or("auto")).map_err(|e| js_error(&e))?;
        let t0 = now_ms();
        let (n, scope, work) = (self.core.n_results(), self.core.scope(), !self.core.serves_host_order());
        let plan = SELECTOR.with(|s| s.borrow().plan(pref, n, scope, work));
        let (ranking, backend, fallback) = match plan {
            Plan::Cpu { fallback } => (self.core.rank().map_err(|e| js_error(&e))?, self.core.backend(), fallback),
            Plan::Gpu => self.gpu_rank().await?,
            Plan::Calibrate => self.calibrate().await?,
        };
        self.last_adapt_ms = now_ms() - t0;
        self.ranking_object(&ranking, backend, fallback.as_deref())
    }
}

#[wasm_bindgen]
impl Reranker {
    /// Why WebGPU is not used on this page (`null` while it may be).
    #[wasm_bindgen(getter, js_name = gpuFallbackReason)]
    pub fn gpu_fallback_reason(&self) -> Option<String> {
        fallback_reason()
    }
}

impl Reranker {
    /// Ranks on the CPU after a GPU failure: the same ranking `rank()` gives.
    fn cpu_fallback(&mut self, reason: String, broken: bool) -> JsResult<Outcome> {
        if broken {
            SELECTOR.with(|s| s.borrow_mut().mark_unusable(reason.clone()));
        }
        let ranking = self.core.rank().map_err(|e| js_error(&e))?;
        Ok((ranking, self.core.backend(), Some(reason)))
    }
}

/// Why WebGPU is not used on this page (`None` while it may be): ruled out after a failure.
fn fallback_reason() -> Option<String> {
    SELECTOR.with(|s| s.borrow().unusable().map(String::from))
}

mod webgpu {
    use super::*;
    use crate::gpu::device::{page_device, Candidates, Failure, Session};
    use crate::gpu::select::{bucket, Calibration};
    use crate::reranker::{Scoring, ScoringJob};

    /// Timed runs of each backend during a calibration (the GPU's after one untimed warm-up);
    /// the fastest run of each counts.
    const CALIBRATION_RUNS: usize = 2;
    /// Largest |gpu − cpu| / (1 + |cpu|) a calibration accepts: far above f32 rounding of a
    /// different summation order, far below a wrong kernel.
    const AGREEMENT: f32 = 1e-3;

    /// Scores by display index, from a ranking (which lists them by new position).
    fn by_item(r: &Ranking) -> Vec<f32> {
        let mut out = vec![f32::NAN; r.order.len()];
        for (&i, &s) in r.order.iter().zip(&r.scores) {
            out[i] = s;
        }
        out
    }

    impl Reranker {
        /// Adapts θ for `job` where that is pending, computes the session features and scores the
        /// candidates, on the page's device, in one submission; returns the scores and the θ
        /// they used.
        async fn gpu_scores(&self, job: &ScoringJob) -> Result<(Vec<f32>, Vec<f32>), Failure> {
            let device = page_device().await?;
            let r = self.core.results().ok_or_else(|| Failure::Broken("internal: scoring without results".into()))?;
            let model = self.core.model();
            let session = match &job.table {
                Some(table) => Session::Table { table, list: r.list_context(), priced: r.prices().is_some() },
                None => Session::Features(&job.session_features),
            };
            let candidates = Candidates {
                x: r.features(),
                item_dim: r.dim(),
                base: r.base(),
                session,
                generation: Some(r.generation()),
            };
            let adapt = job.adapt.as_ref().map(|a| (&a.support, &a.inner));
            device.adapt_and_score(&model.arch, &job.theta, &model.alpha, adapt, &candidates).await
        }

        /// Ranks with the session's inner loop (when θ is not adapted to the events yet) and the
        /// scoring on WebGPU, one readback; the CPU on any failure.
        pub(super) async fn gpu_rank(&mut self) -> JsResult<Outcome> {
            let mut job = match self.core.prepare_deferred().map_err(|e| js_error(&e))? {
                Scoring::Done(ranking) => return Ok((ranking, self.core.backend(), None)),
                Scoring::Job(job) => job,
            };
            match self.gpu_scores(&job).await {
                Ok((scores, theta)) => {
                    if job.adapt.is_some() && !self.core.adopt(&mut job, theta) {
                        // The CPU's own inner loop keeps θ0 in this case; rank there, as it would.
                        let reason = "the WebGPU inner loop gave non-finite parameters".to_string();
                        return self.cpu_fallback(reason, false);
                    }
                    Ok((self.core.finish(&job, scores), WEBGPU, None))
                }
                Err(f) => {
                    let broken = matches!(f, Failure::Broken(_));
                    self.cpu_fallback(f.reason(), broken)
                }
            }
        }

        /// A click's full rank on the CPU, the inner loop included (the cached θ is dropped
        /// first), and how long it took.
        fn timed_cpu_rank(&mut self) -> JsResult<(Ranking, f64)> {
            self.core.clear_adaptation();
            let t = now_ms();
            let ranking = self.core.rank().map_err(|e| js_error(&e))?;
            Ok((ranking, now_ms() - t))
        }

        /// Times the backends on this call, each run doing a click's full work (the inner loop
        /// from θ0 over the session's events, session features, scoring, ordering): the CPU
        /// first; when it is under [`crate::gpu::select::GPU_FLOOR_MS`] the bucket is the CPU's
        /// without touching the GPU. Otherwise the GPU runs too (one untimed warm-up), the two
        /// must agree, and the faster keeps this size bucket and scope. Returns the CPU's
        /// ranking, and leaves the CPU's adapted θ cached.
        pub(super) async fn calibrate(&mut self) -> JsResult<Outcome> {
            let (n, scope) = (self.core.n_results(), self.core.scope());
            let (mut cpu, mut cpu_ms) = self.timed_cpu_rank()?;
            for _ in 1..CALIBRATION_RUNS {
                let (ranking, ms) = self.timed_cpu_rank()?;
                (cpu, cpu_ms) = (ranking, cpu_ms.min(ms));
            }
            if let Some(c) = Calibration::cpu_only(bucket(n), scope, cpu_ms) {
                SELECTOR.with(|s| s.borrow_mut().record(c));
                return Ok((cpu, self.core.backend(), None));
            }
            // The first GPU run warms up (device, buffers, first dispatch) and is not timed.
            self.core.clear_adaptation();
            let mut gpu = self.gpu_rank().await?;
            let mut gpu_ms = f64::INFINITY;
            for _ in 0..CALIBRATION_RUNS {
                if gpu.1 != WEBGPU {
                    return Ok(gpu); // nothing to score, or a GPU failure (already handled)
                }
                self.core.clear_adaptation();
                let t = now_ms();
                gpu = self.gpu_rank().await?;
                gpu_ms = gpu_ms.min(now_ms() - t);
            }
            if gpu.1 != WEBGPU {
                return Ok(gpu); // a GPU failure: that call's CPU fallback ranked (and cached θ)
            }
            // The CPU's θ becomes the session's again (the GPU runs replaced it); the same
            // deterministic computation as the timed runs, so the same ranking.
            let (cpu, _) = self.timed_cpu_rank()?;
            let gpu = gpu.0;
            let (g, c) = (by_item(&gpu), by_item(&cpu));
            let agree =
                g.len() == c.len() && g.iter().zip(&c).all(|(g, c)| (g - c).abs() <= AGREEMENT * (1.0 + c.abs()));
            if !agree {
                let reason = "calibration: the WebGPU scores differ from the CPU's".to_string();
                SELECTOR.with(|s| s.borrow_mut().mark_unusable(reason.clone()));
                return Ok((cpu, self.core.backend(), Some(reason)));
            }
            SELECTOR.with(|s| {
                s.borrow_mut().record(Calibration { bucket: bucket(n), scope, cpu_ms, gpu_ms: Some(gpu_ms) })
            });
            Ok((cpu, self.core.backend(), None))
        }
    }
}

/// What the page knows about WebGPU: `{ fallbackReason: string | null, calibrations: [{ upTo,
/// scope, cpuMs, gpuMs, backend }] }` (one entry per size bucket and scope calibrated so far;
/// `gpuMs` is null where the CPU was under the GPU's floor and the GPU was not tried).
#[wasm_bindgen(js_name = gpuStatus)]
pub fn gpu_status() -> JsResult<Object> {
    let out = Object::new();
    set(&out, "fallbackReason", &fallback_reason().map_or(JsValue::NULL, |r| JsValue::from_str(&r)))?;
    let list = Array::new();
    for c in SELECTOR.with(|s| s.borrow().calibrations().to_vec()) {
        let o = Object::new();
        set(&o, "upTo", &(c.bucket as f64).into())?;
        set(&o, "scope", &c.scope.as_str().into())?;
        set(&o, "cpuMs", &c.cpu_ms.into())?;
        set(&o, "gpuMs", &c.gpu_ms.map_or(JsValue::NULL, JsValue::from_f64))?;
        set(&o, "backend", &(if c.gpu_wins() { WEBGPU } else { "cpu" }).into())?;
        list.push(&o);
    }
    set(&out, "calibrations", &list)?;
    Ok(out)
}
