//! The metrics of a list of predictions (MRR, nDCG@5, HitRate@1, by prior-events bucket) and the
//! paired session bootstrap behind every interval (see the [module documentation](super)).

/// One evaluated prediction: the 1-based rank of the engaged item in a method's order, how many
/// engagement events came before it in the session, and the session's index in the evaluated
/// dataset (the unit the bootstrap resamples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub rank: usize,
    pub prior_events: usize,
    pub session: usize,
}

/// The name of the display-order baseline in reports.
pub const DISPLAY: &str = "display";
/// The name of the interacted-first baseline in reports.
pub const INTERACTED_FIRST: &str = "interacted-first";
/// `X` + this suffix names model `X` served without adaptation.
pub const NO_ADAPT_SUFFIX: &str = "-no-adapt";

/// The default seed of the bootstrap (fixed, so reports are reproducible; printed in every report).
pub const DEFAULT_BOOTSTRAP_SEED: u64 = 1;

/// Settings of the paired session bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    /// Number of resamples (≥ 1).
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: 1000, seed: DEFAULT_BOOTSTRAP_SEED }
    }
}

/// A difference of MRR: observed on the full data (`mean`) and its 95 % bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub(super) fn describe(&self) -> String {
        format!("{:+.4} [{:+.4}, {:+.4}]", self.mean, self.lo, self.hi)
    }
}

/// Per-session sums of one method's reciprocal ranks, aligned with a list of sessions.
struct SessionSums {
    /// Sessions in order, their number of lists.
    sessions: Vec<usize>,
    counts: Vec<f64>,
}

impl SessionSums {
    fn new(reference: &[Outcome]) -> SessionSums {
        let mut sessions: Vec<usize> = reference.iter().map(|o| o.session).collect();
        sessions.sort_unstable();
        sessions.dedup();
        let mut sums = SessionSums { counts: vec![0.0; sessions.len()], sessions };
        for o in reference {
            if let Ok(k) = sums.sessions.binary_search(&o.session) {
                sums.counts[k] += 1.0;
            }
        }
        sums
    }

    /// The method's reciprocal-rank sum per session, or `None` when its lists are not the
    /// reference's (another session, or another number of lists in a session): then there is no
    /// pairing.
    fn reciprocal_ranks(&self, outcomes: &[Outcome]) -> Option<Vec<f64>> {
        let mut rr = vec![0.0; self.sessions.len()];
        let mut counts = vec![0.0; self.sessions.len()];
        for o in outcomes {
            let k = self.sessions.binary_search(&o.session).ok()?;
            rr[k] += 1.0 / o.rank.max(1) as f64;
            counts[k] += 1.0;
        }
        (counts == self.counts).then_some(rr)
    }
}

/// The `q` quantile of sorted values, linearly interpolated between order statistics.
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let h = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (h.floor() as usize, h - h.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

impl Bootstrap {
    /// Paired bootstrap intervals of `MRR(a) − MRR(b)` for every pair `(a, b)` of outcome lists,
    /// all drawn from the same resamples of the sessions of `pairs[k].1` (see the [module
    /// documentation](self)). `None` for a pair whose two methods were not evaluated on the same
    /// lists, or without any list.
    pub fn intervals(&self, pairs: &[(&[Outcome], &[Outcome])]) -> Vec<Option<Interval>> {
        let resamples = self.resamples.max(1);
        let prepared: Vec<Option<(SessionSums, Vec<f64>, Interval)>> = pairs
            .iter()
            .map(|&(a, b)| {
                let sums = SessionSums::new(b);
                let (ra, rb) = (sums.reciprocal_ranks(a)?, sums.reciprocal_ranks(b)?);
                let n: f64 = sums.counts.iter().sum();
                if n == 0.0 {
                    return None;
                }
                let diff: Vec<f64> = ra.iter().zip(&rb).map(|(x, y)| x - y).collect();
                let mean = diff.iter().sum::<f64>() / n;
                Some((sums, diff, Interval { mean, lo: mean, hi: mean }))
            })
            .collect();
        // One draw of session weights per resample and per distinct session count, shared by
        // every pair over that many sessions (all pairs of one evaluation share their sessions).
        let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); prepared.len()];
        let mut rng = crate::rng::Rng::new(self.seed);
        let mut weights: Vec<u32> = Vec::new();
        for _ in 0..resamples {
            let mut by_size: Vec<(usize, Vec<u32>)> = Vec::new();
            for (k, p) in prepared.iter().enumerate() {
                let Some((sums, diff, _)) = p else { continue };
                let n_sessions = sums.sessions.len();
                let w = match by_size.iter().find(|(size, _)| *size == n_sessions) {
                    Some((_, w)) => w,
                    None => {
                        weights.clear();
                        weights.resize(n_sessions, 0);
                        for _ in 0..n_sessions {
                            weights[rng.below(n_sessions)] += 1;
                        }
                        by_size.push((n_sessions, weights.clone()));
                        &by_size[by_size.len() - 1].1
                    }
                };
                let (mut num, mut den) = (0.0f64, 0.0f64);
                for ((&ws, d), c) in w.iter().zip(diff).zip(&sums.counts) {
                    num += ws as f64 * d;
                    den += ws as f64 * c;
                }
                draws[k].push(if den > 0.0 { num / den } else { 0.0 });
            }
        }
        prepared
            .into_iter()
            .zip(draws)
            .map(|(p, mut d)| {
                let (_, _, mut interval) = p?;
                d.sort_by(f64::total_cmp);
                interval.lo = quantile(&d, 0.025);
                interval.hi = quantile(&d, 0.975);
                Some(interval)
            })
            .collect()
    }
}

/// Averages over a set of predictions (all 0 when `n` is 0).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub n: usize,
    pub mrr: f64,
    pub ndcg5: f64,
    pub hit1: f64,
}

/// MRR, nDCG@5 and HitRate@1 of the outcomes. A rank of 0 counts as rank 1.
pub fn metrics(outcomes: &[Outcome]) -> Metrics {
    let n = outcomes.len();
    if n == 0 {
        return Metrics { n: 0, mrr: 0.0, ndcg5: 0.0, hit1: 0.0 };
    }
    let (mut mrr, mut ndcg, mut hit) = (0.0f64, 0.0f64, 0.0f64);
    for o in outcomes {
        let rank = o.rank.max(1);
        mrr += 1.0 / rank as f64;
        if rank <= 5 {
            ndcg += 1.0 / ((rank + 1) as f64).log2();
        }
        if rank == 1 {
            hit += 1.0;
        }
    }
    let n_f = n as f64;
    Metrics { n, mrr: mrr / n_f, ndcg5: ndcg / n_f, hit1: hit / n_f }
}

/// Buckets of the number of engagement events before a prediction.
pub const BUCKETS: [&str; 5] = ["0", "1", "2", "3-5", "6+"];

/// Index into [`BUCKETS`] of a prior-event count.
pub fn bucket_of(prior_events: usize) -> usize {
    match prior_events {
        0 => 0,
        1 => 1,
        2 => 2,
        3..=5 => 3,
        _ => 4,
    }
}
