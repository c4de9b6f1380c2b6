//! Progress on stderr for the long steps (training, simulation), and the peak resident memory
//! the long commands report.

use fewclick::train::meta::Progress;
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// A progress bar with the elapsed time and an estimate of the time left: redrawn in place on a
/// terminal, a line every 10 % otherwise (logs stay short).
pub struct Bar {
    label: String,
    tty: bool,
    started: Instant,
    last_decile: usize,
}

impl Bar {
    pub fn new(label: String) -> Self {
        Bar::since(label, Instant::now())
    }

    /// A bar whose step began at `started` (before its first update).
    pub fn since(label: String, started: Instant) -> Self {
        Bar { label, tty: std::io::stderr().is_terminal(), started, last_decile: usize::MAX }
    }

    /// When the step began.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Shows `done` of `total`, then `detail`.
    pub fn update(&mut self, done: usize, total: usize, detail: &str) {
        let frac = done as f64 / total.max(1) as f64;
        let decile = (frac * 10.0) as usize;
        if !self.tty && decile == self.last_decile && done != total {
            return;
        }
        self.last_decile = decile;
        let width = 30;
        let filled = ((frac * width as f64) as usize).min(width);
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if frac > 0.0 { elapsed * (1.0 - frac) / frac } else { 0.0 };
        let bar = format!(
            "{} [{}{}] {done}/{total} {detail}  {elapsed:.0}s elapsed, ~{eta:.0}s left",
            self.label,
            "#".repeat(filled),
            ".".repeat(width - filled),
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{bar}");
            if done == total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{bar}");
        }
    }
}

/// A training run's progress bar: iterations, with the meta-batch's query loss.
pub fn progress_bar(label: String) -> impl FnMut(Progress) {
    let mut bar = Bar::new(label);
    move |p: Progress| bar.update(p.iteration, p.iterations, &format!("query loss {:.4}", p.query_loss))
}

/// The process's peak resident set size in bytes (`VmHWM` of /proc/self/status); `None` where
/// there is no such file (not Linux).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
