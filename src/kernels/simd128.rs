//! Hand-written simd128 kernels. `matmul_acc` is an outer-product micro-kernel: two rows of `x` and
//! sixteen output columns live in eight registers while it streams the k-major weights, so there
//! is no horizontal reduction in the inner loop. Bounds are checked by the caller ([`super::Fast`]).

use core::arch::wasm32::*;

#[inline(always)]
unsafe fn ld(p: *const f32) -> v128 {
    v128_load(p as *const v128)
}
#[inline(always)]
unsafe fn st(p: *mut f32, v: v128) {
    v128_store(p as *mut v128, v)
}

/// `c + a·b`: one fused `f32x4.relaxed_madd` where the build has relaxed SIMD, a multiply then an
/// add otherwise.
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(c, f32x4_mul(a, b))
    }
}

pub fn matmul_acc(x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    // SAFETY: Fast::matmul_acc checked x ≥ rows·dim, w ≥ dim·h, out ≥ rows·h and h % 4 == 0;
    // every offset below stays inside those bounds. v128_load/store have no alignment demand.
    unsafe {
        let mut r = 0;
        while r < rows {
            // Rows in pairs; an odd last row is paired with itself: both halves compute the same
            // sums from the same start and store them to the same place, so one code path serves.
            let r1 = if r + 1 < rows { r + 1 } else { r };
            let (x0, x1) = (xp.add(r * dim), xp.add(r1 * dim));
            let (o0, o1) = (op.add(r * h), op.add(r1 * h));
            let mut j = 0;
            while j + 16 <= h {
                pair_block::<4>(x0, x1, dim, wp.add(j), h, o0.add(j), o1.add(j));
                j += 16;
            }
            // Eight columns (the similarity product's width, 5 engaged items and their centroid
            // padded): two splats feed four multiply-adds instead of two.
            if j + 8 <= h {
                pair_block::<2>(x0, x1, dim, wp.add(j), h, o0.add(j), o1.add(j));
                j += 8;
            }
            while j < h {
                pair_block::<1>(x0, x1, dim, wp.add(j), h, o0.add(j), o1.add(j));
                j += 4;
            }
            r += 2;
        }
    }
}

/// `4·Q` output columns of a pair of rows (`o0`, `o1`, from their first column in the block): the
/// accumulators stay in registers while the k-major weights `w` (row stride `h`) stream past.
/// SAFETY: as `matmul_acc`'s loop that calls it (the same pointer twice for an odd last row).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pair_block<const Q: usize>(
    x0: *const f32,
    x1: *const f32,
    dim: usize,
    w: *const f32,
    h: usize,
    o0: *mut f32,
    o1: *mut f32,
) {
    let mut a: [v128; Q] = core::array::from_fn(|q| ld(o0.add(q * 4)));
    let mut b: [v128; Q] = core::array::from_fn(|q| ld(o1.add(q * 4)));
    for k in 0..dim {
        let wk = w.add(k * h);
        let (s0, s1) = (f32x4_splat(*x0.add(k)), f32x4_splat(*x1.add(k)));
        for q in 0..Q {
            let wv = ld(wk.add(q * 4));
            a[q] = madd(s0, wv, a[q]);
            b[q] = madd(s1, wv, b[q]);
        }
    }
    for q in 0..Q {
        st(o0.add(q * 4), a[q]);
        st(o1.add(q * 4), b[q]);
    }
}

#[inline(always)]
fn hsum(v: v128) -> f32 {
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
        + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
}

#[allow(clippy::needless_range_loop)] // the row index drives the pointer arithmetic
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn relu_dot(a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]) {
    let zero = f32x4_splat(0.0);
    // SAFETY: bounds checked by Fast::relu_dot (a ≥ rows·h, b, w2 ≥ h, h % 4 == 0).
    unsafe {
        for r in 0..rows {
            let ar = a.as_ptr().add(r * h);
            let mut acc = zero;
            for c in 0..h / 4 {
                let z = f32x4_add(ld(ar.add(c * 4)), ld(b.as_ptr().add(c * 4)));
                // relu as max(z, 0) with the scalar `f32::max` semantics of the twin.
                let z = f32x4_pmax(zero, z);
                acc = madd(z, ld(w2.as_ptr().add(c * 4)), acc);
            }
            out[r] = hsum(acc);
        }
    }
}

#[allow(clippy::needless_range_loop)] // the row index drives the pointer arithmetic
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn gemv_acc(m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
    let full = dim / 4 * 4;
    // SAFETY: bounds checked by Fast::gemv_acc (m ≥ rows·dim, w ≥ dim).
    unsafe {
        for r in 0..rows {
            let mr = m.as_ptr().add(r * dim);
            let mut acc = f32x4_splat(0.0);
            for c in 0..dim / 4 {
                acc = madd(ld(mr.add(c * 4)), ld(w.as_ptr().add(c * 4)), acc);
            }
            let mut sum = hsum(acc);
            for k in full..dim {
                sum += *mr.add(k) * w[k];
            }
            out[r] += sum;
        }
    }
}

/// Which session features are not zero on some of `rows` rows (see
/// `Kernels::nonzero_features`): each row's bits or-ed into one register per four features; the
/// last four overlap the ones before when the width is not a multiple of four. Bounds are checked
/// by the caller (`s` ≥ rows · SESSION_DIM).
#[allow(clippy::needless_range_loop)] // `c` picks the register and its offset `at(c)`
pub fn nonzero_features(s: &[f32], rows: usize) -> u32 {
    const W: usize = crate::session::SESSION_DIM;
    const C: usize = W.div_ceil(4);
    const fn at(c: usize) -> usize {
        if c * 4 + 4 <= W {
            c * 4
        } else {
            W - 4
        }
    }
    if rows == 0 {
        return 0;
    }
    let p = s.as_ptr();
    // SAFETY: every load reads 4 floats at `r * W + at(c)` ≤ `r * W + W − 4`, r < rows.
    unsafe {
        let mut acc: [v128; C] = core::array::from_fn(|c| ld(p.add(at(c))));
        for r in 1..rows {
            let row = p.add(r * W);
            for c in 0..C {
                acc[c] = v128_or(acc[c], ld(row.add(at(c))));
            }
        }
        // A lane is not zero exactly when `x | −x` has its sign bit (no constant to compare with).
        let mut mask = 0;
        for c in 0..C {
            mask |= (i32x4_bitmask(v128_or(acc[c], i32x4_neg(acc[c]))) as u32) << at(c);
        }
        mask
    }
}
