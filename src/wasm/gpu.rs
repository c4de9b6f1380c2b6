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
//! Nothing here awaits: the wasm carries no executor. A call is a series of steps, each
//! returning either the ranking or what to wait for, and the package's `gpu.js` runs the loop:
//! `rankAsyncStart(backend)`, then, while the step is `{ device: true }`, the page's device is
//! acquired (`gpuAttach` …) and `rankAsyncResume()` called, and while it is `{ wait: promises }`,
//! they are awaited and `rankAsyncResume(scopeError, mapError)` told how they ended. Any
//! other call on the reranker meanwhile drops the call in flight (its resume then throws); the
//! package's wrapper lets only `record()` through, and queues its events until the call settles.

use super::{invalid, js_error, now_ms, set, JsResult, Reranker};
use crate::gpu::device::{self, page_device, split_scores, Candidates, Device, Failure, Pending, Session};
use crate::gpu::select::{bucket, Calibration, Plan, Preference};
use crate::reranker::{Ranking, Scoring, ScoringJob};
use js_sys::{Array, Object};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The page's backend decisions and the reason WebGPU is ruled out, if it is.
    static SELECTOR: std::cell::RefCell<crate::gpu::select::Selector> = Default::default();
}

const WEBGPU: &str = "webgpu";

/// Timed runs of each backend during a calibration (the GPU's after one untimed warm-up); the
/// fastest run of each counts.
const CALIBRATION_RUNS: usize = 2;
/// Largest |gpu − cpu| / (1 + |cpu|) a calibration accepts: far above f32 rounding of a
/// different summation order, far below a wrong kernel.
const AGREEMENT: f32 = 1e-3;

/// A ranking, the backend that scored it, and why WebGPU was wanted but not used.
type Outcome = (Ranking, &'static str, Option<String>);

/// A `rankAsync` between two steps.
pub(super) struct InFlight {
    /// When the call started (its `adaptMs`).
    t0: f64,
    stage: Stage,
    /// The GPU run being awaited, the job it scores and when its work began (the deferred
    /// preparation, before the encoding: a calibration times all of it); `None` while the
    /// page acquires its device.
    run: Option<(ScoringJob, Pending, f64)>,
}

/// What the GPU run of a call is for.
#[derive(Clone, Copy)]
enum Stage {
    /// The call's ranking.
    Rank,
    /// A calibration: the CPU's fastest time, the GPU runs done so far (the first one, a
    /// warm-up, untimed) and the fastest timed one.
    Calibrate { cpu_ms: f64, runs: usize, gpu_ms: f64 },
}

/// Where a call stands after a step.
enum Step {
    Done(Outcome),
    /// The page's device is wanted and not acquired yet.
    Device(Stage),
    /// A GPU run was submitted; its work began at the time given.
    Wait(Stage, ScoringJob, Pending, f64),
}

#[wasm_bindgen]
impl Reranker {
    /// Starts `rankAsync(backend)` (see the module docs): the ranking, `{ device: true }` or
    /// `{ wait: promises }`. Drops a call still in flight on this reranker.
    #[wasm_bindgen(js_name = rankAsyncStart)]
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn rank_async_start(&mut self, backend: Option<String>) -> JsResult<JsValue> {
        self.in_flight = None;
        let pref = Preference::parse(backend.as_deref().unwrap_or("auto")).map_err(|e| js_error(&e))?;
        let t0 = now_ms();
        let (n, scope, work) = (self.core.n_results(), self.core.scope(), !self.core.serves_host_order());
        let plan = SELECTOR.with(|s| s.borrow().plan(pref, n, scope, work));
        let step = match plan {
            Plan::Cpu { fallback } => {
                Step::Done((self.core.rank().map_err(|e| js_error(&e))?, self.core.backend(), fallback))
            }
            Plan::Gpu => self.gpu_begin(Stage::Rank)?,
            Plan::Calibrate => self.calibrate()?,
        };
        self.answer(t0, step)
    }

    /// The next step of the call in flight, once its promises have settled, given how: the
    /// first error the error scopes caught and why the mapping failed (messages, or nothing;
    /// both nothing after a `{ device: true }` step).
    #[wasm_bindgen(js_name = rankAsyncResume)]
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn rank_async_resume(&mut self, scope_error: Option<String>, map_error: Option<String>) -> JsResult<JsValue> {
        let Some(call) = self.in_flight.take() else {
            return Err(invalid("no rankAsync is in flight on this reranker: another call on it came first"));
        };
        let step = match call.run {
            None => {
                if page_device().is_none() {
                    device::page_device_failed("the page acquired no WebGPU device".into());
                }
                self.gpu_begin(call.stage)?
            }
            Some((job, pending, began)) => {
                let outcome = self.gpu_end(job, pending.finish(scope_error, map_error))?;
                self.stage_done(call.stage, outcome, now_ms() - began)?
            }
        };
        self.answer(call.t0, step)
    }

    /// Why WebGPU is not used on this page (`null` while it may be).
    #[wasm_bindgen(getter, js_name = gpuFallbackReason)]
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn gpu_fallback_reason(&self) -> Option<String> {
        fallback_reason()
    }
}

impl Reranker {
    /// The step as JS reads it; a call not done is kept in flight.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn answer(&mut self, t0: f64, step: Step) -> JsResult<JsValue> {
        let out = Object::new();
        match step {
            Step::Done((ranking, backend, fallback)) => {
                self.last_adapt_ms = now_ms() - t0;
                return self.ranking_object(&ranking, backend, fallback.as_deref()).map(JsValue::from);
            }
            Step::Device(stage) => {
                set(&out, "device", &JsValue::TRUE)?;
                self.in_flight = Some(InFlight { t0, stage, run: None });
            }
            Step::Wait(stage, job, pending, began) => {
                set(&out, "wait", &pending.promises())?;
                self.in_flight = Some(InFlight { t0, stage, run: Some((job, pending, began)) });
            }
        }
        Ok(out.into())
    }

    /// Ranks on the CPU after a GPU failure: the same ranking `rank()` gives. A broken device
    /// rules WebGPU out for the page.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn cpu_fallback(&mut self, failure: Failure) -> JsResult<Outcome> {
        let reason = failure.reason();
        if matches!(failure, Failure::Broken(_)) {
            SELECTOR.with(|s| s.borrow_mut().mark_unusable(reason.clone()));
        }
        let ranking = self.core.rank().map_err(|e| js_error(&e))?;
        Ok((ranking, self.core.backend(), Some(reason)))
    }

    /// Submits, on the page's device, the session's inner loop (when θ is not adapted to the
    /// events yet), the session features and the scoring, in one run: the first half of a GPU
    /// rank. The CPU ranks on any failure.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn gpu_begin(&mut self, stage: Stage) -> JsResult<Step> {
        let began = now_ms();
        let job = match self.core.prepare_deferred().map_err(|e| js_error(&e))? {
            Scoring::Done(ranking) => return self.stage_done(stage, (ranking, self.core.backend(), None), 0.0),
            Scoring::Job(job) => job,
        };
        let Some(device) = page_device() else { return Ok(Step::Device(stage)) };
        match device.and_then(|d| self.gpu_submit(&d, &job)) {
            Ok(pending) => Ok(Step::Wait(stage, job, pending, began)),
            Err(f) => {
                let outcome = self.cpu_fallback(f)?;
                self.stage_done(stage, outcome, 0.0)
            }
        }
    }

    /// Submits the job's run on `device` (see [`Reranker::gpu_begin`]).
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn gpu_submit(&self, device: &Rc<Device>, job: &ScoringJob) -> Result<Pending, Failure> {
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
        device.adapt_and_score(&model.arch, &job.theta, &model.alpha, adapt, &candidates)
    }

    /// The second half of a GPU rank: adopts the θ the GPU adapted and orders by its scores.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn gpu_end(&mut self, mut job: ScoringJob, read: Result<Vec<f32>, Failure>) -> JsResult<Outcome> {
        let (scores, theta) = match read {
            Ok(out) => split_scores(out, self.core.n_results()),
            Err(f) => return self.cpu_fallback(f),
        };
        if job.adapt.is_some() && !self.core.adopt(&mut job, theta) {
            // The CPU's own inner loop keeps θ0 in this case; rank there, as it would.
            let reason = "the WebGPU inner loop gave non-finite parameters".to_string();
            let ranking = self.core.rank().map_err(|e| js_error(&e))?;
            return Ok((ranking, self.core.backend(), Some(reason)));
        }
        Ok((self.core.finish(&job, scores), WEBGPU, None))
    }

    /// A click's full rank on the CPU, the inner loop included (the cached θ is dropped
    /// first), and how long it took.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn timed_cpu_rank(&mut self) -> JsResult<(Ranking, f64)> {
        self.core.clear_adaptation();
        let t = now_ms();
        let ranking = self.core.rank().map_err(|e| js_error(&e))?;
        Ok((ranking, now_ms() - t))
    }

    /// Starts a calibration: times the CPU on this call, each run doing a click's full work (the
    /// inner loop from θ0 over the session's events, session features, scoring, ordering). When
    /// it is under [`crate::gpu::select::GPU_FLOOR_MS`] the bucket is the CPU's without touching
    /// the GPU; otherwise the GPU runs follow ([`Reranker::stage_done`]).
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn calibrate(&mut self) -> JsResult<Step> {
        let (n, scope) = (self.core.n_results(), self.core.scope());
        let (mut cpu, mut cpu_ms) = self.timed_cpu_rank()?;
        for _ in 1..CALIBRATION_RUNS {
            let (ranking, ms) = self.timed_cpu_rank()?;
            (cpu, cpu_ms) = (ranking, cpu_ms.min(ms));
        }
        if let Some(c) = Calibration::cpu_only(bucket(n), scope, cpu_ms) {
            SELECTOR.with(|s| s.borrow_mut().record(c));
            return Ok(Step::Done((cpu, self.core.backend(), None)));
        }
        // The first GPU run warms up (device, buffers, first dispatch) and is not timed.
        self.core.clear_adaptation();
        self.gpu_begin(Stage::Calibrate { cpu_ms, runs: 0, gpu_ms: f64::INFINITY })
    }

    /// After a GPU run of `stage` that took `ms` (its preparation, encoding, submission and
    /// readback, as a CPU run is timed from its start to its ranking): a rank is done; a
    /// calibration runs the GPU again until it has [`CALIBRATION_RUNS`] timed runs, then checks
    /// that the two backends agree and keeps the faster for this size bucket and scope,
    /// returning the CPU's ranking (and leaving the CPU's adapted θ cached).
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn stage_done(&mut self, stage: Stage, outcome: Outcome, ms: f64) -> JsResult<Step> {
        let Stage::Calibrate { cpu_ms, runs, gpu_ms } = stage else { return Ok(Step::Done(outcome)) };
        if outcome.1 != WEBGPU {
            return Ok(Step::Done(outcome)); // nothing to score, or a GPU failure (already handled)
        }
        let gpu_ms = if runs == 0 { gpu_ms } else { gpu_ms.min(ms) };
        if runs < CALIBRATION_RUNS {
            self.core.clear_adaptation();
            return self.gpu_begin(Stage::Calibrate { cpu_ms, runs: runs + 1, gpu_ms });
        }
        // The CPU's θ becomes the session's again (the GPU runs replaced it); the same
        // deterministic computation as the timed runs, so the same ranking.
        let (n, scope) = (self.core.n_results(), self.core.scope());
        let (cpu, _) = self.timed_cpu_rank()?;
        let (g, c) = (by_item(&outcome.0), by_item(&cpu));
        let agree = g.len() == c.len() && g.iter().zip(&c).all(|(g, c)| (g - c).abs() <= AGREEMENT * (1.0 + c.abs()));
        if !agree {
            let reason = "calibration: the WebGPU scores differ from the CPU's".to_string();
            SELECTOR.with(|s| s.borrow_mut().mark_unusable(reason.clone()));
            return Ok(Step::Done((cpu, self.core.backend(), Some(reason))));
        }
        SELECTOR
            .with(|s| s.borrow_mut().record(Calibration { bucket: bucket(n), scope, cpu_ms, gpu_ms: Some(gpu_ms) }));
        Ok(Step::Done((cpu, self.core.backend(), None)))
    }
}

/// Scores by display index, from a ranking (which lists them by new position).
#[cfg_attr(fewclick_ship, optimize(size))]
fn by_item(r: &Ranking) -> Vec<f32> {
    let mut out = vec![f32::NAN; r.order.len()];
    for (&i, &s) in r.order.iter().zip(&r.scores) {
        out[i] = s;
    }
    out
}

/// Why WebGPU is not used on this page (`None` while it may be): ruled out after a failure.
#[cfg_attr(fewclick_ship, optimize(size))]
fn fallback_reason() -> Option<String> {
    SELECTOR.with(|s| s.borrow().unusable().map(String::from))
}

/// Makes `device` (a `GPUDevice` the page acquired) the page's, compiling the kernels on it;
/// returns the promises of the error scopes around the compiles: the first error they catch goes
/// to `gpuCompiled`.
#[wasm_bindgen(js_name = gpuAttach)]
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn gpu_attach(device: web_sys::GpuDevice) -> Array {
    device::attach_page_device(device)
}

/// Takes the first error `gpuAttach`'s scopes caught, if any: a compile error rules WebGPU out
/// for the page.
#[wasm_bindgen(js_name = gpuCompiled)]
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn gpu_compiled(scope_error: Option<String>) {
    device::page_device_compiled(scope_error)
}

/// WebGPU cannot be used on this page, for `reason` (no `navigator.gpu`, no adapter, a failed
/// device request): calls that want it rank on the CPU and say why.
#[wasm_bindgen(js_name = gpuUnusable)]
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn gpu_unusable(reason: String) {
    device::page_device_failed(reason)
}

/// The page's device was lost (`device.lost` resolved with `message`).
#[wasm_bindgen(js_name = gpuLost)]
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn gpu_lost(message: String) {
    device::page_device_lost(&message)
}

/// What the page knows about WebGPU: `{ fallbackReason: string | null, calibrations: [{ upTo,
/// scope, cpuMs, gpuMs, backend }] }` (one entry per size bucket and scope calibrated so far;
/// `gpuMs` is null where the CPU was under the GPU's floor and the GPU was not tried).
#[wasm_bindgen(js_name = gpuStatus)]
#[cfg_attr(fewclick_ship, optimize(size))]
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
