//! Session logs: loading them from disk into [`Dataset`], splitting them by time, and writing them
//! back as JSONL.
//!
//! # Session log formats
//!
//! A log is a sequence of rows. Every row belongs to a session and has a timestamp; it is either a
//! shopper **event** on one item or a **result list** the shopper was shown (and possibly clicked
//! in). Rows are grouped by session (sessions keep the order in which they first appear in the
//! file) and each session's rows are sorted by timestamp; rows with equal timestamps keep their
//! file order. Session ids, user ids and item ids must be 1 to 256 bytes long.
//!
//! ## JSONL (`--format jsonl`)
//!
//! One JSON object per line; blank lines are ignored; unknown keys are ignored.
//!
//! ```text
//! {"session": "s1", "user": "u7", "timestamp": 12.5, "type": "click", "item": "sku-1"}
//! {"session": "s1", "timestamp": 14, "type": "dwell", "item": "sku-1", "dwell_ms": 1200}
//! {"session": "s1", "timestamp": 20, "type": "results", "items": ["a", "b", "c"],
//!  "prices": [10.0, 12.5, 9.99], "clicked": "b", "click_type": "cart"}
//! ```
//!
//! (the last row is one line in the file). Keys:
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `session` | yes | session id (string or integer) |
//! | `timestamp` | yes | finite number of seconds (the session features use the time between events) |
//! | `type` | yes | `results`, or an event type: `click`, `view` (= `impression`), `impression`, `cart` (also `add_to_cart`), `purchase`, `skip`, `dwell` |
//! | `user` | no | user id; every row of a session must name the same user or none |
//! | `item` | events | the item the event is about |
//! | `dwell_ms` | no | dwell time in milliseconds (events; finite, ≥ 0) |
//! | `items` | results | the displayed item ids in display order (non-empty, no duplicates) |
//! | `prices` | no | one finite positive price per displayed item |
//! | `clicked` | no | the displayed item the shopper engaged with; a value that is not among `items` is dropped (the list is kept as an unclicked list) |
//! | `click_type` | no | how the shopper engaged with `clicked`: `click` (default), `cart` or `purchase` |
//!
//! The engagement on a result list is stored in the list ([`Display::clicked`]), not as a separate
//! event: an evaluator predicts it from everything before it, then records it.
//!
//! ## CSV (`--format csv`)
//!
//! A header row naming the columns, in any order: `session,timestamp,type` are required;
//! `user,item,items,prices,clicked,click_type,dwell_ms` are optional; other columns are ignored.
//! Fields follow RFC 4180 (double quotes around fields that contain commas, quotes or line breaks;
//! `""` inside quotes is a quote). Meanings are those of the JSONL keys; an empty field is a missing
//! value; `items` and `prices` are `|`-joined (e.g. `a|b|c` and `10|12.5|9.99`).
//!
//! ```text
//! session,timestamp,type,item,items,prices,clicked,dwell_ms
//! s1,12.5,click,sku-1,,,,
//! s1,20,results,,a|b|c,10|12.5|9.99,b,
//! ```
//!
//! ## Parquet (`--format parquet`)
//!
//! The columns of the CSV format, matched by name: strings (`BYTE_ARRAY` UTF8) for `session`,
//! `user`, `type`, `item`, `items`, `prices`, `clicked` and `click_type` (`items`/`prices` may also
//! be lists of strings / numbers), a double or integer for `timestamp` (a Parquet timestamp column
//! is read in seconds), a double or integer for `dwell_ms`. Optional columns may be absent or null.
//!
//! ## trivago RecSys Challenge 2019 (`--format trivago`)
//!
//! The challenge's CSV layout (`user_id,session_id,timestamp,step,action_type,reference,platform,
//! city,device,current_filters,impressions,prices`). Rows are ordered by (`timestamp`, `step`)
//! within a session. A `clickout item` row becomes a result list: `impressions` (`|`-joined, display
//! order) with `prices`, clicked = `reference` when it is among the impressions, click type `cart`
//! (a clickout hands the shopper over to a booking site). `interaction item image`, `interaction
//! item info`, `interaction item rating`, `interaction item deals` and `search for item` rows
//! become `click` events on `reference`; such rows whose reference is not a numeric item id are
//! skipped. All other action types (filters, sort order, destination and POI searches) are skipped,
//! and so are sessions left without any step.

mod challenge;
mod columns;
mod csv;
mod jsonl;
mod parquet;
mod rows;

use self::challenge::*;
pub use self::columns::{load_columns, Columns};
use self::csv::*;
use self::jsonl::*;
pub use self::jsonl::{JsonlWriter, SessionStream};
use self::parquet::*;
pub use self::rows::LoadProgress;
use self::rows::*;
use crate::error::{Error, Result};
use crate::session::{validate_id, Event, EventKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use crate::session::MAX_TIMESTAMP_SECONDS;

/// A result list shown to the shopper, and what the shopper engaged with in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Display {
    pub timestamp: f64,
    /// Displayed item ids, in display order (non-empty, distinct).
    pub items: Vec<String>,
    /// One positive price per displayed item, when known.
    pub prices: Option<Vec<f32>>,
    /// The displayed item the shopper engaged with, if any (always one of `items`).
    pub clicked: Option<String>,
    /// How the shopper engaged with `clicked` (click, cart or purchase).
    pub click_kind: EventKind,
}

impl Display {
    /// Display index (0-based) of the clicked item.
    pub fn clicked_index(&self) -> Option<usize> {
        let clicked = self.clicked.as_deref()?;
        self.items.iter().position(|id| id == clicked)
    }

    /// The engagement on this list as an event (timestamp set), if there was one.
    pub fn click_event(&self) -> Option<Event> {
        let clicked = self.clicked.as_ref()?;
        let mut event = Event::new(clicked.clone(), self.click_kind);
        event.timestamp = Some(self.timestamp);
        Some(event)
    }
}

/// One step of a session. Loaded events carry `event.timestamp == Some(timestamp)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Event { timestamp: f64, event: Event },
    Results(Display),
}

impl Step {
    pub fn timestamp(&self) -> f64 {
        match self {
            Step::Event { timestamp, .. } => *timestamp,
            Step::Results(d) => d.timestamp,
        }
    }
}

/// One shopper session: its steps in chronological order.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: String,
    pub user: Option<String>,
    pub steps: Vec<Step>,
}

impl Session {
    /// Timestamp of the first step; `f64::INFINITY` for a session without steps (loaders never
    /// produce one).
    pub fn start_time(&self) -> f64 {
        self.steps.first().map_or(f64::INFINITY, Step::timestamp)
    }

    /// The result lists of the session, in order.
    pub fn displays(&self) -> impl Iterator<Item = &Display> {
        self.steps.iter().filter_map(|s| match s {
            Step::Results(d) => Some(d),
            Step::Event { .. } => None,
        })
    }
}

/// A set of sessions.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub sessions: Vec<Session>,
}

/// A session log format, see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Trivago,
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    /// `"trivago"`, `"jsonl"`, `"csv"` or `"parquet"`.
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "trivago" => Ok(Format::Trivago),
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => {
                Err(invalid(format!("unknown session log format {other:?} (expected trivago, jsonl, csv or parquet)")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Trivago => "trivago",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// Loads a session log. Errors name the file and the line (Parquet: the row) of the first problem.
pub fn load(format: Format, path: &Path) -> Result<Dataset> {
    load_observed(format, path, &mut |_, _| {})
}

/// [`load`], telling `progress` how far it is: `(bytes read, file size)` at each percent, or
/// `(row groups read, row groups)` for Parquet. A directory is a log in shards ([`shard_files`]):
/// each shard is loaded on its own and their sessions concatenated in shard order (`progress`
/// then counts shards), so a session must lie within one shard.
pub fn load_observed(format: Format, path: &Path, progress: LoadProgress) -> Result<Dataset> {
    if path.is_dir() {
        return load_shards_observed(format, &shard_files(format, path)?, progress);
    }
    match format {
        Format::Trivago => load_trivago(path, progress),
        Format::Jsonl => load_jsonl(path, progress),
        Format::Csv => load_csv(path, progress),
        Format::Parquet => load_parquet(path, progress),
    }
}

/// The shards at `files`, each loaded on its own, their sessions concatenated in the order given
/// (what loading their directory gives when `files` are all its shards in name order).
pub fn load_shards(format: Format, files: &[PathBuf]) -> Result<Dataset> {
    load_shards_observed(format, files, &mut |_, _| {})
}

/// [`load_shards`], telling `progress` `(shards loaded, shards)`.
fn load_shards_observed(format: Format, files: &[PathBuf], progress: LoadProgress) -> Result<Dataset> {
    let mut all = Dataset::default();
    for (k, file) in files.iter().enumerate() {
        all.sessions.extend(load(format, file)?.sessions);
        progress(k as u64 + 1, files.len() as u64);
    }
    Ok(all)
}

/// The shards of a log in directory `dir`: its files named `*.parquet` (Parquet), `*.jsonl`
/// (JSONL) or `*.csv` (CSV and trivago), in name order. A directory without any is an error.
pub fn shard_files(format: Format, dir: &Path) -> Result<Vec<PathBuf>> {
    let ext = match format {
        Format::Parquet => "parquet",
        Format::Jsonl => "jsonl",
        Format::Csv | Format::Trivago => "csv",
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::InvalidInput { reason: format!("cannot list {}: {e}", dir.display()) })?;
    let mut files = Vec::new();
    for entry in entries {
        let path =
            entry.map_err(|e| Error::InvalidInput { reason: format!("cannot list {}: {e}", dir.display()) })?.path();
        if path.is_file() && path.extension().is_some_and(|x| x == ext) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::InvalidInput { reason: format!("{}: no *.{ext} shard in the directory", dir.display()) });
    }
    Ok(files)
}

impl Dataset {
    pub fn n_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Number of result lists over all sessions.
    pub fn n_displays(&self) -> usize {
        self.sessions.iter().map(|s| s.displays().count()).sum()
    }

    /// Number of event steps over all sessions.
    pub fn n_events(&self) -> usize {
        self.sessions.iter().map(|s| s.steps.len()).sum::<usize>() - self.n_displays()
    }

    /// Splits by session start time: the `round(train_fraction × n)` sessions that start first go
    /// to the first set, the rest to the second; sessions starting at the same time as the last
    /// first-set session also go to the first set, so every first-set session starts strictly
    /// before every second-set session. Both sets keep the dataset's session order. Deterministic.
    /// `train_fraction` is clamped to [0, 1] (NaN counts as 0).
    pub fn split_by_time(&self, train_fraction: f64) -> (Dataset, Dataset) {
        let fraction = if train_fraction.is_nan() { 0.0 } else { train_fraction.clamp(0.0, 1.0) };
        let n = self.sessions.len();
        let mut order: Vec<(f64, usize)> = self.sessions.iter().enumerate().map(|(i, s)| (s.start_time(), i)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut cut = ((fraction * n as f64).round() as usize).min(n);
        if cut > 0 {
            let boundary = order[cut - 1].0;
            while cut < n && order[cut].0.total_cmp(&boundary).is_eq() {
                cut += 1;
            }
        }
        let mut in_train = vec![false; n];
        for &(_, i) in &order[..cut] {
            in_train[i] = true;
        }
        let (mut train, mut test) = (Dataset::default(), Dataset::default());
        for (s, first) in self.sessions.iter().zip(in_train) {
            if first {
                train.sessions.push(s.clone());
            } else {
                test.sessions.push(s.clone());
            }
        }
        (train, test)
    }
}

/// Writes a dataset in the JSONL format (one row per step, sessions one after another). [`load`]
/// with [`Format::Jsonl`] reads it back to an equal dataset when, as in every loaded dataset, each
/// session's steps are in time order and each event's `timestamp` is `Some` of its step's.
pub fn write_jsonl(ds: &Dataset, path: &Path) -> Result<()> {
    let mut out = JsonlWriter::create(path)?;
    for s in &ds.sessions {
        out.write_session(s)?;
    }
    out.finish()
}

/// Summarises a dataset in one line (sessions, displays, events, clicked displays).
pub fn describe(ds: &Dataset) -> String {
    let clicked = ds.sessions.iter().flat_map(|s| s.displays()).filter(|d| d.clicked.is_some()).count();
    format!(
        "{} sessions, {} result lists ({} with a click), {} events",
        ds.n_sessions(),
        ds.n_displays(),
        clicked,
        ds.n_events()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("fewclick-data-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write temp file");
        path
    }

    fn reason(e: Error) -> String {
        match e {
            Error::InvalidInput { reason } => reason,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    const TRIVAGO_HEADER: &str =
        "user_id,session_id,timestamp,step,action_type,reference,platform,city,device,current_filters,impressions,prices\n";

    #[test]
    fn trivago_layout() {
        let csv = format!(
            "{TRIVAGO_HEADER}\
             u1,s1,100,1,interaction item image,11,FR,\"Marseille, France\",tablet,,,\n\
             u1,s1,110,2,filter selection,Focus on Distance,FR,\"Marseille, France\",tablet,,,\n\
             u1,s1,120,3,clickout item,22,FR,\"Marseille, France\",tablet,\"Free WiFi|Pool\",33|22|11,90|80|70\n\
             u1,s1,115,4,search for item,33,FR,\"Marseille, France\",tablet,,,\n\
             u2,s2,50,1,clickout item,99,DE,Berlin,mobile,,5|6,\n\
             u2,s2,60,2,interaction item info,unknown,DE,Berlin,mobile,,,\n\
             u2,s2,70,3,interaction item deals,6,DE,Berlin,mobile,,,\n\
             u3,s3,10,1,change of sort order,price only,DE,Berlin,mobile,,,\n"
        );
        let path = temp_file("trivago.csv", &csv);
        let ds = load(Format::Trivago, &path).expect("loads");
        // s3 has only a sort change: no steps, dropped.
        assert_eq!(ds.sessions.len(), 2);
        let s1 = &ds.sessions[0];
        assert_eq!(s1.id, "s1");
        assert_eq!(s1.user.as_deref(), Some("u1"));
        // Sorted by timestamp: image (100), search for item (115), clickout (120).
        assert_eq!(s1.steps.len(), 3);
        match &s1.steps[1] {
            Step::Event { timestamp, event } => {
                assert_eq!(*timestamp, 115.0);
                assert_eq!(event.item, "33");
                assert_eq!(event.kind, EventKind::Click);
                assert_eq!(event.timestamp, Some(115.0));
            }
            other => panic!("expected an event, got {other:?}"),
        }
        match &s1.steps[2] {
            Step::Results(d) => {
                assert_eq!(d.items, vec!["33", "22", "11"]);
                assert_eq!(d.prices, Some(vec![90.0, 80.0, 70.0]));
                assert_eq!(d.clicked.as_deref(), Some("22"));
                assert_eq!(d.clicked_index(), Some(1));
                assert_eq!(d.click_kind, EventKind::Cart);
            }
            other => panic!("expected results, got {other:?}"),
        }
        let s2 = &ds.sessions[1];
        // Non-numeric reference skipped; clicked reference not among impressions -> None.
        assert_eq!(s2.steps.len(), 2);
        match &s2.steps[0] {
            Step::Results(d) => {
                assert_eq!(d.prices, None);
                assert_eq!(d.clicked, None);
            }
            other => panic!("expected results, got {other:?}"),
        }
        assert_eq!(ds.n_displays(), 2);
        assert_eq!(ds.n_events(), 3);
    }

    #[test]
    fn trivago_ties_ordered_by_step() {
        let csv = format!(
            "{TRIVAGO_HEADER}\
             u1,s1,100,2,clickout item,1,FR,Paris,desktop,,1|2,10|20\n\
             u1,s1,100,1,interaction item image,2,FR,Paris,desktop,,,\n"
        );
        let path = temp_file("ties.csv", &csv);
        let ds = load(Format::Trivago, &path).expect("loads");
        assert!(matches!(ds.sessions[0].steps[0], Step::Event { .. }));
        assert!(matches!(ds.sessions[0].steps[1], Step::Results(_)));
    }

    #[test]
    fn trivago_malformed_lines_name_the_line() {
        let cases = [
            ("u1,s1,100,1,clickout item,1,FR,Paris,desktop,,1|2\n", "line 3", "expected 12 fields"),
            ("u1,s1,abc,1,clickout item,1,FR,Paris,desktop,,1|2,10|20\n", "line 3", "timestamp"),
            ("u1,s1,100,1,clickout item,1,FR,Paris,desktop,,1|2,10|x\n", "line 3", "price"),
            ("u1,s1,100,1,clickout item,1,FR,Paris,desktop,,1|2,10\n", "line 3", "1 prices for 2"),
            ("u1,s1,100,1,clickout item,1,FR,Paris,desktop,,1|1,10|20\n", "line 3", "displayed twice"),
            ("u1,s1,100,1,clickout item,1,FR,\"Paris,desktop,,1|2,10|20\n", "line 3", "unterminated"),
        ];
        for (bad, line, what) in cases {
            let csv = format!("{TRIVAGO_HEADER}u1,s1,90,1,interaction item image,1,FR,Paris,desktop,,,\n{bad}");
            let path = temp_file("bad.csv", &csv);
            let r = reason(load(Format::Trivago, &path).expect_err("must fail"));
            assert!(r.contains(&format!("bad.csv:{}", &line[5..])), "{r}");
            assert!(r.contains(what), "{r}");
        }
        let path = temp_file("noheader.csv", "a,b\n1,2\n");
        let r = reason(load(Format::Trivago, &path).expect_err("must fail"));
        assert!(r.contains("missing column"), "{r}");
        let missing = std::env::temp_dir().join("fewclick-definitely-missing.csv");
        let r = reason(load(Format::Trivago, &missing).expect_err("must fail"));
        assert!(r.contains("cannot read"), "{r}");
    }

    #[test]
    fn csv_reader_handles_quotes_and_crlf() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\r\n1,,3";
        let mut r = CsvReader::new(text.as_bytes());
        let mut records = Vec::new();
        while let Some(rec) = r.next_record() {
            records.push(rec.expect("valid"));
        }
        assert_eq!(records.len(), 3);
        assert_eq!(records[0], (1, vec!["a".to_string(), "b".into(), "c".into()]));
        assert_eq!(records[1], (2, vec!["x, y".to_string(), "say \"hi\"".into(), "two\nlines".into()]));
        assert_eq!(records[2], (5, vec!["1".to_string(), "".into(), "3".into()]));
    }

    #[test]
    fn generic_csv_and_jsonl_errors() {
        let path = temp_file("bad.jsonl", "{\"session\":\"s\",\"timestamp\":1,\"type\":\"click\",\"item\":\"a\"}\n\n{\"session\":\"s\",\"timestamp\":2,\"type\":\"hover\",\"item\":\"a\"}\n");
        let r = reason(load(Format::Jsonl, &path).expect_err("must fail"));
        assert!(r.contains("bad.jsonl:3") && r.contains("unknown type"), "{r}");
        let path = temp_file(
            "bad2.jsonl",
            "{\"session\":\"s\",\"timestamp\":1,\"type\":\"results\",\"items\":[\"a\"],\"click_type\":\"skip\"}\n",
        );
        let r = reason(load(Format::Jsonl, &path).expect_err("must fail"));
        assert!(r.contains(":1:") && r.contains("click type"), "{r}");
        let path = temp_file("bad3.jsonl", "not json\n");
        let r = reason(load(Format::Jsonl, &path).expect_err("must fail"));
        assert!(r.contains(":1:") && r.contains("not valid JSON"), "{r}");
        let path = temp_file("bad-generic.csv", "session,timestamp,type,item\ns,1,click,a\ns,2,click,\n");
        let r = reason(load(Format::Csv, &path).expect_err("must fail"));
        assert!(r.contains("bad-generic.csv:3") && r.contains("needs an item"), "{r}");
        let path = temp_file("users.csv", "session,timestamp,type,item,user\ns,1,click,a,u1\ns,2,click,a,u2\n");
        let r = reason(load(Format::Csv, &path).expect_err("must fail"));
        assert!(r.contains("users.csv:3") && r.contains("user"), "{r}");
        assert!(Format::parse("xml").is_err());
        assert_eq!(Format::parse("parquet").ok(), Some(Format::Parquet));
    }

    fn session(id: &str, start: f64) -> Session {
        let mut event = Event::new("a", EventKind::Click);
        event.timestamp = Some(start);
        Session { id: id.into(), user: None, steps: vec![Step::Event { timestamp: start, event }] }
    }

    #[test]
    fn split_by_time_is_time_ordered_and_keeps_ties_together() {
        let ds = Dataset {
            sessions: vec![
                session("d", 4.0),
                session("a", 1.0),
                session("c", 3.0),
                session("b", 2.0),
                session("c2", 3.0),
            ],
        };
        let (train, test) = ds.split_by_time(0.5);
        // round(2.5) = 3 sessions (a, b, c), plus c2 which starts at the same time as c.
        let ids: Vec<&str> = train.sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "c", "b", "c2"]);
        assert_eq!(test.sessions.len(), 1);
        let (all, none) = ds.split_by_time(1.0);
        assert_eq!((all.sessions.len(), none.sessions.len()), (5, 0));
        let (none, all) = ds.split_by_time(f64::NAN);
        assert_eq!((none.sessions.len(), all.sessions.len()), (0, 5));
    }
}
