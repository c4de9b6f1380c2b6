//! Tests of the training benchmark's scorer and tasks. The batched gradient against central
//! differences of an f64 loss, and the R-operator against central differences of an f64 gradient;
//! both references are written independently of [`Net`] (row by row, unit by unit, in f64) and
//! differenced only where no ReLU kink is crossed. ANIL's and Reptile's shortcuts against the
//! full passes they replace.
use super::*;

/// Pre-activations (`zs[l]`, `rows × n_out`) and activations of every layer in f64, row by row.
fn forward_f64(net: &Net, theta: &[f64], set: &Set) -> Vec<Vec<Vec<f64>>> {
    let n_layers = net.sizes.len() - 1;
    let d = net.inputs();
    (0..set.n_rows)
        .map(|r| {
            let mut acts = vec![set.rows[r * d..(r + 1) * d].iter().map(|v| *v as f64).collect::<Vec<f64>>()];
            let mut off = 0;
            for l in 0..n_layers {
                let (n_in, n_out) = (net.sizes[l], net.sizes[l + 1]);
                let z: Vec<f64> = (0..n_out)
                    .map(|o| {
                        theta[off + n_in * n_out + o]
                            + (0..n_in).map(|i| theta[off + o * n_in + i] * acts[l][i]).sum::<f64>()
                    })
                    .collect();
                acts.push(if l + 1 == n_layers { z } else { z.iter().map(|v| v.max(0.0)).collect() });
                off += n_in * n_out + n_out;
            }
            acts
        })
        .collect()
}

/// The pairwise loss and its gradient in f64.
fn loss_grad_f64(net: &Net, theta: &[f64], set: &Set) -> (f64, Vec<f64>) {
    let n_layers = net.sizes.len() - 1;
    let acts = forward_f64(net, theta, set);
    let s: Vec<f64> = acts.iter().map(|a| a[n_layers][0]).collect();
    let n_pairs = (set.n_pos * (set.n_rows - set.n_pos)) as f64;
    let (mut loss, mut gs) = (0.0, vec![0.0; set.n_rows]);
    for i in 0..set.n_pos {
        for j in set.n_pos..set.n_rows {
            let m = s[i] - s[j];
            loss += (1.0 + (-m).exp()).ln() / n_pairs;
            let d = -1.0 / (1.0 + m.exp()) / n_pairs;
            gs[i] += d;
            gs[j] -= d;
        }
    }
    let mut grad = vec![0.0; theta.len()];
    let mut offsets = vec![0];
    for w in net.sizes.windows(2) {
        offsets.push(offsets.last().unwrap() + w[0] * w[1] + w[1]);
    }
    for (r, a) in acts.iter().enumerate() {
        let mut delta = vec![gs[r]];
        for l in (0..n_layers).rev() {
            let (n_in, n_out, off) = (net.sizes[l], net.sizes[l + 1], offsets[l]);
            let mut back = vec![0.0; n_in];
            for o in 0..n_out {
                grad[off + n_in * n_out + o] += delta[o];
                for i in 0..n_in {
                    grad[off + o * n_in + i] += delta[o] * a[l][i];
                    back[i] += delta[o] * theta[off + o * n_in + i];
                }
            }
            delta = back.iter().zip(&a[l]).map(|(d, v)| if l > 0 && *v <= 0.0 { 0.0 } else { *d }).collect();
        }
    }
    (loss, grad)
}

/// The sign of every hidden pre-activation over the set's rows, in f64.
fn kinks(net: &Net, theta: &[f64], set: &Set) -> Vec<bool> {
    let n_layers = net.sizes.len() - 1;
    forward_f64(net, theta, set).iter().flat_map(|a| a[1..n_layers].concat()).map(|v| v > 0.0).collect()
}

fn along(theta: &[f32], u: &[f32], t: f64) -> Vec<f64> {
    theta.iter().zip(u).map(|(&a, &b)| a as f64 + t * b as f64).collect()
}

/// Whether `θ + t·u` meets the ReLU pattern of θ at t = ±eps, ±eps/2.
fn no_kink_within(net: &Net, theta: &[f32], u: &[f32], set: &Set, eps: f64) -> bool {
    let base = kinks(net, &along(theta, u, 0.0), set);
    [-eps, -0.5 * eps, 0.5 * eps, eps].iter().all(|&t| kinks(net, &along(theta, u, t), set) == base)
}

/// H·u in f64: central differences of [`loss_grad_f64`] with the largest step ≤ 1e-5 (halving)
/// that crosses no kink; `None` if even 1e-10 would.
fn hvp_f64(net: &Net, theta: &[f32], u: &[f32], set: &Set) -> Option<Vec<f64>> {
    let mut eps = 1e-5;
    while !no_kink_within(net, theta, u, set, eps) {
        eps *= 0.5;
        if eps < 1e-10 {
            return None;
        }
    }
    let (gp, gm) =
        (loss_grad_f64(net, &along(theta, u, eps), set).1, loss_grad_f64(net, &along(theta, u, -eps), set).1);
    Some(gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect())
}

fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Largest entry-wise gap to the reference, relative to the reference's largest entry.
fn rel_gap(a: &[f32], reference: &[f64]) -> f64 {
    max_abs(a.iter().zip(reference).map(|(x, r)| *x as f64 - r)) / max_abs(reference.iter().copied()).max(1e-12)
}

/// A point away from the initialisation: θ after `k` SGD steps of 0.1 on the task's support
/// set (the pairwise loss's curvature σ(1 − σ) then varies across pairs).
fn point(net: &Net, rng: &mut Rng, task: &BenchTask, k: usize) -> Vec<f32> {
    let mut theta = net.init(rng);
    let mut g = vec![0.0; theta.len()];
    for _ in 0..k {
        task.support(&theta, &mut g);
        theta.iter_mut().zip(&g).for_each(|(t, g)| *t -= 0.1 * g);
    }
    theta
}

#[test]
fn the_bench_scorer_has_5249_parameters_and_a_head_of_33() {
    let net = Net::bench();
    assert_eq!(net.n_params(), PARAMS);
    assert_eq!(net.n_params() - net.head_start(), 33);
    assert_eq!(net.init(&mut Rng::new(1)).len(), 5249);
}

#[test]
fn tasks_have_the_bench_shape_and_their_positives_score_highest() {
    let seed = 21;
    println!("seed {seed}");
    let net = Net::bench();
    let tg = TaskGen::new(seed, &net);
    let mut rng = Rng::new(seed);
    for _ in 0..10 {
        let t = tg.sample(&mut rng);
        for (set, rows, pos, pairs) in [(&t.support, 25, 5, 100), (&t.query, 25, 1, 24)] {
            assert_eq!((set.n_rows, set.n_pos, set.n_pairs(), set.rows.len()), (rows, pos, pairs, rows * 48));
            let s: Vec<f32> = set.rows.chunks_exact(48).map(|x| dot(x, &t.preference)).collect();
            let worst_pos = s[..pos].iter().copied().fold(f32::INFINITY, f32::min);
            let best_neg = s[pos..].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(worst_pos >= best_neg, "a negative outscores a positive: {best_neg} > {worst_pos}");
        }
    }
    // Same seed, same tasks.
    let again = TaskGen::new(seed, &net).sample(&mut Rng::new(seed));
    let first = TaskGen::new(seed, &net).sample(&mut Rng::new(seed));
    assert_eq!(again.support.rows, first.support.rows);
}

#[test]
fn batched_gradient_matches_central_differences_of_an_f64_loss() {
    // The f32 gradient against (L(θ + εe) − L(θ − εe)) / 2ε of the f64 loss, ε = 1e-6, at points
    // where ±ε crosses no ReLU kink: along every coordinate of a 48-6-5-1 net, and along 20 random
    // directions and 300 random coordinates of the bench net. Tolerance: 1e-4 of the gradient's
    // largest entry + 1e-3 relative (f32 accumulation over ≤ 100 pairs and 64-wide layers,
    // ~1e-6 relative; the f64 difference is good to ~1e-9).
    let seed = 22;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    for (net, coords, dirs) in [(Net::new(48, &[6, 5]), usize::MAX, 5), (Net::bench(), 300, 20)] {
        let tg = TaskGen::new(seed, &net);
        let task = tg.sample(&mut rng);
        let theta = point(&net, &mut rng, &task, 3);
        let n = theta.len();
        let mut g = vec![0.0; n];
        task.support(&theta, &mut g);
        let scale = max_abs(g.iter().map(|v| *v as f64));
        let eps = 1e-6;
        let fd = |u: &[f32]| -> Option<f64> {
            if !no_kink_within(&net, &theta, u, &task.support, eps) {
                return None;
            }
            let l = |t: f64| loss_grad_f64(&net, &along(&theta, u, t), &task.support).0;
            Some((l(eps) - l(-eps)) / (2.0 * eps))
        };
        let check = |what: String, analytic: f64, fd: f64, scale: f64| {
            assert!(
                (analytic - fd).abs() <= 1e-4 * scale + 1e-3 * fd.abs(),
                "seed {seed}, {what}: analytic {analytic} vs central difference {fd}"
            );
        };
        let mut checked = 0;
        let picks: Vec<usize> =
            if coords >= n { (0..n).collect() } else { (0..coords).map(|_| rng.below(n)).collect() };
        for i in picks {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            if let Some(fd) = fd(&e) {
                check(format!("param {i}"), g[i] as f64, fd, scale);
                checked += 1;
            }
        }
        for k in 0..dirs {
            let d: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            if let Some(fd) = fd(&d) {
                let an: f64 = g.iter().zip(&d).map(|(a, b)| *a as f64 * *b as f64).sum();
                let dn = d.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                check(format!("direction {k}"), an, fd, scale * dn);
                checked += 1;
            }
        }
        println!("{} params: {checked} checks", n);
        assert!(checked >= coords.min(n) / 2, "only {checked} kink-free checks");
    }
}

// Tolerance of the R-operator against the f64 reference: 1e-4 of the product's largest entry
// (f32 accumulation over 25 rows, 100 pairs and 64-wide layers, ~1e-6 relative, against a
// reference whose differencing error is below 1e-8), as for the sinusoid's MLP.
const HVP_TOL: f64 = 1e-4;

#[test]
fn r_operator_hvp_matches_an_f64_reference() {
    // At the initialisation and after a few SGD steps, along a random direction and along a
    // MAML direction (0.1 × the query gradient, what the second-order backward pass multiplies
    // by) and along a direction on the head alone (ANIL's), for the bench net and a small one.
    let seed = 23;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    for (net, points) in [(Net::new(48, &[6, 5]), 10), (Net::bench(), 6)] {
        let tg = TaskGen::new(seed, &net);
        let (mut checked, mut worst) = (0, 0.0f64);
        for p in 0..points {
            let task = tg.sample(&mut rng);
            let theta = point(&net, &mut rng, &task, p % 3 * 2);
            let n = theta.len();
            let mut u_maml = vec![0.0; n];
            task.query(&theta, &mut u_maml);
            u_maml.iter_mut().for_each(|v| *v *= 0.1);
            let u_rand: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            // ANIL's direction: zero on the body, which skips the body's R-forward products.
            let mut u_head = u_rand.clone();
            u_head[..net.head_start()].fill(0.0);
            for u in [u_maml, u_rand, u_head] {
                let Some(reference) = hvp_f64(&net, &theta, &u, &task.support) else { continue };
                let mut out = vec![0.0; n];
                task.support_hvp(&theta, &u, &mut out);
                let gap = rel_gap(&out, &reference);
                assert!(gap <= HVP_TOL, "seed {seed}, {n} params: R-op off the f64 reference by {gap:.2e}");
                worst = worst.max(gap);
                checked += 1;
            }
        }
        println!("{} params: {checked} products checked, largest gap {worst:.1e}", net.n_params());
        assert!(checked >= points, "only {checked} points had a kink-free reference");
    }
}

#[test]
fn the_forward_only_query_loss_is_the_gradient_pass_loss() {
    let seed = 26;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Net::bench();
    let tg = TaskGen::new(seed, &net);
    for _ in 0..4 {
        let task = tg.sample(&mut rng);
        let theta = net.init(&mut rng);
        let mut g = vec![0.0; theta.len()];
        let with_grad = task.query(&theta, &mut g);
        assert_eq!(task.query_loss(&theta).to_bits(), with_grad.to_bits());
    }
}

#[test]
fn hvp_is_symmetric_and_the_workspace_carries_nothing_between_calls() {
    // vᵀ(H u) = uᵀ(H v) to f32 rounding (1e-4 relative); and a product or gradient computed after
    // calls on sets of other sizes (the same thread's workspace) is bit-identical.
    let seed = 24;
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let net = Net::bench();
    let tg = TaskGen::new(seed, &net);
    let task = tg.sample(&mut rng);
    let theta = point(&net, &mut rng, &task, 2);
    let n = theta.len();
    let (u, v): (Vec<f32>, Vec<f32>) = (0..n).map(|_| (rng.normal(), rng.normal())).unzip();
    let (mut hu, mut hv) = (vec![0.0; n], vec![0.0; n]);
    task.support_hvp(&theta, &u, &mut hu);
    task.support_hvp(&theta, &v, &mut hv);
    let dot64 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>();
    let (a, b) = (dot64(&v, &hu), dot64(&u, &hv));
    assert!((a - b).abs() <= 1e-4 * a.abs().max(b.abs()), "vᵀHu {a} vs uᵀHv {b}");
    let mut g = vec![0.0; n];
    let loss = task.support(&theta, &mut g);
    let other = tg.sample_shape(&mut rng, (40, 3), (7, 2));
    other.support_hvp(&theta, &v, &mut vec![0.0; n]);
    other.query(&theta, &mut vec![0.0; n]);
    let (mut g2, mut hu2) = (vec![0.0; n], vec![0.0; n]);
    assert_eq!(task.support(&theta, &mut g2).to_bits(), loss.to_bits());
    task.support_hvp(&theta, &u, &mut hu2);
    assert_eq!(g, g2);
    assert_eq!(hu, hu2);
}

#[test]
fn a_short_timed_run_reports_its_steps() {
    // Two untimed and three timed MAML steps on the bench configuration (one thread's worth of
    // work on whatever pool the test runs on).
    let seed = 25;
    println!("seed {seed}");
    let t = time_meta_steps(Algorithm::Maml, 2, 3, seed);
    assert_eq!((t.warmup, t.steps), (2, 3));
    assert!(t.seconds > 0.0 && t.steps_per_s().is_finite());
    assert!(t.query_loss.is_finite() && t.query_loss > 0.0);
}

#[test]
fn anil_with_the_cached_body_matches_anil_without_it() {
    // The head objective's loss and gradient are the full pass's head part bit for bit; one
    // head-only product (head rows, and the body's by its own backward pass) is the full
    // product bit for bit; first-order meta-gradients are bit for bit the same; ANIL's, whose
    // body rows sum the inner steps' products before the body's backward pass instead of
    // after, agree to 1e-5 of the largest entry (f32 rounding of a five-term sum).
    let seed = 31;
    println!("seed {seed}");
    let net = Net::bench();
    let tg = TaskGen::new(seed, &net);
    let mut rng = Rng::new(seed);
    let head = net.head_start();
    for k in 0..3 {
        let task = tg.sample(&mut rng);
        let theta = point(&net, &mut rng, &task, k);
        let (mut full, mut part) = (vec![0.0; PARAMS], vec![0.0; PARAMS]);
        let lf = task.support(&theta, &mut full);
        let lh = task.support_head(&theta, head).expect("a head objective").loss_grad(&theta, &mut part);
        assert_eq!(lf, lh);
        assert_eq!(&full[head..], &part[head..]);
        // One product along a head-only direction.
        let mut u: Vec<f32> = (0..PARAMS).map(|_| rng.normal()).collect();
        u[..head].fill(0.0);
        let products = task.support_head_products(&theta, head).expect("head products");
        let (mut split, mut whole, mut top) = (vec![0.0; PARAMS], vec![0.0; PARAMS], Vec::new());
        products.head_hvp(&theta, &u, &mut split, &mut top);
        split[..head].fill(0.0);
        products.body_backward(&top, &mut split);
        task.support_hvp(&theta, &u, &mut whole);
        assert_eq!(split, whole, "head-only product");
        // Whole meta-gradients, with and without the shortcut.
        let alpha = vec![INNER_LR; PARAMS];
        let inner = InnerLoop { scope: Scope::Head, ..sgd(INNER_STEPS) };
        for algorithm in [Algorithm::Anil, Algorithm::Fomaml] {
            let (mut a, mut b) = ((vec![0.0; PARAMS], vec![0.0; PARAMS]), (vec![0.0; PARAMS], vec![0.0; PARAMS]));
            let la =
                super::super::meta::meta_gradient(algorithm, &task, &theta, &alpha, &inner, head, &mut a.0, &mut a.1);
            let lb = super::super::meta::meta_gradient(
                algorithm,
                &super::super::meta::FullPass(&task),
                &theta,
                &alpha,
                &inner,
                head,
                &mut b.0,
                &mut b.1,
            );
            assert_eq!(la, lb, "{algorithm:?}: query loss");
            assert_eq!(a.1, b.1, "{algorithm:?}: α gradient (head rows only)");
            if algorithm == Algorithm::Fomaml {
                assert_eq!(a.0, b.0, "first order");
            } else {
                let reference: Vec<f64> = b.0.iter().map(|v| *v as f64).collect();
                let gap = rel_gap(&a.0, &reference);
                println!("point {k}: ANIL meta-gradient off the full pass's by {gap:.1e}");
                assert!(gap <= 1e-5, "ANIL meta-gradient off the full pass's by {gap:.2e}");
            }
        }
    }
}

#[test]
fn reptiles_one_pass_over_both_sets_is_the_sum_of_the_two() {
    // The union's doubled loss and gradient against the support's plus the query's (1e-5 of the
    // largest entry: f32 sums in another order), and Reptile's whole meta-gradient against the
    // two-pass objective (FullPass keeps the default) to 1e-5.
    let seed = 32;
    println!("seed {seed}");
    let net = Net::bench();
    let tg = TaskGen::new(seed, &net);
    let mut rng = Rng::new(seed);
    for k in 0..3 {
        let task = tg.sample(&mut rng);
        let theta = point(&net, &mut rng, &task, k);
        let (mut one, mut two, mut scratch) = (vec![0.0; PARAMS], vec![0.0; PARAMS], Vec::new());
        let l1 = task.support_and_query(&theta, &mut one, &mut scratch);
        let l2 = super::super::meta::FullPass(&task).support_and_query(&theta, &mut two, &mut scratch);
        assert!((l1 - l2).abs() <= 1e-5 * l2.abs(), "loss {l1} vs {l2}");
        let reference: Vec<f64> = two.iter().map(|v| *v as f64).collect();
        assert!(rel_gap(&one, &reference) <= 1e-5, "gradient off by {:.2e}", rel_gap(&one, &reference));
        let alpha = vec![INNER_LR; PARAMS];
        let (mut a, mut b) = ((vec![0.0; PARAMS], vec![0.0; PARAMS]), (vec![0.0; PARAMS], vec![0.0; PARAMS]));
        let full = super::super::meta::FullPass(&task);
        let alg = Algorithm::Reptile;
        let inner = sgd(INNER_STEPS);
        let la = super::super::meta::meta_gradient(alg, &task, &theta, &alpha, &inner, 0, &mut a.0, &mut a.1);
        let lb = super::super::meta::meta_gradient(alg, &full, &theta, &alpha, &inner, 0, &mut b.0, &mut b.1);
        let reference: Vec<f64> = b.0.iter().map(|v| *v as f64).collect();
        let gap = rel_gap(&a.0, &reference);
        println!("point {k}: Reptile's meta-gradient off the two-pass one by {gap:.1e}");
        assert!(gap <= 1e-5 && (la - lb).abs() <= 1e-5 * lb.abs(), "gap {gap:.2e}, loss {la} vs {lb}");
    }
}
