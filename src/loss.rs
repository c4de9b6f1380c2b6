//! Ranking losses over scored rows, with analytic gradients `∂L/∂score`.
//!
//! * Pairwise logistic: `Σ w · softplus(−(s⁺ − s⁻)) / Σ w` over (engaged, skipped-above) pairs.
//! * Listwise softmax: `Σ w · (logsumexp(s over group) − s⁺) / Σ w` over groups (engaged item and
//!   the items shown above it), i.e. the cross-entropy of the engaged item under a softmax.

use crate::session::Group;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    Pairwise,
    Listwise,
}

impl LossKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LossKind::Pairwise => "pairwise",
            LossKind::Listwise => "listwise",
        }
    }
}

/// `ln(1 + eˣ)` without overflow.
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `sigmoid(x) · sigmoid(−x)` (the pairwise loss's curvature) from one `exp(−|x|)`: bit for bit the
/// product of the two calls, which compute that same exponential.
pub fn sigmoid_pair(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    (1.0 / (1.0 + e)) * (e / (1.0 + e))
}

/// `(softplus(x), sigmoid(x))` from one `exp(−|x|)`, bit for bit the two functions above (each
/// computes that same exponential).
pub fn softplus_sigmoid(x: f32) -> (f32, f32) {
    let e = (-x.abs()).exp();
    let sp = x.max(0.0) + e.ln_1p();
    let sg = if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    (sp, sg)
}

/// Pairwise logistic loss; writes `∂L/∂score` into `g` (which it zeroes first).
pub fn pairwise(pairs: &[(u32, u32, f32)], scores: &[f32], g: &mut [f32]) -> f32 {
    g.fill(0.0);
    let total: f32 = pairs.iter().map(|p| p.2).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut loss = 0.0;
    for &(i, j, w) in pairs {
        let (i, j) = (i as usize, j as usize);
        let m = scores[i] - scores[j];
        let (sp, sg) = softplus_sigmoid(-m);
        loss += w * sp;
        let d = -w * sg / total;
        g[i] += d;
        g[j] -= d;
    }
    loss / total
}

/// Listwise softmax cross-entropy of the positive of each group; writes `∂L/∂score` into `g`.
pub fn listwise(groups: &[Group], scores: &[f32], g: &mut [f32]) -> f32 {
    g.fill(0.0);
    let total: f32 = groups.iter().filter(|gr| !gr.negs.is_empty()).map(|gr| gr.weight).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut loss = 0.0;
    for gr in groups.iter().filter(|gr| !gr.negs.is_empty()) {
        let members = std::iter::once(gr.pos).chain(gr.negs.clone()).map(|r| r as usize);
        let max = members.clone().map(|r| scores[r]).fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = members.clone().map(|r| (scores[r] - max).exp()).sum();
        let lse = max + z.ln();
        loss += gr.weight * (lse - scores[gr.pos as usize]);
        let scale = gr.weight / total;
        for r in members {
            g[r] += scale * (scores[r] - lse).exp();
        }
        g[gr.pos as usize] -= scale;
    }
    loss / total
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_one_exponential_forms_are_the_functions_bit_for_bit() {
        let seed = 41;
        println!("seed {seed}");
        let mut rng = crate::rng::Rng::new(seed);
        let edges = [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            88.0,
            -88.0,
            104.0,
            -104.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for x in edges.into_iter().chain((0..2000).map(|_| rng.range(-40.0, 40.0))) {
            let (sp, sg) = softplus_sigmoid(x);
            assert_eq!((sp.to_bits(), sg.to_bits()), (softplus(x).to_bits(), sigmoid(x).to_bits()), "x = {x}");
            assert_eq!(sigmoid_pair(x).to_bits(), (sigmoid(x) * sigmoid(-x)).to_bits(), "x = {x}");
        }
    }

    use super::*;

    fn fd_check(f: impl Fn(&[f32], &mut [f32]) -> f32, scores: &[f32]) {
        let mut g = vec![0.0; scores.len()];
        f(scores, &mut g);
        let eps = 1e-2;
        let mut tmp = vec![0.0; scores.len()];
        for i in 0..scores.len() {
            let (mut p, mut m) = (scores.to_vec(), scores.to_vec());
            p[i] += eps;
            m[i] -= eps;
            let fd = (f(&p, &mut tmp) - f(&m, &mut tmp)) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-3, "score {i}: analytic {} vs finite difference {fd}", g[i]);
        }
    }

    #[test]
    fn pairwise_gradient_matches_finite_differences() {
        let pairs = [(0, 1, 1.0), (0, 2, 2.0), (3, 1, 0.5)];
        fd_check(|s, g| pairwise(&pairs, s, g), &[0.3, -1.2, 2.0, 0.1]);
    }

    #[test]
    fn listwise_gradient_matches_finite_differences() {
        let groups = [Group { pos: 0, negs: 1..3, weight: 1.0 }, Group { pos: 3, negs: 4..5, weight: 3.0 }];
        fd_check(|s, g| listwise(&groups, s, g), &[0.3, -1.2, 2.0, 0.1, 0.7]);
    }

    #[test]
    fn losses_are_finite_for_extreme_scores() {
        let pairs = [(0, 1, 1.0)];
        let mut g = [0.0; 2];
        assert!(pairwise(&pairs, &[-1e30, 1e30], &mut g).is_finite());
        assert!(g.iter().all(|v| v.is_finite()));
        let groups = [Group { pos: 0, negs: 1..2, weight: 1.0 }];
        assert!(listwise(&groups, &[-1e30, 1e30], &mut g).is_finite());
        assert!(g.iter().all(|v| v.is_finite()));
    }
}
