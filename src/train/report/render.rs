//! The report as Markdown and as an SVG chart (bars per method and bucket, and a row of intervals).

use super::{Interval, Report, BUCKETS, DISPLAY, INTERACTED_FIRST};
use std::fmt::Write as _;

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
}
