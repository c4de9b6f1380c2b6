//! The WebGPU kernels against the CPU reference, and `rankAsync` against `rank`, in headless
//! Chromium with `--enable-unsafe-webgpu` (WebGPU on SwiftShader; tests/webgpu/webdriver.json).
//! Compiled only for wasm32 with `--cfg=web_sys_unstable_apis`; see tests/webgpu/README.md for
//! the command. Every random test logs its seed.
//!
//! The wasm awaits nothing: a GPU run returns a `Pending` whose promises the caller awaits (the
//! package's gpu.js in a page), and `rankAsync` is a series of steps. The helpers below await
//! them as gpu.js does (`ended`, its twin here); acquiring a device is gpu.js's too, and its
//! failures (no `navigator.gpu`, no adapter) are tested against the package
//! (tests/js/package.test.mjs).
//!
//! Tolerances (|gpu − reference| ≤ ABS + REL·|reference|, the reference in f64 where it exists):
//! * scores: ABS 1e-5, REL 1e-5 against the f64 oracle `score_reference` (sums of ≤ 30 products
//!   per hidden unit; the GPU may contract to fused multiply-adds), and exact equality, scores and
//!   ranking, on inputs that are small multiples of 1/16 (every product and sum exact in f32);
//! * gradients: ABS 1e-6·max(1, Σ_r|g_r|) + REL 1e-4 against `backward_rows` on the f64
//!   `Reference` kernels (f32 sums over up to 100,000 rows on the GPU);
//! * one update step: ABS 1e-6, REL 1e-5 against `adapt` with one step;
//! * the whole inner loop (5 steps): ABS 1e-5, REL 1e-4 against `adapt` on the f64 `Reference`
//!   kernels (the steps compound the f32 differences of the loss and gradient kernels);
//! * `rankAsync` on WebGPU against `rank()`: scores by position within ABS 1e-5, REL 1e-5, and the
//!   same ranking except where items whose CPU scores are within 1e-5 trade places.
#![allow(unexpected_cfgs)]
#![cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]

use fewclick::adapt::{adapt, Objective, RankObjective, Scope};
use fewclick::gpu::device::{destroy_page_device, split_scores, Candidates, Device, Failure, Pending, Session};
use fewclick::kernels::{Fast, Reference};
use fewclick::model_file::Model;
use fewclick::params::Arch;
use fewclick::rank;
use fewclick::rng::Rng;
use fewclick::scorer::{backward_rows, forward_rows, score_candidates, score_reference};
use fewclick::session::{EventLog, ResultSet, SupportSet, SESSION_DIM};
use fewclick::{Event, EventKind, InnerLoop, LossKind};
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint32Array};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Candidate counts: 1, around the workgroup size (64), not multiples of it, and the largest set
/// a reranker accepts (100,000).
const NS: [usize; 9] = [1, 2, 63, 64, 65, 1000, 4097, 33_333, 100_000];

fn close(gpu: f32, reference: f32, abs: f32, rel: f32) -> bool {
    (gpu - reference).abs() <= abs + rel * reference.abs()
}

fn cands<'a>(arch: &Arch, x: &'a [f32], s: &'a [f32], base: &'a [f32], generation: Option<u64>) -> Candidates<'a> {
    Candidates { x, item_dim: arch.item_dim, base, session: Session::Features(s), generation }
}

/// Awaits a promise; its rejection as the error.
async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    wasm_bindgen_futures::JsFuture::from(p).await
}

/// How a GPU run's promises ended, as gpu.js's `ended` tells the wasm: the first error the three
/// error scopes caught (a rejected pop counts) and why the mapping failed.
async fn ended(promises: &Array) -> (Option<String>, Option<String>) {
    let settled = settle(Promise::all_settled(promises)).await.expect("Promise.allSettled never rejects");
    let how = |i: u32| {
        let entry = Reflect::get(&settled, &i.into()).unwrap();
        match get(&entry, "status").as_string().as_deref() {
            Some("fulfilled") => Ok(get(&entry, "value")),
            _ => Err(fewclick::gpu::device::js_message(&get(&entry, "reason"))),
        }
    };
    let scope = (0..3).find_map(|i| match how(i) {
        Ok(e) if e.is_object() => Some(get(&e, "message").as_string().unwrap_or_default()),
        Ok(_) => None,
        Err(reason) => Some(format!("popErrorScope failed: {reason}")),
    });
    let mapped = if promises.length() > 3 { how(3).err() } else { None };
    (scope, mapped)
}

/// A `GPUDevice` from the browser, as gpu.js requests one.
async fn gpu_device() -> web_sys::GpuDevice {
    let gpu = Reflect::get(&Reflect::get(&js_sys::global(), &"navigator".into()).unwrap(), &"gpu".into()).unwrap();
    let gpu: web_sys::Gpu = gpu.dyn_into().expect("navigator.gpu (is Chromium running with --enable-unsafe-webgpu?)");
    let adapter: web_sys::GpuAdapter =
        settle(gpu.request_adapter().unchecked_into()).await.unwrap().dyn_into().expect("an adapter");
    settle(adapter.request_device().unchecked_into()).await.unwrap().unchecked_into()
}

/// A device of this test's own, its kernels compiled without error.
async fn device() -> Rc<Device> {
    let (device, compiled) = Device::new(gpu_device().await);
    assert_eq!(ended(&compiled).await.0, None, "the kernels compile");
    Rc::new(device)
}

/// A GPU run's floats, its promises awaited as gpu.js awaits them.
async fn wait(run: Result<Pending, Failure>) -> Result<Vec<f32>, Failure> {
    let run = run?;
    let (scope, mapped) = ended(&run.promises()).await;
    run.finish(scope, mapped)
}

/// [`Device::adapt_and_score`] awaited: the scores and θ.
async fn adapt_and_score(
    gpu: &Rc<Device>,
    arch: &Arch,
    theta: &[f32],
    alpha: &[f32],
    adapt: Option<(&SupportSet, &InnerLoop)>,
    c: &Candidates<'_>,
) -> Result<(Vec<f32>, Vec<f32>), Failure> {
    let n = c.base.len();
    wait(gpu.adapt_and_score(arch, theta, alpha, adapt, c)).await.map(|out| split_scores(out, n))
}

/// `rankAsync(backend)` as the package's gpu.js runs it: the wasm's steps, the page's device
/// acquired (once per page) when a step asks for it, each run's promises awaited.
async fn rank_async(r: &mut fewclick::wasm::Reranker, backend: Option<&str>) -> Result<JsValue, JsValue> {
    let mut step = r.rank_async_start(backend.map(String::from))?;
    loop {
        if get(&step, "device") == JsValue::TRUE {
            let device = gpu_device().await;
            let lost: Promise = device.lost().unchecked_into();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(info) = settle(lost).await {
                    fewclick::wasm::gpu::gpu_lost(get(&info, "message").as_string().unwrap_or_default());
                }
            });
            let compiled = fewclick::wasm::gpu::gpu_attach(device);
            fewclick::wasm::gpu::gpu_compiled(ended(&compiled).await.0);
            step = r.rank_async_resume(None, None)?;
        } else if let Some(wait) = get(&step, "wait").dyn_ref::<Array>() {
            let (scope, mapped) = ended(wait).await;
            step = r.rank_async_resume(scope, mapped)?;
        } else {
            return Ok(step);
        }
    }
}

/// A θ with a lively head and session weights, so every block matters.
fn theta(arch: &Arch, rng: &mut Rng) -> Vec<f32> {
    let mut t = arch.init(rng);
    for v in &mut t[arch.head_start()..] {
        *v += rng.range(-0.5, 0.5);
    }
    for v in &mut t[arch.range(fewclick::params::Block::Ws)] {
        *v += rng.range(-0.3, 0.3);
    }
    t
}

#[wasm_bindgen_test]
async fn scores_match_the_reference_for_every_size() {
    let seed = 0x5C0E;
    console_log!("seed {seed:#x}; N = {NS:?}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    for (d, h) in [(16, 32), (7, 12)] {
        let arch = Arch::new(d, h).unwrap();
        let theta = theta(&arch, &mut rng);
        for n in NS {
            let x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
            let s: Vec<f32> = (0..n * SESSION_DIM).map(|_| rng.range(0.0, 1.0)).collect();
            let base: Vec<f32> = (0..n).map(|i| -((1 + i) as f32).ln()).collect();
            let got = wait(gpu.score(&arch, &theta, &cands(&arch, &x, &s, &base, None))).await.expect("GPU scores");
            let want = score_reference(&arch, &theta, &x, &s, &base);
            assert_eq!(got.len(), n);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(close(*g, *w, 1e-5, 1e-5), "d {d} h {h} n {n} candidate {i}: gpu {g} reference {w}");
            }
            // The production CPU path agrees with the oracle too (its own test states its bound).
            let (mut cpu, mut scratch) = (vec![0.0; n], Vec::new());
            score_candidates(&Fast, &arch, &theta, &x, &s, &base, None, &mut scratch, &mut cpu);
            let worst = got.iter().zip(&cpu).map(|(g, c)| (g - c).abs()).fold(0.0f32, f32::max);
            console_log!("scores d {d} h {h} n {n}: max |gpu − cpu| = {worst:e}");
        }
    }
}

#[wasm_bindgen_test]
async fn session_features_match_the_cpu_for_every_size() {
    // features.wgsl from the summary table against the CPU's batched features (themselves tested
    // against the per-row reference in tests/core.rs): |Δ| ≤ 1e-5 + 1e-5·|cpu| (cosines summed
    // in another order; the norm computed on the device).
    let seed = 0xFEA7;
    console_log!("seed {seed:#x}; N = {NS:?}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    let kinds = [EventKind::Click, EventKind::Cart, EventKind::Skip, EventKind::Impression, EventKind::Purchase];
    for (k, n) in NS.into_iter().enumerate() {
        let d = [16, 7][k % 2];
        let arch = Arch::new(d, 8).unwrap();
        let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
        let mut x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
        x[..d].fill(0.0); // a row without features
        let prices: Vec<f32> = (0..n).map(|_| rng.range(5.0, 300.0)).collect();
        let priced = k % 3 != 2;
        let set = ResultSet::new(ids.clone(), x.clone(), d, None, priced.then_some(prices.clone()), 100_000).unwrap();
        let mut log = EventLog::new(64).unwrap();
        // A previous list (the same ids) with a click in it, then timed events on this one.
        if k % 2 == 0 {
            let before = ResultSet::new(ids.clone(), x, d, None, priced.then_some(prices), 100_000).unwrap();
            let click = Event { timestamp: Some(1.0), ..Event::new(ids[rng.below(n)].clone(), EventKind::Click) };
            log.record(click, Some(&before)).unwrap();
        }
        log.show(&set);
        for e in 0..[0, 3, 40][k % 3] {
            let item = if e % 7 == 6 { format!("gone{e}") } else { ids[rng.below(n)].clone() };
            let timestamp = (e % 5 != 4).then_some(10.0 + 7.0 * e as f64);
            log.record(Event { timestamp, ..Event::new(item, kinds[rng.below(kinds.len())]) }, Some(&set)).unwrap();
        }
        log.advance(500.0).unwrap();
        let summary = log.summarize(Some(d));
        let want = summary.all_features(&Fast, &set);
        let table = summary.table(&set).expect("snapshots of this width");
        let c = Candidates {
            x: set.features(),
            item_dim: d,
            base: set.base(),
            session: Session::Table { table: &table, list: set.list_context(), priced: set.prices().is_some() },
            generation: Some(set.generation()),
        };
        let got = wait(gpu.session_features(&arch, &c)).await.expect("GPU session features");
        assert_eq!(got.len(), want.len());
        let mut worst = 0.0f32;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                close(*g, *w, 1e-5, 1e-5),
                "n {n} row {} feature {}: gpu {g} cpu {w}",
                i / SESSION_DIM,
                i % SESSION_DIM
            );
            worst = worst.max((g - w).abs());
        }
        let nonzero = want.iter().filter(|v| **v != 0.0).count();
        console_log!(
            "session features n {n} d {d}: {} events, {} columns, {} items; {nonzero} non-zero; max |gpu − cpu| = {worst:e}",
            log.len(),
            table.n_similar(),
            table.items.len()
        );
    }
}

#[wasm_bindgen_test]
async fn exact_inputs_give_identical_scores_and_ranking() {
    // Multiples of 1/16 in [-2, 2]: every product is a multiple of 1/256 and every sum stays far
    // below 2^24/256, so f32 arithmetic is exact in any order, fused or not.
    let seed = 0xE7AC;
    console_log!("seed {seed:#x}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    let q = |rng: &mut Rng| (rng.below(65) as f32 - 32.0) / 16.0;
    let arch = Arch::new(16, 32).unwrap();
    let theta: Vec<f32> = (0..arch.n_params()).map(|_| q(&mut rng) / 4.0).collect();
    for n in [65, 4097, 100_000] {
        let x: Vec<f32> = (0..n * 16).map(|_| q(&mut rng)).collect();
        let s: Vec<f32> = (0..n * SESSION_DIM).map(|_| q(&mut rng)).collect();
        let base: Vec<f32> = (0..n).map(|_| q(&mut rng)).collect();
        let got = wait(gpu.score(&arch, &theta, &cands(&arch, &x, &s, &base, None))).await.expect("GPU scores");
        let want = score_reference(&arch, &theta, &x, &s, &base);
        assert_eq!(got, want, "n {n}: exact inputs must give bit-identical scores");
        for max_move in [None, Some(3)] {
            assert_eq!(rank::order(&got, max_move), rank::order(&want, max_move), "n {n}: ranking");
        }
    }
}

#[wasm_bindgen_test]
async fn gradients_match_backward_rows() {
    let seed = 0x96AD;
    console_log!("seed {seed:#x}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    for (d, h) in [(16, 32), (7, 12)] {
        let arch = Arch::new(d, h).unwrap();
        let width = d + SESSION_DIM;
        for rows in [1, 7, 63, 64, 65, 300, 100_000] {
            let theta = theta(&arch, &mut rng);
            let inputs: Vec<f32> = (0..rows * width).map(|_| rng.range(-1.0, 1.0)).collect();
            let base: Vec<f32> = (0..rows).map(|_| rng.range(-2.0, 0.0)).collect();
            // Some rows carry no gradient, as in a real support set.
            let g: Vec<f32> = (0..rows).map(|_| if rng.below(4) == 0 { 0.0 } else { rng.range(-1.0, 1.0) }).collect();
            let scale: f32 = g.iter().map(|v| v.abs()).sum();
            for scope in [Scope::All, Scope::Head] {
                let first = scope.trainable_from(&arch);
                let fwd = forward_rows(&Reference, &arch, &theta, &inputs, &base);
                let mut want = vec![0.0; arch.n_params()];
                backward_rows(&Reference, &arch, &theta, &inputs, &base, &fwd, &g, &mut want, false);
                want[..first].fill(0.0);
                let got = wait(gpu.backward(&arch, &theta, &inputs, &base, &g, first)).await.expect("GPU gradient");
                let mut worst = 0.0f32;
                for (p, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        close(*a, *b, 1e-6 * scale.max(1.0), 1e-4),
                        "d {d} h {h} rows {rows} {scope:?} param {p}: gpu {a} cpu {b}"
                    );
                    worst = worst.max((a - b).abs());
                }
                console_log!(
                    "gradient d {d} h {h} rows {rows} {scope:?}: max |gpu − cpu| = {worst:e} (Σ|g| = {scale})"
                );
            }
        }
    }
}

/// An objective whose gradient is fixed: `adapt` with one step is then exactly one update.
struct Fixed(Vec<f32>);
impl Objective for Fixed {
    fn loss_grad(&self, _theta: &[f32], grad: &mut [f32]) -> f32 {
        grad.copy_from_slice(&self.0);
        0.0
    }
}

#[wasm_bindgen_test]
async fn one_update_matches_a_cpu_step() {
    let seed = 0x57E9;
    console_log!("seed {seed:#x}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    let arch = Arch::new(16, 32).unwrap();
    // (gradient magnitude, clip, overflow): clipping inactive, active, and a gradient whose norm
    // overflows to ∞ (the step is skipped: scale 0).
    for (mag, clip, overflow) in [(0.01, 10.0, false), (5.0, 1.0, false), (1.0, 1.0, true)] {
        for scope in [Scope::All, Scope::Head] {
            let theta: Vec<f32> = theta(&arch, &mut rng);
            let alpha: Vec<f32> = (0..theta.len()).map(|_| rng.range(0.01, 0.2)).collect();
            let mut grad: Vec<f32> = (0..theta.len()).map(|_| rng.range(-mag, mag)).collect();
            if overflow {
                grad[arch.n_params() - 2] = 3e38;
            }
            let first = scope.trainable_from(&arch);
            let cfg = InnerLoop { steps: 1, scope, loss: LossKind::Pairwise, prox: 0.3, clip };
            // One CPU step from θ, anchored at θ (the proximal pull is tested below).
            let want = adapt(&Fixed(grad.clone()), &theta, &alpha, &cfg, first, None);
            let got =
                wait(gpu.step(&arch, &theta, &theta, &alpha, &grad, first, cfg.prox, clip)).await.expect("GPU step");
            for (p, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(close(*a, *b, 1e-6, 1e-5), "mag {mag} clip {clip} {scope:?} param {p}: gpu {a} cpu {b}");
            }
            if overflow {
                assert_eq!(got, theta, "a non-finite norm skips the step");
            }
        }
    }
}

#[wasm_bindgen_test]
async fn one_update_applies_the_proximal_pull() {
    // θ ≠ θ0 and a zero loss gradient: the only force is λ(θ − θ0).
    let gpu = device().await;
    let arch = Arch::new(4, 8).unwrap();
    let n = arch.n_params();
    let theta0 = vec![1.0; n];
    let theta = vec![2.0; n];
    let alpha = vec![0.5; n];
    let got = wait(gpu.step(&arch, &theta, &theta0, &alpha, &vec![0.0; n], 0, 0.1, 1e9)).await.expect("GPU step");
    // g = 0.1·(2 − 1) = 0.1 per parameter; θ = 2 − 0.5·0.1.
    assert!(got.iter().all(|&v| (v - 1.95).abs() < 1e-6), "{:?}", &got[..4]);
}

/// A support set built the way the page builds it: results, then clicks, carts and skips.
fn support(arch: &Arch, rng: &mut Rng, clicks: usize) -> SupportSet {
    let n = 40;
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    let x: Vec<f32> = (0..n * arch.item_dim).map(|_| rng.range(-1.0, 1.0)).collect();
    let prices: Vec<f32> = (0..n).map(|_| rng.range(5.0, 300.0)).collect();
    let set = ResultSet::new(ids.clone(), x, arch.item_dim, None, Some(prices), 1000).unwrap();
    let mut log = EventLog::new(64).unwrap();
    for _ in 0..clicks {
        let kind = [EventKind::Click, EventKind::Cart, EventKind::Skip, EventKind::Click][rng.below(4)];
        log.record(Event::new(ids[2 + rng.below(n - 2)].clone(), kind), Some(&set)).unwrap();
    }
    log.support(arch.item_dim)
}

#[wasm_bindgen_test]
async fn the_inner_loop_matches_adapt() {
    let seed = 0xADA9;
    console_log!("seed {seed:#x}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    let arch = Arch::new(16, 32).unwrap();
    for loss in [LossKind::Pairwise, LossKind::Listwise] {
        for scope in [Scope::All, Scope::Head] {
            for clicks in [3, 25] {
                let set = support(&arch, &mut rng, clicks);
                assert!(!set.is_empty(), "the clicks make training pairs");
                let theta0 = theta(&arch, &mut rng);
                let alpha: Vec<f32> = (0..theta0.len()).map(|_| rng.range(0.02, 0.2)).collect();
                let cfg = InnerLoop { steps: 5, scope, loss, prox: 0.1, clip: 10.0 };
                let obj = RankObjective::new(&Reference, arch, &set, loss, &theta0, scope);
                let want = adapt(&obj, &theta0, &alpha, &cfg, scope.trainable_from(&arch), None);
                let got = wait(gpu.adapt(&arch, &theta0, &alpha, &set, &cfg)).await.expect("GPU adapt");
                let mut worst = 0.0f32;
                for (p, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(close(*a, *b, 1e-5, 1e-4), "{loss:?} {scope:?} {clicks} clicks param {p}: gpu {a} cpu {b}");
                    worst = worst.max((a - b).abs());
                }
                let moved = got.iter().zip(&theta0).filter(|(a, b)| a != b).count();
                assert!(moved > 0, "{loss:?} {scope:?}: the GPU inner loop changed nothing");
                console_log!(
                    "adapt {loss:?} {scope:?} {} rows, {} pairs: max |gpu − cpu| = {worst:e}; loss {} → {} (GPU θ)",
                    set.n_rows(),
                    set.pairs.len(),
                    obj.loss(&theta0),
                    obj.loss(&got)
                );
            }
        }
    }
}

#[wasm_bindgen_test]
async fn one_submission_adapts_then_scores_and_skips_unchanged_uploads() {
    let seed = 0xA5C0;
    console_log!("seed {seed:#x}");
    let gpu = device().await;
    let mut rng = Rng::new(seed);
    let arch = Arch::new(16, 32).unwrap();
    let n = 4097;
    for scope in [Scope::All, Scope::Head] {
        let set = support(&arch, &mut rng, 25);
        let theta0 = theta(&arch, &mut rng);
        let alpha: Vec<f32> = (0..theta0.len()).map(|_| rng.range(0.02, 0.2)).collect();
        let cfg = InnerLoop { steps: 5, scope, loss: LossKind::Pairwise, prox: 0.1, clip: 10.0 };
        let obj = RankObjective::new(&Reference, arch, &set, cfg.loss, &theta0, scope);
        let want_theta = adapt(&obj, &theta0, &alpha, &cfg, scope.trainable_from(&arch), None);
        let x: Vec<f32> = (0..n * 16).map(|_| rng.range(-1.0, 1.0)).collect();
        let s: Vec<f32> = (0..n * SESSION_DIM).map(|_| rng.range(0.0, 1.0)).collect();
        let base: Vec<f32> = (0..n).map(|i| -((1 + i) as f32).ln()).collect();
        // The generation is what the reranker passes: ResultSet::generation, unique per set.
        let generation = Some(seed + scope as u64);
        let before = gpu.bytes_uploaded();
        let (scores, theta) =
            adapt_and_score(&gpu, &arch, &theta0, &alpha, Some((&set, &cfg)), &cands(&arch, &x, &s, &base, generation))
                .await
                .expect("GPU adapt + score");
        let first_upload = gpu.bytes_uploaded() - before;
        for (p, (a, b)) in theta.iter().zip(&want_theta).enumerate() {
            assert!(close(*a, *b, 1e-5, 1e-4), "{scope:?} param {p}: gpu {a} cpu {b}");
        }
        // Scored with the θ it returns: against the oracle with that θ.
        let want = score_reference(&arch, &theta, &x, &s, &base);
        assert!(scores.iter().zip(&want).all(|(g, w)| close(*g, *w, 1e-5, 1e-5)), "{scope:?}: scores");

        // The same result set again, new session features: x and base stay on the device.
        let s2: Vec<f32> = (0..n * SESSION_DIM).map(|_| rng.range(0.0, 1.0)).collect();
        let before = gpu.bytes_uploaded();
        let (again, same_theta) =
            adapt_and_score(&gpu, &arch, &theta, &alpha, None, &cands(&arch, &x, &s2, &base, generation))
                .await
                .expect("GPU score");
        let second_upload = gpu.bytes_uploaded() - before;
        assert_eq!(same_theta, theta, "without an inner loop θ comes back unchanged");
        let want = score_reference(&arch, &theta, &x, &s2, &base);
        assert!(again.iter().zip(&want).all(|(g, w)| close(*g, *w, 1e-5, 1e-5)), "{scope:?}: cached x");
        let x_bytes = ((n * 16 + n) * 4) as f64;
        console_log!("{scope:?}: uploaded {first_upload} bytes, then {second_upload} with x and base cached");
        assert!(second_upload + x_bytes <= first_upload, "x and base ({x_bytes} bytes) were not uploaded again");

        // A different set of the same size under a new generation is uploaded: no stale features.
        let x3: Vec<f32> = (0..n * 16).map(|_| rng.range(-1.0, 1.0)).collect();
        let (fresh, _) = adapt_and_score(
            &gpu,
            &arch,
            &theta,
            &alpha,
            None,
            &cands(&arch, &x3, &s2, &base, Some(seed + 10 + scope as u64)),
        )
        .await
        .expect("GPU score");
        let want = score_reference(&arch, &theta, &x3, &s2, &base);
        assert!(fresh.iter().zip(&want).all(|(g, w)| close(*g, *w, 1e-5, 1e-5)), "{scope:?}: new x uploaded");
    }
    // An empty result set still returns θ (after the inner loop).
    let set = support(&arch, &mut rng, 5);
    let theta0 = theta(&arch, &mut rng);
    let alpha = vec![0.1; theta0.len()];
    let cfg = InnerLoop::default();
    let (scores, theta) =
        adapt_and_score(&gpu, &arch, &theta0, &alpha, Some((&set, &cfg)), &cands(&arch, &[], &[], &[], None))
            .await
            .unwrap();
    assert!(scores.is_empty());
    assert_eq!(theta.len(), theta0.len());
    assert_ne!(theta, theta0, "the inner loop ran");
}

#[wasm_bindgen_test]
async fn a_validation_error_comes_back_as_a_broken_device() {
    let gpu = device().await;
    match wait(gpu.invalid_dispatch()).await {
        Err(Failure::Broken(reason)) => {
            console_log!("validation error reported as: {reason}");
            assert!(reason.starts_with("WebGPU error: "), "{reason}");
        }
        other => panic!("a dispatch without bind group must fail as Broken, got {other:?}"),
    }
}

// --- the JS-facing rankAsync ------------------------------------------------------------------

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &key.into()).unwrap()
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// A page's reranker with `n` results and `clicks` clicks.
/// Milliseconds on the Date.now() clock, in 2096: later than any page clock these tests see.
const PAGE_TIME_MS: f64 = 4.0e12;

fn page_reranker(n: usize, scope: &str, clicks: usize, seed: u64) -> fewclick::wasm::Reranker {
    let (d, h) = (16, 32);
    let arch = Arch::new(d, h).unwrap();
    let mut rng = Rng::new(seed);
    let theta = theta(&arch, &mut rng);
    let model = Model {
        arch,
        alpha: vec![0.05; theta.len()],
        theta,
        inner: InnerLoop::default(),
        max_move: None,
        rank_without_events: false,
        algorithm: "test".into(),
        feature_names: (0..d).map(|i| format!("f{i}")).collect(),
        items: None,
    };
    let options = object(&[("scope", scope.into()), ("steps", 5.into())]);
    let mut r = fewclick::wasm::Reranker::new(&model.to_bytes().unwrap(), options).unwrap();
    let ids: Array = (0..n).map(|i| JsValue::from_str(&format!("item-{i}"))).collect();
    let x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
    let prices: Vec<f32> = (0..n).map(|_| rng.range(5.0, 300.0)).collect();
    r.set_results(
        ids.into(),
        Float32Array::from(x.as_slice()).into(),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
        Float32Array::from(prices.as_slice()).into(),
    )
    .unwrap();
    // Explicit timestamps (ms), later than the page clock at setResults: two rerankers made from
    // the same seed hold the same times, so their time features agree.
    for k in 0..clicks {
        let item = format!("item-{}", rng.below(n));
        let t = PAGE_TIME_MS + 1000.0 * k as f64;
        r.record(object(&[("item", item.into()), ("type", "click".into()), ("timestamp", t.into())])).unwrap();
    }
    r
}

/// Scores by display index, from a ranking object.
fn scores_by_item(ranking: &JsValue) -> Vec<f32> {
    let order = get(ranking, "order").unchecked_into::<Uint32Array>().to_vec();
    let scores = get(ranking, "scores").unchecked_into::<Float32Array>().to_vec();
    let mut out = vec![f32::NAN; order.len()];
    for (&i, &s) in order.iter().zip(&scores) {
        out[i as usize] = s;
    }
    out
}

/// The two rankings are the same, except where items whose CPU scores are within `tol` of each
/// other trade places (1-ulp differences decide ties among 100,000 scores).
fn assert_same_ranking(got: &JsValue, cpu: &JsValue, tol: f32, what: &str) {
    let cpu_scores = scores_by_item(cpu);
    let (a, b) = (
        get(got, "order").unchecked_into::<Uint32Array>().to_vec(),
        get(cpu, "order").unchecked_into::<Uint32Array>().to_vec(),
    );
    assert_eq!(a.len(), b.len(), "{what}: length");
    let mut swapped = 0;
    for (k, (&i, &j)) in a.iter().zip(&b).enumerate() {
        if i != j {
            swapped += 1;
            let (si, sj) = (cpu_scores[i as usize], cpu_scores[j as usize]);
            assert!(
                (si - sj).abs() <= tol,
                "{what}: position {k} holds item {i} (cpu score {si}) instead of {j} ({sj})"
            );
        }
    }
    console_log!("{what}: {} positions, {swapped} differ only between near-equal scores", a.len());
}

#[wasm_bindgen_test]
async fn rank_async_on_webgpu_ranks_like_rank_and_falls_back_after_device_loss() {
    // One test, in this order: the page's device and backend decisions are page-wide state, and
    // the device loss at the end is for good.
    let decided = || Array::from(&get(&fewclick::wasm::gpu::gpu_status().unwrap(), "calibrations")).length();

    // First, the defect of a page that ranks on load: an eventless first call at 50,000 items
    // (nothing to compute: the host's order) must not decide the bucket for the CPU; once there
    // are events, the first call calibrates, timing the GPU too.
    let start = decided();
    let mut on_load = page_reranker(50_000, "all", 0, 0x5000);
    let first: JsValue = rank_async(&mut on_load, None).await.unwrap();
    assert_eq!(get(&first, "adapted"), JsValue::FALSE);
    assert_eq!(decided(), start, "an eventless call calibrates nothing");
    let mut clicked = page_reranker(50_000, "all", 25, 0x5000);
    let _: JsValue = rank_async(&mut clicked, None).await.unwrap();
    assert_eq!(decided(), start + 1, "the first call with events calibrates");
    let entry = Array::from(&get(&fewclick::wasm::gpu::gpu_status().unwrap(), "calibrations")).get(start);
    console_log!("50,000 items after events: {}", js_sys::JSON::stringify(&entry).unwrap());
    assert_eq!(get(&entry, "upTo").as_f64(), Some(100_000.0));
    assert!(get(&entry, "gpuMs").as_f64().is_some(), "at 50,000 items with events the GPU is timed");

    for (n, scope) in [(1, "all"), (65, "all"), (1000, "head"), (100_000, "all")] {
        // Two identical rerankers: one ranks on the CPU (rank()), the other on WebGPU, inner loop
        // included (no adapted θ is cached before the first rankAsync).
        let seed = 0xB00 + n as u64;
        let mut r = page_reranker(n, scope, 25, seed);
        let mut twin = page_reranker(n, scope, 25, seed);
        let cpu: JsValue = twin.rank().unwrap().into();
        let gpu: JsValue = rank_async(&mut r, Some("webgpu")).await.unwrap();
        assert_eq!(
            get(&gpu, "backend").as_string().as_deref(),
            Some("webgpu"),
            "n {n}: {:?}",
            get(&gpu, "fallbackReason")
        );
        assert!(get(&gpu, "fallbackReason").is_null());
        // One result gives no training pair (nothing to prefer a click over): no inner loop.
        assert_eq!(get(&gpu, "adapted"), JsValue::from_bool(n > 1), "n {n}: the GPU ran the inner loop");
        assert_eq!(get(&cpu, "adapted"), get(&gpu, "adapted"));
        let (gs, cs) = (
            get(&gpu, "scores").unchecked_into::<Float32Array>().to_vec(),
            get(&cpu, "scores").unchecked_into::<Float32Array>().to_vec(),
        );
        assert!(gs.iter().zip(&cs).all(|(g, c)| close(*g, *c, 1e-4, 1e-4)), "n {n}: scores by position");
        assert_same_ranking(&gpu, &cpu, 1e-4, &format!("webgpu (inner loop + scores) n {n} scope {scope}"));

        // rank() now reuses the θ the GPU adapted: the same scores within the scoring tolerance.
        let reused: JsValue = r.rank().unwrap().into();
        assert_same_ranking(&reused, &gpu, 1e-5, &format!("rank() after rankAsync n {n}"));
        let forced_cpu: JsValue = rank_async(&mut r, Some("cpu")).await.unwrap();
        assert_ne!(get(&forced_cpu, "backend").as_string().as_deref(), Some("webgpu"));
        assert_eq!(
            get(&forced_cpu, "order").unchecked_into::<Uint32Array>().to_vec(),
            get(&reused, "order").unchecked_into::<Uint32Array>().to_vec()
        );

        // auto: the first call of a bucket calibrates (both backends adapt from θ0 and score; the
        // CPU's ranking is returned and its θ kept), later calls follow the decision.
        let before = decided();
        let auto: JsValue = rank_async(&mut r, None).await.unwrap();
        if decided() > before {
            assert_eq!(
                get(&auto, "order").unchecked_into::<Uint32Array>().to_vec(),
                get(&cpu, "order").unchecked_into::<Uint32Array>().to_vec(),
                "n {n}: a calibrating call returns the CPU's ranking"
            );
        } else {
            assert_same_ranking(&auto, &cpu, 1e-4, &format!("auto (bucket already decided) n {n}"));
        }
        let again: JsValue = rank_async(&mut r, None).await.unwrap();
        assert_same_ranking(&again, &cpu, 1e-4, &format!("auto (decided: {:?}) n {n}", get(&again, "backend")));

        // A new event: the next WebGPU rank adapts again, as the CPU does.
        let t = PAGE_TIME_MS + 1e6;
        let click =
            object(&[("item", format!("item-{}", n / 2).into()), ("type", "cart".into()), ("timestamp", t.into())]);
        r.record(click.clone()).unwrap();
        twin.record(click).unwrap();
        let cpu2: JsValue = twin.rank().unwrap().into();
        let gpu2: JsValue = rank_async(&mut r, Some("webgpu")).await.unwrap();
        assert_eq!(get(&gpu2, "backend").as_string().as_deref(), Some("webgpu"));
        assert_same_ranking(&gpu2, &cpu2, 1e-4, &format!("webgpu after one more event n {n}"));
    }
    let status: JsValue = fewclick::wasm::gpu::gpu_status().unwrap().into();
    console_log!("gpuStatus after calibration: {}", js_sys::JSON::stringify(&status).unwrap());
    // (1, all) and (65, all) share the bucket "≤ 100"; (50,000, all) and (100,000, all) "≤ 100,000".
    let cals = Array::from(&get(&status, "calibrations"));
    assert_eq!(cals.length(), 3, "one decision per (bucket, scope)");
    let of = |up_to: f64, scope: &str| {
        cals.iter()
            .find(|c| get(c, "upTo").as_f64() == Some(up_to) && get(c, "scope").as_string().as_deref() == Some(scope))
            .unwrap_or_else(|| panic!("no calibration for ≤ {up_to}, {scope}"))
    };
    // Decided by n = 1 (nothing to adapt: microseconds on the CPU), under the GPU's floor: the
    // GPU was not tried. At 100,000 the CPU needs tens of ms: the GPU was timed.
    assert!(get(&of(100.0, "all"), "gpuMs").is_null(), "≤ 100: CPU without trying the GPU");
    assert_eq!(get(&of(100.0, "all"), "backend").as_string().as_deref(), Some("cpu"));
    assert!(get(&of(100_000.0, "all"), "gpuMs").as_f64().is_some(), "≤ 100,000: both timed");
    assert!(get(&status, "fallbackReason").is_null());

    // A call between two steps drops the rankAsync in flight: its next step throws, and the run
    // it dropped leaves the device free for the next call.
    let mut r = page_reranker(1000, "all", 25, 0xD20);
    let step = r.rank_async_start(Some("webgpu".into())).unwrap();
    let wait: Array = get(&step, "wait").dyn_into().expect("a GPU run in flight (the page has its device)");
    let _ = r.rank().unwrap();
    let (scope, mapped) = ended(&wait).await;
    let err = r.rank_async_resume(scope, mapped).unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("INVALID_INPUT"));
    let again = rank_async(&mut r, Some("webgpu")).await.unwrap();
    assert_eq!(get(&again, "backend").as_string().as_deref(), Some("webgpu"), "{:?}", get(&again, "fallbackReason"));

    assert!(destroy_page_device(), "the page had a device");
    let mut r = page_reranker(4097, "all", 25, 0xDEAD);
    let cpu: JsValue = r.rank().unwrap().into();
    let after: JsValue = rank_async(&mut r, Some("webgpu")).await.unwrap();
    let reason = get(&after, "fallbackReason").as_string().expect("a lost device is reported");
    console_log!("after device.destroy(): backend {:?}, reason {reason:?}", get(&after, "backend"));
    assert_ne!(get(&after, "backend").as_string().as_deref(), Some("webgpu"));
    assert_eq!(
        get(&after, "order").unchecked_into::<Uint32Array>().to_vec(),
        get(&cpu, "order").unchecked_into::<Uint32Array>().to_vec()
    );
    assert_eq!(r.gpu_fallback_reason(), Some(reason.clone()), "the getter reports the same reason");
    // Later calls, auto or forced, stay on the CPU with the same reason.
    let later: JsValue = rank_async(&mut r, None).await.unwrap();
    assert_eq!(get(&later, "fallbackReason").as_string(), Some(reason));
    assert_eq!(
        get(&later, "order").unchecked_into::<Uint32Array>().to_vec(),
        get(&cpu, "order").unchecked_into::<Uint32Array>().to_vec()
    );
}

#[wasm_bindgen_test]
async fn rank_async_rejects_an_unknown_backend() {
    let mut r = page_reranker(10, "head", 3, 1);
    let err = rank_async(&mut r, Some("gpu")).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().as_deref(), Some("INVALID_CONFIG"));
    // No events yet on a fresh reranker: the host's order, synchronously decided, on any backend.
    let mut fresh = page_reranker(10, "head", 0, 2);
    let r0: JsValue = rank_async(&mut fresh, Some("webgpu")).await.unwrap();
    assert_eq!(get(&r0, "order").unchecked_into::<Uint32Array>().to_vec(), (0..10).collect::<Vec<u32>>());
}
