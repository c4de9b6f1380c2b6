//! Ranking metrics and the evaluation report (Markdown, JSON and an SVG chart).
//!
//! Every evaluated prediction is the 1-based rank of the engaged item in a method's order; the
//! metrics are averages over predictions:
//!
//! * MRR: mean of 1 / rank;
//! * nDCG@5 with the one engaged item as the only relevant one: mean of 1 / log2(rank + 1) when
//!   rank ≤ 5, else 0 (the ideal DCG is 1);
//! * HitRate@1: the share of predictions with rank 1.
//!
//! Predictions are also grouped by how many engagement events the session had before the
//! prediction ([`BUCKETS`]), which shows how quickly a method profits from the shopper's clicks.
//!
//! **Uncertainty.** Each method's MRR difference against interacted-first and against display
//! order ([`INTERACTED_FIRST`], [`DISPLAY`]) comes with a paired bootstrap 95 % interval: a
//! resample draws as many *sessions* as were evaluated, with replacement (the lists of one session
//! are not independent, so whole sessions are the unit), and the difference on it is
//! `Σ_s w_s (rr_m(s) − rr_ref(s)) / Σ_s w_s n_s`, with `w_s` how often session `s` was drawn,
//! `rr(s)` the sum of reciprocal ranks of its lists and `n_s` their number. Both methods are scored
//! on the same resample (paired). The interval is the percentile interval: the 2.5 % and 97.5 %
//! quantiles of the resampled differences, linearly interpolated between order statistics (as
//! numpy's default). `mean` is the difference observed on the full data. The resamples and their
//! seed are in the report ([`Bootstrap`]); the same seed gives the same intervals.
//!
//! **Adaptation.** A method named `X-no-adapt` ([`NO_ADAPT_SUFFIX`]) is model `X` served without
//! the inner loop; the report pairs the two and shows, per bucket, the MRR with and without
//! adaptation and the lift, with a paired bootstrap interval on the overall lift.
//!
//! `report.json` layout:
//!
//! ```text
//! {"dataset": "...",
//!  "methods": [{"name": "...", "mrr": 0.6, "ndcg5": 0.65, "hit1": 0.5, "n": 1000,
//!               "by_prior_events": {"0": {"n": 400, "mrr": ..., "ndcg5": ..., "hit1": ...},
//!                                   "1": {...}, "2": {...}, "3-5": {...}, "6+": {...}},
//!               "delta_vs_interacted": {"mean": 0.01, "lo": -0.004, "hi": 0.02},
//!               "delta_vs_display": {"mean": 0.15, "lo": 0.13, "hi": 0.17}}],
//!  "adaptation": [{"model": "meta-sgd", "without": "meta-sgd-no-adapt",
//!                  "lift": {"mean": ..., "lo": ..., "hi": ...},
//!                  "by_prior_events": {"0": {"n": 400, "adapted": ..., "without": ..., "lift": ...},
//!                                      ...}}],
//!  "bootstrap": {"resamples": 1000, "seed": 1, "level": 0.95, "sessions": 900},
//!  "notes": ["seed 1", ...]}
//! ```
//!
//! `by_prior_events` is an object keyed by bucket, in [`BUCKETS`] order, every bucket present (a
//! bucket without predictions has `n` 0 and metrics 0). A `delta_*` is `null` when the report has
//! no method of that name or the two methods were not evaluated on the same lists.

use crate::error::{Error, Result};
use serde::ser::{SerializeMap, Serializer};
use std::fmt::Write as _;
use std::path::Path;

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
    fn describe(&self) -> String {
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
fn quantile(sorted: &[f64], q: f64) -> f64 {
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

/// One method's overall metrics and its metrics per prior-events bucket.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MethodReport {
    pub name: String,
    pub mrr: f64,
    pub ndcg5: f64,
    pub hit1: f64,
    pub n: usize,
    /// One entry per [`BUCKETS`] entry, in that order; serialised as an object keyed by bucket.
    #[serde(serialize_with = "buckets_as_object")]
    pub by_prior_events: Vec<(String, Metrics)>,
    /// MRR minus interacted-first's, with its paired bootstrap interval.
    pub delta_vs_interacted: Option<Interval>,
    /// MRR minus display order's, with its paired bootstrap interval.
    pub delta_vs_display: Option<Interval>,
}

/// One bucket of [`Adaptation`]: MRR of the model with and without the inner loop.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AdaptationBucket {
    pub n: usize,
    pub adapted: f64,
    pub without: f64,
    pub lift: f64,
}

/// A model served with and without adaptation (`X` and `X-no-adapt`), overall and per bucket.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Adaptation {
    pub model: String,
    pub without: String,
    /// Overall MRR lift of adaptation with its paired bootstrap interval.
    pub lift: Option<Interval>,
    #[serde(serialize_with = "buckets_as_object")]
    pub by_prior_events: Vec<(String, AdaptationBucket)>,
}

/// The bootstrap settings as reported.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BootstrapNote {
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
    /// Sessions resampled (those with at least one evaluated list).
    pub sessions: usize,
}

fn buckets_as_object<S: Serializer, T: serde::Serialize>(
    v: &[(String, T)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(v.len()))?;
    for (bucket, m) in v {
        map.serialize_entry(bucket, m)?;
    }
    map.end()
}

impl MethodReport {
    pub fn new(name: &str, outcomes: &[Outcome]) -> MethodReport {
        let all = metrics(outcomes);
        let mut grouped: Vec<Vec<Outcome>> = vec![Vec::new(); BUCKETS.len()];
        for o in outcomes {
            grouped[bucket_of(o.prior_events)].push(*o);
        }
        let by_prior_events = BUCKETS.iter().zip(&grouped).map(|(b, g)| (b.to_string(), metrics(g))).collect();
        MethodReport {
            name: name.to_string(),
            mrr: all.mrr,
            ndcg5: all.ndcg5,
            hit1: all.hit1,
            n: all.n,
            by_prior_events,
            delta_vs_interacted: None,
            delta_vs_display: None,
        }
    }
}

/// The evaluation report of several methods on one dataset.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub dataset: String,
    pub methods: Vec<MethodReport>,
    /// Every model evaluated both as `X` and `X-no-adapt`.
    pub adaptation: Vec<Adaptation>,
    pub bootstrap: BootstrapNote,
    /// Free-form lines: seed, timings, settings.
    pub notes: Vec<String>,
}

/// Okabe–Ito colours (distinguishable with common colour-vision deficiencies).
const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the characters that would break a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn fmt_metric(m: f64, n: usize) -> String {
    if n == 0 {
        "–".to_string()
    } else {
        format!("{m:.4}")
    }
}

impl Report {
    /// Builds the report from each method's outcomes (methods keep the given order): metrics,
    /// differences against [`INTERACTED_FIRST`] and [`DISPLAY`] with bootstrap intervals, and the
    /// adaptation lift of every `X` / `X-no-adapt` pair.
    pub fn new(
        dataset: &str,
        methods: Vec<(String, Vec<Outcome>)>,
        notes: Vec<String>,
        bootstrap: Bootstrap,
    ) -> Report {
        let find = |name: &str| methods.iter().position(|(n, _)| n == name);
        let (interacted, display) = (find(INTERACTED_FIRST), find(DISPLAY));
        let adapted: Vec<(usize, usize)> = methods
            .iter()
            .enumerate()
            .filter_map(|(k, (name, _))| find(&format!("{name}{NO_ADAPT_SUFFIX}")).map(|w| (k, w)))
            .collect();
        // Every interval comes from one run over the same resamples: per method against
        // interacted-first and against display, then each adaptation pair.
        let mut pairs: Vec<(&[Outcome], &[Outcome])> = Vec::new();
        for (_, outcomes) in &methods {
            for reference in [interacted, display].into_iter().flatten() {
                pairs.push((outcomes, &methods[reference].1));
            }
        }
        for &(k, w) in &adapted {
            pairs.push((&methods[k].1, &methods[w].1));
        }
        let mut intervals = bootstrap.intervals(&pairs).into_iter();
        let mut reports: Vec<MethodReport> = Vec::with_capacity(methods.len());
        for (name, outcomes) in &methods {
            let mut r = MethodReport::new(name, outcomes);
            if interacted.is_some() {
                r.delta_vs_interacted = intervals.next().flatten();
            }
            if display.is_some() {
                r.delta_vs_display = intervals.next().flatten();
            }
            reports.push(r);
        }
        let adaptation = adapted
            .iter()
            .map(|&(k, w)| {
                let (a, b) = (&reports[k], &reports[w]);
                let by_prior_events = a
                    .by_prior_events
                    .iter()
                    .zip(&b.by_prior_events)
                    .map(|((bucket, x), (_, y))| {
                        let bucket_stats =
                            AdaptationBucket { n: x.n, adapted: x.mrr, without: y.mrr, lift: x.mrr - y.mrr };
                        (bucket.clone(), bucket_stats)
                    })
                    .collect();
                Adaptation {
                    model: a.name.clone(),
                    without: b.name.clone(),
                    lift: intervals.next().flatten(),
                    by_prior_events,
                }
            })
            .collect();
        let sessions = {
            let mut all: Vec<usize> = methods.iter().flat_map(|(_, o)| o.iter().map(|x| x.session)).collect();
            all.sort_unstable();
            all.dedup();
            all.len()
        };
        let bootstrap =
            BootstrapNote { resamples: bootstrap.resamples.max(1), seed: bootstrap.seed, level: 0.95, sessions };
        Report { dataset: dataset.to_string(), methods: reports, adaptation, bootstrap, notes }
    }

    /// Pretty-printed JSON (layout in the [module documentation](self)).
    pub fn to_json(&self) -> String {
        // Only strings, numbers and string-keyed maps: serialisation cannot fail.
        serde_json::to_string_pretty(self).expect("a report is always representable as JSON")
    }

    /// A Markdown summary: overall metrics per method, then MRR per prior-events bucket.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Evaluation: {}\n", md_cell(&self.dataset));
        let _ = writeln!(s, "| method | MRR | nDCG@5 | HR@1 | n | ΔMRR vs interacted-first | ΔMRR vs display |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        let interval = |i: &Option<Interval>| i.as_ref().map_or_else(|| "–".to_string(), Interval::describe);
        for m in &self.methods {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md_cell(&m.name),
                fmt_metric(m.mrr, m.n),
                fmt_metric(m.ndcg5, m.n),
                fmt_metric(m.hit1, m.n),
                m.n,
                interval(&m.delta_vs_interacted),
                interval(&m.delta_vs_display)
            );
        }
        let b = &self.bootstrap;
        let _ = writeln!(
            s,
            "\nΔ: difference of MRR on the same lists, with a paired bootstrap 95 % percentile interval \
             ({} resamples of the {} sessions, seed {}).",
            b.resamples, b.sessions, b.seed
        );
        let _ = writeln!(s, "\n## MRR by engagement events earlier in the session\n");
        let _ = write!(s, "| method |");
        for b in BUCKETS {
            let _ = write!(s, " {b} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in BUCKETS {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for m in &self.methods {
            let _ = write!(s, "| {} |", md_cell(&m.name));
            for (_, b) in &m.by_prior_events {
                let _ = write!(s, " {} |", fmt_metric(b.mrr, b.n));
            }
            s.push('\n');
        }
        if let Some(first) = self.methods.first() {
            let _ = write!(s, "| *n* |");
            for (_, b) in &first.by_prior_events {
                let _ = write!(s, " {} |", b.n);
            }
            s.push('\n');
        }
        if !self.adaptation.is_empty() {
            let _ = writeln!(s, "\n## Adaptation by engagement events earlier in the session\n");
            let _ = write!(s, "| model | | all |");
            for b in BUCKETS {
                let _ = write!(s, " {b} |");
            }
            let _ = write!(s, "\n|---|---|---:|");
            for _ in BUCKETS {
                let _ = write!(s, "---:|");
            }
            s.push('\n');
            for a in &self.adaptation {
                let overall = |name: &str| self.methods.iter().find(|m| m.name == name).map_or(0.0, |m| m.mrr);
                let (with, without) = (overall(&a.model), overall(&a.without));
                let _ = write!(s, "| {} | adapted | {with:.4} |", md_cell(&a.model));
                for (_, b) in &a.by_prior_events {
                    let _ = write!(s, " {} |", fmt_metric(b.adapted, b.n));
                }
                let _ = write!(s, "\n| | no adaptation | {without:.4} |");
                for (_, b) in &a.by_prior_events {
                    let _ = write!(s, " {} |", fmt_metric(b.without, b.n));
                }
                let lift = a.lift.as_ref().map_or_else(|| format!("{:+.4}", with - without), Interval::describe);
                let _ = write!(s, "\n| | lift | {lift} |");
                for (_, b) in &a.by_prior_events {
                    let _ = write!(s, " {} |", if b.n == 0 { "–".to_string() } else { format!("{:+.4}", b.lift) });
                }
                s.push('\n');
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(s, "- {}", note.replace('\n', " "));
            }
        }
        s
    }

    /// A grouped bar chart of MRR per method, overall and per prior-events bucket (self-contained
    /// SVG: no scripts, fonts or external resources).
    pub fn to_svg(&self) -> String {
        let groups: Vec<(String, Vec<(f64, usize)>)> =
            std::iter::once(("all".to_string(), self.methods.iter().map(|m| (m.mrr, m.n)).collect()))
                .chain(BUCKETS.iter().enumerate().map(|(b, name)| {
                    (
                        name.to_string(),
                        self.methods
                            .iter()
                            .map(|m| m.by_prior_events.get(b).map_or((0.0, 0), |(_, x)| (x.mrr, x.n)))
                            .collect(),
                    )
                }))
                .collect();
        let n_methods = self.methods.len().max(1);
        let max_value = groups.iter().flat_map(|(_, v)| v.iter().map(|x| x.0)).fold(0.0f64, f64::max);
        let y_max = ((max_value * 10.0).ceil() / 10.0).clamp(0.1, 1.0);

        let (width, chart_height) = (820.0f64, 460.0f64);
        let legend_rows = self.methods.len().div_ceil(3) as f64;
        let (left, right, top) = (70.0, 20.0, 50.0);
        let bottom = 80.0 + 20.0 * legend_rows;
        let plot_w = width - left - right;
        let plot_h = chart_height - top - bottom;
        // The baselines' own rows would set the scale (display is far below) and say nothing new.
        let deltas: Vec<(usize, Interval)> = self
            .methods
            .iter()
            .enumerate()
            .filter(|(_, x)| x.name != DISPLAY && x.name != INTERACTED_FIRST)
            .filter_map(|(m, x)| x.delta_vs_interacted.map(|d| (m, d)))
            .collect();
        let row_h = 18.0;
        let panel_h = if deltas.is_empty() { 0.0 } else { 60.0 + row_h * deltas.len() as f64 };
        let height = chart_height + panel_h;
        let group_w = plot_w / groups.len() as f64;
        let bar_w = (group_w * 0.8) / n_methods as f64;
        let y = |v: f64| top + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0));

        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(s, "<title>MRR by method and prior engagement events: {}</title>", xml_escape(&self.dataset));
        let _ = writeln!(s, "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">MRR of the engaged item: {}</text>",
            width / 2.0,
            xml_escape(&self.dataset)
        );
        // Grid lines and y tick labels.
        for k in 0..=5 {
            let v = y_max * k as f64 / 5.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#dddddd\"/>",
                left + plot_w
            );
            let _ =
                writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>", left - 6.0, yy + 4.0);
        }
        // Axes.
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"#333333\"/>",
            top + plot_h
        );
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333333\"/>",
            top + plot_h,
            left + plot_w,
            top + plot_h
        );
        let _ = writeln!(
            s,
            "<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">MRR</text>",
            top + plot_h / 2.0,
            top + plot_h / 2.0
        );
        // Bars.
        for (g, (label, values)) in groups.iter().enumerate() {
            let gx = left + group_w * g as f64 + group_w * 0.1;
            for (m, &(v, n)) in values.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let x = gx + bar_w * m as f64;
                let yy = y(v);
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}, {}: MRR {v:.4} (n = {n})</title></rect>",
                    (bar_w - 1.0).max(1.0),
                    top + plot_h - yy,
                    PALETTE[m % PALETTE.len()],
                    xml_escape(&self.methods[m].name),
                    xml_escape(label)
                );
                if n_methods <= 4 {
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{v:.2}</text>",
                        x + bar_w / 2.0,
                        yy - 3.0
                    );
                }
            }
            let cx = left + group_w * (g as f64 + 0.5);
            let n = values.first().map_or(0, |x| x.1);
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                top + plot_h + 16.0,
                xml_escape(label)
            );
            let _ = writeln!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">n = {n}</text>",
                top + plot_h + 30.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">engagement events earlier in the session</text>",
            left + plot_w / 2.0,
            top + plot_h + 50.0
        );
        // Legend, three entries per row.
        for (m, method) in self.methods.iter().enumerate() {
            let lx = left + (m % 3) as f64 * (plot_w / 3.0);
            let ly = top + plot_h + 66.0 + 20.0 * (m / 3) as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>",
                PALETTE[m % PALETTE.len()]
            );
            let _ =
                writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", lx + 18.0, ly + 10.5, xml_escape(&method.name));
        }
        if !deltas.is_empty() {
            self.svg_interval_rows(&mut s, &deltas, chart_height, width, row_h);
        }
        s.push_str("</svg>\n");
        s
    }

    /// The interval panel under the chart: per method but the two baselines, ΔMRR vs
    /// interacted-first as a dot (the observed difference) on a line (its bootstrap interval), with
    /// a zero line.
    fn svg_interval_rows(&self, s: &mut String, deltas: &[(usize, Interval)], panel_top: f64, width: f64, row_h: f64) {
        let (label_w, right) = (190.0, 200.0);
        let (x0, x1) = (label_w, width - right);
        let lo = deltas.iter().map(|(_, d)| d.lo).fold(0.0f64, f64::min);
        let hi = deltas.iter().map(|(_, d)| d.hi).fold(0.0f64, f64::max);
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let (lo, hi) = (lo - pad, hi + pad);
        let x = |v: f64| x0 + (x1 - x0) * ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
        let rows_top = panel_top + 40.0;
        let rows_bottom = rows_top + row_h * deltas.len() as f64;
        let b = &self.bootstrap;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">ΔMRR vs interacted-first, 95 % paired bootstrap interval ({} resamples of sessions, seed {})</text>",
            width / 2.0,
            panel_top + 20.0,
            b.resamples,
            b.seed
        );
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#333333\" stroke-dasharray=\"3 3\"/>",
            x(0.0),
            rows_top - 6.0,
            rows_bottom
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555555\">0</text>",
            x(0.0),
            rows_bottom + 12.0
        );
        for (row, (m, d)) in deltas.iter().enumerate() {
            let yy = rows_top + row_h * row as f64 + row_h / 2.0;
            let colour = PALETTE[m % PALETTE.len()];
            let name = xml_escape(&self.methods[*m].name);
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{name}</text>", x0 - 10.0, yy + 4.0);
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                x(d.lo),
                x(d.hi)
            );
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{yy:.1}\" r=\"4\" fill=\"{colour}\"><title>{name}: {}</title></circle>",
                x(d.mean),
                xml_escape(&d.describe())
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                x1 + 10.0,
                yy + 4.0,
                xml_escape(&d.describe())
            );
        }
    }

    /// Writes `report.md`, `report.json` and `report.svg` into `dir` (created if needed).
    pub fn write_all(&self, dir: &Path) -> Result<()> {
        let io = |what: &Path, e: std::io::Error| Error::InvalidInput {
            reason: format!("cannot write {}: {e}", what.display()),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for (name, content) in
            [("report.md", self.to_markdown()), ("report.json", self.to_json()), ("report.svg", self.to_svg())]
        {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(rank: usize, prior_events: usize) -> Outcome {
        Outcome { rank, prior_events, session: 0 }
    }

    fn in_session(rank: usize, session: usize) -> Outcome {
        Outcome { rank, prior_events: 0, session }
    }

    #[test]
    fn metrics_on_hand_computed_examples() {
        // Ranks 1, 2, 4, 10:
        //   MRR    = (1 + 1/2 + 1/4 + 1/10) / 4                      = 1.85 / 4 = 0.4625
        //   nDCG@5 = (1/log2 2 + 1/log2 3 + 1/log2 5 + 0) / 4
        //          = (1 + 0.6309298 + 0.4306766) / 4                 = 0.5154016
        //   HR@1   = 1 / 4                                           = 0.25
        let m = metrics(&[o(1, 0), o(2, 1), o(4, 3), o(10, 7)]);
        assert_eq!(m.n, 4);
        assert!((m.mrr - 0.4625).abs() < 1e-12);
        assert!((m.ndcg5 - 0.515_401_6).abs() < 1e-6, "{}", m.ndcg5);
        assert!((m.hit1 - 0.25).abs() < 1e-12);
        // Rank 5 is the last one counted by nDCG@5: 1 / log2 6 = 0.3868528; rank 6 gives 0.
        assert!((metrics(&[o(5, 0)]).ndcg5 - 0.386_852_8).abs() < 1e-6);
        assert_eq!(metrics(&[o(6, 0)]).ndcg5, 0.0);
        assert_eq!(metrics(&[]), Metrics { n: 0, mrr: 0.0, ndcg5: 0.0, hit1: 0.0 });
    }

    #[test]
    fn buckets() {
        let got: Vec<usize> = [0, 1, 2, 3, 5, 6, 100].iter().map(|&p| bucket_of(p)).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 3, 4, 4]);
        let r = MethodReport::new("m", &[o(1, 0), o(2, 0), o(1, 4)]);
        assert_eq!(r.by_prior_events.len(), BUCKETS.len());
        assert_eq!(r.by_prior_events[0].1.n, 2);
        assert!((r.by_prior_events[0].1.mrr - 0.75).abs() < 1e-12);
        assert_eq!(r.by_prior_events[3].1, Metrics { n: 1, mrr: 1.0, ndcg5: 1.0, hit1: 1.0 });
        assert_eq!(r.by_prior_events[4].1.n, 0);
    }

    fn sample() -> Report {
        Report::new(
            "toy <&> data",
            vec![
                ("display order".into(), vec![o(3, 0), o(2, 1), o(1, 2)]),
                ("fewclick | adapted".into(), vec![o(2, 0), o(1, 1), o(1, 7)]),
            ],
            vec!["seed 7".into()],
            Bootstrap::default(),
        )
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        // h = 0.025 × 4 = 0.1: 1 + 0.1 × (2 − 1).
        assert!((quantile(&v, 0.025) - 1.1).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.975), 7.0);
    }

    #[test]
    fn bootstrap_of_identical_methods_is_zero() {
        let a: Vec<Outcome> = (0..40).map(|i| in_session(1 + i % 5, i / 3)).collect();
        let got = Bootstrap { resamples: 200, seed: 9 }.intervals(&[(&a, &a)]);
        assert_eq!(got, vec![Some(Interval { mean: 0.0, lo: 0.0, hi: 0.0 })]);
    }

    #[test]
    fn bootstrap_of_a_method_better_on_every_session_is_above_zero_and_deterministic() {
        // Reference: ranks 2 to 6, mixed differently in each session; the method: one place better
        // on every list of every session.
        let reference: Vec<Outcome> = (0..60).map(|i| in_session(2 + (i * i) % 5, i / 4)).collect();
        let better: Vec<Outcome> = reference.iter().map(|x| Outcome { rank: x.rank - 1, ..*x }).collect();
        let b = Bootstrap { resamples: 500, seed: 3 };
        let got = b.intervals(&[(&better, &reference)])[0].expect("paired");
        let exact = metrics(&better).mrr - metrics(&reference).mrr;
        assert!((got.mean - exact).abs() < 1e-12, "{got:?} vs {exact}");
        assert!(got.lo > 0.0 && got.lo <= got.mean && got.mean <= got.hi, "{got:?}");
        assert_eq!(b.intervals(&[(&better, &reference)])[0], Some(got), "same seed, same interval");
        let other = Bootstrap { seed: 4, ..b }.intervals(&[(&better, &reference)])[0].expect("paired");
        assert_ne!((other.lo, other.hi), (got.lo, got.hi), "another seed, another resample");
        // Reversed, the interval is mirrored below zero.
        let worse = b.intervals(&[(&reference, &better)])[0].expect("paired");
        assert!(worse.hi < 0.0);
    }

    #[test]
    fn bootstrap_resamples_sessions_not_lists() {
        // One session of 30 lists where the method is much better (+0.9 each), nine sessions of
        // one list where it is worse (−0.5). Resampling lists, the 30 wins look like strong
        // evidence (lower bound near +0.4); but they are one session, and a resample of sessions
        // that misses it (probability (9/10)^10 ≈ 0.35) has only losses: the session-level
        // interval must reach below zero.
        let mut reference = Vec::new();
        let mut method = Vec::new();
        for _ in 0..30 {
            reference.push(in_session(10, 0));
            method.push(in_session(1, 0));
        }
        for s in 1..10 {
            reference.push(in_session(1, s));
            method.push(in_session(2, s));
        }
        let got = Bootstrap { resamples: 2000, seed: 5 }.intervals(&[(&method, &reference)])[0].expect("paired");
        assert!(got.mean > 0.0 && got.lo < 0.0, "{got:?}");
    }

    #[test]
    fn bootstrap_needs_the_same_lists() {
        let a = vec![in_session(1, 0), in_session(1, 1)];
        let b = vec![in_session(1, 0), in_session(1, 2)];
        let c = vec![in_session(1, 0)];
        assert_eq!(Bootstrap::default().intervals(&[(&a, &b), (&c, &a), (&[], &[])]), vec![None, None, None]);
    }

    #[test]
    fn report_has_deltas_and_adaptation_pairs() {
        let base: Vec<Outcome> =
            (0..30).map(|i| Outcome { rank: 1 + i % 4, prior_events: i % 7, session: i / 2 }).collect();
        let shifted = |k: usize| base.iter().map(|x| Outcome { rank: (x.rank + k).max(1), ..*x }).collect::<Vec<_>>();
        let r = Report::new(
            "toy",
            vec![
                (DISPLAY.into(), shifted(2)),
                (INTERACTED_FIRST.into(), shifted(1)),
                ("m".into(), base.clone()),
                (format!("m{NO_ADAPT_SUFFIX}"), shifted(1)),
            ],
            vec![],
            Bootstrap { resamples: 100, seed: 2 },
        );
        assert_eq!(r.methods[1].delta_vs_interacted, Some(Interval { mean: 0.0, lo: 0.0, hi: 0.0 }));
        let d = r.methods[2].delta_vs_interacted.expect("delta");
        assert!(d.lo > 0.0, "{d:?}");
        assert!(r.methods[2].delta_vs_display.expect("delta").mean > d.mean);
        assert_eq!(r.adaptation.len(), 1);
        let a = &r.adaptation[0];
        assert_eq!((a.model.as_str(), a.without.as_str()), ("m", "m-no-adapt"));
        assert_eq!(a.lift, r.methods[2].delta_vs_interacted, "m-no-adapt ranks like interacted-first");
        for ((_, b), (_, m)) in a.by_prior_events.iter().zip(&r.methods[2].by_prior_events) {
            assert_eq!((b.n, b.adapted), (m.n, m.mrr));
            assert!((b.lift - (b.adapted - b.without)).abs() < 1e-12);
        }
        assert_eq!((r.bootstrap.resamples, r.bootstrap.seed, r.bootstrap.sessions), (100, 2, 15));
        let md = r.to_markdown();
        assert!(md.contains("## Adaptation by engagement events earlier in the session"), "{md}");
        assert!(md.contains("| m | adapted |") && md.contains("| | no adaptation |") && md.contains("| | lift |"));
        assert!(md.contains("100 resamples of the 15 sessions, seed 2"), "{md}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON");
        for key in ["mean", "lo", "hi"] {
            assert!(v["methods"][2]["delta_vs_interacted"][key].is_number());
            assert!(v["methods"][2]["delta_vs_display"][key].is_number());
        }
        assert!(v["adaptation"][0]["by_prior_events"]["3-5"]["lift"].is_number());
        assert_eq!(v["bootstrap"]["seed"], 2);
        let svg = r.to_svg();
        assert!(svg.contains("ΔMRR vs interacted-first"));
        assert_eq!(svg.matches("<circle").count(), 2, "one interval row per method but the two baselines");
    }

    #[test]
    fn json_has_required_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).expect("valid JSON");
        assert_eq!(v["dataset"], "toy <&> data");
        let methods = v["methods"].as_array().expect("methods array");
        assert_eq!(methods.len(), 2);
        for m in methods {
            for key in ["name", "mrr", "ndcg5", "hit1", "n"] {
                assert!(m.get(key).is_some(), "missing {key}");
            }
            let buckets = m["by_prior_events"].as_object().expect("object");
            assert_eq!(buckets.len(), BUCKETS.len());
            assert!(buckets["0"]["mrr"].is_number());
        }
        assert_eq!(v["notes"][0], "seed 7");
    }

    #[test]
    fn markdown_tables() {
        let md = sample().to_markdown();
        assert!(md.contains("| method | MRR | nDCG@5 | HR@1 | n | ΔMRR vs interacted-first | ΔMRR vs display |"));
        assert!(md.contains("| display order | 0.6111 |"), "{md}");
        assert!(md.contains("fewclick \\| adapted"));
        assert!(md.contains("| method | 0 | 1 | 2 | 3-5 | 6+ |"));
        assert!(md.contains("- seed 7"));
    }

    #[test]
    fn svg_escapes_text() {
        let svg = sample().to_svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("toy &lt;&amp;&gt; data"));
        assert!(!svg.contains("<&>"));
    }
}
