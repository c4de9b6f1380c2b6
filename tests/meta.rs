//! Meta-learning checks: the network's gradient and exact Hessian-vector product against
//! references, the second-order meta-gradient against finite differences of the meta-objective,
//! and a short run of the MAML paper's sinusoid benchmark (`fewclick sinusoid` runs the full one).
#![cfg(feature = "cli")]

use fewclick::adapt::{adapt, InnerLoop, Objective, Trace};
use fewclick::rng::Rng;
use fewclick::train::meta::{meta_gradient, Algorithm, FullPass, MetaTask};
use fewclick::train::sinusoid::{self, Mlp, Protocol, SineTask};
use fewclick::{LossKind, Scope};

struct Support<'a>(&'a SineTask);
impl Objective for Support<'_> {
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.0.support(theta, grad)
    }
}

fn meta_objective(task: &SineTask, theta0: &[f32], alpha: &[f32], inner: &InnerLoop) -> f32 {
    let phi = adapt(&Support(task), theta0, alpha, inner, 0, None);
    task.query(&phi, &mut vec![0.0; theta0.len()])
}

#[test]
fn mlp_gradient_matches_finite_differences() {
    let seed = 5;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Mlp::new(&[6, 5]);
    let theta = net.init(&mut rng);
    let task = SineTask::sample(&mut rng, 10, 10, &net);
    let mut g = vec![0.0; theta.len()];
    task.support(&theta, &mut g);
    // A ReLU kink within ±eps of a point spoils a central difference, so each coordinate is tried
    // at two step sizes: a real gradient bug is off at both. Tolerance 2e-2 + 2e-2·|analytic|
    // (f32 losses of magnitude ~10 over steps of 2e-3 and 6e-4).
    let fd_at = |i: usize, eps: f32| {
        let (mut p, mut q) = (theta.clone(), theta.clone());
        p[i] += eps;
        q[i] -= eps;
        (task.support(&p, &mut vec![0.0; theta.len()]) - task.support(&q, &mut vec![0.0; theta.len()])) / (2.0 * eps)
    };
    let mut checked = 0;
    for (i, &gi) in g.iter().enumerate() {
        let ok = |fd: f32| (fd - gi).abs() <= 2e-2 + 2e-2 * gi.abs();
        let (a, b) = (fd_at(i, 1e-3), fd_at(i, 3e-4));
        assert!(ok(a) || ok(b), "param {i}: analytic {gi} vs finite differences {a} / {b}");
        checked += 1;
    }
    assert_eq!(checked, theta.len());
}

/// The ReLU pattern met by the meta-objective at `(θ0 + t·dθ, α + t·dα)`: the support points at
/// every inner iterate and the query points at the adapted parameters.
#[allow(clippy::too_many_arguments)]
fn meta_pattern(
    task: &SineTask,
    theta0: &[f32],
    alpha: &[f32],
    inner: &InnerLoop,
    dt: &[f32],
    da: &[f32],
    t: f32,
) -> Vec<bool> {
    let th: Vec<f32> = theta0.iter().zip(dt).map(|(a, b)| a + t * b).collect();
    let al: Vec<f32> = alpha.iter().zip(da).map(|(a, b)| a + t * b).collect();
    let mut trace = Trace::default();
    let phi = adapt(&Support(task), &th, &al, inner, 0, Some(&mut trace));
    let f64s = |v: &[f32]| v.iter().map(|x| *x as f64).collect::<Vec<_>>();
    let mut pattern: Vec<bool> =
        trace.thetas.iter().flat_map(|t| kinks(&task.net.sizes, &f64s(t), &task.support)).collect();
    pattern.extend(kinks(&task.net.sizes, &f64s(&phi), &task.query));
    pattern
}

#[test]
fn second_order_meta_gradient_matches_finite_differences_of_the_meta_objective() {
    // Directional derivatives of F(θ0, α) = L_q(adapt(θ0, α)) along random directions, against the
    // analytic meta-gradient (exact HVPs inside). Tolerance: 5% relative + 1e-2 (θ0), 5% + 0.5 (α:
    // derivatives ~10× larger, f32 differences over a 10× smaller step). The adapted parameters
    // jump where an inner iterate's support pass crosses a ReLU kink, so F is differenced only
    // along directions whose ±ε, ±ε/2 points meet the ReLU pattern of the centre (at every inner
    // iterate and at the query).
    let seed = 6;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Mlp::new(&[8, 8]);
    let theta0 = net.init(&mut rng);
    let task = SineTask::sample(&mut rng, 10, 10, &net);
    let n = theta0.len();
    let inner = InnerLoop { steps: 2, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.3, clip: 1e6 };
    let alpha: Vec<f32> = (0..n).map(|_| rng.range(0.005, 0.02)).collect();
    let (mut g2, mut ga) = (vec![0.0; n], vec![0.0; n]);
    meta_gradient(Algorithm::MetaSgd, &task, &theta0, &alpha, &inner, 0, &mut g2, &mut ga);
    let (mut g1, mut ga1) = (vec![0.0; n], vec![0.0; n]);
    meta_gradient(Algorithm::Fomaml, &task, &theta0, &alpha, &inner, 0, &mut g1, &mut ga1);
    let zero = vec![0.0; n];
    let kink_free = |dt: &[f32], da: &[f32], eps: f32| {
        let centre = meta_pattern(&task, &theta0, &alpha, &inner, dt, da, 0.0);
        [-eps, -0.5 * eps, 0.5 * eps, eps]
            .iter()
            .all(|&t| meta_pattern(&task, &theta0, &alpha, &inner, dt, da, t) == centre)
    };
    let (mut theta_checked, mut alpha_checked, mut first_order_off) = (0, 0, 0);
    for trial in 0..200 {
        if theta_checked >= 5 && alpha_checked >= 5 {
            break;
        }
        let d: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let eps = 1e-4;
        if theta_checked < 5 && kink_free(&d, &zero, eps) {
            let p: Vec<f32> = theta0.iter().zip(&d).map(|(t, v)| t + eps * v).collect();
            let q: Vec<f32> = theta0.iter().zip(&d).map(|(t, v)| t - eps * v).collect();
            let fd =
                (meta_objective(&task, &p, &alpha, &inner) - meta_objective(&task, &q, &alpha, &inner)) / (2.0 * eps);
            let an: f32 = g2.iter().zip(&d).map(|(a, b)| a * b).sum();
            let fo: f32 = g1.iter().zip(&d).map(|(a, b)| a * b).sum();
            println!("direction {trial}: finite difference {fd:.5}, second order {an:.5}, first order {fo:.5}");
            assert!((fd - an).abs() <= 1e-2 + 0.05 * fd.abs(), "direction {trial}: {an} vs {fd}");
            if (fd - fo).abs() > 1e-2 + 0.05 * fd.abs() {
                first_order_off += 1;
            }
            theta_checked += 1;
        }
        // The step-size gradient too: perturb α along the direction.
        let eps_a = 1e-5;
        if alpha_checked < 5 && kink_free(&zero, &d, eps_a) {
            let pa: Vec<f32> = alpha.iter().zip(&d).map(|(a, v)| a + eps_a * v).collect();
            let qa: Vec<f32> = alpha.iter().zip(&d).map(|(a, v)| a - eps_a * v).collect();
            let fda = (meta_objective(&task, &theta0, &pa, &inner) - meta_objective(&task, &theta0, &qa, &inner))
                / (2.0 * eps_a);
            let ana: f32 = ga.iter().zip(&d).map(|(a, b)| a * b).sum();
            println!("α direction {trial}: finite difference {fda:.4}, analytic {ana:.4}");
            assert!((fda - ana).abs() <= 0.5 + 0.05 * fda.abs(), "α direction {trial}: {ana} vs {fda}");
            alpha_checked += 1;
        }
    }
    assert!(theta_checked >= 5 && alpha_checked >= 5, "only {theta_checked} / {alpha_checked} kink-free directions");
    assert!(first_order_off > 0, "the second-order terms matter here (else this test proves nothing)");
}

/// The network's mean squared error gradient in f64, written independently of `Mlp` (per point,
/// per unit, pre-activations kept): differenced along `u`, the reference for the R-operator.
fn grad_f64(sizes: &[usize], theta: &[f64], points: &[(f32, f32)]) -> Vec<f64> {
    let n_layers = sizes.len() - 1;
    let mut offsets = vec![0];
    for w in sizes.windows(2) {
        offsets.push(offsets.last().unwrap() + w[0] * w[1] + w[1]);
    }
    let mut grad = vec![0.0; theta.len()];
    for &(x, y) in points {
        let mut acts = vec![vec![x as f64]];
        for l in 0..n_layers {
            let (n_in, n_out, off) = (sizes[l], sizes[l + 1], offsets[l]);
            let z: Vec<f64> = (0..n_out)
                .map(|o| {
                    theta[off + n_in * n_out + o]
                        + (0..n_in).map(|i| theta[off + o * n_in + i] * acts[l][i]).sum::<f64>()
                })
                .collect();
            acts.push(if l + 1 == n_layers { z } else { z.iter().map(|v| v.max(0.0)).collect() });
        }
        let mut delta = vec![2.0 * (acts[n_layers][0] - y as f64) / points.len() as f64];
        for l in (0..n_layers).rev() {
            let (n_in, n_out, off) = (sizes[l], sizes[l + 1], offsets[l]);
            let mut back = vec![0.0; n_in];
            for o in 0..n_out {
                grad[off + n_in * n_out + o] += delta[o];
                for i in 0..n_in {
                    grad[off + o * n_in + i] += delta[o] * acts[l][i];
                    back[i] += delta[o] * theta[off + o * n_in + i];
                }
            }
            delta = back.iter().zip(&acts[l]).map(|(d, a)| if l > 0 && *a <= 0.0 { 0.0 } else { *d }).collect();
        }
    }
    grad
}

/// The sign pattern of every hidden pre-activation at every point, in f64.
fn kinks(sizes: &[usize], theta: &[f64], points: &[(f32, f32)]) -> Vec<bool> {
    let n_layers = sizes.len() - 1;
    let mut pattern = Vec::new();
    for &(x, _) in points {
        let mut a = vec![x as f64];
        let mut off = 0;
        for l in 0..n_layers - 1 {
            let (n_in, n_out) = (sizes[l], sizes[l + 1]);
            let z: Vec<f64> = (0..n_out)
                .map(|o| {
                    theta[off + n_in * n_out + o] + (0..n_in).map(|i| theta[off + o * n_in + i] * a[i]).sum::<f64>()
                })
                .collect();
            pattern.extend(z.iter().map(|v| *v > 0.0));
            a = z.iter().map(|v| v.max(0.0)).collect();
            off += n_in * n_out + n_out;
        }
    }
    pattern
}

/// Whether `θ + t·u` has the ReLU pattern of θ at t = ±eps and ±eps/2 (the second layer's
/// pre-activations are quadratic in t, so for small steps this means no kink is crossed).
fn no_kink_within(sizes: &[usize], theta: &[f32], u: &[f32], points: &[(f32, f32)], eps: f64) -> bool {
    let at = |t: f64| -> Vec<f64> { theta.iter().zip(u).map(|(&a, &b)| a as f64 + t * b as f64).collect() };
    let base = kinks(sizes, &at(0.0), points);
    [-eps, -0.5 * eps, 0.5 * eps, eps].iter().all(|&t| kinks(sizes, &at(t), points) == base)
}

/// H·u in f64: central differences of [`grad_f64`] with the largest step ≤ 1e-5 (halving) that
/// crosses no kink; `None` if even 1e-10 would.
fn hvp_f64(net: &Mlp, theta: &[f32], u: &[f32], points: &[(f32, f32)]) -> Option<Vec<f64>> {
    let mut eps = 1e-5;
    while !no_kink_within(&net.sizes, theta, u, points, eps) {
        eps *= 0.5;
        if eps < 1e-10 {
            return None;
        }
    }
    let at = |t: f64| -> Vec<f64> { theta.iter().zip(u).map(|(&a, &b)| a as f64 + t * b as f64).collect() };
    let (gp, gm) = (grad_f64(&net.sizes, &at(eps), points), grad_f64(&net.sizes, &at(-eps), points));
    Some(gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect())
}

/// The product the crate used before the R-operator: central differences of the f32 support
/// gradient with step `scale / ‖u‖`.
fn fd_hvp(task: &SineTask, theta: &[f32], u: &[f32], scale: f32) -> Vec<f32> {
    let eps = scale / u.iter().map(|v| v * v).sum::<f32>().sqrt();
    let at = |sign: f32| {
        let t: Vec<f32> = theta.iter().zip(u).map(|(a, b)| a + sign * eps * b).collect();
        let mut g = vec![0.0; t.len()];
        task.support(&t, &mut g);
        g
    };
    let (gp, gm) = (at(1.0), at(-1.0));
    gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect()
}

fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Largest entry-wise gap between a product and the f64 reference, relative to the reference's
/// largest entry.
fn rel_gap(a: &[f32], reference: &[f64]) -> f64 {
    max_abs(a.iter().zip(reference).map(|(x, r)| *x as f64 - r)) / max_abs(reference.iter().copied()).max(1e-12)
}

/// A MAML-like point: PyTorch-initialised θ, and u = α · (query gradient), the direction the
/// second-order backward pass multiplies by.
fn maml_point(rng: &mut Rng, net: &Mlp) -> (SineTask, Vec<f32>, Vec<f32>) {
    let theta = net.init(rng);
    let task = SineTask::sample(rng, 10, 10, net);
    let mut u = vec![0.0; theta.len()];
    task.query(&theta, &mut u);
    u.iter_mut().for_each(|v| *v *= 0.01);
    (task, theta, u)
}

// Tolerance of the R-operator against the f64 reference: 1e-4 of the product's largest entry
// (f32 accumulation over 10 points and 40-wide layers, ~1e-6 relative, against a reference whose
// differencing error is below 1e-8).
const HVP_TOL: f64 = 1e-4;

#[test]
fn mlp_hvp_matches_an_f64_reference() {
    for (seed, hidden) in [(7u64, vec![40, 40]), (8, vec![6, 5]), (9, vec![40, 40])] {
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let net = Mlp::new(&hidden);
        let mut checked = 0;
        for _ in 0..20 {
            // Both a MAML direction and a random one.
            let (task, theta, u_maml) = maml_point(&mut rng, &net);
            let u_rand: Vec<f32> = (0..theta.len()).map(|_| rng.normal()).collect();
            for u in [u_maml, u_rand] {
                let Some(reference) = hvp_f64(&net, &theta, &u, &task.support) else { continue };
                let mut out = vec![0.0; theta.len()];
                task.support_hvp(&theta, &u, &mut out);
                let gap = rel_gap(&out, &reference);
                assert!(gap <= HVP_TOL, "seed {seed}: R-op off the f64 reference by {gap:.2e} of its largest entry");
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} points had a kink-free reference");
    }
}

#[test]
fn mlp_hvp_matches_f32_finite_differences_where_no_kink_is_crossed() {
    let seed = 10;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Mlp::new(&[40, 40]);
    let mut checked = 0;
    for _ in 0..200 {
        let (task, theta, u) = maml_point(&mut rng, &net);
        let norm = u.iter().map(|v| v * v).sum::<f32>().sqrt() as f64;
        if !no_kink_within(&net.sizes, &theta, &u, &task.support, 1e-3 / norm) {
            continue;
        }
        let mut out = vec![0.0; theta.len()];
        task.support_hvp(&theta, &u, &mut out);
        let fd = fd_hvp(&task, &theta, &u, 1e-3);
        let fd64: Vec<f64> = fd.iter().map(|v| *v as f64).collect();
        // f32 gradients differenced over 1e-3/‖u‖: rounding ~1e-7·‖∇L‖/ε; 2e-2 of the largest entry.
        let gap = rel_gap(&out, &fd64);
        assert!(gap <= 2e-2, "R-op off the kink-free f32 finite difference by {gap:.2e}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} kink-free points");
}

#[test]
fn exact_hvp_is_right_where_the_finite_difference_product_was_unstable() {
    // Issue 9: the old product, central differences at ε = 1e-3/‖u‖, changed by ~100 % of its norm
    // between ε = 1e-3 and 1e-4 in ≥ 10 % of sinusoid tasks (a perturbation crossing a ReLU kink).
    // At exactly those points the R-operator must equal the f64 reference (tolerance HVP_TOL), and
    // the old product must not (else this test could not have caught the defect).
    let seed = 2017;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Mlp::new(&[40, 40]);
    let (mut tasks, mut unstable, mut old_wrong) = (0, 0, 0);
    for _ in 0..100 {
        let (task, theta, u) = maml_point(&mut rng, &net);
        tasks += 1;
        let (coarse, fine) = (fd_hvp(&task, &theta, &u, 1e-3), fd_hvp(&task, &theta, &u, 1e-4));
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let diff: Vec<f32> = coarse.iter().zip(&fine).map(|(a, b)| a - b).collect();
        if norm(&diff) <= 0.5 * norm(&fine) {
            continue;
        }
        let Some(reference) = hvp_f64(&net, &theta, &u, &task.support) else { continue };
        unstable += 1;
        let mut out = vec![0.0; theta.len()];
        task.support_hvp(&theta, &u, &mut out);
        let gap = rel_gap(&out, &reference);
        assert!(gap <= HVP_TOL, "unstable point {unstable}: R-op off the f64 reference by {gap:.2e}");
        if rel_gap(&coarse, &reference) > 0.1 {
            old_wrong += 1;
        }
    }
    println!("{unstable} of {tasks} points unstable; the old product off by > 10 % at {old_wrong}");
    assert!(unstable * 10 >= tasks, "expected ≥ 10 % unstable points, got {unstable} of {tasks}");
    assert!(old_wrong > 0, "the old product was right everywhere: this test would not catch the defect");
}

#[test]
fn maml_adapts_on_sinusoids_and_second_order_is_no_worse_than_first() {
    // The PyTorch protocol of `fewclick sinusoid`, shortened for CI: same network, initialisation,
    // shots, inner step, meta-batch and Adam; fewer iterations and test tasks.
    let seed = 1;
    println!("seed {seed}");
    let p = Protocol { iterations: 1000, test_tasks: 200, ..Protocol::default() };
    let maml = sinusoid::run(&p, Algorithm::Maml, seed, |_| {}).unwrap();
    let fomaml = sinusoid::run(&p, Algorithm::Fomaml, seed, |_| {}).unwrap();
    for o in [&maml, &fomaml] {
        println!(
            "{}: MSE after 0 / 1 / 10 steps {:.3} / {:.3} / {:.3}",
            o.algorithm.name(),
            o.mse[0],
            o.mse[1],
            o.mse[2]
        );
    }
    let m = &maml.mse;
    // Adaptation pays: one step of 0.01 at least a third below no adaptation, ten steps at least
    // half below.
    assert!(m[1] < 0.67 * m[0], "MAML after 1 step {} vs 0 steps {}", m[1], m[0]);
    assert!(m[2] < 0.5 * m[0], "MAML after 10 steps {} vs 0 steps {}", m[2], m[0]);
    // Same seed, init, task stream and test tasks: second order may be at most 10 % + 0.05 worse
    // than first order after 1 and 10 steps (run-to-run noise of a short run).
    for k in [1, 2] {
        assert!(
            m[k] <= 1.1 * fomaml.mse[k] + 0.05,
            "after {} steps: MAML {} vs FOMAML {}",
            p.eval_steps[k],
            m[k],
            fomaml.mse[k]
        );
    }
}

#[test]
fn sinusoid_runs_are_deterministic_for_a_seed() {
    // θ0, the training stream and the test tasks all derive from the seed; rayon's per-task
    // gradients are summed in batch order. Bit-identical results, and another seed differs.
    let seed = 3;
    println!("seed {seed}");
    let p = Protocol { iterations: 30, test_tasks: 20, ..Protocol::default() };
    let bits = |s: u64| -> Vec<u32> {
        sinusoid::run(&p, Algorithm::Maml, s, |_| {}).unwrap().mse.iter().map(|v| v.to_bits()).collect()
    };
    assert_eq!(bits(seed), bits(seed));
    assert_ne!(bits(seed), bits(seed + 1));
}

#[test]
fn anil_on_ranking_tasks_with_the_cached_body_matches_the_full_pass() {
    // The head-scope objective computes the scores in another order than the full forward pass
    // (the page's head path), so the two agree to rounding: 1e-5 of the largest entry for the
    // gradient, 1e-4 for whole meta-gradients after 5 steps.
    use fewclick::train::pipeline::{prepare, TrainOptions};
    let seed = 41;
    println!("seed {seed}");
    let cat = fewclick::demo::generate_catalogue(seed, 80);
    let ds = fewclick::demo::simulate_sessions(&cat, 60, seed);
    let prep = prepare(&ds, &TrainOptions::default(), None).unwrap();
    let arch = prep.arch;
    let head = arch.head_start();
    let mut rng = Rng::new(seed);
    let theta = arch.init(&mut rng);
    let alpha = vec![0.05; theta.len()];
    let inner = InnerLoop { steps: 5, scope: Scope::Head, ..InnerLoop::default() };
    let close = |a: &[f32], b: &[f32], tol: f32| {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * scale)
    };
    let mut checked = 0;
    for task in prep.tasks.iter().filter(|t| !t.support.is_empty()).take(12) {
        let (mut full, mut part) = (vec![0.0; theta.len()], vec![0.0; theta.len()]);
        let lf = task.support(&theta, &mut full);
        let lh = task.support_head(&theta, head).expect("a head objective").loss_grad(&theta, &mut part);
        assert!((lf - lh).abs() <= 1e-5 * lf.abs().max(1.0), "{lf} vs {lh}");
        assert!(close(&part[head..], &full[head..], 1e-5));
        let (mut a, mut aa, mut b, mut bb) =
            (vec![0.0; theta.len()], vec![0.0; theta.len()], vec![0.0; theta.len()], vec![0.0; theta.len()]);
        meta_gradient(Algorithm::Anil, task, &theta, &alpha, &inner, head, &mut a, &mut aa);
        meta_gradient(Algorithm::Anil, &FullPass(task), &theta, &alpha, &inner, head, &mut b, &mut bb);
        assert!(close(&a, &b, 1e-4), "θ0 meta-gradients differ");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} tasks with a support set");
}
