//! AVX2 kernels for x86-64, chosen at run time ([`available`]) by [`super::Fast`].
//!
//! Only `matmul_acc` has one: it is where the trainer and a native scorer spend their time, and
//! eight lanes pay there. It is the simd128 kernel's outer-product blocking, twice as wide (two
//! rows × 32 columns in eight registers while the k-major weights stream by), and it multiplies
//! then adds, without FMA: every output accumulates over `k` in the same order with the same
//! roundings as [`super::portable`], so native results are bit-identical on every x86-64, with or
//! without AVX2, and to the wasm builds. A fused multiply-add rounds once instead of twice; it
//! would make a trained model depend on the CPU it was trained on (ARCHITECTURE.md, "Native
//! kernels", has the measurement). `relu_dot` and `gemv_acc` keep the portable twin, whose
//! 4-lane partial sums fix their order.

use core::arch::x86_64::*;

/// Whether this CPU runs the AVX2 kernels (detected once by the standard library, then a load).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// `out[r*h + j] += Σ_k x[r*dim + k] · w[k*h + j]`, as [`super::portable::matmul_acc`].
///
/// # Safety
/// The CPU must support AVX2 ([`available`]), and the slices must hold `x ≥ rows·dim`,
/// `w ≥ dim·h`, `out ≥ rows·h` with `h % 4 == 0` (checked by [`super::Fast`]).
#[target_feature(enable = "avx2")]
pub unsafe fn matmul_acc(x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    matmul_strided_acc(x, dim, 1, rows, dim, w, h, out)
}

/// `out[r*h + j] += Σ_k x[r*rs + k*ks] · w[k*h + j]`: [`matmul_acc`] over an `x` read with any
/// strides (`rs = 1, ks = rows` reads a transposed matrix in place), as
/// [`super::portable::matmul_strided_acc`]. `x` is only ever read one element at a time (each is
/// broadcast), so the strides cost nothing.
///
/// # Safety
/// As [`matmul_acc`], with every `x[r*rs + k*ks]` (`r < rows`, `k < dim`) in bounds (checked by
/// [`super::Fast`]).
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_strided_acc(
    x: &[f32],
    rs: usize,
    ks: usize,
    rows: usize,
    dim: usize,
    w: &[f32],
    h: usize,
    out: &mut [f32],
) {
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    let mut r = 0;
    while r + 2 <= rows {
        let (x0, x1) = (xp.add(r * rs), xp.add((r + 1) * rs));
        let (o0, o1) = (op.add(r * h), op.add((r + 1) * h));
        let mut j = 0;
        while j + 32 <= h {
            let mut a = [_mm256_setzero_ps(); 4];
            let mut b = a;
            for q in 0..4 {
                a[q] = _mm256_loadu_ps(o0.add(j + q * 8));
                b[q] = _mm256_loadu_ps(o1.add(j + q * 8));
            }
            for k in 0..dim {
                let wk = wp.add(k * h + j);
                let (s0, s1) = (_mm256_set1_ps(*x0.add(k * ks)), _mm256_set1_ps(*x1.add(k * ks)));
                for q in 0..4 {
                    let wv = _mm256_loadu_ps(wk.add(q * 8));
                    a[q] = _mm256_add_ps(a[q], _mm256_mul_ps(s0, wv));
                    b[q] = _mm256_add_ps(b[q], _mm256_mul_ps(s1, wv));
                }
            }
            for q in 0..4 {
                _mm256_storeu_ps(o0.add(j + q * 8), a[q]);
                _mm256_storeu_ps(o1.add(j + q * 8), b[q]);
            }
            j += 32;
        }
        while j + 8 <= h {
            let (mut a, mut b) = (_mm256_loadu_ps(o0.add(j)), _mm256_loadu_ps(o1.add(j)));
            for k in 0..dim {
                let wv = _mm256_loadu_ps(wp.add(k * h + j));
                a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(*x0.add(k * ks)), wv));
                b = _mm256_add_ps(b, _mm256_mul_ps(_mm256_set1_ps(*x1.add(k * ks)), wv));
            }
            _mm256_storeu_ps(o0.add(j), a);
            _mm256_storeu_ps(o1.add(j), b);
            j += 8;
        }
        if j < h {
            // h % 4 == 0: one 4-wide block is left.
            let (mut a, mut b) = (_mm_loadu_ps(o0.add(j)), _mm_loadu_ps(o1.add(j)));
            for k in 0..dim {
                let wv = _mm_loadu_ps(wp.add(k * h + j));
                a = _mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(*x0.add(k * ks)), wv));
                b = _mm_add_ps(b, _mm_mul_ps(_mm_set1_ps(*x1.add(k * ks)), wv));
            }
            _mm_storeu_ps(o0.add(j), a);
            _mm_storeu_ps(o1.add(j), b);
        }
        r += 2;
    }
    if r < rows {
        let (x0, o0) = (xp.add(r * rs), op.add(r * h));
        let mut j = 0;
        while j + 8 <= h {
            let mut a = _mm256_loadu_ps(o0.add(j));
            for k in 0..dim {
                a = _mm256_add_ps(
                    a,
                    _mm256_mul_ps(_mm256_set1_ps(*x0.add(k * ks)), _mm256_loadu_ps(wp.add(k * h + j))),
                );
            }
            _mm256_storeu_ps(o0.add(j), a);
            j += 8;
        }
        if j < h {
            let mut a = _mm_loadu_ps(o0.add(j));
            for k in 0..dim {
                a = _mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(*x0.add(k * ks)), _mm_loadu_ps(wp.add(k * h + j))));
            }
            _mm_storeu_ps(o0.add(j), a);
        }
    }
}

/// Whether this CPU runs the AVX-512 kernel (detected once by the standard library, then a load).
pub fn available_512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// [`matmul_strided_acc`] in 512-bit registers: blocks of four rows × 32 columns (eight
/// accumulators while two weight vectors stream by per `k`), then four rows × 16 columns, the
/// last block of fewer than 16 columns under a mask; left-over rows one at a time. Any `h`. The
/// same multiply-then-add per `k`, in the same order, as [`super::portable::matmul_strided_acc`]:
/// bit-identical to it and to the AVX2 kernel, twice as many lanes per instruction.
///
/// # Safety
/// The CPU must support AVX-512F ([`available_512`]); every `x[r*rs + k*ks]` (`r < rows`,
/// `k < dim`) in bounds, `w ≥ dim·h`, `out ≥ rows·h` (checked by [`super::Fast`]).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_strided_acc_512(
    x: &[f32],
    rs: usize,
    ks: usize,
    rows: usize,
    dim: usize,
    w: &[f32],
    h: usize,
    out: &mut [f32],
) {
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    let mut r = 0;
    while r + 4 <= rows {
        rows_512::<4>(xp.add(r * rs), rs, ks, dim, wp, h, op.add(r * h));
        r += 4;
    }
    while r < rows {
        rows_512::<1>(xp.add(r * rs), rs, ks, dim, wp, h, op.add(r * h));
        r += 1;
    }
}

/// `R` consecutive rows of [`matmul_strided_acc_512`]: `x` and `o` point at the first one.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn rows_512<const R: usize>(
    x: *const f32,
    rs: usize,
    ks: usize,
    dim: usize,
    w: *const f32,
    h: usize,
    o: *mut f32,
) {
    let mut j = 0;
    while j + 32 <= h {
        let mut a = [[_mm512_setzero_ps(); 2]; R];
        for (i, ai) in a.iter_mut().enumerate() {
            ai[0] = _mm512_loadu_ps(o.add(i * h + j));
            ai[1] = _mm512_loadu_ps(o.add(i * h + j + 16));
        }
        for k in 0..dim {
            let (w0, w1) = (_mm512_loadu_ps(w.add(k * h + j)), _mm512_loadu_ps(w.add(k * h + j + 16)));
            for (i, ai) in a.iter_mut().enumerate() {
                let s = _mm512_set1_ps(*x.add(i * rs + k * ks));
                ai[0] = _mm512_add_ps(ai[0], _mm512_mul_ps(s, w0));
                ai[1] = _mm512_add_ps(ai[1], _mm512_mul_ps(s, w1));
            }
        }
        for (i, ai) in a.iter().enumerate() {
            _mm512_storeu_ps(o.add(i * h + j), ai[0]);
            _mm512_storeu_ps(o.add(i * h + j + 16), ai[1]);
        }
        j += 32;
    }
    while j < h {
        // Masked loads and stores touch only the lanes below h (and fault on none above).
        let m: __mmask16 = if h - j >= 16 { 0xFFFF } else { (1u16 << (h - j)) - 1 };
        let mut a = [_mm512_setzero_ps(); R];
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = _mm512_maskz_loadu_ps(m, o.add(i * h + j));
        }
        for k in 0..dim {
            let wv = _mm512_maskz_loadu_ps(m, w.add(k * h + j));
            for (i, ai) in a.iter_mut().enumerate() {
                *ai = _mm512_add_ps(*ai, _mm512_mul_ps(_mm512_set1_ps(*x.add(i * rs + k * ks)), wv));
            }
        }
        for (i, ai) in a.iter().enumerate() {
            _mm512_mask_storeu_ps(o.add(i * h + j), m, *ai);
        }
        j += 16;
    }
}

/// `dst[c*rows + r] = src[r*cols + c]`: each row of the transpose gathered sixteen lanes at a time
/// (the last under a mask), about twice as fast as scalar copies for the trainer's layer shapes.
///
/// # Safety
/// The CPU must support AVX-512F ([`available_512`]); `src` and `dst` hold `rows·cols` values, and
/// `rows·cols` fits in an `i32` (checked by [`super::Fast`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn transpose_512(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let idx = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(cols as i32));
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    for c in 0..cols {
        let mut r = 0;
        while r < rows {
            let m: __mmask16 = if rows - r >= 16 { 0xFFFF } else { (1u16 << (rows - r)) - 1 };
            let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m, idx, sp.add(r * cols + c));
            _mm512_mask_storeu_ps(dp.add(c * rows + r), m, v);
            r += 16;
        }
    }
}
