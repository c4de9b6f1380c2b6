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
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    let mut r = 0;
    while r + 2 <= rows {
        let (x0, x1) = (xp.add(r * dim), xp.add((r + 1) * dim));
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
                let (s0, s1) = (_mm256_set1_ps(*x0.add(k)), _mm256_set1_ps(*x1.add(k)));
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
                a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(*x0.add(k)), wv));
                b = _mm256_add_ps(b, _mm256_mul_ps(_mm256_set1_ps(*x1.add(k)), wv));
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
                a = _mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(*x0.add(k)), wv));
                b = _mm_add_ps(b, _mm_mul_ps(_mm_set1_ps(*x1.add(k)), wv));
            }
            _mm_storeu_ps(o0.add(j), a);
            _mm_storeu_ps(o1.add(j), b);
        }
        r += 2;
    }
    if r < rows {
        let (x0, o0) = (xp.add(r * dim), op.add(r * h));
        let mut j = 0;
        while j + 8 <= h {
            let mut a = _mm256_loadu_ps(o0.add(j));
            for k in 0..dim {
                a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(*x0.add(k)), _mm256_loadu_ps(wp.add(k * h + j))));
            }
            _mm256_storeu_ps(o0.add(j), a);
            j += 8;
        }
        if j < h {
            let mut a = _mm_loadu_ps(o0.add(j));
            for k in 0..dim {
                a = _mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(*x0.add(k)), _mm_loadu_ps(wp.add(k * h + j))));
            }
            _mm_storeu_ps(o0.add(j), a);
        }
    }
}
