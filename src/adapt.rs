//! The inner loop: `k` steps from `θ0` with per-parameter step sizes `α` (Meta-SGD; one shared `α`
//! is plain MAML), a proximal pull toward `θ0`, and gradient-norm clipping:
//!
//! ```text
//! g_t   = ∇L_support(θ_t) + λ (θ_t − θ0)        restricted to the trainable range
//! g_t  *= min(1, clip / ‖g_t‖)
//! θ_t+1 = θ_t − α ⊙ g_t
//! ```
//!
//! The same function runs in the browser, natively and inside meta-training, over any
//! [`Objective`]; [`RankObjective`] is the ranking loss over a session's support set.

use crate::error::{msg, Error, Quoted, Result};
use crate::kernels::Kernels;
use crate::loss::{listwise, pairwise, LossKind};
use crate::params::{Arch, Block};
use crate::scorer::{backward_rows, forward_rows, head_scores, hidden_from, Forward};
use crate::session::SupportSet;

mod low_rank;
pub use low_rank::{low_rank_pays, uniform_input_step, LowRankObjective};

/// Which parameters the inner loop changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only the head: the body's outputs stay cached, so a click costs O(N·H).
    Head,
    /// Every parameter.
    All,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Head => "head",
            Scope::All => "all",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "head" => Ok(Scope::Head),
            "all" => Ok(Scope::All),
            other => Err(Error::config("scope", msg!("expected \"head\" or \"all\", got ", Quoted(other)))),
        }
    }
    /// First trainable index of the flat buffer (head blocks are stored last).
    pub fn trainable_from(self, arch: &Arch) -> usize {
        match self {
            Scope::Head => arch.head_start(),
            Scope::All => 0,
        }
    }
}

pub const MAX_STEPS: u32 = 100;

/// Inner-loop settings, stored in the model file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InnerLoop {
    pub steps: u32,
    pub scope: Scope,
    pub loss: LossKind,
    /// Proximal pull toward θ0 (λ ≥ 0).
    pub prox: f32,
    /// Largest gradient norm per step (> 0).
    pub clip: f32,
}

impl Default for InnerLoop {
    fn default() -> Self {
        InnerLoop { steps: 5, scope: Scope::Head, loss: LossKind::Pairwise, prox: 0.1, clip: 10.0 }
    }
}

impl InnerLoop {
    pub fn validate(&self) -> Result<()> {
        if self.steps > MAX_STEPS {
            return Err(Error::config("steps", msg!("must be at most ", MAX_STEPS, ", got ", self.steps)));
        }
        if !(self.prox.is_finite() && self.prox >= 0.0) {
            return Err(Error::config("prox", "must be finite and ≥ 0"));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(Error::config("clip", "must be finite and > 0"));
        }
        Ok(())
    }
}

/// A differentiable objective over a flat parameter vector.
pub trait Objective {
    /// Returns the loss at `theta` and writes its gradient into `grad` (overwriting it).
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32;
    /// The loss alone. The default runs [`Objective::loss_grad`]; an objective whose loss is
    /// cheaper without the backward pass overrides it, with the same value to the bit.
    fn loss(&self, theta: &[f32]) -> f32 {
        let mut g = vec![0.0; theta.len()];
        self.loss_grad(theta, &mut g)
    }
    /// `‖g‖²` of a step's gradient (with the proximal term), which the clip bounds: the sum of
    /// squares, unless the parameters stand for others ([`LowRankObjective`]'s `D` moves the input
    /// weights by `Zᵀ · D`), where it is the norm of the gradient they stand for.
    fn norm_sq(&self, g: &[f32]) -> f32 {
        sum_of_squares(g)
    }
}

/// What [`adapt`] records for meta-gradients: the parameters before each step and the clip factor
/// applied at that step.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub thetas: Vec<Vec<f32>>,
    pub grads: Vec<Vec<f32>>,
    pub clip_scales: Vec<f32>,
    /// The buffers of a cleared trace, which the next recording copies into.
    spare: Vec<Vec<f32>>,
}

impl Trace {
    /// Empties the trace and keeps its buffers, so that recording the next inner loop of the same
    /// size allocates nothing.
    pub fn clear(&mut self) {
        self.spare.append(&mut self.thetas);
        self.spare.append(&mut self.grads);
        self.clip_scales.clear();
    }

    fn record(&mut self, theta: &[f32], g: &[f32], scale: f32) {
        for (v, to) in [(theta, &mut self.thetas), (g, &mut self.grads)] {
            let mut b = self.spare.pop().unwrap_or_default();
            b.clear();
            b.extend_from_slice(v);
            to.push(b);
        }
        self.clip_scales.push(scale);
    }
}

/// Runs the inner loop. `alpha` has one entry per parameter.
pub fn adapt(
    obj: &dyn Objective,
    theta0: &[f32],
    alpha: &[f32],
    cfg: &InnerLoop,
    trainable_from: usize,
    trace: Option<&mut Trace>,
) -> Vec<f32> {
    let (mut theta, mut g) = (Vec::new(), Vec::new());
    adapt_into(obj, theta0, alpha, cfg, trainable_from, trace, &mut theta, &mut g);
    theta
}

/// [`adapt`], also returning the loss at `theta0` (see [`adapt_into`]).
pub fn adapt_from(
    obj: &dyn Objective,
    theta0: &[f32],
    alpha: &[f32],
    cfg: &InnerLoop,
    trainable_from: usize,
) -> (Vec<f32>, Option<f32>) {
    let (mut theta, mut g) = (Vec::new(), Vec::new());
    let first = adapt_into(obj, theta0, alpha, cfg, trainable_from, None, &mut theta, &mut g);
    (theta, first)
}

/// [`adapt`] into the caller's buffers, which meta-training reuses from task to task: `theta`
/// receives the adapted parameters; `g` is the gradient's workspace. Returns the loss at `theta0`,
/// which the first step computes anyway (`None` with no steps): the page reports it as the
/// support loss before adaptation without a pass of its own.
#[allow(clippy::too_many_arguments)]
pub fn adapt_into(
    obj: &dyn Objective,
    theta0: &[f32],
    alpha: &[f32],
    cfg: &InnerLoop,
    trainable_from: usize,
    mut trace: Option<&mut Trace>,
    theta: &mut Vec<f32>,
    g: &mut Vec<f32>,
) -> Option<f32> {
    theta.clear();
    theta.extend_from_slice(theta0);
    g.clear();
    g.resize(theta.len(), 0.0);
    let mut first = None;
    for _ in 0..cfg.steps {
        let loss = obj.loss_grad(theta, g);
        first.get_or_insert(loss);
        g[..trainable_from].fill(0.0);
        for ((gi, t), t0) in g[trainable_from..].iter_mut().zip(&theta[trainable_from..]).zip(&theta0[trainable_from..])
        {
            *gi += cfg.prox * (t - t0);
        }
        let norm = obj.norm_sq(g).sqrt();
        let scale = if norm > cfg.clip {
            cfg.clip / norm
        } else if norm.is_finite() {
            1.0
        } else {
            0.0
        };
        if let Some(t) = trace.as_deref_mut() {
            t.record(theta, g, scale);
        }
        for ((t, a), gi) in theta[trainable_from..].iter_mut().zip(&alpha[trainable_from..]).zip(&g[trainable_from..]) {
            *t -= a * scale * gi;
        }
    }
    first
}

/// `Σ v²` in eight interleaved partial sums (lane `i % 8`), added pairwise at the end: an order the
/// compiler can vectorise, the same on every target.
pub fn sum_of_squares(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x * x;
        }
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    (((a + e) + (b + f)) + ((c + g) + (d + h))) + tail
}

/// The ranking loss of a support set's scored rows; writes `∂L/∂score` into `g`.
pub fn support_loss(kind: LossKind, set: &SupportSet, scores: &[f32], g: &mut [f32]) -> f32 {
    match kind {
        LossKind::Pairwise => pairwise(&set.pairs, scores, g),
        LossKind::Listwise => listwise(&set.groups, scores, g),
    }
}

/// The ranking loss of a support (or query) set as an [`Objective`]. In head scope the body's
/// hidden activations are computed once from `θ0` and reused by every step.
pub struct RankObjective<'a, K: Kernels + ?Sized> {
    kernels: &'a K,
    arch: Arch,
    set: &'a SupportSet,
    loss: LossKind,
    hidden: Option<Vec<f32>>,
}

impl<'a, K: Kernels + ?Sized> RankObjective<'a, K> {
    /// `theta0` is used only in head scope, to cache the body's outputs.
    pub fn new(kernels: &'a K, arch: Arch, set: &'a SupportSet, loss: LossKind, theta0: &[f32], scope: Scope) -> Self {
        let hidden = (scope == Scope::Head).then(|| {
            let fwd = forward_rows(kernels, &arch, theta0, &set.inputs, &set.base);
            hidden_from(&arch, theta0, &fwd.a)
        });
        RankObjective { kernels, arch, set, loss, hidden }
    }

    fn loss_of_scores(&self, scores: &[f32], g: &mut [f32]) -> f32 {
        support_loss(self.loss, self.set, scores, g)
    }

    /// The support rows' scores at θ: through the cached body in head scope (no activations
    /// kept: the head's gradient reads the cache), else the full forward pass, kept for the
    /// backward pass.
    fn forward(&self, theta: &[f32]) -> Forward {
        let set = self.set;
        match &self.hidden {
            Some(hidden) => {
                let mut scores = vec![0.0; set.n_rows()];
                head_scores(&self.arch, theta, hidden, &set.inputs, &set.base, &mut scores);
                Forward { a: Vec::new(), scores }
            }
            None => forward_rows(self.kernels, &self.arch, theta, &set.inputs, &set.base),
        }
    }
}

impl<K: Kernels + ?Sized> Objective for RankObjective<'_, K> {
    /// The forward pass and the loss, as [`Objective::loss_grad`] computes them (so the same value
    /// to the bit), without the backward pass.
    fn loss(&self, theta: &[f32]) -> f32 {
        let mut g = vec![0.0; self.set.n_rows()];
        self.loss_of_scores(&self.forward(theta).scores, &mut g)
    }

    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        let (arch, set) = (&self.arch, self.set);
        let n = set.n_rows();
        let mut g = vec![0.0; n];
        let fwd = self.forward(theta);
        let loss = self.loss_of_scores(&fwd.scores, &mut g);
        match &self.hidden {
            Some(hidden) => {
                let (h, width) = (arch.hidden, set.width);
                let (c, w2, lin) = (arch.range(Block::C).start, arch.range(Block::W2), arch.range(Block::V).start);
                for r in 0..n {
                    let gr = g[r];
                    if gr == 0.0 {
                        continue;
                    }
                    grad[c] += gr * set.base[r];
                    for (gw, hv) in grad[w2.clone()].iter_mut().zip(&hidden[r * h..(r + 1) * h]) {
                        *gw += gr * hv;
                    }
                    for (gl, x) in grad[lin..lin + width].iter_mut().zip(&set.inputs[r * width..(r + 1) * width]) {
                        *gl += gr * x;
                    }
                }
            }
            None => backward_rows(self.kernels, arch, theta, &set.inputs, &set.base, &fwd, &g, grad, false),
        }
        loss
    }
}
