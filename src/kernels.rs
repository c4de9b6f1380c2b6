//! Numerical kernels behind one trait, so every backend is tested against the same oracle.
//!
//! * [`Reference`]: plain loops over `ndarray` views, accumulated in f64. Written to be obviously
//!   correct; it is the test oracle and is never on a hot path.
//! * [`Fast`]: the production CPU path. On `wasm32` with `simd128` it runs hand-written simd128
//!   kernels ([`simd128`]); everywhere else it runs [`portable`], their scalar twin with the same
//!   lane structure and summation order, which LLVM vectorises natively. The two give bit-identical
//!   results, and both are tested against [`Reference`] with a stated tolerance.
//!
//! A GPU backend implements the same trait over device buffers; see ARCHITECTURE.md.

use ndarray::{ArrayView1, ArrayView2};

/// The three batched operations the scorer needs. Matrices are row-major slices; `w` in
/// [`Kernels::matmul_acc`] is k-major (`w[k * h + j]`).
pub trait Kernels {
    /// `out[r*h + j] += Σ_k x[r*dim + k] · w[k*h + j]` for every row `r < rows`.
    fn matmul_acc(&self, x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]);
    /// `out[r] = Σ_j relu(a[r*h + j] + b[j]) · w2[j]`.
    fn relu_dot(&self, a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]);
    /// `out[r] += Σ_k m[r*dim + k] · w[k]`.
    fn gemv_acc(&self, m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]);
    fn name(&self) -> &'static str;
}

fn check_shapes(x: usize, rows: usize, dim: usize, w: usize, h: usize, out: usize) {
    assert!(x >= rows * dim && w >= dim * h && out >= rows * h, "kernel shape mismatch");
}

/// The oracle: ndarray views, f64 accumulation, no cleverness.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl Kernels for Reference {
    fn matmul_acc(&self, x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
        check_shapes(x.len(), rows, dim, w.len(), h, out.len());
        let x = ArrayView2::from_shape((rows, dim), &x[..rows * dim]).expect("shape checked");
        let w = ArrayView2::from_shape((dim, h), &w[..dim * h]).expect("shape checked");
        for r in 0..rows {
            for j in 0..h {
                let sum: f64 = (0..dim).map(|k| x[[r, k]] as f64 * w[[k, j]] as f64).sum();
                out[r * h + j] = (out[r * h + j] as f64 + sum) as f32;
            }
        }
    }

    fn relu_dot(&self, a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]) {
        let a = ArrayView2::from_shape((rows, h), &a[..rows * h]).expect("kernel shape mismatch");
        let (b, w2) = (ArrayView1::from(&b[..h]), ArrayView1::from(&w2[..h]));
        for (r, row) in a.outer_iter().enumerate() {
            let sum: f64 = (0..h).map(|j| (row[j] + b[j]).max(0.0) as f64 * w2[j] as f64).sum();
            out[r] = sum as f32;
        }
    }

    fn gemv_acc(&self, m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
        let m = ArrayView2::from_shape((rows, dim), &m[..rows * dim]).expect("kernel shape mismatch");
        for (r, row) in m.outer_iter().enumerate() {
            let sum: f64 = row.iter().zip(&w[..dim]).map(|(&a, &b)| a as f64 * b as f64).sum();
            out[r] = (out[r] as f64 + sum) as f32;
        }
    }

    fn name(&self) -> &'static str {
        "reference"
    }
}

/// The production CPU kernels: simd128 on wasm when compiled with it, the scalar twin elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fast;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use portable as fast_impl;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128 as fast_impl;

impl Kernels for Fast {
    fn matmul_acc(&self, x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
        check_shapes(x.len(), rows, dim, w.len(), h, out.len());
        assert!(h % 4 == 0, "hidden width must be a multiple of 4");
        fast_impl::matmul_acc(x, rows, dim, w, h, out);
    }
    fn relu_dot(&self, a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]) {
        assert!(a.len() >= rows * h && b.len() >= h && w2.len() >= h && out.len() >= rows && h % 4 == 0);
        fast_impl::relu_dot(a, rows, h, b, w2, out);
    }
    fn gemv_acc(&self, m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
        assert!(m.len() >= rows * dim && w.len() >= dim && out.len() >= rows);
        fast_impl::gemv_acc(m, rows, dim, w, out);
    }
    fn name(&self) -> &'static str {
        if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            "cpu-simd128"
        } else if cfg!(target_arch = "wasm32") {
            "cpu-scalar"
        } else {
            "cpu-native"
        }
    }
}

/// Scalar twin of [`simd128`]: the same blocking (2 rows × 16 columns, 4-lane partial sums) and the
/// same order of every addition, so results are bit-identical to the simd128 build.
pub mod portable {
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
}

/// Hand-written simd128 kernels. `matmul_acc` is an outer-product micro-kernel: two rows of `x` and
/// sixteen output columns live in eight registers while it streams the k-major weights, so there
/// is no horizontal reduction in the inner loop. Bounds are checked by the caller ([`Fast`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128 {
    use core::arch::wasm32::*;

    #[inline(always)]
    unsafe fn ld(p: *const f32) -> v128 {
        v128_load(p as *const v128)
    }
    #[inline(always)]
    unsafe fn st(p: *mut f32, v: v128) {
        v128_store(p as *mut v128, v)
    }

    pub fn matmul_acc(x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
        let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
        // SAFETY: Fast::matmul_acc checked x ≥ rows·dim, w ≥ dim·h, out ≥ rows·h and h % 4 == 0;
        // every offset below stays inside those bounds. v128_load/store have no alignment demand.
        unsafe {
            let mut r = 0;
            while r + 2 <= rows {
                let (x0, x1) = (xp.add(r * dim), xp.add((r + 1) * dim));
                let (o0, o1) = (op.add(r * h), op.add((r + 1) * h));
                let mut j = 0;
                while j + 16 <= h {
                    let mut a = [ld(o0.add(j)), ld(o0.add(j + 4)), ld(o0.add(j + 8)), ld(o0.add(j + 12))];
                    let mut b = [ld(o1.add(j)), ld(o1.add(j + 4)), ld(o1.add(j + 8)), ld(o1.add(j + 12))];
                    for k in 0..dim {
                        let wk = wp.add(k * h + j);
                        let (s0, s1) = (f32x4_splat(*x0.add(k)), f32x4_splat(*x1.add(k)));
                        for q in 0..4 {
                            let wv = ld(wk.add(q * 4));
                            a[q] = f32x4_add(a[q], f32x4_mul(s0, wv));
                            b[q] = f32x4_add(b[q], f32x4_mul(s1, wv));
                        }
                    }
                    for q in 0..4 {
                        st(o0.add(j + q * 4), a[q]);
                        st(o1.add(j + q * 4), b[q]);
                    }
                    j += 16;
                }
                while j < h {
                    let (mut a, mut b) = (ld(o0.add(j)), ld(o1.add(j)));
                    for k in 0..dim {
                        let wv = ld(wp.add(k * h + j));
                        a = f32x4_add(a, f32x4_mul(f32x4_splat(*x0.add(k)), wv));
                        b = f32x4_add(b, f32x4_mul(f32x4_splat(*x1.add(k)), wv));
                    }
                    st(o0.add(j), a);
                    st(o1.add(j), b);
                    j += 4;
                }
                r += 2;
            }
            if r < rows {
                let (x0, o0) = (xp.add(r * dim), op.add(r * h));
                let mut j = 0;
                while j < h {
                    let mut a = ld(o0.add(j));
                    for k in 0..dim {
                        a = f32x4_add(a, f32x4_mul(f32x4_splat(*x0.add(k)), ld(wp.add(k * h + j))));
                    }
                    st(o0.add(j), a);
                    j += 4;
                }
            }
        }
    }

    #[inline(always)]
    fn hsum(v: v128) -> f32 {
        (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
            + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
    }

    #[allow(clippy::needless_range_loop)] // the row index drives the pointer arithmetic
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
                    acc = f32x4_add(acc, f32x4_mul(z, ld(w2.as_ptr().add(c * 4))));
                }
                out[r] = hsum(acc);
            }
        }
    }

    #[allow(clippy::needless_range_loop)] // the row index drives the pointer arithmetic
    pub fn gemv_acc(m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
        let full = dim / 4 * 4;
        // SAFETY: bounds checked by Fast::gemv_acc (m ≥ rows·dim, w ≥ dim).
        unsafe {
            for r in 0..rows {
                let mr = m.as_ptr().add(r * dim);
                let mut acc = f32x4_splat(0.0);
                for c in 0..dim / 4 {
                    acc = f32x4_add(acc, f32x4_mul(ld(mr.add(c * 4)), ld(w.as_ptr().add(c * 4))));
                }
                let mut sum = hsum(acc);
                for k in full..dim {
                    sum += *mr.add(k) * w[k];
                }
                out[r] += sum;
            }
        }
    }
}

/// Peak simd128 throughput probe: independent multiply-add chains in registers, no memory traffic.
/// Returns the number of floating-point operations performed (for GFLOP/s = flops / seconds).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn simd_peak_probe(iters: u32) -> (f64, f32) {
    use core::arch::wasm32::*;
    let m = f32x4_splat(0.999_999);
    let a = f32x4_splat(1e-7);
    let mut v = [f32x4_splat(1.0); 8];
    for _ in 0..iters {
        for r in v.iter_mut() {
            *r = f32x4_add(f32x4_mul(*r, m), a);
        }
    }
    let mut s = f32x4_splat(0.0);
    for r in v {
        s = f32x4_add(s, r);
    }
    (iters as f64 * 8.0 * 4.0 * 2.0, f32x4_extract_lane::<0>(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Tolerance of Fast against the f64 oracle: |fast − ref| ≤ ABS + REL·|ref|. Sums of up to a few
    /// hundred f32 products of magnitude ≤ 4 lose at most ~1e-5 relative.
    const ABS: f32 = 1e-5;
    const REL: f32 = 1e-4;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= ABS + REL * b.abs()
    }

    fn rand_vec(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.range(-2.0, 2.0)).collect()
    }

    #[test]
    fn fast_kernels_match_reference() {
        let seed = 0xFEED_0001;
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for case in 0..60 {
            let rows = 1 + rng.below(37);
            let dim = 1 + rng.below(40);
            let h = 4 * (1 + rng.below(12));
            let x = rand_vec(&mut rng, rows * dim);
            let w = rand_vec(&mut rng, dim * h);
            let init = rand_vec(&mut rng, rows * h);
            let (mut fast, mut reference) = (init.clone(), init.clone());
            Fast.matmul_acc(&x, rows, dim, &w, h, &mut fast);
            Reference.matmul_acc(&x, rows, dim, &w, h, &mut reference);
            for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
                assert!(close(*f, *r), "case {case} matmul [{i}]: fast {f} ref {r} (rows {rows} dim {dim} h {h})");
            }
            let b = rand_vec(&mut rng, h);
            let w2 = rand_vec(&mut rng, h);
            let (mut fo, mut ro) = (vec![0.0; rows], vec![0.0; rows]);
            Fast.relu_dot(&reference, rows, h, &b, &w2, &mut fo);
            Reference.relu_dot(&reference, rows, h, &b, &w2, &mut ro);
            for (f, r) in fo.iter().zip(&ro) {
                assert!(close(*f, *r), "case {case} relu_dot: fast {f} ref {r}");
            }
            let v = rand_vec(&mut rng, dim);
            let (mut fo, mut ro) = (vec![0.5; rows], vec![0.5; rows]);
            Fast.gemv_acc(&x, rows, dim, &v, &mut fo);
            Reference.gemv_acc(&x, rows, dim, &v, &mut ro);
            for (f, r) in fo.iter().zip(&ro) {
                assert!(close(*f, *r), "case {case} gemv: fast {f} ref {r}");
            }
        }
    }

    #[test]
    fn small_integers_agree_exactly() {
        // With small integer inputs every product and partial sum is exact in f32, so the fast path
        // and the oracle must agree bit for bit.
        let mut rng = Rng::new(7);
        println!("seed 7");
        let (rows, dim, h) = (9, 13, 20);
        let x: Vec<f32> = (0..rows * dim).map(|_| rng.below(7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..dim * h).map(|_| rng.below(7) as f32 - 3.0).collect();
        let (mut f, mut r) = (vec![0.0; rows * h], vec![0.0; rows * h]);
        Fast.matmul_acc(&x, rows, dim, &w, h, &mut f);
        Reference.matmul_acc(&x, rows, dim, &w, h, &mut r);
        assert_eq!(f, r);
    }
}
