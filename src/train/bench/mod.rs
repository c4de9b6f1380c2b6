//! The training benchmark of issue 12: the job a store's nightly retraining does, at a size where a
//! framework's per-op dispatch dominates, timed the same way here (`fewclick bench-train`) and in
//! PyTorch with torch.func (`bench/peers/torch/`).
//!
//! The job: a 48-64-32-1 ReLU scorer (5,249 parameters, PyTorch's default initialisation); a task is
//! 25 support candidates (5 positive) and 25 query candidates (1 positive), each a row of 48 floats,
//! with the pairwise logistic loss (mean over every (positive, negative) pair of
//! `ln(1 + exp(−(s⁺ − s⁻)))`, as [`crate::loss::pairwise`]); a meta-step is 5 inner SGD steps of 0.1
//! on each of 32 tasks, then Adam at 1e-3.
//!
//! Tasks are synthetic so the benchmark needs no data: every task has a hidden preference vector
//! (a population taste shared by all tasks plus a task's own), candidates are standard normal rows,
//! and the positives are the rows that score highest under the preference, so the task is learnable
//! and meta-learning has something to transfer.
//!
//! The network runs over all of a set's rows at once (row-major `rows × width` matrices), with
//! workspaces kept per thread. Its Hessian-vector product is Pearlmutter's R-operator, exact as
//! [`super::sinusoid::Mlp::mse_hvp`] is, and here through the pairwise loss too:
//!
//! ```text
//! forward    z_l = A_{l−1} W_lᵀ + b_l,  A_l = relu(z_l) (the last layer linear: s = z_L)
//! R-forward  R(z_l) = A_{l−1} U_lᵀ + u_b,l + R(A_{l−1}) W_lᵀ,  R(A_l) = [z_l > 0] R(z_l),  R(A_0) = 0
//! loss       g = ∂L/∂s;  R(g_i) = −R(g_j) = σ(m) σ(−m) (R(s_i) − R(s_j)) / P   per pair, m = s_i − s_j
//! R-backward δ_L = g, R(δ_L) = R(g)
//!            R(∇W_l) = R(δ_l)ᵀ A_{l−1} + δ_lᵀ R(A_{l−1}),  R(∇b_l) = Σ_rows R(δ_l)
//!            δ_{l−1} = [z > 0] δ_l W_l,  R(δ_{l−1}) = [z > 0] (R(δ_l) W_l + δ_l U_l)
//! ```
//!
//! ReLU's second derivative is zero, so the product is exact wherever no pre-activation is exactly
//! zero; the loss's second derivative, `σ(1 − σ)` per pair, is smooth.

mod head;
mod net;
pub mod products;

pub use head::HeadObjective;
use net::dot;
pub use net::{Net, Set};

use super::meta::{meta_train_observed, Algorithm, HeadSupport, MetaConfig, MetaTask, Progress};
use crate::adapt::{InnerLoop, Objective};
use crate::loss::LossKind;
use crate::rng::Rng;
use crate::Scope;
use std::time::Instant;

/// Inputs per candidate row.
pub const INPUTS: usize = 48;
/// Hidden widths of the scorer.
pub const HIDDEN: [usize; 2] = [64, 32];
/// Parameters of the benchmark's scorer: 48·64 + 64 + 64·32 + 32 + 32 + 1.
pub const PARAMS: usize = 5249;
pub const SUPPORT_ROWS: usize = 25;
pub const SUPPORT_POSITIVES: usize = 5;
pub const QUERY_ROWS: usize = 25;
pub const QUERY_POSITIVES: usize = 1;
/// Tasks per meta-step.
pub const META_BATCH: usize = 32;
pub const INNER_STEPS: u32 = 5;
pub const INNER_LR: f32 = 0.1;
pub const META_LR: f32 = 1e-3;

/// Draws tasks: the population taste is fixed by the generator's seed, each task adds its own.
#[derive(Clone, Debug)]
pub struct TaskGen {
    pub shared: Vec<f32>,
    pub net: Net,
}

impl TaskGen {
    pub fn new(seed: u64, net: &Net) -> Self {
        let mut rng = Rng::new(seed);
        TaskGen { shared: (0..net.inputs()).map(|_| rng.normal()).collect(), net: net.clone() }
    }

    /// `n_rows` standard normal rows, the `n_pos` best under `preference` first.
    fn set(&self, rng: &mut Rng, preference: &[f32], n_rows: usize, n_pos: usize) -> Set {
        let d = self.net.inputs();
        let raw: Vec<f32> = (0..n_rows * d).map(|_| rng.normal()).collect();
        let mut order: Vec<(f32, usize)> =
            raw.chunks_exact(d).enumerate().map(|(r, x)| (dot(x, preference), r)).collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let rows = order.iter().flat_map(|&(_, r)| raw[r * d..(r + 1) * d].iter().copied()).collect();
        Set::new(rows, n_rows, n_pos)
    }

    /// One task of the benchmark's shape (25 support rows with 5 positives, 25 query rows with 1).
    pub fn sample(&self, rng: &mut Rng) -> BenchTask {
        self.sample_shape(rng, (SUPPORT_ROWS, SUPPORT_POSITIVES), (QUERY_ROWS, QUERY_POSITIVES))
    }

    /// One task with `(rows, positives)` support and query sets.
    pub fn sample_shape(&self, rng: &mut Rng, support: (usize, usize), query: (usize, usize)) -> BenchTask {
        let preference: Vec<f32> = self.shared.iter().map(|s| s + rng.normal()).collect();
        let support = self.set(rng, &preference, support.0, support.1);
        let query = self.set(rng, &preference, query.0, query.1);
        let both = Set::union(&support, &query);
        BenchTask { preference, support, query, both, net: self.net.clone() }
    }
}

/// One synthetic ranking task.
#[derive(Clone, Debug)]
pub struct BenchTask {
    /// The hidden preference its positives were chosen by.
    pub preference: Vec<f32>,
    pub support: Set,
    pub query: Set,
    /// Both sets' rows in one, each set's pairs weighted by the inverse of its pair count: its
    /// loss is the mean of the two sets' (Reptile's objective, their sum, in one pass).
    pub both: Set,
    pub net: Net,
}

impl MetaTask for BenchTask {
    fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.net.pairwise_grad(theta, &self.support, grad)
    }
    fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.net.pairwise_grad(theta, &self.query, grad)
    }
    fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]) {
        self.net.pairwise_hvp(theta, &self.support, u, out)
    }
    /// One pass over both sets' rows ([`BenchTask::both`]), doubled: exactly the sum of the two
    /// losses and gradients, to rounding.
    fn support_and_query(&self, theta: &[f32], grad: &mut [f32], _scratch: &mut Vec<f32>) -> f32 {
        let loss = self.net.pairwise_grad(theta, &self.both, grad);
        grad.iter_mut().for_each(|g| *g *= 2.0);
        2.0 * loss
    }
    fn support_kept(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.net.pairwise_grad_kept(theta, &self.support, grad)
    }
    /// The forward pass alone.
    fn query_loss(&self, theta: &[f32]) -> f32 {
        self.net.pairwise_loss(theta, &self.query)
    }
    /// The last layer alone over the body's activations at θ0 (ANIL's inner loop).
    fn support_head<'a>(&'a self, theta0: &[f32], trainable_from: usize) -> Option<Box<dyn Objective + 'a>> {
        (trainable_from == self.net.head_start())
            .then(|| Box::new(self.net.head_objective(theta0, &self.support)) as Box<dyn Objective + 'a>)
    }
    /// The same objective, with ANIL's head-only products ([`head`]).
    fn support_head_products<'a>(&'a self, theta0: &[f32], trainable_from: usize) -> Option<Box<dyn HeadSupport + 'a>> {
        (trainable_from == self.net.head_start())
            .then(|| Box::new(self.net.head_objective(theta0, &self.support)) as Box<dyn HeadSupport + 'a>)
    }
}

/// `steps` plain SGD steps, as in [`super::sinusoid`]: no proximal pull, and a clip norm no finite
/// gradient reaches (the loss kind is unused by a [`BenchTask`]).
pub fn sgd(steps: u32) -> InnerLoop {
    InnerLoop { steps, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.0, clip: f32::MAX }
}

/// The meta-training settings of the benchmark for one algorithm (ANIL adapts the head only).
pub fn config(algorithm: Algorithm, net: &Net, iterations: usize, seed: u64) -> MetaConfig {
    MetaConfig {
        algorithm,
        inner: sgd(INNER_STEPS),
        trainable_from: if algorithm == Algorithm::Anil { net.head_start() } else { 0 },
        alpha: INNER_LR,
        meta_lr: META_LR,
        alpha_lr: META_LR,
        batch: META_BATCH,
        iterations,
        seed,
    }
}

/// What one algorithm's timed run measured.
#[derive(Clone, Debug)]
pub struct Timing {
    pub algorithm: Algorithm,
    pub warmup: usize,
    pub steps: usize,
    /// Wall time of the `steps` timed meta-steps (task generation excluded).
    pub seconds: f64,
    /// Wall time of generating every task of the run, before it (not in `seconds`).
    pub generation_seconds: f64,
    /// Mean query loss after adaptation over the last meta-step's tasks.
    pub query_loss: f32,
}

impl Timing {
    pub fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.seconds.max(1e-12)
    }
}

/// Three independent streams from one seed: θ0, tasks, batch order.
fn streams(seed: u64) -> (u64, u64, u64) {
    let mut r = Rng::new(seed);
    let mut draw = || ((r.next_u32() as u64) << 32) | r.next_u32() as u64;
    (draw(), draw(), draw())
}

/// Runs `warmup + steps` meta-steps of `algorithm` on the benchmark's configuration and times the
/// last `steps`. Every meta-step gets 32 tasks of its own: all of them are generated first (timed
/// apart, in [`Timing::generation_seconds`]), then meta-trained with [`meta_train_observed`], whose
/// pool of `32 × (warmup + steps)` tasks is then one pass with no task drawn twice. Runs on the
/// current rayon pool (the caller sets the thread count). Deterministic for a seed: θ0 and the
/// tasks depend on the seed only, not on the algorithm.
pub fn time_meta_steps(algorithm: Algorithm, warmup: usize, steps: usize, seed: u64) -> Timing {
    let net = Net::bench();
    let (init_seed, task_seed, order_seed) = streams(seed);
    let theta0 = net.init(&mut Rng::new(init_seed));
    let gen_started = Instant::now();
    let tasks = {
        let mut rng = Rng::new(task_seed);
        let tg = TaskGen::new(task_seed ^ 0x5EED, &net);
        (0..(warmup + steps) * META_BATCH).map(|_| tg.sample(&mut rng)).collect::<Vec<_>>()
    };
    let generation_seconds = gen_started.elapsed().as_secs_f64();
    let cfg = config(algorithm, &net, warmup + steps, order_seed);
    let mut ends = Vec::with_capacity(warmup + steps);
    let mut query_loss = f32::NAN;
    let started = Instant::now();
    meta_train_observed(&tasks, theta0, &cfg, |p: Progress, _, _| {
        ends.push(Instant::now());
        query_loss = p.query_loss;
    });
    let from = if warmup == 0 { started } else { ends[warmup - 1] };
    let seconds = ends.last().map_or(0.0, |e| e.duration_since(from).as_secs_f64());
    Timing { algorithm, warmup, steps, seconds, generation_seconds, query_loss }
}

#[cfg(test)]
mod tests;
