//! NEON kernel for aarch64, chosen by [`super::Fast`] on every aarch64 build (NEON is part of the
//! architecture's baseline there: nothing to detect).
//!
//! Only the matrix product has one, as on x86-64 (`x86.rs`): it is where the trainer spends its
//! time. Blocks of four rows × 16 columns keep sixteen 4-lane accumulators in registers (of the 32
//! the architecture has) while four weight vectors stream by per `k`; then four-column blocks,
//! then a scalar tail for widths that are not a multiple of four, and left-over rows one at a time.
//! Every step multiplies, then adds (`vmulq_f32`, `vaddq_f32`), never `vfmaq_f32`: each output
//! accumulates over `k` in the same order with the same roundings as
//! [`super::portable::matmul_strided_acc`], so a model trained on an aarch64 machine is bit for
//! bit the one an x86-64 or the wasm build trains (the tests compare it with the twin bit for bit).

use core::arch::aarch64::*;

/// `out[r*h + j] += Σ_k x[r*rs + k*ks] · w[k*h + j]`, as [`super::portable::matmul_strided_acc`]
/// (`rs = dim, ks = 1` reads `x` row-major; `rs = 1, ks = rows` reads it transposed in place).
///
/// # Safety
/// Every `x[r*rs + k*ks]` (`r < rows`, `k < dim`) in bounds, `w ≥ dim·h`, `out ≥ rows·h`
/// (checked by [`super::Fast`]).
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
    while r + 4 <= rows {
        block::<4>(xp.add(r * rs), rs, ks, dim, wp, h, op.add(r * h));
        r += 4;
    }
    while r < rows {
        block::<1>(xp.add(r * rs), rs, ks, dim, wp, h, op.add(r * h));
        r += 1;
    }
}

/// `R` consecutive rows of [`matmul_strided_acc`]: `x` and `o` point at the first one.
#[inline(always)]
unsafe fn block<const R: usize>(x: *const f32, rs: usize, ks: usize, dim: usize, w: *const f32, h: usize, o: *mut f32) {
    let mut j = 0;
    while j + 16 <= h {
        let mut a = [[vdupq_n_f32(0.0); 4]; R];
        for (i, ai) in a.iter_mut().enumerate() {
            for (q, aq) in ai.iter_mut().enumerate() {
                *aq = vld1q_f32(o.add(i * h + j + q * 4));
            }
        }
        for k in 0..dim {
            let wk = w.add(k * h + j);
            let wv = [vld1q_f32(wk), vld1q_f32(wk.add(4)), vld1q_f32(wk.add(8)), vld1q_f32(wk.add(12))];
            for (i, ai) in a.iter_mut().enumerate() {
                let s = vdupq_n_f32(*x.add(i * rs + k * ks));
                for (aq, &wq) in ai.iter_mut().zip(&wv) {
                    *aq = vaddq_f32(*aq, vmulq_f32(s, wq));
                }
            }
        }
        for (i, ai) in a.iter().enumerate() {
            for (q, &aq) in ai.iter().enumerate() {
                vst1q_f32(o.add(i * h + j + q * 4), aq);
            }
        }
        j += 16;
    }
    while j + 4 <= h {
        let mut a = [vdupq_n_f32(0.0); R];
        for (i, ai) in a.iter_mut().enumerate() {
            *ai = vld1q_f32(o.add(i * h + j));
        }
        for k in 0..dim {
            let wv = vld1q_f32(w.add(k * h + j));
            for (i, ai) in a.iter_mut().enumerate() {
                *ai = vaddq_f32(*ai, vmulq_f32(vdupq_n_f32(*x.add(i * rs + k * ks)), wv));
            }
        }
        for (i, &ai) in a.iter().enumerate() {
            vst1q_f32(o.add(i * h + j), ai);
        }
        j += 4;
    }
    // Fewer than four columns left: one at a time, in the same order over k.
    for jj in j..h {
        for i in 0..R {
            let mut acc = *o.add(i * h + jj);
            for k in 0..dim {
                acc += *x.add(i * rs + k * ks) * *w.add(k * h + jj);
            }
            *o.add(i * h + jj) = acc;
        }
    }
}
