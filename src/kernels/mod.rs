//! Numerical kernels behind one trait, so every backend is tested against the same oracle.
//!
//! * [`Reference`]: plain loops over `ndarray` views, accumulated in f64. Written to be obviously
//!   correct; it is the test oracle and is never on a hot path.
//! * [`Fast`]: the production CPU path. On `wasm32` with `simd128` it runs hand-written simd128
//!   kernels (`simd128.rs`); everywhere else it runs [`portable`], their scalar twin with the same
//!   lane structure and summation order, which LLVM vectorises natively; on an x86-64 with
//!   AVX-512 or AVX2 (detected at run time) the matrix products run the kernels of [`x86`], and on
//!   aarch64 the NEON kernel of `neon.rs`, all in that same order. All give bit-identical
//!   results, and all are tested against [`Reference`] with a stated tolerance. The exception is
//!   the relaxed-SIMD build (`relaxed-simd` as well as `simd128`): its multiply-adds are fused
//!   `f32x4.relaxed_madd`, one rounding instead of two, so it agrees with the others to rounding,
//!   not bit for bit.
//!
//! A GPU backend implements the same trait over device buffers; see ARCHITECTURE.md.

use ndarray::{ArrayView1, ArrayView2};

/// The batched operations the scorer needs. Matrices are row-major slices; `w` in
/// [`Kernels::matmul_acc`] is k-major (`w[k * h + j]`).
pub trait Kernels {
    /// `out[r*h + j] += Σ_k x[r*dim + k] · w[k*h + j]` for every row `r < rows`.
    fn matmul_acc(&self, x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]);
    /// `out[r] = Σ_j relu(a[r*h + j] + b[j]) · w2[j]`.
    fn relu_dot(&self, a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]);
    /// `out[r] += Σ_k m[r*dim + k] · w[k]`.
    fn gemv_acc(&self, m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]);
    /// Over `rows` rows of session features (`s`, `rows × SESSION_DIM`): bit `f` set where
    /// feature `f` of some row is not +0 (−0 counts as not zero).
    fn nonzero_features(&self, s: &[f32], rows: usize) -> u32;
    fn name(&self) -> &'static str;
}

/// The columns of session features, for [`Kernels::nonzero_features`].
const SESSION_DIM: usize = crate::session::SESSION_DIM;
const _: () = assert!(SESSION_DIM >= 4 && SESSION_DIM <= 32);

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

    fn nonzero_features(&self, s: &[f32], rows: usize) -> u32 {
        let s = ArrayView2::from_shape((rows, SESSION_DIM), &s[..rows * SESSION_DIM]).expect("kernel shape mismatch");
        let mut mask = 0;
        for f in 0..SESSION_DIM {
            if s.column(f).iter().any(|v| v.to_bits() != 0) {
                mask |= 1 << f;
            }
        }
        mask
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
    #[inline]
    fn matmul_acc(&self, x: &[f32], rows: usize, dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
        check_shapes(x.len(), rows, dim, w.len(), h, out.len());
        assert!(h.is_multiple_of(4), "hidden width must be a multiple of 4");
        #[cfg(target_arch = "x86_64")]
        if x86::available_512() {
            // SAFETY: AVX-512F is present, and the shapes were checked above.
            unsafe { x86::matmul_strided_acc_512(x, dim, 1, rows, dim, w, h, out) };
            return;
        } else if x86::available() {
            // SAFETY: AVX2 is present, and the shapes were checked above.
            unsafe { x86::matmul_acc(x, rows, dim, w, h, out) };
            return;
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: NEON is baseline on aarch64, and the shapes were checked above.
            unsafe { neon::matmul_strided_acc(x, dim, 1, rows, dim, w, h, out) };
            return;
        }
        #[allow(unreachable_code)]
        fast_impl::matmul_acc(x, rows, dim, w, h, out);
    }
    #[inline]
    fn relu_dot(&self, a: &[f32], rows: usize, h: usize, b: &[f32], w2: &[f32], out: &mut [f32]) {
        assert!(a.len() >= rows * h && b.len() >= h && w2.len() >= h && out.len() >= rows && h.is_multiple_of(4));
        fast_impl::relu_dot(a, rows, h, b, w2, out);
    }
    #[inline]
    fn gemv_acc(&self, m: &[f32], rows: usize, dim: usize, w: &[f32], out: &mut [f32]) {
        assert!(m.len() >= rows * dim && w.len() >= dim && out.len() >= rows);
        fast_impl::gemv_acc(m, rows, dim, w, out);
    }
    #[inline]
    fn nonzero_features(&self, s: &[f32], rows: usize) -> u32 {
        assert!(s.len() >= rows * SESSION_DIM, "kernel shape mismatch");
        fast_impl::nonzero_features(s, rows)
    }
    fn name(&self) -> &'static str {
        if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
            "cpu-relaxed-simd"
        } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            "cpu-simd128"
        } else if cfg!(target_arch = "wasm32") {
            "cpu-scalar"
        } else {
            "cpu-native"
        }
    }
}

/// The trainer's extra kernels. Strided matrix products: `out[r*h + j] += Σ_k x[r*rs + k*ks] ·
/// w[k*h + j]`, which reads `x` transposed in place (`rs = 1, ks = rows`) where a backward pass
/// needs `δᵀ · A` (the parameter gradients), instead of copying a transpose first; and transposes.
impl Fast {
    /// The AVX-512 or AVX2 kernel where the CPU has one, the NEON kernel on aarch64 (all
    /// bit-identical to the portable twin), else the twin.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_strided_acc(
        &self,
        x: &[f32],
        rs: usize,
        ks: usize,
        rows: usize,
        dim: usize,
        w: &[f32],
        h: usize,
        out: &mut [f32],
    ) {
        check_strided(x.len(), rs, ks, rows, dim, w.len(), h, out.len());
        #[cfg(target_arch = "x86_64")]
        if x86::available_512() {
            // SAFETY: AVX-512F is present, and the shapes and strides were checked above.
            unsafe { x86::matmul_strided_acc_512(x, rs, ks, rows, dim, w, h, out) };
            return;
        } else if x86::available() && h.is_multiple_of(4) {
            // SAFETY: AVX2 is present, and the shapes and strides were checked above.
            unsafe { x86::matmul_strided_acc(x, rs, ks, rows, dim, w, h, out) };
            return;
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: NEON is baseline on aarch64, and the shapes and strides were checked above.
            unsafe { neon::matmul_strided_acc(x, rs, ks, rows, dim, w, h, out) };
            return;
        }
        #[allow(unreachable_code)]
        portable::matmul_strided_acc(x, rs, ks, rows, dim, w, h, out);
    }

    /// `dst (cols × rows) = srcᵀ`, `src` being `rows × cols` row-major: AVX-512 gathers where the
    /// CPU has them, else [`portable::transpose`]. A copy either way: exact.
    pub fn transpose(&self, src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
        let n = rows * cols;
        assert!(src.len() >= n && dst.len() >= n, "kernel shape mismatch");
        #[cfg(target_arch = "x86_64")]
        if rows > 1 && cols > 1 && n <= i32::MAX as usize && x86::available_512() {
            // SAFETY: AVX-512F is present; both buffers hold rows × cols values, which fit an i32.
            unsafe { x86::transpose_512(src, rows, cols, dst) };
            return;
        }
        portable::transpose(src, rows, cols, dst);
    }
}

impl Reference {
    /// The oracle of [`Fast::matmul_strided_acc`]: f64 sums, no cleverness.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_strided_acc(
        &self,
        x: &[f32],
        rs: usize,
        ks: usize,
        rows: usize,
        dim: usize,
        w: &[f32],
        h: usize,
        out: &mut [f32],
    ) {
        check_strided(x.len(), rs, ks, rows, dim, w.len(), h, out.len());
        for r in 0..rows {
            for j in 0..h {
                let sum: f64 = (0..dim).map(|k| x[r * rs + k * ks] as f64 * w[k * h + j] as f64).sum();
                out[r * h + j] = (out[r * h + j] as f64 + sum) as f32;
            }
        }
    }
}

/// Every `x[r*rs + k*ks]` read is in bounds, and `w`, `out` hold `dim × h` and `rows × h`.
#[allow(clippy::too_many_arguments)]
fn check_strided(x: usize, rs: usize, ks: usize, rows: usize, dim: usize, w: usize, h: usize, out: usize) {
    let last = if rows == 0 || dim == 0 { 0 } else { (rows - 1) * rs + (dim - 1) * ks + 1 };
    assert!(x >= last && w >= dim * h && out >= rows * h, "kernel shape mismatch");
}

/// Scalar twin of [`simd128`]: the same blocking and summation order (see its file).
pub mod portable;

/// Hand-written simd128 kernels (see the file).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// AVX2 kernels for x86-64, chosen at run time (see the file).
#[cfg(target_arch = "x86_64")]
pub mod x86;

/// The NEON kernel for aarch64 (see the file).
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// Peak simd128 throughput probe: independent multiply-add chains in registers, no memory traffic.
/// Returns the number of floating-point operations performed (for GFLOP/s = flops / seconds).
///
/// Each chain is `r = r·m + a`, so one step waits for a multiply and an add: a chain's latency is
/// both (about 7 cycles on x86-64), and the probe needs as many chains as those cycles times the
/// two vector multiply and add pipes to keep them busy. With 8 chains (sessions 3 to 14) it
/// measured that latency, not the peak: in Node 20 on session 15's AMD EPYC, 30 GFLOP/s against
/// 42 with 12, which the relaxed build's matrix kernel itself exceeded (36-41). In Node 20 more
/// chains spill (14: 20 GFLOP/s); Chromium 156 allocates registers differently and is best at 14
/// or more, so the TF.js peer page also runs the probes of `scripts/bench/peak-probes.mjs` (several
/// chain counts, and the fused multiply-add peak of relaxed SIMD) and takes the best.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub fn simd_peak_probe(iters: u32) -> (f64, f32) {
    use core::arch::wasm32::*;
    const CHAINS: usize = 12;
    let m = f32x4_splat(0.999_999);
    let a = f32x4_splat(1e-7);
    let mut v = [f32x4_splat(1.0); CHAINS];
    for _ in 0..iters {
        for r in v.iter_mut() {
            *r = f32x4_add(f32x4_mul(*r, m), a);
        }
    }
    let mut s = f32x4_splat(0.0);
    for r in v {
        s = f32x4_add(s, r);
    }
    (iters as f64 * CHAINS as f64 * 4.0 * 2.0, f32x4_extract_lane::<0>(s))
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

    /// The AVX2 kernel against the portable twin: bit for bit (same order of every addition, no
    /// fused multiply-add), over every blocking path (pairs of rows and an odd one; 32-, 8- and
    /// 4-column blocks).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_matmul_is_bit_identical_to_the_portable_twin() {
        if !x86::available() {
            println!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        let seed = 0xFEED_0002;
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for case in 0..80 {
            let rows = 1 + rng.below(9);
            let dim = 1 + rng.below(70);
            let h = 4 * (1 + rng.below(20));
            let x = rand_vec(&mut rng, rows * dim);
            let w = rand_vec(&mut rng, dim * h);
            let init = rand_vec(&mut rng, rows * h);
            let (mut avx, mut twin) = (init.clone(), init);
            // SAFETY: AVX2 checked above; the buffers have exactly the shapes passed.
            unsafe { x86::matmul_acc(&x, rows, dim, &w, h, &mut avx) };
            portable::matmul_acc(&x, rows, dim, &w, h, &mut twin);
            let same = avx.iter().zip(&twin).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "case {case}: rows {rows} dim {dim} h {h}");
            // x read transposed in place (rs = 1, ks = rows).
            let (mut avx_t, mut twin_t) = (avx.clone(), avx);
            // SAFETY: as above; x holds rows × dim values, read as its transpose.
            unsafe { x86::matmul_strided_acc(&x, 1, rows, rows, dim, &w, h, &mut avx_t) };
            portable::matmul_strided_acc(&x, 1, rows, rows, dim, &w, h, &mut twin_t);
            let same = avx_t.iter().zip(&twin_t).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "case {case} (x transposed): rows {rows} dim {dim} h {h}");
        }
    }

    #[test]
    fn strided_matmul_matches_the_reference_and_the_contiguous_kernel() {
        // Against the f64 oracle with the kernels' tolerance, over row-major and transposed reads of
        // x; and, read row-major (rs = dim, ks = 1), bit for bit the contiguous kernel.
        let seed = 0xFEED_0003;
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for case in 0..60 {
            let rows = 1 + rng.below(37);
            let dim = 1 + rng.below(40);
            let h = if case % 5 == 4 { 1 + rng.below(9) } else { 4 * (1 + rng.below(17)) };
            let x = rand_vec(&mut rng, rows * dim);
            let w = rand_vec(&mut rng, dim * h);
            let init = rand_vec(&mut rng, rows * h);
            for (rs, ks) in [(dim, 1), (1, rows)] {
                let (mut fast, mut reference) = (init.clone(), init.clone());
                Fast.matmul_strided_acc(&x, rs, ks, rows, dim, &w, h, &mut fast);
                Reference.matmul_strided_acc(&x, rs, ks, rows, dim, &w, h, &mut reference);
                for (i, (f, r)) in fast.iter().zip(&reference).enumerate() {
                    assert!(close(*f, *r), "case {case} strided ({rs}, {ks}) [{i}]: fast {f} ref {r}");
                }
            }
            if h % 4 == 0 {
                let (mut strided, mut contiguous) = (init.clone(), init);
                Fast.matmul_strided_acc(&x, dim, 1, rows, dim, &w, h, &mut strided);
                Fast.matmul_acc(&x, rows, dim, &w, h, &mut contiguous);
                assert!(strided.iter().zip(&contiguous).all(|(a, b)| a.to_bits() == b.to_bits()), "case {case}");
            }
        }
    }

    /// A strided matrix kernel (`matmul_strided_acc`'s arguments) against the portable twin, bit
    /// for bit, on 120 random shapes (1–11 rows, so blocks of four rows and single ones; any width
    /// up to 80, so every column block and remainder), with x read row-major and transposed in
    /// place.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn assert_bit_identical_to_the_twin(
        seed: u64,
        kernel: impl Fn(&[f32], usize, usize, usize, usize, &[f32], usize, &mut [f32]),
    ) {
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for case in 0..120 {
            let rows = 1 + rng.below(11);
            let dim = 1 + rng.below(70);
            let h = 1 + rng.below(80);
            let x = rand_vec(&mut rng, rows * dim);
            let w = rand_vec(&mut rng, dim * h);
            let init = rand_vec(&mut rng, rows * h);
            for (rs, ks) in [(dim, 1), (1, rows)] {
                let (mut fast, mut twin) = (init.clone(), init.clone());
                kernel(&x, rs, ks, rows, dim, &w, h, &mut fast);
                portable::matmul_strided_acc(&x, rs, ks, rows, dim, &w, h, &mut twin);
                let same = fast.iter().zip(&twin).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "case {case} ({rs}, {ks}): rows {rows} dim {dim} h {h}");
            }
        }
    }

    /// The AVX-512 kernel (blocks of 32 and 16 columns, a masked remainder) against the twin.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_matmul_is_bit_identical_to_the_portable_twin() {
        if !x86::available_512() {
            println!("no AVX-512F on this CPU: nothing to compare");
            return;
        }
        assert_bit_identical_to_the_twin(0xFEED_0004, |x, rs, ks, rows, dim, w, h, out| {
            // SAFETY: AVX-512F checked above; the helper passes x, w and out with these shapes.
            unsafe { x86::matmul_strided_acc_512(x, rs, ks, rows, dim, w, h, out) }
        });
    }

    /// The NEON kernel (blocks of 16 and 4 columns, a scalar tail) against the twin. Runs on
    /// aarch64 (natively, or under qemu-user: `scripts/test-aarch64.sh`).
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn neon_matmul_is_bit_identical_to_the_portable_twin() {
        assert_bit_identical_to_the_twin(0xFEED_0006, |x, rs, ks, rows, dim, w, h, out| {
            // SAFETY: the helper passes x, w and out with these shapes; NEON is baseline on aarch64.
            unsafe { neon::matmul_strided_acc(x, rs, ks, rows, dim, w, h, out) }
        });
    }

    #[test]
    fn transpose_is_exact_for_every_shape() {
        let seed = 0xFEED_0005;
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for _ in 0..60 {
            let (rows, cols) = (1 + rng.below(70), 1 + rng.below(70));
            let src = rand_vec(&mut rng, rows * cols);
            let (mut fast, mut twin) = (vec![f32::NAN; rows * cols], vec![f32::NAN; rows * cols]);
            Fast.transpose(&src, rows, cols, &mut fast);
            portable::transpose(&src, rows, cols, &mut twin);
            for dst in [&fast, &twin] {
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(
                            dst[c * rows + r].to_bits(),
                            src[r * cols + c].to_bits(),
                            "{rows} × {cols} at ({r}, {c})"
                        );
                    }
                }
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
