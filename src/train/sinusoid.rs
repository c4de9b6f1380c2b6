//! The sinusoid regression benchmark of the MAML paper (Finn et al. 2017, §5.1), used to check that
//! the meta-learners are general, not tuned to ranking: amplitude in [0.1, 5], phase in [0, π],
//! inputs in [−5, 5], K-shot support and query sets, a 1-40-40-1 ReLU network, mean squared error.
//!
//! [`run`] follows the protocol of the paper's PyTorch re-implementations (torch.func's
//! `maml-regression`, learn2learn's sine example): PyTorch's default initialisation, 10 support and
//! 10 query points, one inner SGD step of 0.01, a meta-batch of 25 tasks drawn afresh every
//! iteration, Adam at 1e-3; evaluation after 0, 1 and 10 inner steps on held-out tasks.
//!
//! The network's gradient is back-propagation; its Hessian-vector product ([`Mlp::mse_hvp`]) is
//! Pearlmutter's R-operator: the forward pass differentiated along `u` (`R(z)`, `R(a)`), then the
//! backward pass differentiated along `u` (`R(δ)`, `R(∇θ)`). ReLU's second derivative is zero, so
//! the product is exact wherever no pre-activation is exactly zero.

use super::dense::{self, Layer};
use super::meta::{meta_train_sampled, Algorithm, MetaConfig, MetaTask, Progress};
use crate::adapt::{adapt, InnerLoop, Objective};
use crate::error::{Error, Result};
use crate::loss::LossKind;
use crate::rng::Rng;
use crate::Scope;

/// A dense ReLU network with one input and one output; parameters in one flat buffer, layer by
/// layer: weights (out × in, row-major) then biases.
#[derive(Clone, Debug)]
pub struct Mlp {
    pub sizes: Vec<usize>,
}

impl Mlp {
    pub fn new(hidden: &[usize]) -> Self {
        let mut sizes = vec![1];
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        Mlp { sizes }
    }

    pub fn n_params(&self) -> usize {
        dense::n_params(&self.sizes)
    }

    /// First index of the output layer: "the head" for ANIL (the last layer is a suffix of the
    /// buffer).
    pub fn head_start(&self) -> usize {
        dense::head_start(&self.sizes)
    }

    fn layers(&self) -> Vec<Layer> {
        dense::layers(&self.sizes)
    }

    /// PyTorch's default initialisation of `nn.Linear` ([`dense::init`]).
    pub fn init(&self, rng: &mut Rng) -> Vec<f32> {
        dense::init(&self.sizes, rng)
    }

    /// Forward pass of one input; `acts[l]` receives layer `l`'s output (`acts[0] = [x]`, hidden
    /// layers after the ReLU, the last layer linear).
    fn forward(&self, layers: &[Layer], theta: &[f32], x: f32, acts: &mut [Vec<f32>]) {
        acts[0].clear();
        acts[0].push(x);
        let last = layers.len() - 1;
        for (l, ly) in layers.iter().enumerate() {
            let (prev, rest) = acts.split_at_mut(l + 1);
            let (a, out) = (&prev[l], &mut rest[0]);
            out.clear();
            for o in 0..ly.n_out {
                let row = &theta[ly.w + o * ly.n_in..ly.w + (o + 1) * ly.n_in];
                let z = theta[ly.b() + o] + row.iter().zip(a).map(|(w, v)| w * v).sum::<f32>();
                out.push(if l == last { z } else { z.max(0.0) });
            }
        }
    }

    pub fn predict(&self, theta: &[f32], x: f32) -> f32 {
        let layers = self.layers();
        let mut acts = vec![Vec::new(); self.sizes.len()];
        self.forward(&layers, theta, x, &mut acts);
        acts[layers.len()][0]
    }

    /// Mean squared error over `(x, y)` points and its gradient (written into `grad`).
    pub fn mse_grad(&self, theta: &[f32], points: &[(f32, f32)], grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        let layers = self.layers();
        let n_layers = layers.len();
        let mut acts = vec![Vec::new(); self.sizes.len()];
        let (mut delta, mut next) = (Vec::new(), Vec::new());
        let mut loss = 0.0;
        let scale = 1.0 / points.len().max(1) as f32;
        for &(x, y) in points {
            self.forward(&layers, theta, x, &mut acts);
            let err = acts[n_layers][0] - y;
            loss += err * err * scale;
            delta.clear();
            delta.push(2.0 * err * scale);
            for (l, ly) in layers.iter().enumerate().rev() {
                let prev = &acts[l];
                next.clear();
                next.resize(ly.n_in, 0.0);
                for (o, &d) in delta.iter().enumerate() {
                    grad[ly.b() + o] += d;
                    let w = ly.w + o * ly.n_in;
                    for i in 0..ly.n_in {
                        grad[w + i] += d * prev[i];
                        next[i] += d * theta[w + i];
                    }
                }
                if l > 0 {
                    for (nx, a) in next.iter_mut().zip(prev) {
                        if *a <= 0.0 {
                            *nx = 0.0;
                        }
                    }
                }
                std::mem::swap(&mut delta, &mut next);
            }
        }
        loss
    }

    /// The exact Hessian-vector product of [`Mlp::mse_grad`]'s loss: writes `∇²L(θ) · u` into
    /// `out`, by the R-operator (forward-over-reverse) in one pass per point.
    pub fn mse_hvp(&self, theta: &[f32], points: &[(f32, f32)], u: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        let layers = self.layers();
        let n_layers = layers.len();
        let last = n_layers - 1;
        let mut acts = vec![Vec::new(); self.sizes.len()];
        // R(acts[l]): the directional derivative of each layer's output along u.
        let mut racts: Vec<Vec<f32>> = self.sizes.iter().map(|&s| vec![0.0; s]).collect();
        let (mut delta, mut next, mut rdelta, mut rnext) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let scale = 1.0 / points.len().max(1) as f32;
        for &(x, y) in points {
            self.forward(&layers, theta, x, &mut acts);
            // R-forward: R(z) = U a + W R(a) + u_b; R(relu(z)) = [z > 0] R(z). R(acts[0]) = 0.
            for (l, ly) in layers.iter().enumerate() {
                let (prev, rest) = racts.split_at_mut(l + 1);
                let (ra, rout) = (&prev[l], &mut rest[0]);
                let a = &acts[l];
                for o in 0..ly.n_out {
                    let w = ly.w + o * ly.n_in;
                    let mut rz = u[ly.b() + o];
                    for i in 0..ly.n_in {
                        rz += u[w + i] * a[i] + theta[w + i] * ra[i];
                    }
                    rout[o] = if l == last || acts[l + 1][o] > 0.0 { rz } else { 0.0 };
                }
            }
            let err = acts[n_layers][0] - y;
            delta.clear();
            delta.push(2.0 * err * scale);
            rdelta.clear();
            rdelta.push(2.0 * racts[n_layers][0] * scale);
            // R-backward: R(∇W) = R(δ) aᵀ + δ R(a)ᵀ, R(∇b) = R(δ), R(Wᵀδ) = Uᵀδ + Wᵀ R(δ), masked
            // by the same ReLU pattern as δ.
            for (l, ly) in layers.iter().enumerate().rev() {
                let (a, ra) = (&acts[l], &racts[l]);
                next.clear();
                next.resize(ly.n_in, 0.0);
                rnext.clear();
                rnext.resize(ly.n_in, 0.0);
                for o in 0..ly.n_out {
                    let (d, rd) = (delta[o], rdelta[o]);
                    out[ly.b() + o] += rd;
                    let w = ly.w + o * ly.n_in;
                    for i in 0..ly.n_in {
                        out[w + i] += rd * a[i] + d * ra[i];
                        next[i] += d * theta[w + i];
                        rnext[i] += d * u[w + i] + rd * theta[w + i];
                    }
                }
                if l > 0 {
                    for ((nx, rnx), a) in next.iter_mut().zip(rnext.iter_mut()).zip(a) {
                        if *a <= 0.0 {
                            *nx = 0.0;
                            *rnx = 0.0;
                        }
                    }
                }
                std::mem::swap(&mut delta, &mut next);
                std::mem::swap(&mut rdelta, &mut rnext);
            }
        }
    }
}

/// One sinusoid: support and query points.
#[derive(Clone, Debug)]
pub struct SineTask {
    pub amplitude: f32,
    pub phase: f32,
    pub support: Vec<(f32, f32)>,
    pub query: Vec<(f32, f32)>,
    pub net: Mlp,
}

impl SineTask {
    pub fn sample(rng: &mut Rng, k: usize, n_query: usize, net: &Mlp) -> Self {
        let amplitude = rng.range(0.1, 5.0);
        let phase = rng.range(0.0, std::f32::consts::PI);
        let mut pts = |m: usize| -> Vec<(f32, f32)> {
            (0..m)
                .map(|_| {
                    let x = rng.range(-5.0, 5.0);
                    (x, amplitude * (x - phase).sin())
                })
                .collect()
        };
        let support = pts(k);
        let query = pts(n_query);
        SineTask { amplitude, phase, support, query, net: net.clone() }
    }
}

impl MetaTask for SineTask {
    fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.net.mse_grad(theta, &self.support, grad)
    }
    fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.net.mse_grad(theta, &self.query, grad)
    }
    fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]) {
        self.net.mse_hvp(theta, &self.support, u, out)
    }
}

struct Support<'a>(&'a SineTask);
impl Objective for Support<'_> {
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        self.0.support(theta, grad)
    }
}

/// The settings of one sinusoid run ([`Protocol::default`] is the PyTorch protocol).
#[derive(Clone, Debug)]
pub struct Protocol {
    pub hidden: Vec<usize>,
    /// Support points per task (K shots).
    pub shots: usize,
    /// Query points per training task.
    pub query: usize,
    /// Inner SGD step (fixed; Meta-SGD learns its own from this start).
    pub inner_lr: f32,
    /// Inner steps during meta-training.
    pub inner_steps: u32,
    pub meta_batch: usize,
    pub meta_lr: f32,
    pub iterations: usize,
    pub test_tasks: usize,
    /// Query points per test task (more points only lower the variance of each task's MSE).
    pub test_query: usize,
    /// Inner steps after which the test MSE is reported (at `inner_lr`).
    pub eval_steps: Vec<u32>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            hidden: vec![40, 40],
            shots: 10,
            query: 10,
            inner_lr: 0.01,
            inner_steps: 1,
            meta_batch: 25,
            meta_lr: 1e-3,
            iterations: 20_000,
            test_tasks: 600,
            test_query: 100,
            eval_steps: vec![0, 1, 10],
        }
    }
}

impl Protocol {
    pub fn validate(&self) -> Result<()> {
        let pos = |v: f32| v.is_finite() && v > 0.0;
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::config("hidden", "at least one hidden layer, every width ≥ 1"));
        }
        if self.shots == 0 || self.query == 0 || self.test_tasks == 0 || self.test_query == 0 {
            return Err(Error::config("shots/query/test_tasks/test_query", "must be at least 1"));
        }
        if self.meta_batch == 0 {
            return Err(Error::config("meta_batch", "must be at least 1"));
        }
        if !pos(self.inner_lr) || !pos(self.meta_lr) {
            return Err(Error::config("inner_lr/meta_lr", "step sizes must be finite and positive"));
        }
        if let Some(&s) = self.eval_steps.iter().chain([&self.inner_steps]).find(|&&s| s > crate::adapt::MAX_STEPS) {
            return Err(Error::config("steps", format!("must be at most {}, got {s}", crate::adapt::MAX_STEPS)));
        }
        Ok(())
    }
}

/// `steps` plain SGD steps: no proximal pull, and a clip norm no finite gradient reaches (the loss
/// kind is unused by a [`SineTask`]).
fn sgd(steps: u32) -> InnerLoop {
    InnerLoop { steps, scope: Scope::All, loss: LossKind::Pairwise, prox: 0.0, clip: f32::MAX }
}

/// One trained model's test MSE, one entry per [`Protocol::eval_steps`].
#[derive(Clone, Debug)]
pub struct Outcome {
    pub algorithm: Algorithm,
    pub seed: u64,
    /// Mean over the test tasks (the protocol's figure).
    pub mse: Vec<f32>,
    /// Median over the test tasks: shows when the mean is one diverging task.
    pub median: Vec<f32>,
    pub seconds: f64,
}

/// Three independent streams from one seed: θ0, training tasks, test tasks.
fn streams(seed: u64) -> (u64, u64, u64) {
    let mut r = Rng::new(seed);
    let mut draw = || ((r.next_u32() as u64) << 32) | r.next_u32() as u64;
    (draw(), draw(), draw())
}

/// Each test task's query MSE after `steps` inner steps from `theta0` with step sizes `alpha`.
pub fn test_mse(tasks: &[SineTask], theta0: &[f32], alpha: &[f32], steps: u32, trainable_from: usize) -> Vec<f32> {
    let inner = sgd(steps);
    let mut g = vec![0.0; theta0.len()];
    tasks
        .iter()
        .map(|t| {
            let phi = adapt(&Support(t), theta0, alpha, &inner, trainable_from, None);
            t.query(&phi, &mut g)
        })
        .collect()
}

/// Mean (in f64) and median of per-task values.
fn mean_median(v: &[f32]) -> (f32, f32) {
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = match sorted.len() {
        0 => f32::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    };
    (mean as f32, median)
}

/// Meta-trains one algorithm on freshly sampled sinusoids and evaluates it on `p.test_tasks` held-out
/// ones. Deterministic for a seed (θ0, the training stream and the test tasks all derive from it;
/// the test tasks depend on the seed only, not on the algorithm).
pub fn run(p: &Protocol, algorithm: Algorithm, seed: u64, progress: impl FnMut(Progress)) -> Result<Outcome> {
    p.validate()?;
    let started = std::time::Instant::now();
    let net = Mlp::new(&p.hidden);
    let (init_seed, train_seed, test_seed) = streams(seed);
    let theta0 = net.init(&mut Rng::new(init_seed));
    let trainable_from = if algorithm == Algorithm::Anil { net.head_start() } else { 0 };
    let cfg = MetaConfig {
        algorithm,
        inner: sgd(p.inner_steps),
        trainable_from,
        alpha: p.inner_lr,
        meta_lr: p.meta_lr,
        alpha_lr: p.meta_lr,
        batch: p.meta_batch,
        iterations: p.iterations,
        seed: train_seed,
    };
    let (shots, query) = (p.shots, p.query);
    let (theta, alpha) = meta_train_sampled(|r| SineTask::sample(r, shots, query, &net), theta0, &cfg, progress);
    let mut rng = Rng::new(test_seed);
    let test: Vec<SineTask> =
        (0..p.test_tasks).map(|_| SineTask::sample(&mut rng, p.shots, p.test_query, &net)).collect();
    let (mse, median) =
        p.eval_steps.iter().map(|&k| mean_median(&test_mse(&test, &theta, &alpha, k, trainable_from))).unzip();
    Ok(Outcome { algorithm, seed, mse, median, seconds: started.elapsed().as_secs_f64() })
}
