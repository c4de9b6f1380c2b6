//! Logs of any size (issue 12): the session stream cuts a JSONL log into windows of whole
//! sessions equal to what the loader assembles, refuses a log whose sessions are interleaved, and
//! streaming training is deterministic, valid and bounded to windows. Data: the demo store's
//! simulated shoppers, generated here.

use fewclick::demo::{generate_catalogue, simulate_sessions, write_demo_inputs};
use fewclick::train::data::{self, Format, SessionStream};
use fewclick::train::items::ItemFeatures;
use fewclick::train::pipeline::TrainOptions;
use fewclick::train::stream::train_streaming;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewclick-stream-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A simulated log of `n` sessions in `dir` (sessions.jsonl, item-table.json).
fn simulated(dir: &Path, n: usize, seed: u64) -> data::Dataset {
    let cat = generate_catalogue(seed, 96);
    let ds = simulate_sessions(&cat, n, seed);
    write_demo_inputs(&cat, &ds, dir).expect("write the log");
    ds
}

#[test]
fn windows_hold_whole_sessions_and_together_are_the_loaded_log() {
    let seed = 11;
    println!("seed {seed}");
    let dir = temp_dir("windows");
    let ds = simulated(&dir, 23, seed);
    let path = dir.join("sessions.jsonl");
    let loaded = data::load(Format::Jsonl, &path).expect("load");
    assert_eq!(loaded.sessions, ds.sessions);
    for window in [1, 5, 23, 100] {
        let parts: Vec<_> = SessionStream::open(&path, window).expect("open").map(|p| p.expect("window")).collect();
        assert_eq!(parts.len(), 23usize.div_ceil(window), "window {window}");
        assert!(parts.iter().all(|p| p.n_sessions() <= window && p.n_sessions() > 0));
        let joined: Vec<_> = parts.into_iter().flat_map(|p| p.sessions).collect();
        assert_eq!(joined, loaded.sessions, "window {window}");
    }
    assert!(SessionStream::open(&path, 0).is_err(), "a window of no session");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn interleaved_sessions_are_refused_with_the_line() {
    let dir = temp_dir("interleaved");
    let path = dir.join("log.jsonl");
    let rows = [
        r#"{"session":"a","timestamp":1,"type":"click","item":"x"}"#,
        r#"{"session":"b","timestamp":2,"type":"click","item":"y"}"#,
        r#"{"session":"a","timestamp":3,"type":"click","item":"z"}"#,
    ];
    std::fs::write(&path, rows.join("\n")).expect("write");
    // The loader sorts rows into sessions wherever they are; the stream cannot, and says so.
    assert_eq!(data::load(Format::Jsonl, &path).expect("loads").n_sessions(), 2);
    let err = SessionStream::open(&path, 10)
        .expect("open")
        .find_map(|p| p.err())
        .expect("an interleaved session is an error")
        .to_string();
    assert!(err.contains("log.jsonl:3") && err.contains("\"a\""), "{err}");
    // A broken line is an error naming it, too.
    std::fs::write(&path, format!("{}\nnot json\n", rows[0])).expect("write");
    let err = SessionStream::open(&path, 10).expect("open").find_map(|p| p.err()).expect("error").to_string();
    assert!(err.contains("log.jsonl:2") && err.contains("not valid JSON"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn streaming_training_is_deterministic_and_serves_its_training_settings() {
    let seed = 5;
    println!("seed {seed}");
    let dir = temp_dir("train");
    simulated(&dir, 60, seed);
    let path = dir.join("sessions.jsonl");
    let table = ItemFeatures::load_json(&dir.join("item-table.json")).expect("table");
    let opts = TrainOptions { epochs: 1.5, pretrain_epochs: 1.0, seed, ..TrainOptions::default() };
    let run = |window| train_streaming(&path, Some(&table), &opts, window, |_| {}).expect("trains");
    let a = run(16);
    let b = run(16);
    assert_eq!(a.model.theta, b.model.theta, "same seed, same log, same windows: the same model");
    assert_eq!((a.sessions, a.sessions_read), (60, 60 * 3), "one pretraining pass, 1.5 epochs rounded up to 2");
    assert!(a.tasks > 0 && a.iterations > 0);
    a.model.validate().expect("valid model");
    assert_eq!(a.model.inner.steps, opts.steps);
    assert_eq!(a.model.items.as_ref().map(|t| t.len()), Some(96), "the model carries the table");
    let c = run(60);
    assert_ne!(a.model.theta, c.model.theta, "other windows shuffle other pools");
    // A log without a single training task is an error, not an untrained model.
    let empty = dir.join("no-tasks.jsonl");
    std::fs::write(&empty, r#"{"session":"a","timestamp":1,"type":"click","item":"x"}"#).expect("write");
    assert!(train_streaming(&empty, Some(&table), &opts, 16, |_| {}).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_table_a_counting_pass_learns_the_features_train_learns() {
    let seed = 6;
    println!("seed {seed}");
    let dir = temp_dir("learned");
    let ds = simulated(&dir, 80, seed);
    let path = dir.join("sessions.jsonl");
    let opts = TrainOptions { epochs: 1.0, pretrain_epochs: 0.0, seed, ..TrainOptions::default() };
    let mut phases = Vec::new();
    let report = train_streaming(&path, None, &opts, 16, |p| phases.push(p.phase)).expect("trains");
    assert_eq!(phases.first(), Some(&"items"), "the counting pass comes first");
    assert_eq!(phases.iter().filter(|&&p| p == "items").count(), 5, "80 sessions in windows of 16");
    assert_eq!((report.sessions, report.sessions_read), (80, 80 * 2), "one counting pass, one training pass");
    let learned = ItemFeatures::learn(&ds).expect("learns");
    assert_eq!(report.model.items.as_ref(), Some(learned.table()), "the served table is the whole log's");
    assert_eq!(report.model.feature_names, learned.names);
    // Any window size counts the same statistics.
    let other = train_streaming(&path, None, &opts, 80, |_| {}).expect("trains");
    assert_eq!(other.model.items, report.model.items);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loading_and_task_building_report_progress_to_the_end_and_change_nothing() {
    use fewclick::train::tasks::{build_tasks, build_tasks_observed};
    use fewclick::{Arch, LossKind};
    let seed = 12;
    println!("seed {seed}");
    let dir = temp_dir("progress");
    simulated(&dir, 40, seed);
    let path = dir.join("sessions.jsonl");
    let size = std::fs::metadata(&path).expect("size").len();
    let mut seen = Vec::new();
    let observed =
        data::load_observed(Format::Jsonl, &path, &mut |done, total| seen.push((done, total))).expect("load");
    assert_eq!(observed.sessions, data::load(Format::Jsonl, &path).expect("load").sessions);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "increasing: {seen:?}");
    assert_eq!(seen.last(), Some(&(size, size)));
    let table = ItemFeatures::load_json(&dir.join("item-table.json")).expect("table");
    let arch = Arch::new(table.dim(), 16).expect("arch");
    let tables = std::slice::from_ref(&table);
    let mut steps = Vec::new();
    let with = build_tasks_observed(&observed, tables, arch, LossKind::Pairwise, false, &mut |d, n| steps.push((d, n)));
    let without = build_tasks(&observed, tables, arch, LossKind::Pairwise, false);
    assert_eq!(with.len(), without.len());
    assert!(with
        .iter()
        .zip(&without)
        .all(|(a, b)| a.query.inputs == b.query.inputs && a.support.inputs == b.support.inputs));
    assert_eq!(steps.last(), Some(&(40, 40)));
    assert!(steps.len() >= 2 && steps.windows(2).all(|w| w[0].0 < w[1].0));
    let _ = std::fs::remove_dir_all(&dir);
}
