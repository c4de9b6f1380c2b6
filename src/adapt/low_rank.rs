//! The inner loop in scope `all` with the body's input weights kept in low-rank form: the same
//! steps as the plain loop over a [`super::RankObjective`], in fewer flops when the support set is
//! small, for models whose step size is one number over those weights (MAML, FOMAML, Reptile; not
//! Meta-SGD, whose step sizes differ per weight).
//!
//! Write `Z` for the support set's input rows `[x | s]` (`n × w`) and `W` for the body's input
//! weights `[Wx; Ws]` (`w × H`). A step's gradient of `W` is `Zᵀ · dz` (`dz = ∂L/∂a`, `n × H`),
//! plus the proximal pull `λ (W − W0)`; so with one step size `α` over `W`, every step keeps
//!
//! ```text
//! W_t = W0 + Zᵀ · D_t                 D_0 = 0,  D (n × H)
//! Z · W_t = Z·W0 + K · D_t            K = Z · Zᵀ (n × n), computed once
//! g_W = Zᵀ · E,  E = dz + λ D_t       ‖g_W‖² = Σ E ⊙ (K · E)
//! D_t+1 = D_t − α · scale · E
//! ```
//!
//! A step then costs `2 n² H` multiply-adds for the body instead of `2 n w H`.
//!
//! [`LowRankObjective`] runs through the same [`super::adapt_into`] as every other objective, over
//! `φ`: θ with `D` in the place of `W` (it fits: the form pays only when `n < w`). Its gradient
//! holds `dz` there, to which the loop adds `λ (φ − φ0) = λ D` and steps by `α`, exactly the update
//! above; its [`Objective::norm_sq`] measures that block through `K`. `W` is formed once at the
//! end ([`LowRankObjective::theta`]). The arithmetic is the plain loop's up to rounding (the sums
//! run in another order); the tests hold it to the plain loop with a stated tolerance. The rows of
//! `D` and the columns of `K` are padded to a multiple of 4 with zeros, the kernels' output width.

use super::{sum_of_squares, support_loss, InnerLoop, Objective, Scope};
use crate::kernels::Kernels;
use crate::loss::LossKind;
use crate::params::{Arch, Block};
use crate::scorer::{backward_but_input_weights, scores_from};
use crate::session::SupportSet;

/// Whether the body's input weights `[Wx; Ws]` all step by one size.
pub fn uniform_input_step(arch: &Arch, alpha: &[f32]) -> bool {
    let w = &alpha[arch.range(Block::Wx).start..arch.range(Block::Ws).end];
    w.iter().all(|&a| a == w[0])
}

/// Whether [`LowRankObjective`] runs the inner loop `cfg` on `n` support rows in fewer
/// multiply-adds than the plain loop: scope `all`, one step size over the input weights (`uniform`,
/// from [`uniform_input_step`]), and a support set small against the input width `w`. Its working
/// memory is then within the plain loop's budget (src/budget.rs): `K` (`n × n`) is smaller than the
/// support rows (`n × w`), `D` takes `W`'s place in φ.
pub fn low_rank_pays(arch: &Arch, cfg: &InnerLoop, uniform: bool, n: usize) -> bool {
    let (w, h, np, k) = (arch.item_dim + arch.session_dim(), arch.hidden, n.next_multiple_of(4), cfg.steps as usize);
    // Forward and backward per step plus the loss after, against Z·W0, K and W once, and per step
    // K·D (forward) and K·E (the norm), plus K·D for the loss after.
    let plain = (2 * k + 1) * n * w * h;
    let low_rank = 2 * n * w * h + n * w * np + (2 * k + 1) * n * np * h;
    cfg.scope == Scope::All && uniform && k > 0 && np <= w && low_rank < plain
}

/// The support loss over φ (θ with `D` in the input weights' place; see the module's header).
pub struct LowRankObjective<'a, K: Kernels + ?Sized> {
    kernels: &'a K,
    arch: Arch,
    set: &'a SupportSet,
    loss: LossKind,
    /// `Zᵀ`, `w × np`.
    zt: Vec<f32>,
    /// `Z · W0`, `n × H`.
    a0: Vec<f32>,
    /// `K = Z · Zᵀ`, `n × np`.
    gram: Vec<f32>,
}

impl<'a, K: Kernels + ?Sized> LowRankObjective<'a, K> {
    /// `None` when `D` (`np × H`) does not fit in the input weights' place (`w × H`): more support
    /// rows than inputs, where the form would not pay anyway.
    pub fn new(kernels: &'a K, arch: Arch, set: &'a SupportSet, loss: LossKind, theta0: &[f32]) -> Option<Self> {
        let (n, w, h) = (set.n_rows(), set.width, arch.hidden);
        let np = n.next_multiple_of(4);
        if np > w {
            return None;
        }
        let z = &set.inputs;
        let mut zt = vec![0.0; w * np];
        for r in 0..n {
            for c in 0..w {
                zt[c * np + r] = z[r * w + c];
            }
        }
        let mut a0 = vec![0.0; n * h];
        kernels.matmul_acc(z, n, w, &theta0[Self::inputs(&arch)], h, &mut a0);
        let mut gram = vec![0.0; n * np];
        kernels.matmul_acc(z, n, w, &zt, np, &mut gram);
        Some(LowRankObjective { kernels, arch, set, loss, zt, a0, gram })
    }

    fn inputs(arch: &Arch) -> std::ops::Range<usize> {
        arch.range(Block::Wx).start..arch.range(Block::Ws).end
    }

    fn np(&self) -> usize {
        self.set.n_rows().next_multiple_of(4)
    }

    /// φ0: θ0 with `D = 0` in the input weights' place.
    pub fn start(&self, theta0: &[f32]) -> Vec<f32> {
        let mut phi = theta0.to_vec();
        phi[Self::inputs(&self.arch)].fill(0.0);
        phi
    }

    /// θ from φ: `W = W0 + Zᵀ · D`, the other parameters as they are.
    pub fn theta(&self, theta0: &[f32], phi: &[f32]) -> Vec<f32> {
        let win = Self::inputs(&self.arch);
        let mut theta = phi.to_vec();
        theta[win.clone()].copy_from_slice(&theta0[win.clone()]);
        let (np, h) = (self.np(), self.arch.hidden);
        self.kernels.matmul_acc(&self.zt, self.set.width, np, &phi[win.start..np * h], h, &mut theta[win]);
        theta
    }

    /// The pre-activations `Z·W0 + K·D` and the scores at φ.
    fn forward(&self, phi: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (n, h, set) = (self.set.n_rows(), self.arch.hidden, self.set);
        let mut pre = self.a0.clone();
        self.kernels.matmul_acc(&self.gram, n, self.np(), &phi[..self.np() * h], h, &mut pre);
        let scores = scores_from(self.kernels, &self.arch, phi, &set.inputs, &set.base, &pre);
        (pre, scores)
    }
}

impl<K: Kernels + ?Sized> Objective for LowRankObjective<'_, K> {
    fn loss(&self, phi: &[f32]) -> f32 {
        let mut g = vec![0.0; self.set.n_rows()];
        support_loss(self.loss, self.set, &self.forward(phi).1, &mut g)
    }

    /// The gradient of the head and `b1`, and `dz` in `D`'s place (rows `n..np` stay 0).
    fn loss_grad(&self, phi: &[f32], grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        let set = self.set;
        let (pre, scores) = self.forward(phi);
        let mut g = vec![0.0; set.n_rows()];
        let loss = support_loss(self.loss, set, &scores, &mut g);
        if let Some(dz) = backward_but_input_weights(&self.arch, phi, &set.inputs, &set.base, &pre, &g, grad, false) {
            grad[..dz.len()].copy_from_slice(&dz);
        }
        loss
    }

    /// `Σ E ⊙ (K · E)` over `D`'s place (`‖Zᵀ · E‖²`, the input weights' share), plus the sum of
    /// squares of the rest.
    fn norm_sq(&self, g: &[f32]) -> f32 {
        let (n, np, h) = (self.set.n_rows(), self.np(), self.arch.hidden);
        let mut ke = vec![0.0; n * h];
        self.kernels.matmul_acc(&self.gram, n, np, &g[..np * h], h, &mut ke);
        let inputs: f32 = ke.iter().zip(g).map(|(a, b)| a * b).sum();
        inputs.max(0.0) + sum_of_squares(&g[Self::inputs(&self.arch).end..])
    }
}
