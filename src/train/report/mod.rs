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

mod metrics;
mod render;

pub use metrics::{
    bucket_of, metrics, Bootstrap, Interval, Metrics, Outcome, BUCKETS, DEFAULT_BOOTSTRAP_SEED, DISPLAY,
    INTERACTED_FIRST, NO_ADAPT_SUFFIX,
};

use crate::error::{Error, Result};
use serde::ser::{SerializeMap, Serializer};
use std::path::Path;

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
    use super::metrics::quantile;
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
