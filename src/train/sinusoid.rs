//! The sinusoid regression benchmark of the MAML paper (Finn et al. 2017, §5.1), used to check that
//! the meta-learners are general, not tuned to ranking: amplitude in [0.1, 5], phase in [0, π],
//! inputs in [−5, 5], K-shot support and query sets, a 1-40-40-1 ReLU network, mean squared error.

use super::meta::MetaTask;
use crate::rng::Rng;

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
        self.sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// He-initialised parameters.
    pub fn init(&self, rng: &mut Rng) -> Vec<f32> {
        let mut theta = Vec::with_capacity(self.n_params());
        for w in self.sizes.windows(2) {
            let scale = (2.0 / w[0] as f32).sqrt();
            theta.extend((0..w[0] * w[1]).map(|_| rng.normal() * scale));
            theta.extend(std::iter::repeat(0.0).take(w[1]));
        }
        theta
    }

    pub fn predict(&self, theta: &[f32], x: f32) -> f32 {
        let mut act = vec![x];
        let mut off = 0;
        let last = self.sizes.len() - 2;
        for (l, w) in self.sizes.windows(2).enumerate() {
            let (n_in, n_out) = (w[0], w[1]);
            let (wt, b) = (&theta[off..off + n_in * n_out], &theta[off + n_in * n_out..off + n_in * n_out + n_out]);
            off += n_in * n_out + n_out;
            act = (0..n_out)
                .map(|o| {
                    let z = b[o] + (0..n_in).map(|i| wt[o * n_in + i] * act[i]).sum::<f32>();
                    if l == last {
                        z
                    } else {
                        z.max(0.0)
                    }
                })
                .collect();
        }
        act[0]
    }

    /// Mean squared error over `(x, y)` points and its gradient (written into `grad`).
    pub fn mse_grad(&self, theta: &[f32], points: &[(f32, f32)], grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        let n_layers = self.sizes.len() - 1;
        let mut loss = 0.0;
        let scale = 1.0 / points.len().max(1) as f32;
        for &(x, y) in points {
            // Forward, keeping every layer's activations.
            let mut acts: Vec<Vec<f32>> = vec![vec![x]];
            let mut off = 0;
            for (l, w) in self.sizes.windows(2).enumerate() {
                let (n_in, n_out) = (w[0], w[1]);
                let wt = &theta[off..off + n_in * n_out];
                let b = &theta[off + n_in * n_out..off + n_in * n_out + n_out];
                off += n_in * n_out + n_out;
                let prev = &acts[l];
                let z: Vec<f32> = (0..n_out)
                    .map(|o| {
                        let z = b[o] + (0..n_in).map(|i| wt[o * n_in + i] * prev[i]).sum::<f32>();
                        if l + 1 == n_layers {
                            z
                        } else {
                            z.max(0.0)
                        }
                    })
                    .collect();
                acts.push(z);
            }
            let err = acts[n_layers][0] - y;
            loss += err * err * scale;
            // Backward.
            let mut delta = vec![2.0 * err * scale];
            let mut off = self.n_params();
            for l in (0..n_layers).rev() {
                let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
                off -= n_in * n_out + n_out;
                let prev = &acts[l];
                let mut next = vec![0.0; n_in];
                for o in 0..n_out {
                    let d = delta[o];
                    grad[off + n_in * n_out + o] += d;
                    for i in 0..n_in {
                        grad[off + o * n_in + i] += d * prev[i];
                        next[i] += d * theta[off + o * n_in + i];
                    }
                }
                if l > 0 {
                    for (nx, a) in next.iter_mut().zip(prev) {
                        if *a <= 0.0 {
                            *nx = 0.0;
                        }
                    }
                }
                delta = next;
            }
        }
        loss
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
}
