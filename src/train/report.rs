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
//! `report.json` layout:
//!
//! ```text
//! {"dataset": "...",
//!  "methods": [{"name": "...", "mrr": 0.6, "ndcg5": 0.65, "hit1": 0.5, "n": 1000,
//!               "by_prior_events": {"0": {"n": 400, "mrr": ..., "ndcg5": ..., "hit1": ...},
//!                                   "1": {...}, "2": {...}, "3-5": {...}, "6+": {...}}}],
//!  "notes": ["seed 1", ...]}
//! ```
//!
//! `by_prior_events` is an object keyed by bucket, in [`BUCKETS`] order, every bucket present (a
//! bucket without predictions has `n` 0 and metrics 0).

use crate::error::{Error, Result};
use serde::ser::{SerializeMap, Serializer};
use std::fmt::Write as _;
use std::path::Path;

/// One evaluated prediction: the 1-based rank of the engaged item in a method's order, and how
/// many engagement events came before it in the session.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub rank: usize,
    pub prior_events: usize,
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
}

fn buckets_as_object<S: Serializer>(v: &[(String, Metrics)], s: S) -> std::result::Result<S::Ok, S::Error> {
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
        }
    }
}

/// The evaluation report of several methods on one dataset.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub dataset: String,
    pub methods: Vec<MethodReport>,
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
    /// Builds the report from each method's outcomes (methods keep the given order).
    pub fn new(dataset: &str, methods: Vec<(String, Vec<Outcome>)>, notes: Vec<String>) -> Report {
        let methods = methods.iter().map(|(name, outcomes)| MethodReport::new(name, outcomes)).collect();
        Report { dataset: dataset.to_string(), methods, notes }
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
        let _ = writeln!(s, "| method | MRR | nDCG@5 | HR@1 | n |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for m in &self.methods {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                md_cell(&m.name),
                fmt_metric(m.mrr, m.n),
                fmt_metric(m.ndcg5, m.n),
                fmt_metric(m.hit1, m.n),
                m.n
            );
        }
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

        let (width, height) = (820.0f64, 460.0f64);
        let legend_rows = self.methods.len().div_ceil(3) as f64;
        let (left, right, top) = (70.0, 20.0, 50.0);
        let bottom = 80.0 + 20.0 * legend_rows;
        let plot_w = width - left - right;
        let plot_h = height - top - bottom;
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
        s.push_str("</svg>\n");
        s
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
        Outcome { rank, prior_events }
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
        )
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
        assert!(md.contains("| method | MRR | nDCG@5 | HR@1 | n |"));
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
