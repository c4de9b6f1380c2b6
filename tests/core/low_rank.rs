//! The low-rank inner loop (src/adapt/low_rank.rs) against the plain one, and when the reranker
//! takes it.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::{model, results, support_from_clicks};
use fewclick::adapt::{adapt_from, low_rank_pays, uniform_input_step, LowRankObjective, Objective, RankObjective};
use fewclick::kernels::Fast;
use fewclick::model_file::Model;
use fewclick::params::Block;
use fewclick::reranker::Scoring;
use fewclick::rng::Rng;
use fewclick::{Config, Event, InnerLoop, LossKind, Reranker, Scope};

/// A test model whose body's input weights share one step size (MAML's α); the other
/// parameters keep their own.
fn uniform_model(item_dim: usize, hidden: usize, seed: u64, inner: InnerLoop) -> Model {
    let mut m = model(item_dim, hidden, seed, inner);
    let win = m.arch.range(Block::Wx).start..m.arch.range(Block::Ws).end;
    m.alpha[win].fill(0.07);
    m
}

/// |low-rank − plain| ≤ 2e-4 + 1e-3·|plain|: the two loops sum the same terms in another order,
/// over 3-8 steps whose rounding compounds.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 2e-4 + 1e-3 * w.abs(), "{what}: θ[{i}] {g} vs {w}");
    }
}

#[test]
fn the_low_rank_loop_matches_the_plain_loop() {
    // Pairwise and listwise; with and without the proximal pull; a clip that never binds and one
    // that binds at every step (so the gradient's norm through K is checked too).
    let cases = [
        (61u64, LossKind::Pairwise, 0.1, 10.0, 5),
        (62, LossKind::Listwise, 0.1, 10.0, 5),
        (63, LossKind::Pairwise, 0.0, 0.05, 3),
        (64, LossKind::Listwise, 0.5, 0.05, 8),
    ];
    for (seed, loss, prox, clip, steps) in cases {
        println!("seed {seed} loss {loss:?} prox {prox} clip {clip} steps {steps}");
        let inner = InnerLoop { steps, scope: Scope::All, loss, prox, clip };
        let m = uniform_model(40, 8, seed, inner);
        let set = support_from_clicks(&m, seed, 4);
        assert!(!set.pairs.is_empty(), "seed {seed}: nothing to learn from");
        assert!(uniform_input_step(&m.arch, &m.alpha), "one step size over the input weights");
        let obj = RankObjective::new(&Fast, m.arch, &set, loss, &m.theta, Scope::All);
        let (want, first) = adapt_from(&obj, &m.theta, &m.alpha, &inner, 0);
        let low = LowRankObjective::new(&Fast, m.arch, &set, loss, &m.theta).expect("44 rows at most, 69 inputs");
        let phi0 = low.start(&m.theta);
        assert_eq!(low.theta(&m.theta, &phi0), m.theta, "seed {seed}: φ0 stands for θ0");
        let (phi, before) = adapt_from(&low, &phi0, &m.alpha, &inner, 0);
        let got = low.theta(&m.theta, &phi);
        assert_ne!(want, m.theta, "seed {seed}: the plain loop moved θ");
        // The loss at θ0 is the same computation in both (K · 0 adds nothing): equal to the bit.
        assert_eq!(before.map(f32::to_bits), first.map(f32::to_bits), "seed {seed}: loss at θ0");
        assert_close(&got, &want, &format!("seed {seed}"));
        let (after, want_after) = (low.loss(&phi), obj.loss(&want));
        assert!(
            (after - want_after).abs() <= 1e-5 + 1e-4 * want_after.abs(),
            "seed {seed}: after {after} vs {want_after}"
        );
        assert!(after < first.unwrap(), "seed {seed}: the steps lower the support loss");
    }
}

#[test]
fn the_low_rank_loop_is_taken_only_where_it_applies_and_pays() {
    let inner = InnerLoop { steps: 5, scope: Scope::All, ..InnerLoop::default() };
    let m = uniform_model(64, 64, 71, inner);
    assert!(uniform_input_step(&m.arch, &m.alpha));
    // 93 inputs, 64 hidden units, 5 steps: 25 rows pay, 100 do not.
    assert!(low_rank_pays(&m.arch, &inner, true, 25));
    assert!(!low_rank_pays(&m.arch, &inner, true, 100));
    assert!(!low_rank_pays(&m.arch, &InnerLoop { scope: Scope::Head, ..inner }, true, 25), "head scope");
    assert!(!low_rank_pays(&m.arch, &InnerLoop { steps: 0, ..inner }, true, 25), "no steps");
    // Meta-SGD's per-weight step sizes: no single step size, no low-rank form.
    let meta_sgd = model(64, 64, 71, inner);
    // More rows than inputs: D cannot take W's place.
    let small = uniform_model(2, 4, 72, inner);
    let set = support_from_clicks(&small, 72, 12);
    assert!(set.n_rows() > 2 + fewclick::session::SESSION_DIM, "{} rows", set.n_rows());
    assert!(LowRankObjective::new(&Fast, small.arch, &set, LossKind::Pairwise, &small.theta).is_none());
    assert!(!uniform_input_step(&meta_sgd.arch, &meta_sgd.alpha));
    assert!(!low_rank_pays(&m.arch, &inner, false, 25));
}

/// rank() on a model with one input step size takes the low-rank loop; a backend that runs the
/// plain loop and hands θ to `adopt` must give the same ranking, scores within tolerance.
#[test]
fn a_ranking_through_the_low_rank_loop_matches_the_plain_loops() {
    let mut taken = 0;
    for seed in 80..90u64 {
        println!("seed {seed}");
        let inner = InnerLoop { steps: 5, scope: Scope::All, ..InnerLoop::default() };
        let m = uniform_model(16, 32, seed, inner);
        let mut rng = Rng::new(seed);
        let (ids, x, prices) = results(&mut rng, 40, 16, "u");
        let session = |r: &mut Reranker| {
            r.set_results(ids.clone(), Some(x.clone()), None, Some(prices.clone())).unwrap();
            for i in [0usize, 1, 2] {
                r.record(Event::new(ids[i].clone(), fewclick::EventKind::Click)).unwrap();
            }
            for id in &ids[3..5 + 2 * (seed as usize % 5)] {
                r.record(Event::new(id.clone(), fewclick::EventKind::Skip)).unwrap();
            }
        };
        let (mut fast, mut deferred) = (
            Reranker::new(m.clone(), Config::default()).unwrap(),
            Reranker::new(m.clone(), Config::default()).unwrap(),
        );
        session(&mut fast);
        session(&mut deferred);
        let got = fast.rank().unwrap();
        let Scoring::Job(mut job) = deferred.prepare_deferred().unwrap() else { panic!("seed {seed}: events, no job") };
        let pending = job.adapt.clone().expect("an inner loop to run");
        let n = pending.support.n_rows();
        if low_rank_pays(&m.arch, &pending.inner, uniform_input_step(&m.arch, &m.alpha), n) {
            taken += 1;
        }
        let obj = RankObjective::new(&Fast, m.arch, &pending.support, pending.inner.loss, &m.theta, Scope::All);
        let (theta, _) = adapt_from(&obj, &m.theta, &m.alpha, &pending.inner, 0);
        assert!(deferred.adopt(&mut job, theta));
        let want = deferred.finish(&job, deferred.score_job(&job));
        assert!(got.adapted && want.adapted, "seed {seed}");
        assert_close(&got.scores, &want.scores, &format!("seed {seed} scores"));
        let (gl, wl) = (got.support_loss.expect("losses"), want.support_loss.expect("losses"));
        assert!((gl.0 - wl.0).abs() <= 1e-6 && (gl.1 - wl.1).abs() <= 1e-4, "seed {seed}: {gl:?} vs {wl:?}");
    }
    assert!(taken >= 8, "only {taken} of 10 sessions took the low-rank loop");
}
