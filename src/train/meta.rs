//! Meta-learners over any [`MetaTask`]: MAML (second order), first-order MAML, Reptile, Meta-SGD,
//! ANIL, and the joint (no inner loop) baseline. They share the inner loop of the core
//! ([`crate::adapt::adapt`]) so what is meta-trained is exactly what runs in the browser.
//!
//! Second-order meta-gradients back-propagate through the inner loop with exact Hessian-vector
//! products of the support loss ([`MetaTask::support_hvp`], Pearlmutter's R-operator: one forward
//! and one backward pass in the direction `u`, no step size):
//!
//! ```text
//! θ_{t+1} = θ_t − a ⊙ ĝ_t,   ĝ_t = ∇L_s(θ_t) + λ(θ_t − θ0),   a = α ⊙ mask · clip_t
//! v_k     = ∇L_q(θ_k)
//! v_t     = v_{t+1} − H_t (a ⊙ v_{t+1}) − λ a ⊙ v_{t+1}          (H symmetric)
//! ∇θ0 F   = v_0 + Σ_t λ a ⊙ v_{t+1}
//! ∇α  F   = −Σ_t mask · clip_t · ĝ_t ⊙ v_{t+1}
//! H_t u   = ∇²L_s(θ_t) u   exactly (ReLU's second derivative is zero almost everywhere)
//! ```
//!
//! The clip factor is treated as a constant (it is 1 whenever the gradient is below the clip norm,
//! the usual case). `tests/meta.rs` checks the meta-gradient against finite differences of the
//! meta-objective and the products against an f64 reference.

pub use super::outer::{BatchPlan, GradientSum, MetaState};
use crate::adapt::{adapt_into, InnerLoop, Objective, Trace};
use crate::rng::Rng;
use std::cell::RefCell;

/// One task: a support loss to adapt on and a query loss to judge the adapted parameters by.
pub trait MetaTask: Sync {
    /// The support loss at `theta`; writes its gradient into `grad` (overwriting it).
    fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32;
    /// The query loss at `theta`; writes its gradient into `grad` (overwriting it).
    fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32;
    /// The exact Hessian-vector product of the support loss: writes `∇²L_s(θ) · u` into `out`
    /// (overwriting it). Second-order meta-gradients need nothing else.
    fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]);
    /// [`MetaTask::support`] in an inner loop whose points [`MetaTask::support_hvp`] is called at
    /// next (second-order meta-gradients): a task may keep what the product at the same point
    /// can reuse. By default, [`MetaTask::support`].
    fn support_kept(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.support(theta, grad)
    }
    /// The support and query losses summed, and their summed gradient (written into `grad`):
    /// what Reptile adapts on. By default [`MetaTask::support`] plus [`MetaTask::query`], the
    /// latter's gradient in `scratch`; a task may compute both in one pass.
    fn support_and_query(&self, theta: &[f32], grad: &mut [f32], scratch: &mut Vec<f32>) -> f32 {
        scratch.resize(grad.len(), 0.0);
        let l = self.support(theta, grad) + self.query(theta, scratch);
        for (a, b) in grad.iter_mut().zip(scratch.iter()) {
            *a += b;
        }
        l
    }
    /// The query loss at `theta` without its gradient (what Reptile reports); by default
    /// [`MetaTask::query`] with the gradient thrown away.
    fn query_loss(&self, theta: &[f32]) -> f32 {
        self.query(theta, &mut vec![0.0; theta.len()])
    }
    /// The support loss as an objective over the parameters from `trainable_from` on (the head),
    /// for an inner loop that leaves everything before it at `theta0`'s values (ANIL, scope
    /// `head`): the body's outputs are computed once per task instead of a forward and backward
    /// pass through the whole network at every step. Its gradient on the head is the support
    /// gradient's (to rounding); what it writes before `trainable_from` is ignored. `None`, the
    /// default: the inner loop uses [`MetaTask::support`].
    fn support_head<'a>(&'a self, _theta0: &[f32], _trainable_from: usize) -> Option<Box<dyn Objective + 'a>> {
        None
    }
    /// [`MetaTask::support_head`] with ANIL's second-order products on the head
    /// ([`HeadSupport`]): the backward pass over the inner loop then runs on the head alone, and
    /// goes through the body once per task. `None`, the default: products by
    /// [`MetaTask::support_hvp`] at every step.
    fn support_head_products<'a>(
        &'a self,
        _theta0: &[f32],
        _trainable_from: usize,
    ) -> Option<Box<dyn HeadSupport + 'a>> {
        None
    }
}

/// A head-only support objective (the body frozen at θ0) with exact Hessian-vector products split
/// in two: the head's rows at every inner point, and the body's rows summed over the inner loop and
/// computed by one backward pass through the body. Mathematically the rows of
/// [`MetaTask::support_hvp`]; only the rounding of the body's sum differs.
pub trait HeadSupport: Objective {
    /// For a `u` zero before the head: writes the head rows of `∇²L(θ) · u` into the head part of
    /// `out` (what it writes before the head is unspecified) and adds the body's share to `top`,
    /// as a gradient with respect to the body's last pre-activations (sized by the callee).
    fn head_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32], top: &mut Vec<f32>);
    /// Adds the body rows of the products whose shares were summed into `top` to the body part
    /// of `out`.
    fn body_backward(&self, top: &[f32], out: &mut [f32]);
}

/// A task with its inner loop forced through [`MetaTask::support`], without the
/// [`MetaTask::support_head`] shortcut: what the shortcut replaces, for comparing the two.
pub struct FullPass<'a, T: MetaTask + ?Sized>(pub &'a T);
impl<T: MetaTask + ?Sized> MetaTask for FullPass<'_, T> {
    fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.0.support(theta, grad)
    }
    fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.0.query(theta, grad)
    }
    fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]) {
        self.0.support_hvp(theta, u, out)
    }
    fn support_kept(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.0.support_kept(theta, grad)
    }
    fn query_loss(&self, theta: &[f32]) -> f32 {
        self.0.query_loss(theta)
    }
}

/// The support loss as the inner loop's objective; `kept` when products at its points follow.
struct Support<'a, T: MetaTask + ?Sized> {
    task: &'a T,
    kept: bool,
}
impl<T: MetaTask + ?Sized> Objective for Support<'_, T> {
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        if self.kept {
            self.task.support_kept(theta, grad)
        } else {
            self.task.support(theta, grad)
        }
    }
}

/// The support set and query set together: what Reptile adapts on (`query` holds the query
/// gradient between calls, so a step allocates nothing).
struct Both<'a, T: MetaTask + ?Sized> {
    task: &'a T,
    query: RefCell<Vec<f32>>,
}
impl<T: MetaTask + ?Sized> Objective for Both<'_, T> {
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.task.support_and_query(theta, grad, &mut self.query.borrow_mut())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// MAML with exact second-order terms (Hessian-vector products by the R-operator), fixed
    /// scalar α.
    Maml,
    /// First-order MAML: the query gradient at the adapted parameters.
    Fomaml,
    /// Reptile: move θ0 toward the parameters adapted on the whole task.
    Reptile,
    /// Meta-SGD: second-order MAML that also learns a step size per parameter.
    MetaSgd,
    /// ANIL: second-order MAML whose inner loop adapts only the head.
    Anil,
    /// No inner loop: the query loss at θ0, trained on every task jointly (the transfer baseline).
    Joint,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] =
        [Algorithm::Maml, Algorithm::Fomaml, Algorithm::Reptile, Algorithm::MetaSgd, Algorithm::Anil, Algorithm::Joint];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Maml => "maml",
            Algorithm::Fomaml => "fomaml",
            Algorithm::Reptile => "reptile",
            Algorithm::MetaSgd => "meta-sgd",
            Algorithm::Anil => "anil",
            Algorithm::Joint => "joint",
        }
    }

    pub fn parse(s: &str) -> crate::Result<Self> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            crate::Error::config(
                "algorithm",
                format!("unknown {s:?}; expected maml, fomaml, reptile, meta-sgd, anil or joint"),
            )
        })
    }

    fn second_order(self) -> bool {
        matches!(self, Algorithm::Maml | Algorithm::MetaSgd | Algorithm::Anil)
    }
}

/// The meta-gradient of one task. Returns the query loss after adaptation and writes the gradients
/// with respect to θ0 and (for Meta-SGD) α.
#[allow(clippy::too_many_arguments)]
pub fn meta_gradient<T: MetaTask + ?Sized>(
    algorithm: Algorithm,
    task: &T,
    theta0: &[f32],
    alpha: &[f32],
    inner: &InnerLoop,
    trainable_from: usize,
    g_theta: &mut [f32],
    g_alpha: &mut [f32],
) -> f32 {
    let n = theta0.len();
    g_theta.fill(0.0);
    g_alpha.fill(0.0);
    // With a frozen body (trainable_from > 0) the task may offer a head-only support objective:
    // with ANIL's head-only products, which take the whole backward pass, else alone (built only
    // where the inner loop runs on the support set: not for Reptile or joint training).
    if algorithm == Algorithm::Anil && trainable_from > 0 {
        if let Some(h) = task.support_head_products(theta0, trainable_from) {
            return anil_gradient(task, h.as_ref(), theta0, alpha, inner, trainable_from, g_theta, g_alpha);
        }
    }
    let on_support = !matches!(algorithm, Algorithm::Joint | Algorithm::Reptile);
    let head = if trainable_from > 0 && on_support { task.support_head(theta0, trainable_from) } else { None };
    let full = Support { task, kept: algorithm.second_order() };
    let support: &dyn Objective = match &head {
        Some(h) => h.as_ref(),
        None => &full,
    };
    let mut ws = SCRATCH.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let Scratch { phi, g, trace, v, direct, hv, av } = &mut ws;
    let loss = match algorithm {
        Algorithm::Joint => task.query(theta0, g_theta),
        Algorithm::Reptile => {
            adapt_into(&Both { task, query: RefCell::default() }, theta0, alpha, inner, trainable_from, None, phi, g);
            for i in 0..n {
                g_theta[i] = theta0[i] - phi[i];
            }
            task.query_loss(phi)
        }
        Algorithm::Fomaml => {
            adapt_into(support, theta0, alpha, inner, trainable_from, None, phi, g);
            task.query(phi, g_theta)
        }
        Algorithm::Maml | Algorithm::MetaSgd | Algorithm::Anil => {
            debug_assert!(algorithm.second_order());
            trace.clear();
            adapt_into(support, theta0, alpha, inner, trainable_from, Some(trace), phi, g);
            zero_all(n, [&mut *v, &mut *direct, &mut *hv, &mut *av]);
            let loss = task.query(phi, v);
            // av = a ⊙ v: zero on the frozen part, which is never written.
            let tf = trainable_from;
            for t in (0..trace.thetas.len()).rev() {
                direction(av, g_alpha, alpha, v, trace, t, tf);
                task.support_hvp(&trace.thetas[t], av, hv);
                step_back(direct, v, hv, av, inner.prox, 0);
            }
            for ((g, vi), d) in g_theta.iter_mut().zip(v.iter()).zip(direct.iter()) {
                *g = vi + d;
            }
            loss
        }
    };
    SCRATCH.with(|w| *w.borrow_mut() = ws);
    loss
}

/// ANIL's meta-gradient with head-only products ([`HeadSupport`]): the recursion of the module
/// documentation on the head's rows, whose direction `a ⊙ v` is zero on the body; the body's rows
/// of `v` only collect `−Σ_t H_t (a ⊙ v_{t+1})`, summed by one backward pass through the body.
#[allow(clippy::too_many_arguments)]
fn anil_gradient<T: MetaTask + ?Sized>(
    task: &T,
    head: &dyn HeadSupport,
    theta0: &[f32],
    alpha: &[f32],
    inner: &InnerLoop,
    tf: usize,
    g_theta: &mut [f32],
    g_alpha: &mut [f32],
) -> f32 {
    let n = theta0.len();
    let mut ws = SCRATCH.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let Scratch { phi, g, trace, v, direct, hv, av } = &mut ws;
    trace.clear();
    adapt_into(head, theta0, alpha, inner, tf, Some(trace), phi, g);
    zero_all(n, [&mut *v, &mut *direct, &mut *hv, &mut *av]);
    let loss = task.query(phi, v);
    let mut top = Vec::new();
    for t in (0..trace.thetas.len()).rev() {
        direction(av, g_alpha, alpha, v, trace, t, tf);
        head.head_hvp(&trace.thetas[t], av, hv, &mut top);
        step_back(direct, v, hv, av, inner.prox, tf);
    }
    hv[..tf].fill(0.0);
    head.body_backward(&top, hv);
    v[..tf].iter_mut().zip(&hv[..tf]).for_each(|(vi, h)| *vi -= h);
    for ((g, vi), d) in g_theta.iter_mut().zip(v.iter()).zip(direct.iter()) {
        *g = vi + d;
    }
    SCRATCH.with(|w| *w.borrow_mut() = ws);
    loss
}

/// Sets each buffer to `n` zeros, keeping its capacity.
fn zero_all<const K: usize>(n: usize, bufs: [&mut Vec<f32>; K]) {
    for b in bufs {
        b.clear();
        b.resize(n, 0.0);
    }
}

/// Step `t` of the backward pass over the inner loop, before its product: `av = α · clip_t ⊙ v`
/// and `∇α −= clip_t · ĝ_t ⊙ v` on the trainable rows (from `tf`).
fn direction(av: &mut [f32], g_alpha: &mut [f32], alpha: &[f32], v: &[f32], trace: &Trace, t: usize, tf: usize) {
    let s = trace.clip_scales[t];
    let rows = av[tf..].iter_mut().zip(&mut g_alpha[tf..]);
    for ((a, ga), ((al, vi), gi)) in rows.zip(alpha[tf..].iter().zip(&v[tf..]).zip(&trace.grads[t][tf..])) {
        *a = al * s * vi;
        *ga -= s * gi * vi;
    }
}

/// Step `t` after its product `hv = H_t · av`: `direct += λ av`, `v −= hv + λ av` on the rows from
/// `from`.
fn step_back(direct: &mut [f32], v: &mut [f32], hv: &[f32], av: &[f32], prox: f32, from: usize) {
    for ((d, vi), (h, a)) in direct[from..].iter_mut().zip(&mut v[from..]).zip(hv[from..].iter().zip(&av[from..])) {
        *d += prox * a;
        *vi -= h + prox * a;
    }
}

/// [`meta_gradient`]'s buffers on a thread, kept from task to task (taken out while in use, so a
/// nested call would only allocate its own).
#[derive(Default)]
struct Scratch {
    /// The adapted parameters and the inner loop's gradient.
    phi: Vec<f32>,
    g: Vec<f32>,
    trace: Trace,
    /// The backward pass over the inner loop: v, the proximal terms' sum, H·(a ⊙ v) and a ⊙ v.
    v: Vec<f32>,
    direct: Vec<f32>,
    hv: Vec<f32>,
    av: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Settings of a meta-training run.
#[derive(Clone, Debug)]
pub struct MetaConfig {
    pub algorithm: Algorithm,
    pub inner: InnerLoop,
    pub trainable_from: usize,
    /// Initial step size (all parameters).
    pub alpha: f32,
    pub meta_lr: f32,
    pub alpha_lr: f32,
    pub batch: usize,
    pub iterations: usize,
    pub seed: u64,
}

/// Progress of a run, reported after every iteration.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub iteration: usize,
    pub iterations: usize,
    pub query_loss: f32,
}

/// Meta-trains from `theta0` on a fixed pool of tasks; returns (θ0, α). Deterministic for a seed:
/// batches are drawn from the pool by a seeded generator (a fresh shuffle per pass), per-task
/// gradients computed in parallel and summed in task order.
pub fn meta_train<T: MetaTask>(
    tasks: &[T],
    theta: Vec<f32>,
    cfg: &MetaConfig,
    mut progress: impl FnMut(Progress),
) -> (Vec<f32>, Vec<f32>) {
    meta_train_observed(tasks, theta, cfg, |p, _, _| progress(p))
}

/// [`meta_train`] that also shows `observe` θ0 and α after every iteration (for checkpoints).
pub fn meta_train_observed<T: MetaTask>(
    tasks: &[T],
    theta: Vec<f32>,
    cfg: &MetaConfig,
    mut observe: impl FnMut(Progress, &[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>) {
    let mut state = MetaState::new(theta, cfg.alpha);
    if tasks.is_empty() {
        return state.into_parts();
    }
    let mut plan = BatchPlan::new(tasks.len(), cfg.batch, cfg.seed);
    for it in 0..cfg.iterations {
        let batch: Vec<&T> = plan.next_batch().into_iter().map(|i| &tasks[i]).collect();
        let loss = state.step(&batch, cfg);
        let p = Progress { iteration: it + 1, iterations: cfg.iterations, query_loss: loss };
        observe(p, state.theta(), state.alpha());
    }
    state.into_parts()
}

/// Meta-training driven pool by pool from outside: streaming training hands it the tasks of one
/// window of sessions at a time, when all of a log's tasks do not fit in memory. θ0, α and the
/// optimisers' state carry over from pool to pool. Deterministic for a seed: each pool is
/// visited once in a fresh seeded shuffle, in batches of `cfg.batch` (the last may be smaller).
pub struct Trainer {
    state: MetaState,
    cfg: MetaConfig,
    rng: Rng,
    iterations: usize,
}

impl Trainer {
    pub fn new(theta: Vec<f32>, cfg: &MetaConfig) -> Self {
        Trainer { state: MetaState::new(theta, cfg.alpha), cfg: cfg.clone(), rng: Rng::new(cfg.seed), iterations: 0 }
    }

    /// One pass over `tasks`; `progress` sees every iteration (`iterations` is this pass's count).
    pub fn pass<T: MetaTask>(&mut self, tasks: &[T], mut progress: impl FnMut(Progress)) {
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        self.rng.shuffle(&mut order);
        let batches = order.len().div_ceil(self.cfg.batch.max(1));
        for (k, chunk) in order.chunks(self.cfg.batch.max(1)).enumerate() {
            let batch: Vec<&T> = chunk.iter().map(|&i| &tasks[i]).collect();
            let loss = self.state.step(&batch, &self.cfg);
            self.iterations += 1;
            progress(Progress { iteration: k + 1, iterations: batches, query_loss: loss });
        }
    }

    /// Meta-iterations run so far, over every pass.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// (θ0, α).
    pub fn into_parts(self) -> (Vec<f32>, Vec<f32>) {
        self.state.into_parts()
    }
}

/// Meta-trains from `theta0` on tasks drawn afresh every iteration (`cfg.batch` calls of `sample`
/// per iteration, in order, all from one generator seeded with `cfg.seed`); returns (θ0, α).
/// Deterministic for a seed, like [`meta_train`].
pub fn meta_train_sampled<T: MetaTask>(
    mut sample: impl FnMut(&mut Rng) -> T,
    theta: Vec<f32>,
    cfg: &MetaConfig,
    mut progress: impl FnMut(Progress),
) -> (Vec<f32>, Vec<f32>) {
    let mut state = MetaState::new(theta, cfg.alpha);
    let mut rng = Rng::new(cfg.seed);
    for it in 0..cfg.iterations {
        let tasks: Vec<T> = (0..cfg.batch).map(|_| sample(&mut rng)).collect();
        let batch: Vec<&T> = tasks.iter().collect();
        let loss = if batch.is_empty() { 0.0 } else { state.step(&batch, cfg) };
        progress(Progress { iteration: it + 1, iterations: cfg.iterations, query_loss: loss });
    }
    state.into_parts()
}
