//! Exact Hessian-vector products of the ranking loss over input rows (scope `all`), for
//! second-order meta-gradients: Pearlmutter's R-operator, i.e. forward-over-reverse
//! differentiation of [`crate::scorer::forward_rows`] / [`crate::scorer::backward_rows`] along a
//! direction `u` laid out like θ (so [`Params::view`] names its blocks too).
//!
//! ```text
//! forward   z = W_inᵀ x + b1,  h = relu(z),  s = w2·h + lin·x + c·b        (per row; W_in = [Wx; Ws])
//! R-forward R(z) = U_inᵀ x + u_b1,  R(h) = [z > 0] R(z),  R(s) = u_w2·h + w2·R(h) + u_lin·x + u_c·b
//! loss      g = ∂L/∂s,  R(g) = ∇²_s L · R(s)
//!             pairwise: R(g_i) = −R(g_j) = w σ(m) σ(−m) (R(s_i) − R(s_j)) / Σw,   m = s_i − s_j
//!             listwise: R(g_r) = (w / Σw) p_r (R(s_r) − Σ_k p_k R(s_k)),          p = softmax(s)
//! R-backward R(∇c) = Σ R(g) b,  R(∇lin) = Σ R(g) x,  R(∇w2) = Σ R(g) h + g R(h),
//!           R(dz) = [z > 0] (R(g) w2 + g u_w2),  R(∇b1) = Σ R(dz),  R(∇W_in) = Σ x R(dz)ᵀ
//! ```
//!
//! ReLU's second derivative is zero, so the product is exact wherever no pre-activation is exactly
//! zero (a finite difference of the gradient is not: it is wrong whenever `θ ± εu` crosses a kink).

use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::loss::{pairwise, sigmoid_pair, LossKind};
use crate::params::{Arch, Block, Params};
use crate::scorer::forward_rows;
use crate::session::{Group, SupportSet};

/// `∇²_s L · rs` of the pairwise logistic loss (see [`crate::loss::pairwise`]); overwrites `out`.
pub fn pairwise_hvp(pairs: &[(u32, u32, f32)], scores: &[f32], rs: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let total: f32 = pairs.iter().map(|p| p.2).sum();
    if total <= 0.0 {
        return;
    }
    for &(i, j, w) in pairs {
        let (i, j) = (i as usize, j as usize);
        let m = scores[i] - scores[j];
        let d = w * sigmoid_pair(m) / total * (rs[i] - rs[j]);
        out[i] += d;
        out[j] -= d;
    }
}

/// `∇²_s L · rs` of the listwise softmax loss (see [`crate::loss::listwise`]); overwrites `out`.
pub fn listwise_hvp(groups: &[Group], scores: &[f32], rs: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let total: f32 = groups.iter().filter(|gr| !gr.negs.is_empty()).map(|gr| gr.weight).sum();
    if total <= 0.0 {
        return;
    }
    for gr in groups.iter().filter(|gr| !gr.negs.is_empty()) {
        let members = std::iter::once(gr.pos).chain(gr.negs.clone()).map(|r| r as usize);
        let max = members.clone().map(|r| scores[r]).fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = members.clone().map(|r| (scores[r] - max).exp()).sum();
        let lse = max + z.ln();
        let mean: f32 = members.clone().map(|r| (scores[r] - lse).exp() * rs[r]).sum();
        let scale = gr.weight / total;
        for r in members {
            out[r] += scale * (scores[r] - lse).exp() * (rs[r] - mean);
        }
    }
}

fn check_set(arch: &Arch, set: &SupportSet, theta: &[f32], u: &[f32], out: &[f32]) -> Result<usize> {
    let width = arch.item_dim + arch.session_dim();
    let n = set.n_rows();
    let n_params = arch.n_params();
    let rows_ok = set.width == width && set.inputs.len() == n * width;
    let refs_ok = set.pairs.iter().all(|&(i, j, _)| (i as usize) < n && (j as usize) < n)
        && set.groups.iter().all(|g| (g.pos as usize) < n && g.negs.end as usize <= n);
    if !rows_ok || !refs_ok || theta.len() != n_params || u.len() != n_params || out.len() != n_params {
        return Err(Error::InvalidInput {
            reason: format!(
                "Hessian-vector product: {n} rows of width {} ({} inputs) for width {width}, rows referenced \
                 in range: {refs_ok}; θ, u, out of {}, {}, {} entries for {n_params} parameters",
                set.width,
                set.inputs.len(),
                theta.len(),
                u.len(),
                out.len()
            ),
        });
    }
    Ok(n)
}

/// The exact Hessian-vector product `∇²L(θ) · u` of the ranking loss of `set` over every
/// parameter (scope `all`), written into `out`. Fails, writing nothing, when the set's rows or
/// the vectors do not fit `arch`.
#[allow(clippy::too_many_arguments)]
pub fn rank_hvp<K: Kernels + ?Sized>(
    k: &K,
    arch: &Arch,
    set: &SupportSet,
    loss: LossKind,
    theta: &[f32],
    u: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let n = check_set(arch, set, theta, u, out)?;
    out.fill(0.0);
    let (p, du) = (Params::view(arch, theta), Params::view(arch, u));
    let (h, width) = (arch.hidden, set.width);
    let fwd = forward_rows(k, arch, theta, &set.inputs, &set.base);
    // R(a): the direction's body weights applied to the rows (the bias is added below).
    let mut ra = vec![0.0; n * h];
    k.matmul_acc(&set.inputs, n, width, du.w_in, h, &mut ra);
    let (mut hid, mut rhid) = (vec![0.0; n * h], vec![0.0; n * h]);
    let mut rs = vec![0.0; n];
    k.gemv_acc(&set.inputs, n, width, du.lin, &mut rs);
    for r in 0..n {
        let mut acc = du.c * set.base[r];
        for j in 0..h {
            let z = fwd.a[r * h + j] + p.b1[j];
            if z > 0.0 {
                let rz = ra[r * h + j] + du.b1[j];
                hid[r * h + j] = z;
                rhid[r * h + j] = rz;
                acc += du.w2[j] * z + p.w2[j] * rz;
            }
        }
        rs[r] += acc;
    }
    let (mut g, mut rg) = (vec![0.0; n], vec![0.0; n]);
    match loss {
        LossKind::Pairwise => {
            pairwise(&set.pairs, &fwd.scores, &mut g);
            pairwise_hvp(&set.pairs, &fwd.scores, &rs, &mut rg);
        }
        LossKind::Listwise => {
            crate::loss::listwise(&set.groups, &fwd.scores, &mut g);
            listwise_hvp(&set.groups, &fwd.scores, &rs, &mut rg);
        }
    }
    let c = arch.range(Block::C).start;
    let lin = arch.range(Block::V).start..arch.range(Block::U).end;
    let (w2, b1) = (arch.range(Block::W2), arch.range(Block::B1));
    let mut rdz = vec![0.0; n * h];
    for r in 0..n {
        let (gr, rgr) = (g[r], rg[r]);
        out[c] += rgr * set.base[r];
        for (o, x) in out[lin.clone()].iter_mut().zip(&set.inputs[r * width..(r + 1) * width]) {
            *o += rgr * x;
        }
        for j in 0..h {
            if hid[r * h + j] > 0.0 {
                out[w2.start + j] += rgr * hid[r * h + j] + gr * rhid[r * h + j];
                let d = rgr * p.w2[j] + gr * du.w2[j];
                rdz[r * h + j] = d;
                out[b1.start + j] += d;
            }
        }
    }
    // R(∇W_in) (width × H) += inputsᵀ (width × n) · R(dz) (n × H)
    let mut t = vec![0.0; width * n];
    for r in 0..n {
        for kk in 0..width {
            t[kk * n + r] = set.inputs[r * width + kk];
        }
    }
    let w_in = arch.range(Block::Wx).start..arch.range(Block::Ws).end;
    k.matmul_acc(&t, width, n, &rdz, h, &mut out[w_in]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapt::{Objective, RankObjective};
    use crate::kernels::{Fast, Reference};
    use crate::rng::Rng;
    use crate::Scope;

    /// A random support set with pairs and listwise groups over `n` rows.
    fn random_set(rng: &mut Rng, arch: &Arch, n: usize) -> SupportSet {
        let width = arch.item_dim + arch.session_dim();
        let mut set = SupportSet { width, ..SupportSet::default() };
        set.inputs = (0..n * width).map(|_| rng.normal()).collect();
        set.base = (0..n).map(|_| rng.normal()).collect();
        for _ in 0..2 * n {
            let (i, j) = (rng.below(n), rng.below(n));
            if i != j {
                set.pairs.push((i as u32, j as u32, rng.range(0.5, 2.0)));
            }
        }
        let mut start = 0;
        while start + 2 <= n {
            let len = 2 + rng.below(3).min(n - start - 2);
            set.groups.push(Group {
                pos: start as u32,
                negs: start as u32 + 1..(start + len) as u32,
                weight: rng.range(0.5, 2.0),
            });
            start += len;
        }
        set
    }

    /// The loss gradient in f64, straight from the formulas (per row, per unit): the reference
    /// the R-operator is checked against, after central differences along `u`.
    fn grad_f64(arch: &Arch, set: &SupportSet, loss: LossKind, theta: &[f64]) -> Vec<f64> {
        let (d, s, h) = (arch.item_dim, arch.session_dim(), arch.hidden);
        let width = d + s;
        let r_of = |b: Block| arch.range(b);
        let (w_in, b1, w2, lin, c) = (
            r_of(Block::Wx).start,
            r_of(Block::B1).start,
            r_of(Block::W2).start,
            r_of(Block::V).start,
            r_of(Block::C).start,
        );
        let n = set.n_rows();
        let z = |r: usize, j: usize| {
            theta[b1 + j] + (0..width).map(|k| set.inputs[r * width + k] as f64 * theta[w_in + k * h + j]).sum::<f64>()
        };
        let scores: Vec<f64> = (0..n)
            .map(|r| {
                (0..h).map(|j| theta[w2 + j] * z(r, j).max(0.0)).sum::<f64>()
                    + (0..width).map(|k| theta[lin + k] * set.inputs[r * width + k] as f64).sum::<f64>()
                    + theta[c] * set.base[r] as f64
            })
            .collect();
        let mut gs = vec![0.0f64; n];
        match loss {
            LossKind::Pairwise => {
                let total: f64 = set.pairs.iter().map(|p| p.2 as f64).sum();
                for &(i, j, w) in &set.pairs {
                    let m = scores[i as usize] - scores[j as usize];
                    let dl = -(w as f64) / (1.0 + m.exp()) / total;
                    gs[i as usize] += dl;
                    gs[j as usize] -= dl;
                }
            }
            LossKind::Listwise => {
                let total: f64 = set.groups.iter().map(|g| g.weight as f64).sum();
                for g in &set.groups {
                    let members: Vec<usize> =
                        std::iter::once(g.pos).chain(g.negs.clone()).map(|r| r as usize).collect();
                    let zsum: f64 = members.iter().map(|&r| scores[r].exp()).sum();
                    for &r in &members {
                        gs[r] += g.weight as f64 / total * scores[r].exp() / zsum;
                    }
                    gs[g.pos as usize] -= g.weight as f64 / total;
                }
            }
        }
        let mut grad = vec![0.0f64; theta.len()];
        for (r, &gr) in gs.iter().enumerate() {
            grad[c] += gr * set.base[r] as f64;
            for k in 0..width {
                grad[lin + k] += gr * set.inputs[r * width + k] as f64;
            }
            for j in 0..h {
                let zz = z(r, j);
                if zz > 0.0 {
                    grad[w2 + j] += gr * zz;
                    let dz = gr * theta[w2 + j];
                    grad[b1 + j] += dz;
                    for k in 0..width {
                        grad[w_in + k * h + j] += dz * set.inputs[r * width + k] as f64;
                    }
                }
            }
        }
        grad
    }

    /// The smallest |z| / |R(z)| over every row and hidden unit: how far θ may move along u before a
    /// pre-activation changes sign (z is linear in θ, so this is exact).
    fn kink_distance(arch: &Arch, set: &SupportSet, theta: &[f32], u: &[f32]) -> f64 {
        let (p, du) = (Params::view(arch, theta), Params::view(arch, u));
        let (h, width) = (arch.hidden, set.width);
        let mut dist = f64::INFINITY;
        for r in 0..set.n_rows() {
            let x = &set.inputs[r * width..(r + 1) * width];
            for j in 0..h {
                let z = p.b1[j] as f64
                    + x.iter().enumerate().map(|(k, &v)| v as f64 * p.w_in[k * h + j] as f64).sum::<f64>();
                let rz = du.b1[j] as f64
                    + x.iter().enumerate().map(|(k, &v)| v as f64 * du.w_in[k * h + j] as f64).sum::<f64>();
                dist = dist.min(z.abs() / rz.abs());
            }
        }
        dist
    }

    /// H·u in f64 by central differences of [`grad_f64`] with a step that crosses no kink.
    fn hvp_f64(arch: &Arch, set: &SupportSet, loss: LossKind, theta: &[f32], u: &[f32]) -> Vec<f64> {
        let eps = (0.5 * kink_distance(arch, set, theta, u)).min(1e-4);
        assert!(eps > 1e-9, "a pre-activation is within 1e-9 of zero; draw another point");
        let at =
            |sign: f64| -> Vec<f64> { theta.iter().zip(u).map(|(&t, &v)| t as f64 + sign * eps * v as f64).collect() };
        let (gp, gm) = (grad_f64(arch, set, loss, &at(1.0)), grad_f64(arch, set, loss, &at(-1.0)));
        gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect()
    }

    fn random_point(rng: &mut Rng, arch: &Arch) -> (Vec<f32>, Vec<f32>) {
        // Every block O(1), so the body, the head and the loss's curvature all matter.
        let theta: Vec<f32> = (0..arch.n_params()).map(|_| 0.5 * rng.normal()).collect();
        let u: Vec<f32> = (0..arch.n_params()).map(|_| rng.normal()).collect();
        (theta, u)
    }

    fn max_abs(v: &[f64]) -> f64 {
        v.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    #[test]
    fn ranking_hvp_matches_an_f64_reference_for_both_losses() {
        let arch = Arch::new(5, 8).unwrap();
        for seed in [11u64, 12, 13] {
            println!("seed {seed}");
            let mut rng = Rng::new(seed);
            let set = random_set(&mut rng, &arch, 9);
            let (theta, u) = random_point(&mut rng, &arch);
            for loss in [LossKind::Pairwise, LossKind::Listwise] {
                let reference = hvp_f64(&arch, &set, loss, &theta, &u);
                let scale = max_abs(&reference);
                assert!(scale > 1e-2, "a trivial product proves nothing");
                for k in [&Fast as &dyn Kernels, &Reference] {
                    let mut out = vec![0.0; arch.n_params()];
                    rank_hvp(k, &arch, &set, loss, &theta, &u, &mut out).unwrap();
                    // f32 sums of a few hundred O(1) terms against an f64 product whose
                    // differencing error is ~1e-8: 1e-5 of the largest entry, plus 1e-6.
                    for (i, (a, r)) in out.iter().zip(&reference).enumerate() {
                        assert!(
                            (*a as f64 - r).abs() <= 1e-5 * scale + 1e-6,
                            "{} {loss:?} param {i}: R-op {a} vs f64 reference {r}",
                            k.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ranking_hvp_matches_f32_finite_differences_where_no_kink_is_crossed() {
        let arch = Arch::new(4, 12).unwrap();
        let seed = 21;
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let mut checked = 0;
        while checked < 4 {
            let set = random_set(&mut rng, &arch, 10);
            let (theta, u) = random_point(&mut rng, &arch);
            let norm = u.iter().map(|v| v * v).sum::<f32>().sqrt();
            let eps = 1e-2 / norm;
            if kink_distance(&arch, &set, &theta, &u) <= 2.0 * eps as f64 {
                continue;
            }
            for loss in [LossKind::Pairwise, LossKind::Listwise] {
                let grad_at = |sign: f32| {
                    let t: Vec<f32> = theta.iter().zip(&u).map(|(a, b)| a + sign * eps * b).collect();
                    let mut g = vec![0.0; t.len()];
                    RankObjective::new(&Fast, arch, &set, loss, &t, Scope::All).loss_grad(&t, &mut g);
                    g
                };
                let (gp, gm) = (grad_at(1.0), grad_at(-1.0));
                let mut out = vec![0.0; arch.n_params()];
                rank_hvp(&Fast, &arch, &set, loss, &theta, &u, &mut out).unwrap();
                let scale = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                // f32 gradients differenced over a step of 1e-2/‖u‖: rounding (~1e-7 · ‖∇L‖ / ε)
                // and curvature change (O(ε²)) stay below 1e-2 of the largest entry.
                for i in 0..out.len() {
                    let fd = (gp[i] - gm[i]) / (2.0 * eps);
                    assert!(
                        (fd - out[i]).abs() <= 1e-2 * scale + 1e-4,
                        "{loss:?} param {i}: R-op {} vs FD {fd}",
                        out[i]
                    );
                }
            }
            checked += 1;
        }
    }

    #[test]
    fn loss_hvps_match_finite_differences_of_the_loss_gradients() {
        // The losses are smooth in the scores: central differences (f64 accumulation of f32
        // gradients at ε = 1e-2) agree to 1e-3.
        let seed = 31;
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let scores: Vec<f32> = (0..6).map(|_| rng.normal()).collect();
        let rs: Vec<f32> = (0..6).map(|_| rng.normal()).collect();
        let pairs = [(0, 1, 1.0), (0, 2, 2.0), (3, 1, 0.5), (4, 5, 1.5)];
        let groups = [Group { pos: 0, negs: 1..3, weight: 1.0 }, Group { pos: 3, negs: 4..6, weight: 3.0 }];
        type GradFn<'a> = Box<dyn Fn(&[f32], &mut [f32]) -> f32 + 'a>;
        type HvpFn<'a> = Box<dyn Fn(&[f32], &[f32], &mut [f32]) + 'a>;
        let cases: [(GradFn, HvpFn); 2] = [
            (Box::new(|s, g| pairwise(&pairs, s, g)), Box::new(|s, r, o| pairwise_hvp(&pairs, s, r, o))),
            (Box::new(|s, g| crate::loss::listwise(&groups, s, g)), Box::new(|s, r, o| listwise_hvp(&groups, s, r, o))),
        ];
        for (grad, hvp) in &cases {
            let mut out = vec![0.0; 6];
            hvp(&scores, &rs, &mut out);
            let eps = 1e-2;
            let at = |sign: f32| -> Vec<f32> {
                let s: Vec<f32> = scores.iter().zip(&rs).map(|(a, b)| a + sign * eps * b).collect();
                let mut g = vec![0.0; 6];
                grad(&s, &mut g);
                g
            };
            let (gp, gm) = (at(1.0), at(-1.0));
            for i in 0..6 {
                let fd = (gp[i] - gm[i]) / (2.0 * eps);
                assert!((fd - out[i]).abs() < 1e-3, "score {i}: {} vs {fd}", out[i]);
            }
        }
    }

    #[test]
    fn malformed_sets_are_errors_not_panics() {
        let arch = Arch::new(3, 4).unwrap();
        let mut rng = Rng::new(41);
        let mut set = random_set(&mut rng, &arch, 5);
        let (theta, u) = random_point(&mut rng, &arch);
        let mut out = vec![0.0; arch.n_params()];
        set.inputs.pop();
        assert!(rank_hvp(&Fast, &arch, &set, LossKind::Pairwise, &theta, &u, &mut out).is_err());
        let mut set = random_set(&mut rng, &arch, 5);
        set.pairs.push((0, 7, 1.0));
        assert!(rank_hvp(&Fast, &arch, &set, LossKind::Pairwise, &theta, &u, &mut out).is_err());
        let set = random_set(&mut rng, &arch, 5);
        assert!(rank_hvp(&Fast, &arch, &set, LossKind::Listwise, &theta, &u[1..], &mut out).is_err());
    }

    /// A ranking task over given sets, for meta-gradient checks (RankTask's fields are private to
    /// the trainer).
    struct SetTask {
        arch: Arch,
        support: SupportSet,
        query: SupportSet,
        loss: LossKind,
    }

    impl crate::train::meta::MetaTask for SetTask {
        fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
            RankObjective::new(&Fast, self.arch, &self.support, self.loss, theta, Scope::All).loss_grad(theta, grad)
        }
        fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
            RankObjective::new(&Fast, self.arch, &self.query, LossKind::Listwise, theta, Scope::All)
                .loss_grad(theta, grad)
        }
        fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]) {
            rank_hvp(&Fast, &self.arch, &self.support, self.loss, theta, u, out).unwrap();
        }
    }

    /// The ReLU pattern of a set's rows at θ.
    fn relu_pattern(arch: &Arch, set: &SupportSet, theta: &[f32]) -> Vec<bool> {
        let fwd = forward_rows(&Fast, arch, theta, &set.inputs, &set.base);
        let b1 = &theta[arch.range(Block::B1)];
        fwd.a.chunks_exact(arch.hidden).flat_map(|row| row.iter().zip(b1).map(|(a, b)| a + b > 0.0)).collect()
    }

    #[test]
    fn ranking_meta_gradients_match_finite_differences_of_the_meta_objective() {
        // Meta-SGD (every parameter adapts) and ANIL (only the head adapts, so the body's
        // meta-gradient is all cross terms of H·u): directional derivatives of
        // F(θ0) = L_q(adapt(θ0)) against the analytic meta-gradient, along directions whose ±ε,
        // ±ε/2 points keep the ReLU pattern of every inner iterate and of the adapted query pass
        // (adapt jumps across a kink). Tolerance 2 % + 1e-3 (f32 losses ~1 differenced over 1e-3).
        use crate::adapt::{adapt, InnerLoop, Trace};
        use crate::train::meta::{meta_gradient, Algorithm};
        let arch = Arch::new(4, 8).unwrap();
        for (seed, algorithm, loss) in
            [(51u64, Algorithm::MetaSgd, LossKind::Pairwise), (52, Algorithm::Anil, LossKind::Listwise)]
        {
            println!("seed {seed}");
            let mut rng = Rng::new(seed);
            let task =
                SetTask { arch, support: random_set(&mut rng, &arch, 10), query: random_set(&mut rng, &arch, 8), loss };
            let (theta0, _) = random_point(&mut rng, &arch);
            let n = theta0.len();
            let from = if algorithm == Algorithm::Anil { arch.head_start() } else { 0 };
            let inner = InnerLoop { steps: 2, scope: Scope::All, loss, prox: 0.1, clip: 1e6 };
            let alpha: Vec<f32> = (0..n).map(|_| rng.range(0.2, 0.5)).collect();
            let objective = |th: &[f32], trace: Option<&mut Trace>| {
                let obj = RankObjective::new(&Fast, arch, &task.support, loss, th, Scope::All);
                adapt(&obj, th, &alpha, &inner, from, trace)
            };
            let meta_objective = |th: &[f32]| {
                let phi = objective(th, None);
                crate::train::meta::MetaTask::query(&task, &phi, &mut vec![0.0; n])
            };
            let pattern = |th: &[f32]| {
                let mut trace = Trace::default();
                let phi = objective(th, Some(&mut trace));
                let mut p: Vec<bool> =
                    trace.thetas.iter().flat_map(|t| relu_pattern(&arch, &task.support, t)).collect();
                p.extend(relu_pattern(&arch, &task.query, &phi));
                p
            };
            let (mut g2, mut ga, mut g1) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            meta_gradient(algorithm, &task, &theta0, &alpha, &inner, from, &mut g2, &mut ga);
            meta_gradient(Algorithm::Fomaml, &task, &theta0, &alpha, &inner, from, &mut g1, &mut ga);
            let centre = pattern(&theta0);
            let (mut checked, mut first_order_off) = (0, 0);
            for _ in 0..100 {
                if checked == 5 {
                    break;
                }
                let d: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
                let eps = 1e-3;
                let at = |t: f32| -> Vec<f32> { theta0.iter().zip(&d).map(|(a, b)| a + t * b).collect() };
                if [-eps, -0.5 * eps, 0.5 * eps, eps].iter().any(|&t| pattern(&at(t)) != centre) {
                    continue;
                }
                let fd = (meta_objective(&at(eps)) - meta_objective(&at(-eps))) / (2.0 * eps);
                let an: f32 = g2.iter().zip(&d).map(|(a, b)| a * b).sum();
                let fo: f32 = g1.iter().zip(&d).map(|(a, b)| a * b).sum();
                println!("{algorithm:?}: finite difference {fd:.5}, second order {an:.5}, first order {fo:.5}");
                assert!((fd - an).abs() <= 1e-3 + 0.02 * fd.abs(), "{algorithm:?}: {an} vs {fd}");
                if (fd - fo).abs() > 1e-3 + 0.02 * fd.abs() {
                    first_order_off += 1;
                }
                checked += 1;
            }
            assert_eq!(checked, 5, "too few kink-free directions");
            assert!(first_order_off > 0, "the second-order terms matter here (else this test proves nothing)");
        }
    }
}
