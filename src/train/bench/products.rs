//! Would batching the tasks of a meta-batch into one matrix product pay? (`fewclick bench-train
//! --products`.)
//!
//! Only products whose right operand is the same for every task can be stacked: those at the
//! shared θ0, in each task's first inner step. That is the forward pass `A·Wᵀ` of each layer and
//! the backward pass's `δ·W` to the layer below. Every later step runs at the task's own adapted
//! weights, and every weight gradient `δᵀ·A` is a task's own sum, so those stay per task whatever
//! the layout. This module times each stackable product of the benchmark's scorer both ways on one
//! thread, 32 products of 25 rows against one of 800, with the same kernel ([`Fast`]), and counts
//! what share of a first-order meta-step those products are. The two give the most batching could
//! gain: the share times the fraction of its time the batched product saves.

use super::{HIDDEN, INNER_STEPS, INPUTS, META_BATCH, SUPPORT_ROWS};
use crate::kernels::{Fast, Kernels};
use crate::rng::Rng;
use std::time::Instant;

/// One stackable product, timed per task and batched.
#[derive(Clone, Debug)]
pub struct ProductTiming {
    /// `"forward"` (`A·Wᵀ`) or `"backward"` (`δ·W`).
    pub pass: &'static str,
    /// Inner width × outer width of the product (`dim → h`).
    pub dim: usize,
    pub h: usize,
    /// GFLOP/s of `META_BATCH` products of `SUPPORT_ROWS` rows, and of one of their rows stacked.
    pub per_task_gflops: f64,
    pub batched_gflops: f64,
}

impl ProductTiming {
    /// Batched speed over per-task speed.
    pub fn speedup(&self) -> f64 {
        self.batched_gflops / self.per_task_gflops.max(1e-12)
    }
}

/// The stackable products of the 48-64-32-1 scorer: each layer's forward, and `δ·W` into each
/// hidden layer (the output layer's forward and backward are matrix-vector products, left out).
fn shapes() -> Vec<(&'static str, usize, usize)> {
    let widths: Vec<usize> = std::iter::once(INPUTS).chain(HIDDEN).collect();
    let mut v: Vec<_> = widths.windows(2).map(|w| ("forward", w[0], w[1])).collect();
    v.extend(widths.windows(2).skip(1).map(|w| ("backward", w[1], w[0])));
    v
}

/// Times every stackable product `reps` times each way (the two ways taking turns, the best of
/// five rounds each) on the calling thread. Inputs are drawn from `seed`.
pub fn time_products(reps: usize, seed: u64) -> Vec<ProductTiming> {
    let mut rng = Rng::new(seed);
    let rows = META_BATCH * SUPPORT_ROWS;
    shapes()
        .into_iter()
        .map(|(pass, dim, h)| {
            let x: Vec<f32> = (0..rows * dim).map(|_| rng.range(-1.0, 1.0)).collect();
            let w: Vec<f32> = (0..dim * h).map(|_| rng.range(-1.0, 1.0)).collect();
            let mut out = vec![0.0f32; rows * h];
            let (mut best_task, mut best_batch) = (f64::MAX, f64::MAX);
            for _ in 0..5 {
                best_task = best_task.min(time(reps, || per_task(&x, dim, &w, h, &mut out)));
                best_batch = best_batch.min(time(reps, || stacked(&x, dim, &w, h, &mut out)));
            }
            std::hint::black_box(&out);
            let flops = 2.0 * (rows * dim * h) as f64 * reps as f64;
            ProductTiming {
                pass,
                dim,
                h,
                per_task_gflops: flops / best_task / 1e9,
                batched_gflops: flops / best_batch / 1e9,
            }
        })
        .collect()
}

/// `out += x · w` as `META_BATCH` products of `SUPPORT_ROWS` rows, one per task.
fn per_task(x: &[f32], dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    for t in 0..META_BATCH {
        let r = t * SUPPORT_ROWS;
        Fast.matmul_acc(&x[r * dim..], SUPPORT_ROWS, dim, w, h, &mut out[r * h..]);
    }
}

/// `out += x · w` as one product over every task's rows stacked.
fn stacked(x: &[f32], dim: usize, w: &[f32], h: usize, out: &mut [f32]) {
    Fast.matmul_acc(x, META_BATCH * SUPPORT_ROWS, dim, w, h, out);
}

fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64().max(1e-12)
}

/// The share of a first-order meta-step's floating-point work that the stackable products are:
/// a task's inner loop runs `INNER_STEPS` forward and backward passes on its support rows and one
/// more on its query rows (25 rows each); only the first step's forward and `δ·W` products are at
/// θ0. Matrix products only; the rest of a pass is O(rows × width).
pub fn stackable_share() -> f64 {
    let widths: Vec<usize> = std::iter::once(INPUTS).chain(HIDDEN).chain([1]).collect();
    let pairs: Vec<(usize, usize)> = widths.windows(2).map(|w| (w[0], w[1])).collect();
    let forward: usize = pairs.iter().map(|&(a, b)| a * b).sum();
    // δ·W into every layer but the input; δᵀ·A for every layer's weights.
    let into_hidden: usize = pairs.iter().skip(1).map(|&(a, b)| a * b).sum();
    let pass = forward + into_hidden + forward;
    let stackable = forward + into_hidden;
    stackable as f64 / ((INNER_STEPS as usize + 1) * pass) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_and_per_task_products_agree_bit_for_bit() {
        // Each output row accumulates over k in the same order either way.
        let seed = 0xBA7C;
        println!("seed {seed:#x}");
        let mut rng = Rng::new(seed);
        for (pass, dim, h) in shapes() {
            let rows = META_BATCH * SUPPORT_ROWS;
            let x: Vec<f32> = (0..rows * dim).map(|_| rng.range(-1.0, 1.0)).collect();
            let w: Vec<f32> = (0..dim * h).map(|_| rng.range(-1.0, 1.0)).collect();
            let (mut a, mut b) = (vec![0.25f32; rows * h], vec![0.25f32; rows * h]);
            per_task(&x, dim, &w, h, &mut a);
            stacked(&x, dim, &w, h, &mut b);
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "{pass} {dim} → {h}");
        }
    }

    #[test]
    fn the_stackable_products_are_the_scorers_hidden_layers() {
        let s: Vec<_> = shapes();
        assert_eq!(s, vec![("forward", 48, 64), ("forward", 64, 32), ("backward", 32, 64)]);
        // By hand for 48-64-32-1: a pass is forward 5,152 + δ·W 2,080 + δᵀ·A 5,152 multiply-adds
        // per row; the first step's forward and δ·W of six passes are stackable.
        let share = (5152.0 + 2080.0) / (6.0 * 12384.0);
        assert!((stackable_share() - share).abs() < 1e-12, "{} against {share}", stackable_share());
    }

    #[test]
    fn timings_cover_every_shape_with_positive_rates() {
        let t = time_products(2, 1);
        assert_eq!(t.len(), shapes().len());
        assert!(t.iter().all(|p| p.per_task_gflops > 0.0 && p.batched_gflops > 0.0 && p.speedup().is_finite()));
    }
}
