//! The benchmark's scorer: a multi-input ReLU MLP of any depth run over all of a set's rows at
//! once, with its gradient and its exact Hessian-vector product (the R-operator; the formulas are
//! in the [module documentation](super)).

use super::super::dense::{self, Layer};
use super::super::hvp::pairwise_hvp;
use super::{HIDDEN, INPUTS};
use crate::kernels::{portable, Fast, Kernels};
use crate::loss::pairwise;
use crate::rng::Rng;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A dense ReLU scorer over rows of `sizes[0]` inputs, one output, evaluated over many rows at
/// once. Parameters in one flat buffer, layer by layer, as [`super::sinusoid::Mlp`] lays them out
/// (that one takes a scalar input and runs point by point).
#[derive(Clone, Debug)]
pub struct Net {
    pub sizes: Vec<usize>,
    pub(super) layers: Vec<Layer>,
}

/// One forward and backward pass of [`Net::pairwise_grad`] at a point: what the Hessian-vector
/// product at the same point needs again, kept so that it is not recomputed.
#[derive(Default)]
struct Pass {
    /// The set it ran on ([`Set::id`]; 0 for a pass not kept) and the θ it ran at (bit for bit).
    set: u64,
    theta: Vec<f32>,
    /// `acts[l]`: layer `l`'s output over all rows (`rows × sizes[l]`); `acts[0]` is unused (the
    /// input rows are read in place).
    acts: Vec<Vec<f32>>,
    /// `wts[l]`: layer `l`'s Wᵀ (`n_in × n_out`) at θ.
    wts: Vec<Vec<f32>>,
    /// `deltas[l]`: ∂L/∂z of layer `l`'s output (`rows × n_out`).
    deltas: Vec<Vec<f32>>,
}

/// How many of a thread's latest passes are kept: an inner loop of up to `PASSES − 1` steps and
/// the query pass after it, so that MAML's backward pass over the inner loop reuses every one.
const PASSES: usize = 8;

/// Per-thread buffers of the batched passes, grown once and reused by every call on the thread
/// (tasks run in parallel under rayon, and each call needs a few kilobytes).
#[derive(Default)]
struct Workspace {
    /// The pass of the latest call that keeps none.
    scratch: Pass,
    /// The latest kept passes ([`Net::pairwise_grad_kept`]), a ring written at `next`.
    passes: Vec<Pass>,
    next: usize,
    /// `R(acts[l])`.
    racts: Vec<Vec<f32>>,
    /// R(∂L/∂z) of the current layer and the one below.
    rdelta: Vec<f32>,
    rnext: Vec<f32>,
    /// Uᵀ of one layer.
    wt: Vec<f32>,
}

impl Workspace {
    /// The kept pass at (`set`, θ), if any.
    fn find(&self, set: u64, theta: &[f32]) -> Option<usize> {
        self.passes.iter().position(|p| p.set == set && same_bits(&p.theta, theta))
    }

    /// The slot the next pass is written into (the oldest).
    fn claim(&mut self) -> usize {
        if self.passes.len() < PASSES {
            self.passes.push(Pass::default());
            return self.passes.len() - 1;
        }
        let slot = self.next;
        self.next = (self.next + 1) % PASSES;
        slot
    }
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

/// Resizes `v` to `n` zeros without giving back its capacity.
pub(super) fn zeroed(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// `out (rows × h) += x (rows × dim) · w (dim × h)`: the core's [`Fast`] kernel (AVX2 where the
/// CPU has it) when `h` is a multiple of 4, its matrix-vector kernel when `h` is 1 (the output
/// layer), the portable twin otherwise.
pub(super) fn mm(x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    if h.is_multiple_of(4) {
        Fast.matmul_acc(x, rows, dim, w, h, out);
    } else if h == 1 {
        Fast.gemv_acc(x, rows, dim, w, out);
    } else {
        portable::matmul_acc(x, rows, dim, w, h, out);
    }
}

/// `dst (cols × rows) = srcᵀ`, `src` being `rows × cols` (every entry of `dst` is written).
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut Vec<f32>) {
    dst.resize(rows * cols, 0.0);
    Fast.transpose(src, rows, cols, dst);
}

/// `out (n × n_out) += input (n × n_in) · Wᵀ`, `W` (`n_out × n_in`) from `theta`.
pub(super) fn add_input_times_weights(
    ly: &Layer,
    theta: &[f32],
    input: &[f32],
    n: usize,
    wt: &mut Vec<f32>,
    out: &mut [f32],
) {
    transpose(ly.weights(theta), ly.n_out, ly.n_in, wt);
    mm(input, n, ly.n_in, wt, ly.n_out, out);
}

/// `out (n × n_out) = broadcast(b)`.
pub(super) fn fill_rows(out: &mut Vec<f32>, n: usize, b: &[f32]) {
    out.clear();
    out.reserve(n * b.len());
    for _ in 0..n {
        out.extend_from_slice(b);
    }
}

/// A layer's parameter gradient from its δ (`n × n_out`): `gW += δᵀ · input` (δ read transposed in
/// place), `gb += Σ_rows δ`.
pub(super) fn add_param_grad(ly: &Layer, delta: &[f32], input: &[f32], n: usize, grad: &mut [f32]) {
    let (gw, gb) = grad[ly.w..ly.b() + ly.n_out].split_at_mut(ly.n_in * ly.n_out);
    for row in delta.chunks_exact(ly.n_out).take(n) {
        for (g, d) in gb.iter_mut().zip(row) {
            *g += d;
        }
    }
    add_delta_t_times(ly, delta, input, n, gw);
}

/// `gw (n_out × n_in) += δᵀ · a`, δ being `n × n_out` and `a` `n × n_in`.
pub(super) fn add_delta_t_times(ly: &Layer, delta: &[f32], a: &[f32], n: usize, gw: &mut [f32]) {
    Fast.matmul_strided_acc(delta, 1, ly.n_out, ly.n_out, n, a, ly.n_in, gw);
}

/// Sets `v` to 0 wherever the ReLU output `a` is not positive (`[z > 0]`: a ReLU output is > 0
/// exactly where z is).
pub(super) fn mask(v: &mut [f32], a: &[f32]) {
    for (d, a) in v.iter_mut().zip(a) {
        *d = if *a > 0.0 { *d } else { 0.0 };
    }
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
    /// Leaves each layer's Wᵀ in `wts`.
    pub(super) fn forward(
        &self,
        theta: &[f32],
        x: &[f32],
        n: usize,
        acts: &mut Vec<Vec<f32>>,
        wts: &mut Vec<Vec<f32>>,
    ) {
        acts.resize_with(self.sizes.len(), Vec::new);
        wts.resize_with(self.layers.len(), Vec::new);
        let last = self.layers.len() - 1;
        for (l, ly) in self.layers.iter().enumerate() {
            let (prev, rest) = acts.split_at_mut(l + 1);
            let input: &[f32] = if l == 0 { x } else { &prev[l] };
            let out = &mut rest[0];
            fill_rows(out, n, ly.biases(theta));
            add_input_times_weights(ly, theta, input, n, &mut wts[l], out);
            if l != last {
                for z in out.iter_mut() {
                    *z = z.max(0.0);
                }
            }
        }
    }

    /// The scores of `n` rows.
    pub fn scores(&self, theta: &[f32], x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.inputs();
        let (mut acts, mut wts) = (Vec::new(), Vec::new());
        self.forward(theta, x, n, &mut acts, &mut wts);
        acts.pop().unwrap_or_default()
    }

    /// The pairwise logistic loss of a set, by the forward pass alone.
    pub fn pairwise_loss(&self, theta: &[f32], set: &Set) -> f32 {
        let scores = self.scores(theta, &set.rows);
        pairwise(&set.pairs, &scores, &mut vec![0.0; set.n_rows])
    }

    /// The forward pass at θ over a set, its loss and every layer's δ, into `pass`; returns the
    /// loss.
    /// `key`: whether the pass records what it ran at, to be found again ([`Workspace::find`]).
    fn run_pass(&self, theta: &[f32], set: &Set, pass: &mut Pass, key: bool) -> f32 {
        let n = set.n_rows;
        pass.set = if key { set.id } else { 0 };
        pass.theta.clear();
        if key {
            pass.theta.extend_from_slice(theta);
        }
        self.forward(theta, &set.rows, n, &mut pass.acts, &mut pass.wts);
        let last = self.layers.len();
        pass.deltas.resize_with(last, Vec::new);
        zeroed(&mut pass.deltas[last - 1], n);
        let loss = pairwise(&set.pairs, &pass.acts[last], &mut pass.deltas[last - 1]);
        for (l, ly) in self.layers.iter().enumerate().skip(1).rev() {
            // δ_{l−1} = [z > 0] (δ_l W_l)
            let (below, above) = pass.deltas.split_at_mut(l);
            let next = &mut below[l - 1];
            zeroed(next, n * ly.n_in);
            mm(&above[0], n, ly.n_out, ly.weights(theta), ly.n_in, next);
            mask(next, &pass.acts[l]);
        }
        loss
    }

    /// The pairwise logistic loss of a set and its gradient (written into `grad`).
    pub fn pairwise_grad(&self, theta: &[f32], set: &Set, grad: &mut [f32]) -> f32 {
        WORKSPACE.with(|ws| {
            let ws = &mut *ws.borrow_mut();
            self.grad_into(theta, set, grad, &mut ws.scratch, false)
        })
    }

    /// [`Net::pairwise_grad`] that keeps its pass for a Hessian-vector product at the same point
    /// ([`Net::pairwise_hvp`]) on this thread: the last [`PASSES`] kept are reused. What MAML's
    /// inner loop calls (in a memory of its own, so that plain gradients stay in the hot one).
    pub fn pairwise_grad_kept(&self, theta: &[f32], set: &Set, grad: &mut [f32]) -> f32 {
        WORKSPACE.with(|ws| {
            let ws = &mut *ws.borrow_mut();
            let slot = ws.claim();
            self.grad_into(theta, set, grad, &mut ws.passes[slot], true)
        })
    }

    fn grad_into(&self, theta: &[f32], set: &Set, grad: &mut [f32], pass: &mut Pass, key: bool) -> f32 {
        grad.fill(0.0);
        let loss = self.run_pass(theta, set, pass, key);
        for (l, ly) in self.layers.iter().enumerate() {
            let input: &[f32] = if l == 0 { &set.rows } else { &pass.acts[l] };
            add_param_grad(ly, &pass.deltas[l], input, set.n_rows, grad);
        }
        loss
    }

    /// The exact Hessian-vector product of [`Net::pairwise_grad`]'s loss: writes `∇²L(θ) · u` into
    /// `out`, by the R-operator (forward-over-reverse) over all rows at once. The forward and
    /// backward passes at θ are those of a recent [`Net::pairwise_grad_kept`] at the same point on
    /// this thread when there is one (in MAML, the inner loop's), else computed here.
    pub fn pairwise_hvp(&self, theta: &[f32], set: &Set, u: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        WORKSPACE.with(|ws| {
            let ws = &mut *ws.borrow_mut();
            let kept = ws.find(set.id, theta);
            if kept.is_none() {
                self.run_pass(theta, set, &mut ws.scratch, false);
            }
            let Workspace { scratch, passes, racts, rdelta, rnext, wt, .. } = ws;
            let Pass { acts, wts, deltas, .. } = match kept {
                Some(slot) => &passes[slot],
                None => scratch,
            };
            let n = set.n_rows;
            let last = self.layers.len();
            racts.resize_with(self.sizes.len(), Vec::new);
            // Which layers' weights `u` moves, and which R(A_l) are zero: products with a zero
            // factor are skipped (ANIL's direction is zero on the whole body, so its R-forward
            // is zero up to the head).
            let moved: Vec<bool> = self.layers.iter().map(|ly| any_nonzero(ly.weights(u))).collect();
            let mut r_zero = vec![true; self.sizes.len()];
            // R-forward; R(A_0) = 0, so the first layer has no R(A)·Wᵀ term.
            for (l, ly) in self.layers.iter().enumerate() {
                let (prev, rest) = racts.split_at_mut(l + 1);
                let rout = &mut rest[0];
                let input: &[f32] = if l == 0 { &set.rows } else { &acts[l] };
                fill_rows(rout, n, ly.biases(u));
                if moved[l] {
                    add_input_times_weights(ly, u, input, n, wt, rout);
                }
                if !r_zero[l] {
                    mm(&prev[l], n, ly.n_in, &wts[l], ly.n_out, rout);
                }
                if l + 1 < last {
                    mask(rout, &acts[l + 1]);
                }
                r_zero[l + 1] = !any_nonzero(rout);
            }
            zeroed(rdelta, n);
            pairwise_hvp(&set.pairs, &acts[last], &racts[last], rdelta);
            for (l, ly) in self.layers.iter().enumerate().rev() {
                let input: &[f32] = if l == 0 { &set.rows } else { &acts[l] };
                // R(∇W) = R(δ)ᵀ A + δᵀ R(A), R(∇b) = Σ R(δ)
                add_param_grad(ly, rdelta, input, n, out);
                if l > 0 {
                    if !r_zero[l] {
                        add_delta_t_times(ly, &deltas[l], &racts[l], n, &mut out[ly.w..ly.b()]);
                    }
                    // R(δ_{l−1}) = [z > 0] (R(δ) W + δ U)
                    zeroed(rnext, n * ly.n_in);
                    mm(rdelta, n, ly.n_out, ly.weights(theta), ly.n_in, rnext);
                    if moved[l] {
                        mm(&deltas[l], n, ly.n_out, ly.weights(u), ly.n_in, rnext);
                    }
                    mask(rnext, input);
                    std::mem::swap(rdelta, rnext);
                }
            }
        })
    }
}

/// Whether two vectors are equal bit for bit, in blocks the compiler vectorises (a block that
/// differs ends the comparison).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.chunks(64)
            .zip(b.chunks(64))
            .all(|(x, y)| x.iter().zip(y).fold(0u32, |m, (p, q)| m | (p.to_bits() ^ q.to_bits())) == 0)
}

/// Whether any entry is non-zero (−0.0 counts as zero), in a form the compiler vectorises.
fn any_nonzero(v: &[f32]) -> bool {
    v.iter().fold(0u32, |m, x| m | (x.to_bits() << 1)) != 0
}

/// A set of candidate rows, positives first: every (positive, negative) pair is a pair of the
/// loss, each of weight 1 (so the loss is the mean over pairs). Its rows never change after
/// construction, so its id names its contents (a clone shares both).
#[derive(Clone, Debug)]
pub struct Set {
    /// `n_rows × inputs`, row-major.
    pub(super) rows: Vec<f32>,
    pub n_rows: usize,
    pub n_pos: usize,
    pub(super) pairs: Vec<(u32, u32, f32)>,
    /// Unique per [`Set::new`] in the process: what a kept pass is matched by.
    id: u64,
}

static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

impl Set {
    /// `rows` holds `n_rows` rows; the first `n_pos` are the positives.
    pub fn new(rows: Vec<f32>, n_rows: usize, n_pos: usize) -> Self {
        assert!(n_rows > 0 && rows.len().is_multiple_of(n_rows) && n_pos <= n_rows, "a set of {n_rows} rows");
        let pairs = (0..n_pos as u32).flat_map(|i| (n_pos as u32..n_rows as u32).map(move |j| (i, j, 1.0))).collect();
        Set { rows, n_rows, n_pos, pairs, id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed) }
    }

    /// `a`'s rows then `b`'s, with each set's pairs (`b`'s moved past `a`'s rows) weighted by the
    /// inverse of that set's pair count: the union's loss is the mean of the two sets' losses.
    /// `n_pos` is `a`'s.
    pub fn union(a: &Set, b: &Set) -> Set {
        let (wa, wb) = (1.0 / a.pairs.len().max(1) as f32, 1.0 / b.pairs.len().max(1) as f32);
        let off = a.n_rows as u32;
        let pairs = a
            .pairs
            .iter()
            .map(|&(i, j, w)| (i, j, w * wa))
            .chain(b.pairs.iter().map(|&(i, j, w)| (i + off, j + off, w * wb)));
        Set {
            rows: [a.rows.as_slice(), b.rows.as_slice()].concat(),
            n_rows: a.n_rows + b.n_rows,
            n_pos: a.n_pos,
            pairs: pairs.collect(),
            id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    pub fn n_pairs(&self) -> usize {
        self.pairs.len()
    }
}
