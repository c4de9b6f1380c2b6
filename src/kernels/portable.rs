//! Scalar twin of the simd128 kernels (`simd128.rs`): the same blocking (2 rows × 16 columns, 4-lane partial sums) and the
//! same order of every addition, so results are bit-identical to the simd128 build.

pub fn matmul_acc(x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    for r in 0..rows {
        let xr = &x[r * dim..(r + 1) * dim];
        let o = &mut out[r * h..(r + 1) * h];
        for (k, &xk) in xr.iter().enumerate() {
            let wk = &w[k * h..(k + 1) * h];
            for (oj, &wj) in o.iter_mut().zip(wk) {
                *oj += xk * wj;
            }
        }
    }
}

/// [`matmul_acc`] over an `x` read with any strides: `out[r*h + j] += Σ_k x[r*rs + k*ks] · w[k*h + j]`
/// (`rs = 1, ks = rows` reads a transposed matrix in place), in the same order of additions.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided_acc(
    x: &[f32],
    rs: usize,
    ks: usize,
    rows: usize,
    dim: usize,
    w: &[f32],
    h: usize,
    out: &mut [f32],
) {
    for r in 0..rows {
        let o = &mut out[r * h..(r + 1) * h];
        for k in 0..dim {
            let xk = x[r * rs + k * ks];
            for (oj, &wj) in o.iter_mut().zip(&w[k * h..(k + 1) * h]) {
                *oj += xk * wj;
            }
        }
    }
}

// Lane by lane, as the simd128 kernel sums: the twin's order is the point, not the style.
#[allow(clippy::needless_range_loop)]
pub fn relu_dot(a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]) {
    for r in 0..rows {
        let ar = &a[r * h..(r + 1) * h];
        let mut lanes = [0.0f32; 4];
        for c in 0..h / 4 {
            for l in 0..4 {
                let j = c * 4 + l;
                lanes[l] += (ar[j] + b[j]).max(0.0) * w2[j];
            }
        }
        out[r] = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
}

pub fn gemv_acc(m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
    let full = dim / 4 * 4;
    for r in 0..rows {
        let mr = &m[r * dim..(r + 1) * dim];
        let mut lanes = [0.0f32; 4];
        for c in 0..dim / 4 {
            for l in 0..4 {
                lanes[l] += mr[c * 4 + l] * w[c * 4 + l];
            }
        }
        let mut sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for k in full..dim {
            sum += mr[k] * w[k];
        }
        out[r] += sum;
    }
}

/// `dst (cols × rows) = srcᵀ`, `src` being `rows × cols` row-major: written row by row of `dst`
/// (contiguous stores, strided loads).
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    let src = &src[..rows * cols];
    for (c, out) in dst[..rows * cols].chunks_exact_mut(rows.max(1)).enumerate() {
        for (r, o) in out.iter_mut().enumerate() {
            *o = src[r * cols + c];
        }
    }
}

/// Which session features are not zero on some of `rows` rows (see
/// `Kernels::nonzero_features`): the bits of every row or-ed per feature.
pub fn nonzero_features(s: &[f32], rows: usize) -> u32 {
    const W: usize = crate::session::SESSION_DIM;
    let mut bits = [0u32; W];
    for row in s[..rows * W].chunks_exact(W) {
        for (b, v) in bits.iter_mut().zip(row) {
            *b |= v.to_bits();
        }
    }
    bits.iter().enumerate().fold(0, |mask, (f, &b)| mask | (((b != 0) as u32) << f))
}
