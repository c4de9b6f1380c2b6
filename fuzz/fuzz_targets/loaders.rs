//! The trainer's session-log loaders (`fewclick::train::data::load`) on arbitrary files.
//!
//! Input: the first byte picks the format (`% 4`: 0 JSONL, 1 CSV, 2 trivago, 3 Parquet, so the
//! seeds start with '0'..'3'); the rest is written to a per-process file in the temp directory
//! (overwritten each run) and loaded.
//!
//! Checks: any error is fine, a panic out of `load` is not. The parquet crate panics on some damaged
//! files and `load` catches those (src/train/data/parquet.rs), so a panic raised inside the parquet crate
//! does not abort here at once: it must come back from `load` as an error, and one that escapes
//! still ends the run as a crash (libfuzzer-sys aborts on any panic out of the target). A dataset that loads keeps the module's promises:
//! session ids distinct and valid, users valid, no empty session, steps in time order with finite
//! timestamps in 0..1e11 s, events stamped with their step's time and valid by `Event::validate`,
//! result lists non-empty with distinct valid ids, one finite positive price per item when priced,
//! the click among the items and of kind click/cart/purchase (trivago: interactions are clicks on
//! numeric ids, a click-out is a cart). And `write_jsonl` writes it back to a file that loads to
//! the same sessions.
#![no_main]

use fewclick::session::validate_id;
use fewclick::train::data::{load, write_jsonl, Dataset, Format, Step, MAX_TIMESTAMP_SECONDS};
use fewclick::EventKind;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

const FORMATS: [Format; 4] = [Format::Jsonl, Format::Csv, Format::Trivago, Format::Parquet];

fn paths() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        (dir.join(format!("fewclick-fuzz-loaders-{pid}.in")), dir.join(format!("fewclick-fuzz-loaders-{pid}.jsonl")))
    })
}

/// libfuzzer-sys's panic hook aborts on every panic, caught or not; panics inside the parquet
/// crate go on unwinding, to `load`'s catch (and, past it, to libfuzzer-sys's abort). With
/// FEWCLICK_FUZZ_PARQUET_PANICS=abort they abort too, to collect such files (for the parquet crate).
fn let_parquet_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("FEWCLICK_FUZZ_PARQUET_PANICS").is_ok_and(|v| v == "abort") {
            return;
        }
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match info.location() {
            Some(at) if at.file().contains("/parquet-") => eprintln!("parquet panicked at {at} (load must catch it)"),
            _ => abort(info),
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_parquet_panics_unwind();
    let Some((&first, rest)) = data.split_first() else { return };
    let format = FORMATS[first as usize % 4];
    let (input, rewritten) = paths();
    std::fs::write(input, rest).expect("write the fuzz input to the temp directory");
    let Ok(ds) = load(format, input) else { return };
    check(&ds, format);

    write_jsonl(&ds, rewritten).expect("write_jsonl of a loaded dataset");
    let back = load(Format::Jsonl, rewritten).unwrap_or_else(|e| panic!("write_jsonl wrote a file load refuses: {e}"));
    assert!(
        back.sessions == ds.sessions,
        "JSONL round trip changed the dataset:\n{:?}\n{:?}",
        ds.sessions,
        back.sessions
    );
});

fn check(ds: &Dataset, format: Format) {
    let mut ids = HashSet::new();
    for s in &ds.sessions {
        assert!(validate_id(&s.id).is_ok(), "session id {:?}", s.id);
        assert!(ids.insert(s.id.as_str()), "session {:?} appears twice", s.id);
        if let Some(u) = &s.user {
            assert!(validate_id(u).is_ok(), "user id {u:?}");
        }
        assert!(!s.steps.is_empty(), "session {:?} without steps", s.id);
        let mut last = f64::NEG_INFINITY;
        for step in &s.steps {
            let t = step.timestamp();
            assert!(t.is_finite() && (0.0..MAX_TIMESTAMP_SECONDS).contains(&t), "timestamp {t}");
            assert!(t >= last, "steps out of time order in session {:?}", s.id);
            last = t;
            match step {
                Step::Event { timestamp, event } => {
                    assert_eq!(event.timestamp, Some(*timestamp), "an event not stamped with its step's time");
                    if let Err(e) = event.validate() {
                        panic!("a loaded event is invalid ({e}): {event:?}");
                    }
                    if format == Format::Trivago {
                        assert_eq!(event.kind, EventKind::Click);
                        assert!(event.item.bytes().all(|b| b.is_ascii_digit()), "trivago reference {:?}", event.item);
                    }
                }
                Step::Results(d) => {
                    assert!(!d.items.is_empty(), "an empty result list");
                    let mut seen = HashSet::new();
                    for id in &d.items {
                        assert!(validate_id(id).is_ok(), "displayed id {id:?}");
                        assert!(seen.insert(id.as_str()), "{id:?} displayed twice");
                    }
                    if let Some(p) = &d.prices {
                        assert_eq!(p.len(), d.items.len(), "prices for a list");
                        assert!(p.iter().all(|v| v.is_finite() && *v > 0.0), "prices {p:?}");
                    }
                    assert_eq!(
                        d.clicked.is_some(),
                        d.clicked_index().is_some(),
                        "clicked {:?} not displayed",
                        d.clicked
                    );
                    assert!(matches!(d.click_kind, EventKind::Click | EventKind::Cart | EventKind::Purchase));
                    if format == Format::Trivago {
                        assert_eq!(d.click_kind, EventKind::Cart);
                    }
                }
            }
        }
    }
}
