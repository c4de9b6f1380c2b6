//! ANIL on the benchmark's scorer: the inner loop over the last layer alone, and its exact
//! second-order products without a pass through the body per inner step.
//!
//! The inner loop changes only the head (`w`, `b` of the last layer), so every inner point θ_t has
//! θ0's body, and the body's top activations `A` (`rows × hidden`) are computed once per task. For
//! a direction `u` that is zero on the body (what ANIL's backward pass multiplies by), with
//! `s = A w + b`, `g = ∂L/∂s` and the pairwise loss's Hessian `H_s` over the scores:
//!
//! ```text
//! R(s) = A u_w + u_b,    R(g) = H_s R(s)                       (R(A) = 0: the body does not move)
//! head rows of H u:      R(g)ᵀ A,  Σ R(g)
//! body rows of H u:      the body's backward pass of D = [A > 0] (R(g) wᵀ + g u_wᵀ)
//! ```
//!
//! The body's backward pass runs at θ0's body for every t, and is linear in `D`, so the body rows
//! of the products of all inner steps together are one backward pass of `Σ_t D_t`: one per task
//! instead of one per inner step ([`HeadSupport`]).

use super::net::{add_input_times_weights, add_param_grad, fill_rows, mask, mm, zeroed, Net, Set};
use crate::adapt::Objective;
use crate::loss::pairwise;
use crate::train::hvp::pairwise_hvp;
use crate::train::meta::HeadSupport;
use std::cell::RefCell;

/// ANIL's inner objective on a [`Net`]: the loss over the last layer alone, its input (the last
/// hidden layer's activations at `theta0`, whose body the inner loop never changes) computed once.
/// Scores and head gradient are computed by the same functions as [`Net::pairwise_grad`]'s last
/// layer, so they are bit for bit its head part.
pub struct HeadObjective<'a> {
    net: &'a Net,
    set: &'a Set,
    theta0: Vec<f32>,
    /// `acts[l]`: layer `l`'s output at θ0 (`acts[0]` unused: the rows are read in place); the
    /// last hidden layer's, `acts[last]`, is the head's input.
    acts: Vec<Vec<f32>>,
    /// The inner loop's points so far: the head's parameters (bit for bit), the scores and
    /// ∂L/∂s there, which the products at the same points reuse (at most [`POINTS`]).
    points: RefCell<Vec<Point>>,
}

struct Point {
    head: Vec<f32>,
    scores: Vec<f32>,
    delta: Vec<f32>,
}

/// Inner points remembered per task ([`crate::adapt::MAX_STEPS`]).
const POINTS: usize = crate::adapt::MAX_STEPS as usize;

impl Net {
    pub fn head_objective<'a>(&'a self, theta0: &[f32], set: &'a Set) -> HeadObjective<'a> {
        let (mut acts, mut wts) = (Vec::new(), Vec::new());
        self.forward(theta0, &set.rows, set.n_rows, &mut acts, &mut wts);
        acts.pop();
        HeadObjective { net: self, set, theta0: theta0.to_vec(), acts, points: RefCell::default() }
    }
}

impl HeadObjective<'_> {
    /// The head's input, `rows × n_in` of the last layer.
    fn hidden(&self) -> &[f32] {
        let last = self.acts.len() - 1;
        if last == 0 {
            &self.set.rows
        } else {
            &self.acts[last]
        }
    }

    /// The scores at θ's head and `∂L/∂s`; returns the loss.
    fn scores(&self, theta: &[f32], scores: &mut Vec<f32>, delta: &mut Vec<f32>) -> f32 {
        let ly = self.net.layers[self.net.layers.len() - 1];
        let n = self.set.n_rows;
        let mut wt = Vec::new();
        fill_rows(scores, n, ly.biases(theta));
        add_input_times_weights(&ly, theta, self.hidden(), n, &mut wt, scores);
        zeroed(delta, n);
        pairwise(&self.set.pairs, scores, delta)
    }
}

impl Objective for HeadObjective<'_> {
    /// Writes the head's part of `grad` only (the inner loop zeroes the rest).
    fn loss_grad(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        let ly = self.net.layers[self.net.layers.len() - 1];
        grad[ly.w..].fill(0.0);
        let (mut scores, mut delta) = (Vec::new(), Vec::new());
        let loss = self.scores(theta, &mut scores, &mut delta);
        add_param_grad(&ly, &delta, self.hidden(), self.set.n_rows, grad);
        let mut points = self.points.borrow_mut();
        if points.len() < POINTS {
            points.push(Point { head: theta[ly.w..].to_vec(), scores, delta });
        }
        loss
    }
}

impl HeadSupport for HeadObjective<'_> {
    fn head_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32], top: &mut Vec<f32>) {
        let ly = self.net.layers[self.net.layers.len() - 1];
        let n = self.set.n_rows;
        let (mut scores, mut delta, mut rs, mut rg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let points = self.points.borrow();
        let same = |p: &&Point| p.head.iter().zip(&theta[ly.w..]).all(|(a, b)| a.to_bits() == b.to_bits());
        let (scores, delta) = match points.iter().find(same) {
            Some(p) => (&p.scores, &p.delta),
            None => {
                self.scores(theta, &mut scores, &mut delta);
                (&scores, &delta)
            }
        };
        // R(s) = A u_w + u_b, R(g) = H_s R(s)
        let mut wt = Vec::new();
        fill_rows(&mut rs, n, ly.biases(u));
        add_input_times_weights(&ly, u, self.hidden(), n, &mut wt, &mut rs);
        zeroed(&mut rg, n);
        pairwise_hvp(&self.set.pairs, scores, &rs, &mut rg);
        out[ly.w..].fill(0.0);
        add_param_grad(&ly, &rg, self.hidden(), n, out);
        if self.acts.len() > 1 {
            // D = [A > 0] (R(g) w + g u_w), as the full product's R(δ) of the last hidden layer.
            let mut d = Vec::new();
            zeroed(&mut d, n * ly.n_in);
            mm(&rg, n, ly.n_out, ly.weights(theta), ly.n_in, &mut d);
            mm(delta, n, ly.n_out, ly.weights(u), ly.n_in, &mut d);
            mask(&mut d, self.hidden());
            top.resize(n * ly.n_in, 0.0);
            top.iter_mut().zip(&d).for_each(|(t, d)| *t += d);
        }
    }

    fn body_backward(&self, top: &[f32], out: &mut [f32]) {
        let layers = &self.net.layers;
        let n = self.set.n_rows;
        let body = layers.len() - 1;
        if body == 0 || top.is_empty() {
            return;
        }
        let (mut delta, mut next) = (top.to_vec(), Vec::new());
        for l in (0..body).rev() {
            let ly = &layers[l];
            let input: &[f32] = if l == 0 { &self.set.rows } else { &self.acts[l] };
            add_param_grad(ly, &delta, input, n, out);
            if l > 0 {
                zeroed(&mut next, n * ly.n_in);
                mm(&delta, n, ly.n_out, ly.weights(&self.theta0), ly.n_in, &mut next);
                mask(&mut next, input);
                std::mem::swap(&mut delta, &mut next);
            }
        }
    }
}
