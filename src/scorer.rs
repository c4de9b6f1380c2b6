//! The scorer's forward and backward passes (see [`crate::params`] for the formula).
//!
//! Two shapes of input:
//! * input rows `[x | s]` with base scores (support and query rows of the inner loop and of
//!   training): [`forward_rows`] / [`backward_rows`], the gradients checked against finite
//!   differences in the tests;
//! * a whole result set (item features `X`, session features `S` kept apart, so `X·Wx` can be cached
//!   per result set): [`score_candidates`].
//!
//! [`score_reference`] is the plain per-candidate oracle.

use crate::kernels::Kernels;
use crate::params::{Arch, Block, Params};
use crate::session::SESSION_DIM;

/// Intermediate values of a forward pass over input rows, kept for the backward pass.
#[derive(Clone, Debug, Default)]
pub struct Forward {
    /// Hidden pre-activations without the bias, `n × H`.
    pub a: Vec<f32>,
    pub scores: Vec<f32>,
}

/// Scores `n` input rows `[x | s]` (width `d + S`) with base scores.
pub fn forward_rows<K: Kernels + ?Sized>(k: &K, arch: &Arch, theta: &[f32], inputs: &[f32], base: &[f32]) -> Forward {
    let p = Params::view(arch, theta);
    let (n, width, h) = (base.len(), arch.item_dim + SESSION_DIM, arch.hidden);
    let mut a = vec![0.0; n * h];
    k.matmul_acc(inputs, n, width, p.w_in, h, &mut a);
    let scores = scores_from(k, arch, theta, inputs, base, &a);
    Forward { a, scores }
}

/// The scores of input rows given their pre-activations `a` (without the bias): the head over
/// `relu(a + b1)`, the linear term and the base score.
pub fn scores_from<K: Kernels + ?Sized>(
    k: &K,
    arch: &Arch,
    theta: &[f32],
    inputs: &[f32],
    base: &[f32],
    a: &[f32],
) -> Vec<f32> {
    let p = Params::view(arch, theta);
    let (n, width, h) = (base.len(), arch.item_dim + SESSION_DIM, arch.hidden);
    let mut scores = vec![0.0; n];
    k.relu_dot(a, n, h, p.b1, p.w2, &mut scores);
    k.gemv_acc(inputs, n, width, p.lin, &mut scores);
    for (s, b) in scores.iter_mut().zip(base) {
        *s += p.c * b;
    }
    scores
}

/// Scores with the body's hidden activations given (`relu(z)`, `n × H`): the head-only fast path.
pub fn head_scores(arch: &Arch, theta: &[f32], hidden: &[f32], inputs: &[f32], base: &[f32], out: &mut [f32]) {
    let p = Params::view(arch, theta);
    let (h, width) = (arch.hidden, arch.item_dim + SESSION_DIM);
    for (r, o) in out.iter_mut().enumerate() {
        let hid = &hidden[r * h..(r + 1) * h];
        let row = &inputs[r * width..(r + 1) * width];
        let mut s = p.c * base[r];
        s += hid.iter().zip(p.w2).map(|(a, b)| a * b).sum::<f32>();
        s += row.iter().zip(p.lin).map(|(a, b)| a * b).sum::<f32>();
        *o = s;
    }
}

/// `relu(a + b1)` for every row: the body's output, constant while only the head adapts.
pub fn hidden_from(arch: &Arch, theta: &[f32], a: &[f32]) -> Vec<f32> {
    let b1 = &theta[arch.range(Block::B1)];
    a.chunks_exact(arch.hidden).flat_map(|row| row.iter().zip(b1).map(|(v, b)| (v + b).max(0.0))).collect()
}

/// Accumulates `∂L/∂θ` into `grad` given `g = ∂L/∂score` per row. With `head_only`, the body's
/// gradient is skipped (it is not needed when only the head adapts).
#[allow(clippy::too_many_arguments)]
pub fn backward_rows<K: Kernels + ?Sized>(
    k: &K,
    arch: &Arch,
    theta: &[f32],
    inputs: &[f32],
    base: &[f32],
    fwd: &Forward,
    g: &[f32],
    grad: &mut [f32],
    head_only: bool,
) {
    let Some(dz) = backward_but_input_weights(arch, theta, inputs, base, &fwd.a, g, grad, head_only) else { return };
    let (n, width, h) = (base.len(), arch.item_dim + SESSION_DIM, arch.hidden);
    // dW (width × H) += inputsᵀ (width × n) · dz (n × H)
    let mut t = vec![0.0; width * n];
    for r in 0..n {
        for kk in 0..width {
            t[kk * n + r] = inputs[r * width + kk];
        }
    }
    let w_in = arch.range(Block::Wx).start..arch.range(Block::Ws).end;
    k.matmul_acc(&t, width, n, &dz, h, &mut grad[w_in]);
}

/// [`backward_rows`] but for the body's input weights `[Wx; Ws]`: accumulates the gradients of the
/// head and, unless `head_only`, of `b1`, and returns `dz = ∂L/∂a` (`n × H`, `None` when
/// `head_only`), from which the input weights' gradient is `inputsᵀ · dz`. `pre` is the forward
/// pass's pre-activations without the bias.
#[allow(clippy::too_many_arguments)]
pub fn backward_but_input_weights(
    arch: &Arch,
    theta: &[f32],
    inputs: &[f32],
    base: &[f32],
    pre: &[f32],
    g: &[f32],
    grad: &mut [f32],
    head_only: bool,
) -> Option<Vec<f32>> {
    let p = Params::view(arch, theta);
    let (n, width, h) = (base.len(), arch.item_dim + SESSION_DIM, arch.hidden);
    let c = arch.range(Block::C).start;
    let lin = arch.range(Block::V).start..arch.range(Block::U).end;
    let w2 = arch.range(Block::W2);
    let mut dz = if head_only { Vec::new() } else { vec![0.0; n * h] };
    for r in 0..n {
        let gr = g[r];
        if gr == 0.0 {
            continue;
        }
        grad[c] += gr * base[r];
        let row = &inputs[r * width..(r + 1) * width];
        for (gk, x) in grad[lin.clone()].iter_mut().zip(row) {
            *gk += gr * x;
        }
        // Branch-free, so the compiler vectorises it: an inactive unit (z ≤ 0) adds gr · 0 to
        // its w2 gradient and gets a zero dz.
        let ar = &pre[r * h..(r + 1) * h];
        for ((gw, &a), &b) in grad[w2.clone()].iter_mut().zip(ar).zip(p.b1) {
            *gw += gr * (a + b).max(0.0);
        }
        if !head_only {
            for ((d, (&a, &b)), &w) in dz[r * h..(r + 1) * h].iter_mut().zip(ar.iter().zip(p.b1)).zip(p.w2) {
                *d = if a + b > 0.0 { gr * w } else { 0.0 };
            }
        }
    }
    if head_only {
        return None;
    }
    let b1 = arch.range(Block::B1);
    for row in dz.chunks_exact(h) {
        for (gb, d) in grad[b1.clone()].iter_mut().zip(row) {
            *gb += d;
        }
    }
    Some(dz)
}

/// Rows [`score_candidates`] takes at a time: the hidden layer of one block (`SCORE_BLOCK ×
/// hidden`, 32 KB at 64 units) stays in cache between its products, and the scratch
/// ([`score_scratch_len`]) holds one block whatever the result set's size, so a ranking allocates
/// nothing of the set's size but its scores.
pub const SCORE_BLOCK: usize = 128;

/// The floats [`score_candidates`] keeps in its scratch for `n` candidates at `hidden` units: one
/// block's hidden layer and its non-zero session features, and the weights of those features.
pub fn score_scratch_len(n: usize, hidden: usize) -> usize {
    n.min(SCORE_BLOCK) * (hidden + SESSION_DIM) + SESSION_DIM * hidden
}

/// Whether [`score_candidates`] leaves out the session features that are zero on a block. Not in
/// the WebGPU build: its page is at issue 11's size budget, and the gather's code (about 0.4 KB
/// gzip there) did not fit; its CPU path multiplies all of them, as before (ARCHITECTURE.md,
/// "Session 20").
const GATHER_NONZERO: bool = !cfg!(all(target_arch = "wasm32", web_sys_unstable_apis));

/// Gathers the session features of a block that are not zero on some row, with their input
/// weights, so that only they go through the block's matrix product. Most are zero on most
/// blocks (the counts and recencies of the logged items outside their rows; the price features of
/// a list without prices; the offsets to an engaged item before the first engagement). The same
/// sums, less the zero terms.
#[cfg_attr(fewclick_ship, optimize(size), inline(never))]
fn gather_nonzero<K: Kernels + ?Sized>(
    k: &K,
    s: &[f32],
    p: &Params,
    h: usize,
    s_nz: &mut [f32],
    ws_nz: &mut [f32],
) -> usize {
    let m = s.len() / SESSION_DIM;
    let mask = k.nonzero_features(s, m);
    let mut features = [0; SESSION_DIM];
    let mut n = 0;
    for f in (0..SESSION_DIM).filter(|f| mask & (1 << f) != 0) {
        ws_nz[n * h..(n + 1) * h].copy_from_slice(&p.ws[f * h..(f + 1) * h]);
        features[n] = f;
        n += 1;
    }
    assert!(s_nz.len() >= m * n);
    for r in 0..m {
        for (j, &f) in features[..n].iter().enumerate() {
            // SAFETY: r < m and f < SESSION_DIM, so r · SESSION_DIM + f < s.len() = m ·
            // SESSION_DIM; j < n, so r · n + j < m · n ≤ s_nz.len() (asserted above).
            unsafe { *s_nz.get_unchecked_mut(r * n + j) = *s.get_unchecked(r * SESSION_DIM + f) };
        }
    }
    n
}

/// Scores a result set: `x` (`n × d`), `s` (`n × S`), `base` (`n`). `proj`, when given, is `X·Wx`
/// computed earlier with the same `Wx` (the per-result-set cache of the head-only path). The
/// candidates go through in blocks of [`SCORE_BLOCK`] rows; `scratch` holds one block's hidden
/// layer, and the block's non-zero session features and their weights ([`gather_nonzero`])
/// ([`score_scratch_len`] floats; a caller that ranks again passes the same one back).
#[allow(clippy::too_many_arguments)]
pub fn score_candidates<K: Kernels + ?Sized>(
    k: &K,
    arch: &Arch,
    theta: &[f32],
    x: &[f32],
    s: &[f32],
    base: &[f32],
    proj: Option<&[f32]>,
    scratch: &mut Vec<f32>,
    out: &mut [f32],
) {
    let p = Params::view(arch, theta);
    let (n, d, h) = (base.len(), arch.item_dim, arch.hidden);
    // Every part is written before it is read: only its length matters.
    scratch.resize(score_scratch_len(n, h), 0.0);
    let block = n.min(SCORE_BLOCK);
    let (hidden, rest) = scratch.split_at_mut(block * h);
    let (s_nz, ws_nz) = rest.split_at_mut(block * SESSION_DIM);
    for r0 in (0..n).step_by(SCORE_BLOCK) {
        let rows = r0..(r0 + SCORE_BLOCK).min(n);
        let m = rows.len();
        let (x, s, out) = (
            &x[rows.start * d..rows.end * d],
            &s[rows.start * SESSION_DIM..rows.end * SESSION_DIM],
            &mut out[rows.clone()],
        );
        let hid = &mut hidden[..m * h];
        match proj {
            Some(pr) => hid.copy_from_slice(&pr[rows.start * h..rows.end * h]),
            None => {
                hid.fill(0.0);
                k.matmul_acc(x, m, d, p.wx, h, hid);
            }
        }
        if GATHER_NONZERO {
            let nz = gather_nonzero(k, s, &p, h, s_nz, ws_nz);
            k.matmul_acc(&s_nz[..m * nz], m, nz, &ws_nz[..nz * h], h, hid);
        } else {
            k.matmul_acc(s, m, SESSION_DIM, p.ws, h, hid);
        }
        k.relu_dot(hid, m, h, p.b1, p.w2, out);
        k.gemv_acc(x, m, d, p.v, out);
        k.gemv_acc(s, m, SESSION_DIM, p.u, out);
        for (o, b) in out.iter_mut().zip(&base[rows]) {
            *o += p.c * b;
        }
    }
}

/// `X·Wx` for a result set: the part of the body that depends only on the items.
pub fn project_items<K: Kernels + ?Sized>(k: &K, arch: &Arch, theta: &[f32], x: &[f32], n: usize) -> Vec<f32> {
    let mut proj = vec![0.0; n * arch.hidden];
    k.matmul_acc(x, n, arch.item_dim, &theta[arch.range(Block::Wx)], arch.hidden, &mut proj);
    proj
}

/// The oracle: one candidate at a time, straight from the formula, in f64.
#[allow(clippy::needless_range_loop)] // indices as in the formula: the oracle is read, not tuned
pub fn score_reference(arch: &Arch, theta: &[f32], x: &[f32], s: &[f32], base: &[f32]) -> Vec<f32> {
    let p = Params::view(arch, theta);
    let (d, h) = (arch.item_dim, arch.hidden);
    (0..base.len())
        .map(|i| {
            let (xi, si) = (&x[i * d..(i + 1) * d], &s[i * SESSION_DIM..(i + 1) * SESSION_DIM]);
            let mut score = p.c as f64 * base[i] as f64;
            for j in 0..h {
                let mut z = p.b1[j] as f64;
                for k in 0..d {
                    z += xi[k] as f64 * p.wx[k * h + j] as f64;
                }
                for k in 0..SESSION_DIM {
                    z += si[k] as f64 * p.ws[k * h + j] as f64;
                }
                score += z.max(0.0) * p.w2[j] as f64;
            }
            for k in 0..d {
                score += xi[k] as f64 * p.v[k] as f64;
            }
            for k in 0..SESSION_DIM {
                score += si[k] as f64 * p.u[k] as f64;
            }
            score as f32
        })
        .collect()
}
