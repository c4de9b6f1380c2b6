//! The wasm boundary: the only module with `#[wasm_bindgen]`. Each export is a thin shell that
//! converts JS values, calls the core, and maps the core's [`Error`] to a JS `Error` (a
//! `RangeError` for caller mistakes) carrying a stable `code`. Nothing here unwraps or panics.

use crate::error::Error;
use crate::reranker::{Config, Ranking, Reranker as Core};
use crate::session::MAX_ID_BYTES;
use crate::Scope;
use js_sys::{Array, Float32Array, Int32Array, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;

#[cfg(feature = "bench")]
mod bench;
/// `rankAsyncStart` / `rankAsyncResume`, `gpuFallbackReason`, `gpuStatus` and the page device's
/// hooks: only a WebGPU build has them. A CPU build exports none, and the package's core.js
/// answers them (`cpuRankAsync`: `rank()`, and why WebGPU is not used, a constant there), so the
/// CPU pages carry no selector of backends.
#[cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]
pub mod gpu;
mod read;

use read::{check_js_len, js_len, optional_f32s, strings};

#[cfg_attr(fewclick_ship, optimize(size), inline(never))]
fn js_error(e: &Error) -> JsValue {
    let caller_mistake = matches!(
        e,
        Error::DimensionMismatch { .. }
            | Error::NonFinite { .. }
            | Error::TooManyCandidates { .. }
            | Error::InvalidConfig { .. }
    );
    let err: js_sys::Error =
        if caller_mistake { js_sys::RangeError::new(&e.message()).into() } else { js_sys::Error::new(&e.message()) };
    // Reflect::set on a fresh Error object cannot fail; ignore the impossible error.
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn invalid(reason: impl Into<String>) -> JsValue {
    js_error(&Error::InvalidInput { reason: reason.into() })
}

type JsResult<T> = Result<T, JsValue>;

/// The wasm builds' allocator: talc on single-threaded wasm, in place of Rust's default dlmalloc
/// (smaller: see ARCHITECTURE.md, "Size"). It grows wasm memory as allocations need it and extends
/// its heap over the new pages.
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn set(obj: &Object, key: &str, value: &JsValue) -> JsResult<()> {
    Reflect::set(obj, &key.into(), value).map(|_| ())
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: every engine the package supports has it (windows and workers since
    /// 2012, Node.js since 16), so no `Date.now()` fallback is compiled in.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
}

impl Reranker {
    /// A ranking as the package reads it: `{ order, scores, moved, adapted, adaptMs, backend,
    /// fallbackReason }` (`rank()`, and `rankAsync` in a WebGPU build).
    pub(crate) fn ranking_object(&self, ranking: &Ranking, backend: &str, fallback: Option<&str>) -> JsResult<Object> {
        // Ids are not copied out of wasm here (decoding one string per item was a third of the
        // time at N = 10,000); the package's wrapper names the order from the ids it kept.
        let order: Vec<u32> = ranking.order.iter().map(|&i| i as u32).collect();
        let out = Object::new();
        set(&out, "order", &Uint32Array::from(order.as_slice()))?;
        set(&out, "scores", &Float32Array::from(ranking.scores.as_slice()))?;
        set(&out, "moved", &Int32Array::from(ranking.moved.as_slice()))?;
        set(&out, "adapted", &ranking.adapted.into())?;
        set(&out, "adaptMs", &self.last_adapt_ms.into())?;
        set(&out, "backend", &backend.into())?;
        set(&out, "fallbackReason", &fallback.map_or(JsValue::NULL, JsValue::from_str))?;
        Ok(out)
    }
}

/// Checks an event as `record` does before it reaches a session (its shape and keys, the id, the
/// type, the time and the dwell), without a reranker: the package queues events this accepts
/// while a `rankAsync()` holds their reranker, so a bad one throws from `record()` as it would
/// without the queue.
#[wasm_bindgen(js_name = checkEvent)]
pub fn check_event(event: JsValue) -> JsResult<()> {
    let (mut event, timestamp_ms) = read::event(&event)?;
    event.timestamp = timestamp_ms.map(|ms| ms / 1000.0);
    event.validate().map_err(|e| js_error(&e))
}

/// The page clock in seconds (`Date.now()`, the clock event timestamps are given on): the
/// session's time when the host gives none.
fn page_clock_s() -> f64 {
    js_sys::Date::now() / 1000.0
}

/// The page's reranker: one per shopper session.
#[wasm_bindgen]
pub struct Reranker {
    core: Core,
    last_adapt_ms: f64,
    /// A `rankAsync` between two of its steps (src/wasm/gpu.rs; the WebGPU build only).
    #[cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]
    in_flight: Option<gpu::InFlight>,
}

impl Reranker {
    /// Drops a `rankAsync` in flight: any call that changes the reranker comes first, and the
    /// call's next step throws (the package lets none through meanwhile).
    #[inline]
    fn interrupt(&mut self) {
        #[cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]
        {
            self.in_flight = None;
        }
    }
}

#[wasm_bindgen]
impl Reranker {
    /// Loads a model file (validated strictly) with optional settings
    /// `{ maxCandidates, eventCapacity, maxMove, scope, steps, rankWithoutEvents }`.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &[u8], options: JsValue) -> JsResult<Reranker> {
        let opts = read::options(&options)?;
        let defaults = Config::default();
        let cfg = Config {
            max_candidates: opts.max_candidates.unwrap_or(defaults.max_candidates),
            event_capacity: opts.event_capacity.unwrap_or(defaults.event_capacity),
            max_move: opts.max_move,
            scope: opts.scope.as_deref().map(Scope::parse).transpose().map_err(|e| js_error(&e))?,
            steps: opts.steps,
            rank_without_events: opts.rank_without_events,
        };
        let core = Core::from_bytes(model, cfg).map_err(|e| js_error(&e))?;
        Ok(Reranker {
            core,
            last_adapt_ms: 0.0,
            #[cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]
            in_flight: None,
        })
    }

    /// Replaces the results: ids in display order; features `n × itemDim` or undefined (looked
    /// up in the model's item table); the host's feature names, checked against the model's
    /// schema when given; optional base scores and prices. The session's events are kept. On
    /// error nothing changes.
    #[wasm_bindgen(js_name = setResults)]
    pub fn set_results(
        &mut self,
        ids: JsValue,
        features: JsValue,
        feature_names: JsValue,
        base: JsValue,
        prices: JsValue,
    ) -> JsResult<()> {
        self.interrupt();
        // Counts first: nothing is converted from JS before the sizes are known to be acceptable.
        let (limit, dim) = (self.core.max_candidates(), self.core.model().arch.item_dim);
        let n = js_len(&ids).ok_or_else(|| invalid("ids must be an array of strings"))?;
        if n > limit {
            return Err(js_error(&Error::TooManyCandidates { limit, found: n }));
        }
        for (value, what, expected) in
            [(&features, "features", n * dim), (&base, "baseScores", n), (&prices, "prices", n)]
        {
            if !(value.is_undefined() || value.is_null()) {
                check_js_len(value, what, expected)?;
            }
        }
        // The memory budget too, with the shortest ids (the core reserves with their real lengths).
        crate::budget::check_fits(self.core.result_set_bytes(n, n)).map_err(|e| js_error(&e))?;
        let ids = strings(&ids, "ids", MAX_ID_BYTES, |reason| Error::InvalidId { reason })?;
        let features = optional_f32s(&features, "features")?;
        if !(feature_names.is_undefined() || feature_names.is_null()) {
            let names = strings(&feature_names, "featureNames", MAX_ID_BYTES, |reason| Error::InvalidInput { reason })?;
            self.core.check_feature_names(&names).map_err(|e| js_error(&e))?;
        }
        let base = optional_f32s(&base, "baseScores")?;
        let prices = optional_f32s(&prices, "prices")?;
        self.core.set_results(ids, features, base, prices).map_err(|e| js_error(&e))?;
        // The session's clock moves to the page clock when a list is shown (not when ranking, so
        // a ranking depends only on what was recorded). The page clock is finite: this cannot fail.
        let _ = self.core.advance_clock(page_clock_s());
        Ok(())
    }

    /// Records `{ item, type, timestamp?, dwellMs? }`; `type` is one of impression, view, click,
    /// cart, purchase, skip, dwell; `timestamp` is milliseconds on the `Date.now()` clock (default:
    /// now), and one earlier than the previous event's is an `INVALID_INPUT` error.
    pub fn record(&mut self, event: JsValue) -> JsResult<()> {
        self.interrupt();
        let (mut event, timestamp_ms) = read::event(&event)?;
        // Milliseconds on the Date.now() clock in JS, seconds in the core.
        event.timestamp = Some(timestamp_ms.map_or_else(page_clock_s, |ms| ms / 1000.0));
        self.core.record(event).map_err(|e| js_error(&e))
    }

    /// Adapts to the session and ranks on the CPU: `{ order, scores, moved, adapted, adaptMs,
    /// backend }` (the package's wrapper adds `ids`, named from `order`).
    pub fn rank(&mut self) -> JsResult<Object> {
        self.interrupt();
        let t0 = now_ms();
        let ranking = self.core.rank().map_err(|e| js_error(&e))?;
        self.last_adapt_ms = now_ms() - t0;
        self.ranking_object(&ranking, self.core.backend(), None)
    }

    /// Why an item sits where it does: `{ id, displayPosition, score, signals: [{name, value,
    /// contribution}], reasons: [{code, value, contribution}] }` (sentences: the package's
    /// reasonText).
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn explain(&mut self, id: &str) -> JsResult<Object> {
        self.interrupt();
        let ex = self.core.explain(id).map_err(|e| js_error(&e))?;
        let out = Object::new();
        set(&out, "id", &ex.id.as_str().into())?;
        set(&out, "displayPosition", &(ex.display_position as u32).into())?;
        set(&out, "score", &ex.score.into())?;
        let signals = Array::new();
        for (name, value, contribution) in ex.signals {
            let s = Object::new();
            set(&s, "name", &name.into())?;
            set(&s, "value", &value.into())?;
            set(&s, "contribution", &contribution.into())?;
            signals.push(&s);
        }
        set(&out, "signals", &signals)?;
        let reasons = Array::new();
        for r in ex.reasons {
            let o = Object::new();
            set(&o, "code", &r.code.as_str().into())?;
            set(&o, "value", &r.value.into())?;
            set(&o, "contribution", &r.contribution.into())?;
            reasons.push(&o);
        }
        set(&out, "reasons", &reasons)?;
        Ok(out)
    }

    /// The session as bytes for a later page (versioned, checksummed, at most 1 MiB; the oldest
    /// events left out first). Stores nothing itself.
    #[wasm_bindgen(js_name = exportSession)]
    pub fn export_session(&self) -> Uint8Array {
        Uint8Array::from(self.core.export_session().as_slice())
    }

    /// Replaces the session's events with exported ones; damaged or foreign bytes are an
    /// `INVALID_SESSION` error and change nothing.
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(&mut self, bytes: &[u8]) -> JsResult<()> {
        self.interrupt();
        self.core.import_session(bytes).map_err(|e| js_error(&e))
    }

    /// Forgets the session's events (the results stay).
    pub fn reset(&mut self) {
        self.interrupt();
        self.core.reset();
    }

    /// Forgets everything the reranker holds about the shopper: events and results.
    pub fn forget(&mut self) {
        self.interrupt();
        self.core.forget();
        self.last_adapt_ms = 0.0;
    }

    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.core.backend().to_string()
    }

    #[wasm_bindgen(getter, js_name = lastAdaptMs)]
    pub fn last_adapt_ms(&self) -> f64 {
        self.last_adapt_ms
    }

    #[wasm_bindgen(getter, js_name = itemDim)]
    pub fn item_dim(&self) -> u32 {
        self.core.model().arch.item_dim as u32
    }

    #[wasm_bindgen(getter, js_name = eventCount)]
    pub fn event_count(&self) -> u32 {
        self.core.n_events() as u32
    }

    /// What the model file holds: `{ algorithm, itemDim, hidden, steps, scope, loss, featureNames,
    /// items }`.
    #[wasm_bindgen(js_name = modelInfo)]
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn model_info(&self) -> JsResult<JsValue> {
        let m = self.core.model();
        let info = ModelInfo {
            algorithm: &m.algorithm,
            item_dim: m.arch.item_dim as u32,
            hidden: m.arch.hidden as u32,
            steps: m.inner.steps,
            scope: m.inner.scope.as_str(),
            loss: m.inner.loss.as_str(),
            feature_names: &m.feature_names,
            items: m.items.as_ref().map_or(0, |t| t.len()) as u32,
        };
        // Serialising strings and integers cannot fail; map the impossible error.
        let out = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
        serde::Serialize::serialize(&info, &out).map_err(|_| invalid("modelInfo: could not build the object"))
    }
}

/// `modelInfo()`'s object, written out by serde-wasm-bindgen as a plain JS object. (Input is read
/// by hand, src/wasm/read.rs; output of this shape is what serde-wasm-bindgen is for.) Serialised
/// as a map with string keys, not as a struct: serde-wasm-bindgen interns a struct's field names
/// in a pointer-keyed `HashMap` of its own, 2.5 KB of wasm code for eight keys.
struct ModelInfo<'a> {
    algorithm: &'a str,
    item_dim: u32,
    hidden: u32,
    steps: u32,
    scope: &'a str,
    loss: &'a str,
    feature_names: &'a [String],
    items: u32,
}

impl serde::Serialize for ModelInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("algorithm", self.algorithm)?;
        m.serialize_entry("itemDim", &self.item_dim)?;
        m.serialize_entry("hidden", &self.hidden)?;
        m.serialize_entry("steps", &self.steps)?;
        m.serialize_entry("scope", self.scope)?;
        m.serialize_entry("loss", self.loss)?;
        m.serialize_entry("featureNames", self.feature_names)?;
        m.serialize_entry("items", &self.items)?;
        m.end()
    }
}

/// The kernel set this build runs: "cpu-relaxed-simd", "cpu-simd128" or "cpu-scalar".
#[wasm_bindgen(js_name = cpuKernels)]
pub fn cpu_kernels() -> String {
    crate::kernels::Kernels::name(&crate::kernels::Fast).to_string()
}

/// Sets the memory budget of this instance's rerankers together, in bytes (see src/budget.rs):
/// a `setResults` or a new reranker that would take them past it is a `MEMORY_BUDGET` error.
#[wasm_bindgen(js_name = setMemoryBudget)]
pub fn set_memory_budget(bytes: f64) -> JsResult<()> {
    if !(bytes.is_finite() && bytes >= 0.0) {
        return Err(js_error(&Error::config("memoryBudget", "must be a number of bytes")));
    }
    crate::budget::set_budget(bytes as usize).map_err(|e| js_error(&e))
}

/// `{ reserved, budget, wasmBytes }`: what this instance's rerankers hold of the budget, and the
/// size of the wasm memory now (it never shrinks).
#[wasm_bindgen(js_name = memoryUsage)]
#[cfg_attr(fewclick_ship, optimize(size), inline(never))]
pub fn memory_usage() -> JsResult<Object> {
    let (reserved, budget) = crate::budget::usage();
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let bytes = memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length();
    let o = Object::new();
    set(&o, "reserved", &(reserved as f64).into())?;
    set(&o, "budget", &(budget as f64).into())?;
    set(&o, "wasmBytes", &(bytes as f64).into())?;
    Ok(o)
}

/// The library version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
