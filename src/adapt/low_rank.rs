//! The inner loop in scope `all` with the body's input weights kept in low-rank form: the same
//! steps as [`super::adapt_into`] over a [`super::RankObjective`], in fewer flops when the support
//! set is small, for models whose step size is one number over those weights (MAML, FOMAML,
//! Reptile; not Meta-SGD, whose step sizes differ per weight).
//!
//! Write `Z` for the support set's input rows `[x | s]` (`n × w`) and `W` for the body's input
//! weights `[Wx; Ws]` (`w × H`). A step's gradient of `W` is `Zᵀ · dz` (`dz = ∂L/∂a`, `n × H`),
//! and the proximal pull `λ (W − W0)`; so with one step size `α` over `W`, every step keeps
//!
//! ```text
//! W_t = W0 + Zᵀ · D_t                 D_0 = 0,  D (n × H)
//! Z · W_t = Z·W0 + K · D_t            K = Z · Zᵀ (n × n), computed once
//! g_W = Zᵀ · E,  E = dz + λ D_t       ‖g_W‖² = Σ E ⊙ (K · E)
//! D_t+1 = D_t − α · scale · E
//! ```
//!
//! A step then costs `2 n² H` multiply-adds for the body instead of `2 n w H`; the rest of the
//! parameters (`b1` and the head) step as in [`super::adapt_into`]. `W` is formed once at the
//! end. The arithmetic is the same up to rounding (the sums run in another order); the tests hold
//! it to the plain loop with a stated tolerance. The rows of `D` and the columns of `K` are padded
//! to a multiple of 4 with zeros, the kernels' output width.

use super::{clip_scale, sum_of_squares, support_loss, InnerLoop, Scope};
use crate::kernels::Kernels;
use crate::params::{Arch, Block, Params};
use crate::scorer::backward_but_input_weights;
use crate::session::SupportSet;

/// An adapted θ with the support loss at θ0 (the first step's) and at θ.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankAdapted {
    pub theta: Vec<f32>,
    pub before: f32,
    pub after: f32,
}

/// The one step size over the body's input weights `[Wx; Ws]`, when they all share it.
pub fn uniform_input_step(arch: &Arch, alpha: &[f32]) -> Option<f32> {
    let w = &alpha[arch.range(Block::Wx).start..arch.range(Block::Ws).end];
    let first = *w.first()?;
    w.iter().all(|&a| a == first).then_some(first)
}

/// The input weights' step size when [`adapt_low_rank`] runs the inner loop `cfg` on `n` support
/// rows in fewer multiply-adds than the plain loop: scope `all`, one step size over the input
/// weights (`input_step`, from [`uniform_input_step`]), and a support set small against the input
/// width. Its working memory is then within the plain loop's budget (src/budget.rs): paying
/// implies `n < w`, so `K` is smaller than the support rows, and `D`, `E` are `n × H` like the
/// activations.
pub fn low_rank_step(arch: &Arch, cfg: &InnerLoop, input_step: Option<f32>, n: usize) -> Option<f32> {
    if cfg.scope != Scope::All || cfg.steps == 0 {
        return None;
    }
    let (w, h, np, k) = (arch.item_dim + arch.session_dim(), arch.hidden, n.next_multiple_of(4), cfg.steps as usize);
    // Forward and backward per step plus the loss after; against Z·W0 and W once, K, and per
    // step K·D and K·E, plus K·D for the loss after.
    let plain = (2 * k + 1) * n * w * h;
    let low_rank = 2 * n * w * h + n * w * np + (2 * k + 1) * n * np * h;
    input_step.filter(|_| low_rank < plain)
}

/// The inner loop `cfg` (scope `all`) from `theta0` on `set`, every input weight stepping by
/// `input_step` and the other parameters by their own `alpha`. `None` if θ is not finite.
#[allow(clippy::too_many_arguments)]
pub fn adapt_low_rank<K: Kernels + ?Sized>(
    k: &K,
    arch: &Arch,
    set: &SupportSet,
    cfg: &InnerLoop,
    theta0: &[f32],
    alpha: &[f32],
    input_step: f32,
) -> Option<LowRankAdapted> {
    let (n, w, h) = (set.n_rows(), set.width, arch.hidden);
    let np = n.next_multiple_of(4);
    let win = arch.range(Block::Wx).start..arch.range(Block::Ws).end;
    let rest = win.end..theta0.len();
    let z = &set.inputs;
    let mut zt = vec![0.0; w * np];
    for r in 0..n {
        for c in 0..w {
            zt[c * np + r] = z[r * w + c];
        }
    }
    let mut a0 = vec![0.0; n * h];
    k.matmul_acc(z, n, w, &theta0[win.clone()], h, &mut a0);
    let mut gram = vec![0.0; n * np];
    k.matmul_acc(z, n, w, &zt, np, &mut gram);

    let mut theta = theta0.to_vec();
    let mut d = vec![0.0; np * h];
    let mut e = vec![0.0; np * h];
    let mut grad = vec![0.0; theta0.len()];
    let mut pre = vec![0.0; n * h];
    let mut scores = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut before = None;
    // Pre-activations and scores at the current (D, rest), into `pre` and `scores`.
    let forward = |theta: &[f32], d: &[f32], pre: &mut [f32], scores: &mut [f32]| {
        let p = Params::view(arch, theta);
        pre.copy_from_slice(&a0);
        k.matmul_acc(&gram, n, np, d, h, pre);
        scores.fill(0.0);
        k.relu_dot(pre, n, h, p.b1, p.w2, scores);
        k.gemv_acc(z, n, w, &theta[arch.range(Block::V).start..arch.range(Block::U).end], scores);
        for (s, b) in scores.iter_mut().zip(&set.base) {
            *s += p.c * b;
        }
    };
    for _ in 0..cfg.steps {
        forward(&theta, &d, &mut pre, &mut scores);
        let loss = support_loss(cfg.loss, set, &scores, &mut g);
        before.get_or_insert(loss);
        grad.fill(0.0);
        let dz = backward_but_input_weights(arch, &theta, z, &set.base, &pre, &g, &mut grad, false)?;
        for ((ei, dzi), di) in e[..n * h].iter_mut().zip(&dz).zip(&d) {
            *ei = dzi + cfg.prox * di;
        }
        for ((gi, t), t0) in grad[rest.clone()].iter_mut().zip(&theta[rest.clone()]).zip(&theta0[rest.clone()]) {
            *gi += cfg.prox * (t - t0);
        }
        let mut ke = vec![0.0; n * h];
        k.matmul_acc(&gram, n, np, &e, h, &mut ke);
        let input_sq: f32 = ke.iter().zip(&e).map(|(a, b)| a * b).sum();
        let scale = clip_scale((input_sq.max(0.0) + sum_of_squares(&grad[rest.clone()])).sqrt(), cfg.clip);
        for (di, ei) in d.iter_mut().zip(&e) {
            *di -= input_step * scale * ei;
        }
        for ((t, a), gi) in theta[rest.clone()].iter_mut().zip(&alpha[rest.clone()]).zip(&grad[rest.clone()]) {
            *t -= a * scale * gi;
        }
    }
    forward(&theta, &d, &mut pre, &mut scores);
    let after = support_loss(cfg.loss, set, &scores, &mut g);
    k.matmul_acc(&zt, w, np, &d, h, &mut theta[win]);
    let finite = theta.iter().all(|v| v.is_finite());
    finite.then_some(LowRankAdapted { theta, before: before?, after })
}
