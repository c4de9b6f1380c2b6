//! The benchmark's scorer: a multi-input ReLU MLP of any depth run over all of a set's rows at
//! once, with its gradient and its exact Hessian-vector product (the R-operator; the formulas are
//! in the [module documentation](super)).

use super::super::dense::{self, Layer};
use super::super::hvp::pairwise_hvp;
use super::{HIDDEN, INPUTS};
use crate::adapt::Objective;
use crate::loss::pairwise;
use crate::rng::Rng;
use std::cell::RefCell;

/// A dense ReLU scorer over rows of `sizes[0]` inputs, one output, evaluated over many rows at
/// once. Parameters in one flat buffer, layer by layer, as [`super::sinusoid::Mlp`] lays them out
/// (that one takes a scalar input and runs point by point).
#[derive(Clone, Debug)]
pub struct Net {
    pub sizes: Vec<usize>,
    layers: Vec<Layer>,
}

/// Per-thread buffers of the batched passes, grown once and reused by every call on the thread
/// (tasks run in parallel under rayon, and each call needs a few kilobytes).
#[derive(Default)]
struct Workspace {
    /// `acts[l]`: layer `l`'s output over all rows (`rows × sizes[l]`); `acts[0]` is unused (the
    /// input rows are read in place).
    acts: Vec<Vec<f32>>,
    /// `R(acts[l])`.
    racts: Vec<Vec<f32>>,
    /// ∂L/∂z of the current layer and the one below, and their R-derivatives.
    delta: Vec<f32>,
    next: Vec<f32>,
    rdelta: Vec<f32>,
    rnext: Vec<f32>,
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// `a · b` with eight partial sums, so that the compiler can keep them in one vector register
/// (a single running sum is a dependency chain it may not reorder).
#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += a · x`.
#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Resizes `v` to `n` zeros without giving back its capacity.
fn zeroed(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

impl Net {
    /// `inputs` → `hidden…` (ReLU) → 1.
    pub fn new(inputs: usize, hidden: &[usize]) -> Self {
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        let layers = dense::layers(&sizes);
        Net { sizes, layers }
    }

    /// The benchmark's scorer: 48-64-32-1.
    pub fn bench() -> Self {
        Net::new(INPUTS, &HIDDEN)
    }

    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    pub fn n_params(&self) -> usize {
        dense::n_params(&self.sizes)
    }

    /// First index of the output layer, ANIL's head (a suffix of the buffer).
    pub fn head_start(&self) -> usize {
        dense::head_start(&self.sizes)
    }

    /// PyTorch's default initialisation of `nn.Linear` ([`dense::init`]).
    pub fn init(&self, rng: &mut Rng) -> Vec<f32> {
        dense::init(&self.sizes, rng)
    }

    /// The forward pass over `n` rows (`x`: `n × inputs`, row-major) into `acts[1..]`.
    fn forward(&self, theta: &[f32], x: &[f32], n: usize, acts: &mut Vec<Vec<f32>>) {
        acts.resize_with(self.sizes.len(), Vec::new);
        let last = self.layers.len() - 1;
        for (l, ly) in self.layers.iter().enumerate() {
            let (prev, rest) = acts.split_at_mut(l + 1);
            let input: &[f32] = if l == 0 { x } else { &prev[l] };
            let out = &mut rest[0];
            zeroed(out, n * ly.n_out);
            let (w, b) = (ly.weights(theta), ly.biases(theta));
            for (xr, zr) in input.chunks_exact(ly.n_in).zip(out.chunks_exact_mut(ly.n_out)) {
                for (o, z) in zr.iter_mut().enumerate() {
                    let v = b[o] + dot(&w[o * ly.n_in..(o + 1) * ly.n_in], xr);
                    *z = if l == last { v } else { v.max(0.0) };
                }
            }
        }
    }

    /// The scores of `n` rows.
    pub fn scores(&self, theta: &[f32], x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.inputs();
        let mut acts = Vec::new();
        self.forward(theta, x, n, &mut acts);
        acts.pop().unwrap_or_default()
    }

    /// The pairwise logistic loss of a set and its gradient (written into `grad`).
    pub fn pairwise_grad(&self, theta: &[f32], set: &Set, grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        WORKSPACE.with(|ws| {
            let ws = &mut *ws.borrow_mut();
            let n = set.n_rows;
            self.forward(theta, &set.rows, n, &mut ws.acts);
            let last = self.layers.len();
            zeroed(&mut ws.delta, n);
            let loss = pairwise(&set.pairs, &ws.acts[last], &mut ws.delta);
            for (l, ly) in self.layers.iter().enumerate().rev() {
                let input: &[f32] = if l == 0 { &set.rows } else { &ws.acts[l] };
                let w = ly.weights(theta);
                let (gw, gb) = grad[ly.w..ly.b() + ly.n_out].split_at_mut(ly.n_in * ly.n_out);
                if l > 0 {
                    zeroed(&mut ws.next, n * ly.n_in);
                }
                for r in 0..n {
                    let xr = &input[r * ly.n_in..(r + 1) * ly.n_in];
                    for (o, gbo) in gb.iter_mut().enumerate() {
                        let d = ws.delta[r * ly.n_out + o];
                        if d == 0.0 {
                            continue;
                        }
                        let (lo, hi) = (o * ly.n_in, (o + 1) * ly.n_in);
                        *gbo += d;
                        axpy(&mut gw[lo..hi], d, xr);
                        if l > 0 {
                            axpy(&mut ws.next[r * ly.n_in..(r + 1) * ly.n_in], d, &w[lo..hi]);
                        }
                    }
                }
                if l > 0 {
                    // δ_{l−1} = [z > 0] (δ_l W_l); a ReLU output is > 0 exactly where z is.
                    for (d, a) in ws.next.iter_mut().zip(input) {
                        if *a <= 0.0 {
                            *d = 0.0;
                        }
                    }
                    std::mem::swap(&mut ws.delta, &mut ws.next);
                }
            }
            loss
        })
    }

    /// The exact Hessian-vector product of [`Net::pairwise_grad`]'s loss: writes `∇²L(θ) · u` into
    /// `out`, by the R-operator (forward-over-reverse) over all rows at once.
    pub fn pairwise_hvp(&self, theta: &[f32], set: &Set, u: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        WORKSPACE.with(|ws| {
            let ws = &mut *ws.borrow_mut();
            let n = set.n_rows;
            self.forward(theta, &set.rows, n, &mut ws.acts);
            let last = self.layers.len();
            ws.racts.resize_with(self.sizes.len(), Vec::new);
            // R-forward; R(A_0) = 0, so the first layer has no W·R(A) term.
            for (l, ly) in self.layers.iter().enumerate() {
                let (prev, rest) = ws.racts.split_at_mut(l + 1);
                let rout = &mut rest[0];
                zeroed(rout, n * ly.n_out);
                let input: &[f32] = if l == 0 { &set.rows } else { &ws.acts[l] };
                let (w, uw, ub) = (ly.weights(theta), ly.weights(u), ly.biases(u));
                let act = &ws.acts[l + 1];
                for r in 0..n {
                    let xr = &input[r * ly.n_in..(r + 1) * ly.n_in];
                    for (o, &ubo) in ub.iter().enumerate() {
                        let k = r * ly.n_out + o;
                        if l + 1 < last && act[k] <= 0.0 {
                            continue;
                        }
                        let (lo, hi) = (o * ly.n_in, (o + 1) * ly.n_in);
                        let mut rz = ubo + dot(&uw[lo..hi], xr);
                        if l > 0 {
                            rz += dot(&w[lo..hi], &prev[l][r * ly.n_in..(r + 1) * ly.n_in]);
                        }
                        rout[k] = rz;
                    }
                }
            }
            zeroed(&mut ws.delta, n);
            zeroed(&mut ws.rdelta, n);
            pairwise(&set.pairs, &ws.acts[last], &mut ws.delta);
            pairwise_hvp(&set.pairs, &ws.acts[last], &ws.racts[last], &mut ws.rdelta);
            for (l, ly) in self.layers.iter().enumerate().rev() {
                let input: &[f32] = if l == 0 { &set.rows } else { &ws.acts[l] };
                let rinput: &[f32] = &ws.racts[l];
                let (w, uw) = (ly.weights(theta), ly.weights(u));
                let (ow, ob) = out[ly.w..ly.b() + ly.n_out].split_at_mut(ly.n_in * ly.n_out);
                if l > 0 {
                    zeroed(&mut ws.next, n * ly.n_in);
                    zeroed(&mut ws.rnext, n * ly.n_in);
                }
                for r in 0..n {
                    let rows = r * ly.n_in..(r + 1) * ly.n_in;
                    let xr = &input[rows.clone()];
                    for (o, obo) in ob.iter_mut().enumerate() {
                        let (d, rd) = (ws.delta[r * ly.n_out + o], ws.rdelta[r * ly.n_out + o]);
                        if d == 0.0 && rd == 0.0 {
                            continue;
                        }
                        let (lo, hi) = (o * ly.n_in, (o + 1) * ly.n_in);
                        *obo += rd;
                        // R(∇W) = R(δ) Aᵀ + δ R(A)ᵀ
                        axpy(&mut ow[lo..hi], rd, xr);
                        if l > 0 {
                            axpy(&mut ow[lo..hi], d, &rinput[rows.clone()]);
                            // δ W and R(δ) W + δ U
                            axpy(&mut ws.next[rows.clone()], d, &w[lo..hi]);
                            axpy(&mut ws.rnext[rows.clone()], rd, &w[lo..hi]);
                            axpy(&mut ws.rnext[rows.clone()], d, &uw[lo..hi]);
                        }
                    }
                }
                if l > 0 {
                    for ((d, rd), a) in ws.next.iter_mut().zip(ws.rnext.iter_mut()).zip(input) {
                        if *a <= 0.0 {
                            *d = 0.0;
                            *rd = 0.0;
                        }
                    }
                    std::mem::swap(&mut ws.delta, &mut ws.next);
                    std::mem::swap(&mut ws.rdelta, &mut ws.rnext);
                }
            }
        })
    }
}

/// ANIL's inner objective on a [`Net`]: the loss over the last layer alone, its input (the last
/// hidden layer's activations at `theta0`, whose body the inner loop never changes) computed once.
/// Scores and head gradient are computed with exactly the operations of [`Net::pairwise_grad`]'s
/// last layer, so they are bit for bit its head part.
pub struct HeadObjective<'a> {
    net: &'a Net,
    set: &'a Set,
    /// `n_rows × n_in` of the last layer.
    hidden: Vec<f32>,
}

impl Net {
    pub fn head_objective<'a>(&'a self, theta0: &[f32], set: &'a Set) -> HeadObjective<'a> {
        let mut acts = Vec::new();
        self.forward(theta0, &set.rows, set.n_rows, &mut acts);
        let last = self.layers.len() - 1;
        let hidden = if last == 0 { set.rows.clone() } else { std::mem::take(&mut acts[last]) };
        HeadObjective { net: self, set, hidden }
    }
}

impl Objective for HeadObjective<'_> {
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        grad.fill(0.0);
        let ly = self.net.layers[self.net.layers.len() - 1];
        let (w, b) = (ly.weights(theta), ly.biases(theta));
        let n = self.set.n_rows;
        let mut scores = vec![0.0; n * ly.n_out];
        for (xr, zr) in self.hidden.chunks_exact(ly.n_in).zip(scores.chunks_exact_mut(ly.n_out)) {
            for (o, z) in zr.iter_mut().enumerate() {
                *z = b[o] + dot(&w[o * ly.n_in..(o + 1) * ly.n_in], xr);
            }
        }
        let mut delta = vec![0.0; n];
        let loss = pairwise(&self.set.pairs, &scores, &mut delta);
        let (gw, gb) = grad[ly.w..ly.b() + ly.n_out].split_at_mut(ly.n_in * ly.n_out);
        for r in 0..n {
            let xr = &self.hidden[r * ly.n_in..(r + 1) * ly.n_in];
            for (o, gbo) in gb.iter_mut().enumerate() {
                let d = delta[r * ly.n_out + o];
                if d == 0.0 {
                    continue;
                }
                let (lo, hi) = (o * ly.n_in, (o + 1) * ly.n_in);
                *gbo += d;
                axpy(&mut gw[lo..hi], d, xr);
            }
        }
        loss
    }
}

/// A set of candidate rows, positives first: every (positive, negative) pair is a pair of the
/// loss, each of weight 1 (so the loss is the mean over pairs).
#[derive(Clone, Debug)]
pub struct Set {
    /// `n_rows × inputs`, row-major.
    pub rows: Vec<f32>,
    pub n_rows: usize,
    pub n_pos: usize,
    pairs: Vec<(u32, u32, f32)>,
}

impl Set {
    /// `rows` holds `n_rows` rows; the first `n_pos` are the positives.
    pub fn new(rows: Vec<f32>, n_rows: usize, n_pos: usize) -> Self {
        assert!(n_rows > 0 && rows.len() % n_rows == 0 && n_pos <= n_rows, "a set of {n_rows} rows");
        let pairs = (0..n_pos as u32).flat_map(|i| (n_pos as u32..n_rows as u32).map(move |j| (i, j, 1.0))).collect();
        Set { rows, n_rows, n_pos, pairs }
    }

    pub fn n_pairs(&self) -> usize {
        self.pairs.len()
    }
}
