//! `fewclick train --stream`: meta-training on a log of any length in bounded memory
//! (`fewclick::train::stream`), with the rate and the peak resident memory reported.

use super::commands::{with_suffix, write_file};
use super::progress::{peak_resident_bytes, Bar};
use super::TrainArgs;
use fewclick::train::export;
use fewclick::train::items::ItemFeatures;
use fewclick::train::pipeline::TrainOptions;
use fewclick::train::stream::{train_streaming, StreamProgress};

pub fn cmd_train_stream(a: &TrainArgs, opts: &TrainOptions) -> Result<(), String> {
    if a.input.format != "jsonl" {
        return Err(format!("--stream reads JSONL logs (--format jsonl), not {:?}", a.input.format));
    }
    if a.input.split.is_some() {
        return Err("--stream takes the whole log: --split needs every session's start time first".into());
    }
    if a.require_lift {
        return Err("--require-lift needs validation selection, which --stream does not run".into());
    }
    let table = a.item_table.as_deref().map(ItemFeatures::load_json).transpose().map_err(|e| e.to_string())?;
    eprintln!(
        "seed {}; streaming {} in windows of {} sessions; no validation selection (served with the training settings)",
        opts.seed,
        a.input.sessions.display(),
        a.window
    );
    // The log's sessions, known once the first pass has read it all (every pass reads the same
    // log): until then a pass's bar has no total to estimate the time left from.
    let mut log_sessions = 0;
    // A window's progress comes after it is trained: a pass began when the previous one's last
    // window was reported (the first, when the command started).
    let mut last_report = std::time::Instant::now();
    let mut current: Option<(String, Bar)> = None;
    let report = train_streaming(&a.input.sessions, table.as_ref(), opts, a.window, |p: StreamProgress| {
        let key = format!("{} pass {}/{}", p.phase, p.pass, p.passes);
        if current.as_ref().is_none_or(|(k, _)| *k != key) {
            current = Some((key.clone(), Bar::since(key, last_report)));
        }
        if let Some((_, bar)) = current.as_mut() {
            let rate = p.sessions as f64 / bar.started().elapsed().as_secs_f64().max(1e-9);
            let detail = format!("sessions, {} tasks, query loss {:.4}, {rate:.0} sessions/s", p.tasks, p.query_loss);
            log_sessions = log_sessions.max(p.sessions);
            bar.update(p.sessions, log_sessions, &detail);
        }
        last_report = std::time::Instant::now();
    })
    .map_err(|e| e.to_string())?;
    let rate = report.sessions_read as f64 / report.seconds.max(1e-9);
    let peak = peak_resident_bytes();
    let name = opts.algorithm.name();
    let log_path = a.log.clone().unwrap_or_else(|| with_suffix(&a.out, ".train-log.json"));
    let log = serde_json::json!({
        "algorithm": name,
        "seed": opts.seed,
        "sessions": a.input.sessions.display().to_string(),
        "stream": { "window": a.window, "sessions": report.sessions, "sessions_read": report.sessions_read,
                    "sessions_per_second": rate, "peak_resident_bytes": peak },
        "tasks": report.tasks,
        "iterations": report.iterations,
        "seconds": report.seconds,
        "options": format!("{opts:?}"),
        "selection": serde_json::Value::Null,
    });
    write_file(&log_path, serde_json::to_string_pretty(&log).map_err(|e| e.to_string())?.as_bytes())?;
    let bytes = report.model.to_bytes().map_err(|e| format!("the trained model: {e}"))?;
    write_file(&a.out, &bytes)?;
    eprintln!(
        "{name}: {} sessions, {} passes read ({} sessions, {} tasks, {} meta-iterations) in {:.1} s: {rate:.0} \
         sessions/s; peak resident memory {}",
        report.sessions,
        report.sessions_read / report.sessions.max(1),
        report.sessions_read,
        report.tasks,
        report.iterations,
        report.seconds,
        peak.map_or("unknown (no /proc/self/status)".into(), |b| format!("{:.0} MB", b as f64 / 1e6))
    );
    eprintln!(
        "wrote {} ({} bytes, integrity {}) and {}",
        a.out.display(),
        bytes.len(),
        export::integrity(&bytes),
        log_path.display()
    );
    Ok(())
}
