//! The outer loop's parts, shared by every way of meta-training: which tasks make each meta-batch
//! ([`BatchPlan`]), the sum of their meta-gradients ([`GradientSum`]) and the update of θ0 and α
//! with their Adam states ([`MetaState`]). `fewclick train` runs them in one process; the Python
//! package's Ray driver (issue 14) runs the same functions with the gradient sums computed on
//! workers. To make the two agree, the sum is taken in f64: partial sums of any grouping of a batch
//! round to the same f32 mean (to within one f32 rounding in rare cases, far inside the 1e-5 the
//! tests allow), so the model does not depend on how many workers shared a batch.
//!
//! Serialised forms (little-endian): a [`GradientSum`] is `b"FCGS"`, version u32 = 1, the length
//! n u32, the task count u64, the loss sum f64, then n f64 for θ and n f64 for α; a [`MetaState`] is
//! `b"FCMS"`, version u32 = 1, n u32, the two Adam step counts (i32), then θ, α and the two Adam
//! moments of each (n f32 each, in the order θ, α, m_θ, v_θ, m_α, v_α).

use super::meta::{meta_gradient, Algorithm, MetaConfig, MetaTask};
use crate::error::{Error, Result};
use crate::rng::Rng;
use rayon::prelude::*;
use std::cell::RefCell;

/// The tasks of each meta-batch over a fixed pool of `n` tasks: a fresh seeded shuffle of the pool
/// per pass, batches of `min(batch, n)` that run on across the end of a pass.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    rng: Rng,
    order: Vec<usize>,
    cursor: usize,
    batch: usize,
}

impl BatchPlan {
    pub fn new(n_tasks: usize, batch: usize, seed: u64) -> BatchPlan {
        BatchPlan { rng: Rng::new(seed), order: (0..n_tasks).collect(), cursor: n_tasks, batch: batch.min(n_tasks) }
    }

    /// The pool indices of the next meta-batch (empty for an empty pool).
    pub fn next_batch(&mut self) -> Vec<usize> {
        (0..self.batch)
            .map(|_| {
                if self.cursor == self.order.len() {
                    self.rng.shuffle(&mut self.order);
                    self.cursor = 0;
                }
                self.cursor += 1;
                self.order[self.cursor - 1]
            })
            .collect()
    }
}

/// The sum of some tasks' meta-gradients with respect to θ0 and α, and of their query losses.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientSum {
    pub theta: Vec<f64>,
    pub alpha: Vec<f64>,
    pub loss: f64,
    pub tasks: usize,
}

/// One task's meta-gradients (θ0 and α) and query loss, as [`meta_gradient`] writes them.
#[derive(Default)]
struct TaskGradient {
    loss: f32,
    theta: Vec<f32>,
    alpha: Vec<f32>,
}

thread_local! {
    /// [`GradientSum::of`]'s per-task buffers on the thread that calls it (taken out while in use,
    /// so a nested call would only allocate its own).
    static TASK_GRADIENTS: RefCell<Vec<TaskGradient>> = const { RefCell::new(Vec::new()) };
}

impl GradientSum {
    pub fn zeros(n: usize) -> GradientSum {
        GradientSum { theta: vec![0.0; n], alpha: vec![0.0; n], loss: 0.0, tasks: 0 }
    }

    /// The meta-gradients of `batch` at (θ0, α): computed in parallel, summed in batch order. The
    /// per-task buffers are the calling thread's, kept from call to call ([`TaskGradients`]), so a
    /// meta-step allocates and page-faults nothing for them.
    pub fn of<T: MetaTask + ?Sized>(batch: &[&T], theta: &[f32], alpha: &[f32], cfg: &MetaConfig) -> GradientSum {
        let n = theta.len();
        let mut slots = TASK_GRADIENTS.with(|t| std::mem::take(&mut *t.borrow_mut()));
        slots.resize_with(batch.len(), TaskGradient::default);
        slots.par_iter_mut().zip(batch.par_iter()).for_each(|(slot, task)| {
            slot.theta.resize(n, 0.0);
            slot.alpha.resize(n, 0.0);
            slot.loss = meta_gradient(
                cfg.algorithm,
                *task,
                theta,
                alpha,
                &cfg.inner,
                cfg.trainable_from,
                &mut slot.theta,
                &mut slot.alpha,
            );
        });
        let mut sum = GradientSum::zeros(n);
        for slot in &slots {
            sum.loss += slot.loss as f64;
            sum.tasks += 1;
            sum.theta.iter_mut().zip(&slot.theta).for_each(|(s, g)| *s += *g as f64);
            sum.alpha.iter_mut().zip(&slot.alpha).for_each(|(s, g)| *s += *g as f64);
        }
        TASK_GRADIENTS.with(|t| *t.borrow_mut() = slots);
        sum
    }

    /// Adds `other` (of the same length) to this sum.
    pub fn merge(&mut self, other: &GradientSum) -> Result<()> {
        if other.theta.len() != self.theta.len() {
            return Err(mismatch("gradient sum", other.theta.len(), self.theta.len()));
        }
        self.theta.iter_mut().zip(&other.theta).for_each(|(s, g)| *s += g);
        self.alpha.iter_mut().zip(&other.alpha).for_each(|(s, g)| *s += g);
        self.loss += other.loss;
        self.tasks += other.tasks;
        Ok(())
    }

    /// The mean query loss of the tasks summed (0 for none).
    pub fn mean_loss(&self) -> f32 {
        if self.tasks == 0 {
            0.0
        } else {
            (self.loss / self.tasks as f64) as f32
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.theta.len();
        let mut out = Vec::with_capacity(28 + 16 * n);
        header(&mut out, b"FCGS", n);
        out.extend_from_slice(&(self.tasks as u64).to_le_bytes());
        out.extend_from_slice(&self.loss.to_le_bytes());
        for v in self.theta.iter().chain(&self.alpha) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<GradientSum> {
        let n = read_header(bytes, b"FCGS", "gradient sum", |n| 28 + 16 * n)?;
        let tasks = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
        let loss = f64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"));
        let values: Vec<f64> =
            bytes[28..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let (theta, alpha) = values.split_at(n);
        Ok(GradientSum { theta: theta.to_vec(), alpha: alpha.to_vec(), loss, tasks })
    }
}

/// Adam on a flat vector.
#[derive(Clone, Debug, PartialEq)]
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam { m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }
    fn step(&mut self, x: &mut [f32], g: &[f32], lr: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        for i in 0..x.len() {
            if !g[i].is_finite() {
                continue;
            }
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            x[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// θ0, α and their optimisers during a run.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaState {
    theta: Vec<f32>,
    alpha: Vec<f32>,
    opt_theta: Adam,
    opt_alpha: Adam,
}

impl MetaState {
    /// A run's start: θ0 as given, α at `alpha` everywhere, fresh optimisers.
    pub fn new(theta: Vec<f32>, alpha: f32) -> MetaState {
        let n = theta.len();
        MetaState { theta, alpha: vec![alpha; n], opt_theta: Adam::new(n), opt_alpha: Adam::new(n) }
    }

    pub fn theta(&self) -> &[f32] {
        &self.theta
    }

    pub fn alpha(&self) -> &[f32] {
        &self.alpha
    }

    /// Outer updates applied so far.
    pub fn steps(&self) -> usize {
        self.opt_theta.t as usize
    }

    pub fn into_parts(self) -> (Vec<f32>, Vec<f32>) {
        (self.theta, self.alpha)
    }

    /// One meta-update with the mean of `sum`: Adam at `cfg.meta_lr` on θ0 and, for Meta-SGD, at
    /// `cfg.alpha_lr` on α (kept in [0, 2]). A sum of no tasks changes nothing.
    pub fn apply(&mut self, sum: &GradientSum, cfg: &MetaConfig) -> Result<()> {
        if sum.theta.len() != self.theta.len() {
            return Err(mismatch("gradient sum", sum.theta.len(), self.theta.len()));
        }
        if sum.tasks == 0 {
            return Ok(());
        }
        let k = sum.tasks as f64;
        let mean = |v: &[f64]| v.iter().map(|g| (g / k) as f32).collect::<Vec<f32>>();
        self.opt_theta.step(&mut self.theta, &mean(&sum.theta), cfg.meta_lr);
        if cfg.algorithm == Algorithm::MetaSgd {
            self.opt_alpha.step(&mut self.alpha, &mean(&sum.alpha), cfg.alpha_lr);
            for a in &mut self.alpha {
                *a = a.clamp(0.0, 2.0);
            }
        }
        Ok(())
    }

    /// One meta-update on `batch` (gradients by [`GradientSum::of`]); returns the batch's mean query
    /// loss after adaptation.
    pub fn step<T: MetaTask + ?Sized>(&mut self, batch: &[&T], cfg: &MetaConfig) -> f32 {
        let sum = GradientSum::of(batch, &self.theta, &self.alpha, cfg);
        self.apply(&sum, cfg).expect("the batch's gradients have θ's length");
        sum.mean_loss()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.theta.len();
        let mut out = Vec::with_capacity(20 + 24 * n);
        header(&mut out, b"FCMS", n);
        out.extend_from_slice(&self.opt_theta.t.to_le_bytes());
        out.extend_from_slice(&self.opt_alpha.t.to_le_bytes());
        let parts =
            [&self.theta, &self.alpha, &self.opt_theta.m, &self.opt_theta.v, &self.opt_alpha.m, &self.opt_alpha.v];
        for v in parts.into_iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MetaState> {
        let n = read_header(bytes, b"FCMS", "meta-training state", |n| 20 + 24 * n)?;
        let t_theta = i32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        let t_alpha = i32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if t_theta < 0 || t_alpha < 0 {
            return Err(Error::InvalidInput { reason: "meta-training state: a negative step count".into() });
        }
        let values: Vec<f32> =
            bytes[20..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let part = |k: usize| values[k * n..(k + 1) * n].to_vec();
        Ok(MetaState {
            theta: part(0),
            alpha: part(1),
            opt_theta: Adam { m: part(2), v: part(3), t: t_theta },
            opt_alpha: Adam { m: part(4), v: part(5), t: t_alpha },
        })
    }
}

fn mismatch(what: &str, got: usize, want: usize) -> Error {
    Error::InvalidInput { reason: format!("{what} of {got} parameters for a model of {want}") }
}

fn header(out: &mut Vec<u8>, magic: &[u8; 4], n: usize) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

/// Checks magic, version and total length; returns n.
fn read_header(bytes: &[u8], magic: &[u8; 4], what: &str, len: impl Fn(usize) -> usize) -> Result<usize> {
    let bad = |reason: String| Error::InvalidInput { reason: format!("{what}: {reason}") };
    if bytes.len() < 12 || &bytes[..4] != magic {
        return Err(bad(format!("not a {what} (no {} header)", String::from_utf8_lossy(magic))));
    }
    let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if version != 1 {
        return Err(bad(format!("version {version} (this build reads 1)")));
    }
    let n = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    if bytes.len() != len(n) {
        return Err(bad(format!("{} bytes for {n} parameters, expected {}", bytes.len(), len(n))));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapt::{InnerLoop, Scope};
    use crate::loss::LossKind;

    /// L(θ) = ½ Σ c_i (θ_i − t_i)²: support and query with their own targets.
    struct Quadratic {
        c: Vec<f32>,
        support: Vec<f32>,
        query: Vec<f32>,
    }

    fn quad(theta: &[f32], c: &[f32], t: &[f32], grad: &mut [f32]) -> f32 {
        let mut l = 0.0;
        for i in 0..theta.len() {
            grad[i] = c[i] * (theta[i] - t[i]);
            l += 0.5 * c[i] * (theta[i] - t[i]).powi(2);
        }
        l
    }

    impl MetaTask for Quadratic {
        fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
            quad(theta, &self.c, &self.support, grad)
        }
        fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
            quad(theta, &self.c, &self.query, grad)
        }
        fn support_hvp(&self, _theta: &[f32], u: &[f32], out: &mut [f32]) {
            for i in 0..u.len() {
                out[i] = self.c[i] * u[i];
            }
        }
    }

    fn tasks(n: usize, dim: usize) -> Vec<Quadratic> {
        let mut rng = Rng::new(5);
        (0..n)
            .map(|_| Quadratic {
                c: (0..dim).map(|_| 0.5 + rng.f32()).collect(),
                support: (0..dim).map(|_| rng.normal()).collect(),
                query: (0..dim).map(|_| rng.normal()).collect(),
            })
            .collect()
    }

    fn cfg(algorithm: Algorithm) -> MetaConfig {
        MetaConfig {
            algorithm,
            inner: InnerLoop { steps: 3, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.0, clip: 100.0 },
            trainable_from: 0,
            alpha: 0.1,
            meta_lr: 0.01,
            alpha_lr: 0.01,
            batch: 8,
            iterations: 0,
            seed: 3,
        }
    }

    #[test]
    fn a_batch_split_into_parts_gives_the_same_update_as_one_sum() {
        let pool = tasks(24, 6);
        for algorithm in [Algorithm::Maml, Algorithm::MetaSgd, Algorithm::Reptile] {
            let cfg = cfg(algorithm);
            let (mut whole, mut split) =
                (MetaState::new(vec![0.1; 6], cfg.alpha), MetaState::new(vec![0.1; 6], cfg.alpha));
            let mut plan = BatchPlan::new(pool.len(), cfg.batch, cfg.seed);
            for _ in 0..20 {
                let batch: Vec<&Quadratic> = plan.next_batch().into_iter().map(|i| &pool[i]).collect();
                whole.step(&batch, &cfg);
                // Three "workers" of uneven shares, merged in order.
                let mut sum = GradientSum::zeros(6);
                for part in [&batch[..1], &batch[1..5], &batch[5..]] {
                    sum.merge(&GradientSum::of(part, split.theta(), split.alpha(), &cfg)).expect("same length");
                }
                split.apply(&sum, &cfg).expect("same length");
            }
            for (a, b) in whole.theta().iter().zip(split.theta()).chain(whole.alpha().iter().zip(split.alpha())) {
                assert!((a - b).abs() <= 1e-6, "{algorithm:?}: {a} vs {b}");
            }
            assert_eq!(whole.steps(), 20);
        }
    }

    #[test]
    fn plans_cover_the_pool_once_per_pass_and_repeat_for_a_seed() {
        let mut plan = BatchPlan::new(10, 4, 9);
        let first: Vec<usize> = (0..5).flat_map(|_| plan.next_batch()).collect();
        let mut pass: Vec<usize> = first[..10].to_vec();
        pass.sort_unstable();
        assert_eq!(pass, (0..10).collect::<Vec<_>>());
        let mut again = BatchPlan::new(10, 4, 9);
        assert_eq!((0..5).flat_map(|_| again.next_batch()).collect::<Vec<_>>(), first);
        assert_eq!(BatchPlan::new(3, 8, 1).next_batch().len(), 3, "a batch is at most the pool");
        assert!(BatchPlan::new(0, 8, 1).next_batch().is_empty());
    }

    #[test]
    fn states_and_sums_round_trip_and_damage_is_an_error() {
        let pool = tasks(4, 5);
        let cfg = cfg(Algorithm::MetaSgd);
        let mut state = MetaState::new(vec![0.2; 5], cfg.alpha);
        let batch: Vec<&Quadratic> = pool.iter().collect();
        let sum = GradientSum::of(&batch, state.theta(), state.alpha(), &cfg);
        state.apply(&sum, &cfg).expect("applies");
        assert_eq!(MetaState::from_bytes(&state.to_bytes()).expect("reads"), state);
        assert_eq!(GradientSum::from_bytes(&sum.to_bytes()).expect("reads"), sum);
        let bytes = state.to_bytes();
        assert!(MetaState::from_bytes(&bytes[..bytes.len() - 4]).is_err());
        assert!(MetaState::from_bytes(&sum.to_bytes()).is_err(), "a sum is not a state");
        assert!(GradientSum::from_bytes(b"FCGS").is_err());
        let before = state.clone();
        assert!(state.apply(&GradientSum::zeros(3), &cfg).is_err());
        assert_eq!(state, before, "a refused update changes nothing");
    }
}
