//! Meta-learning checks: the second-order meta-gradient against finite differences of the
//! meta-objective, and the MAML paper's sinusoid benchmark.
#![cfg(feature = "cli")]

use fewclick::adapt::{adapt, InnerLoop, Objective};
use fewclick::rng::Rng;
use fewclick::train::meta::{meta_gradient, meta_train, Algorithm, MetaConfig, MetaTask};
use fewclick::train::sinusoid::{Mlp, SineTask};
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
    for i in 0..theta.len() {
        let ok = |fd: f32| (fd - g[i]).abs() <= 2e-2 + 2e-2 * g[i].abs();
        let (a, b) = (fd_at(i, 1e-3), fd_at(i, 3e-4));
        assert!(ok(a) || ok(b), "param {i}: analytic {} vs finite differences {a} / {b}", g[i]);
        checked += 1;
    }
    assert_eq!(checked, theta.len());
}

#[test]
fn second_order_meta_gradient_matches_finite_differences_of_the_meta_objective() {
    // Directional derivatives of F(θ0) = L_q(adapt(θ0)) along random directions, against the
    // analytic meta-gradient (finite-difference HVPs inside). Tolerance: 5% relative + 1e-2.
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
    let mut first_order_off = 0;
    for trial in 0..5 {
        let d: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let eps = 1e-3;
        let p: Vec<f32> = theta0.iter().zip(&d).map(|(t, v)| t + eps * v).collect();
        let q: Vec<f32> = theta0.iter().zip(&d).map(|(t, v)| t - eps * v).collect();
        let fd = (meta_objective(&task, &p, &alpha, &inner) - meta_objective(&task, &q, &alpha, &inner)) / (2.0 * eps);
        let an: f32 = g2.iter().zip(&d).map(|(a, b)| a * b).sum();
        let fo: f32 = g1.iter().zip(&d).map(|(a, b)| a * b).sum();
        println!("direction {trial}: finite difference {fd:.5}, second order {an:.5}, first order {fo:.5}");
        assert!((fd - an).abs() <= 1e-2 + 0.05 * fd.abs(), "direction {trial}: {an} vs {fd}");
        if (fd - fo).abs() > 1e-2 + 0.05 * fd.abs() {
            first_order_off += 1;
        }
        // The step-size gradient too: perturb α along the direction.
        let pa: Vec<f32> = alpha.iter().zip(&d).map(|(a, v)| a + 1e-4 * v).collect();
        let qa: Vec<f32> = alpha.iter().zip(&d).map(|(a, v)| a - 1e-4 * v).collect();
        let fda = (meta_objective(&task, &theta0, &pa, &inner) - meta_objective(&task, &theta0, &qa, &inner)) / 2e-4;
        let ana: f32 = ga.iter().zip(&d).map(|(a, b)| a * b).sum();
        assert!((fda - ana).abs() <= 0.5 + 0.05 * fda.abs(), "α direction {trial}: {ana} vs {fda}");
    }
    assert!(first_order_off > 0, "the second-order terms matter here (else this test proves nothing)");
}

fn mean_mse_after(tasks: &[SineTask], theta0: &[f32], alpha: f32, steps: u32) -> f32 {
    let inner = InnerLoop { steps, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.0, clip: 1e6 };
    let a = vec![alpha; theta0.len()];
    tasks.iter().map(|t| meta_objective(t, theta0, &a, &inner)).sum::<f32>() / tasks.len() as f32
}

#[test]
fn maml_beats_joint_pretraining_on_sinusoids() {
    let seed = 2017;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Mlp::new(&[40, 40]);
    let train: Vec<SineTask> = (0..2000).map(|_| SineTask::sample(&mut rng, 10, 10, &net)).collect();
    let test: Vec<SineTask> = (0..200).map(|_| SineTask::sample(&mut rng, 10, 100, &net)).collect();
    let init = net.init(&mut rng);
    let inner = InnerLoop { steps: 1, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.0, clip: 1e6 };
    let cfg = |algorithm| MetaConfig {
        algorithm,
        inner,
        trainable_from: 0,
        alpha: 0.01,
        meta_lr: 3e-3,
        alpha_lr: 0.0,
        batch: 25,
        iterations: 10000,
        seed,
    };
    let (maml, _) = meta_train(&train, init.clone(), &cfg(Algorithm::Maml), |_| {});
    let (joint, _) = meta_train(&train, init, &cfg(Algorithm::Joint), |_| {});
    for steps in [0, 1, 10] {
        let m = mean_mse_after(&test, &maml, 0.01, steps);
        // The pretrained model is fine-tuned with the best of three step sizes (a stronger baseline
        // than the paper's single 0.01, with which it can diverge).
        let j = [0.001, 0.003, 0.01]
            .map(|a| mean_mse_after(&test, &joint, a, steps))
            .into_iter()
            .fold(f32::INFINITY, f32::min);
        println!("after {steps} step(s): MAML MSE {m:.3}, pretrained + fine-tuned MSE {j:.3}");
        if steps > 0 {
            assert!(m < 0.5 * j, "after {steps} steps MAML {m} is not far below pretrained {j}");
        }
    }
}
