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

use crate::error::{Error, Result};
use crate::session::{validate_id, Event, EventKind};
use std::collections::HashMap;
use std::path::Path;

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
    match format {
        Format::Trivago => load_trivago(path),
        Format::Jsonl => load_jsonl(path),
        Format::Csv => load_csv(path),
        Format::Parquet => load_parquet(path),
    }
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
    #[derive(serde::Serialize)]
    struct Line<'a> {
        session: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        timestamp: f64,
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dwell_ms: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        items: Option<&'a [String]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prices: Option<&'a [f32]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        clicked: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        click_type: Option<&'a str>,
    }
    let mut out = String::new();
    for s in &ds.sessions {
        for step in &s.steps {
            let mut line = Line {
                session: &s.id,
                user: s.user.as_deref(),
                timestamp: step.timestamp(),
                kind: "results",
                item: None,
                dwell_ms: None,
                items: None,
                prices: None,
                clicked: None,
                click_type: None,
            };
            match step {
                Step::Event { event, .. } => {
                    line.kind = event.kind.as_str();
                    line.item = Some(&event.item);
                    line.dwell_ms = (event.dwell_ms != 0.0).then_some(event.dwell_ms);
                }
                Step::Results(d) => {
                    line.items = Some(&d.items);
                    line.prices = d.prices.as_deref();
                    line.clicked = d.clicked.as_deref();
                    line.click_type = Some(d.click_kind.as_str());
                }
            }
            let json = serde_json::to_string(&line)
                .map_err(|e| invalid(format!("cannot encode session {:?} as JSON: {e}", s.id)))?;
            out.push_str(&json);
            out.push('\n');
        }
    }
    std::fs::write(path, out).map_err(|e| invalid(format!("cannot write {}: {e}", path.display())))
}

// ---------------------------------------------------------------------------------------------
// Shared row model and session assembly
// ---------------------------------------------------------------------------------------------

fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

/// One generic row (JSONL, CSV or Parquet) before validation.
#[derive(Default)]
struct RawRow {
    session: Option<String>,
    user: Option<String>,
    timestamp: Option<f64>,
    kind: Option<String>,
    item: Option<String>,
    items: Option<Vec<String>>,
    prices: Option<Vec<f32>>,
    clicked: Option<String>,
    click_type: Option<String>,
    dwell_ms: Option<f64>,
}

/// Checks an id and explains the problem in loader terms.
fn check_id(what: &str, id: &str) -> std::result::Result<(), String> {
    validate_id(id).map_err(|e| match e {
        Error::InvalidId { reason } => format!("{what}: {reason}"),
        other => format!("{what}: {other}"),
    })
}

/// The largest timestamp accepted: 10^11 seconds is the year 5138, so anything above it is a
/// unit mistake (milliseconds or microseconds since the epoch) or a corrupt value, such as
/// u64::MAX, that would silently wreck every time feature.
pub use crate::session::MAX_TIMESTAMP_SECONDS;

fn check_timestamp(t: f64) -> std::result::Result<f64, String> {
    if !t.is_finite() {
        return Err(format!("timestamp must be a finite number, got {t}"));
    }
    if !(0.0..MAX_TIMESTAMP_SECONDS).contains(&t) {
        let hint = if t >= MAX_TIMESTAMP_SECONDS { " (milliseconds? timestamps are seconds)" } else { "" };
        return Err(format!("timestamp {t} is outside 0..1e11 seconds since the epoch{hint}"));
    }
    Ok(t)
}

/// Validates a result list and builds it. `clicked` outside `items` is dropped.
fn make_display(
    timestamp: f64,
    items: Vec<String>,
    prices: Option<Vec<f32>>,
    clicked: Option<String>,
    click_kind: EventKind,
) -> std::result::Result<Display, String> {
    if items.is_empty() {
        return Err("a result list needs at least one item".into());
    }
    // No reranker takes more (and a list this long would hold the whole row's memory per task).
    if items.len() > crate::reranker::MAX_CANDIDATES {
        return Err(format!("a result list of {} items (at most {})", items.len(), crate::reranker::MAX_CANDIDATES));
    }
    let mut seen = HashMap::with_capacity(items.len());
    for (i, id) in items.iter().enumerate() {
        check_id("displayed item id", id)?;
        if let Some(first) = seen.insert(id.as_str(), i) {
            return Err(format!("item {id:?} is displayed twice (positions {} and {})", first + 1, i + 1));
        }
    }
    if let Some(p) = &prices {
        if p.len() != items.len() {
            return Err(format!("{} prices for {} displayed items", p.len(), items.len()));
        }
        if let Some(i) = p.iter().position(|v| !v.is_finite() || *v <= 0.0) {
            return Err(format!("price {} (of item {}) must be a finite positive number", p[i], i + 1));
        }
    }
    if !matches!(click_kind, EventKind::Click | EventKind::Cart | EventKind::Purchase) {
        return Err(format!("click type must be click, cart or purchase, got {}", click_kind.as_str()));
    }
    let clicked = clicked.filter(|c| seen.contains_key(c.as_str()));
    Ok(Display { timestamp, items, prices, clicked, click_kind })
}

impl RawRow {
    /// Validates the row: (session id, user id, step).
    fn into_step(self) -> std::result::Result<(String, Option<String>, Step), String> {
        let session = self.session.ok_or("missing session id")?;
        check_id("session id", &session)?;
        if let Some(u) = &self.user {
            check_id("user id", u)?;
        }
        let timestamp = check_timestamp(self.timestamp.ok_or("missing timestamp")?)?;
        let kind = self.kind.ok_or("missing type")?;
        let step = if kind == "results" {
            let items = self.items.ok_or("a results row needs items")?;
            let click_kind = match &self.click_type {
                Some(t) => EventKind::parse(t).map_err(|e| e.to_string())?,
                None => EventKind::Click,
            };
            Step::Results(make_display(timestamp, items, self.prices, self.clicked, click_kind)?)
        } else {
            let kind = EventKind::parse(&kind).map_err(|_| {
                format!(
                    "unknown type {kind:?} (expected results, click, view, impression, cart, purchase, skip or dwell)"
                )
            })?;
            let item = self.item.ok_or("an event row needs an item")?;
            check_id("item id", &item)?;
            let mut event = Event::new(item, kind);
            event.timestamp = Some(timestamp);
            if let Some(ms) = self.dwell_ms {
                if !ms.is_finite() || ms < 0.0 {
                    return Err(format!("dwell_ms must be a finite, non-negative number, got {ms}"));
                }
                event.dwell_ms = ms as f32;
            }
            Step::Event { timestamp, event }
        };
        Ok((session, self.user, step))
    }
}

/// A session being assembled: id, user, and its steps with their (timestamp, order key).
type PendingSession = (String, Option<String>, Vec<(f64, u64, Step)>);

/// Groups steps into sessions (in order of first appearance) and sorts each session's steps by
/// (timestamp, order key).
#[derive(Default)]
struct Assembler {
    index: HashMap<String, usize>,
    sessions: Vec<PendingSession>,
}

impl Assembler {
    /// Adds a step; `order` breaks timestamp ties (file order, or the trivago step number).
    fn add(
        &mut self,
        session: String,
        user: Option<String>,
        order: u64,
        step: Step,
    ) -> std::result::Result<(), String> {
        let i = match self.index.get(&session) {
            Some(&i) => i,
            None => {
                self.index.insert(session.clone(), self.sessions.len());
                self.sessions.push((session, None, Vec::new()));
                self.sessions.len() - 1
            }
        };
        let entry = &mut self.sessions[i];
        if let Some(u) = user {
            match &entry.1 {
                Some(existing) if *existing != u => {
                    return Err(format!("session {:?} is attributed to user {existing:?} and to user {u:?}", entry.0))
                }
                Some(_) => {}
                None => entry.1 = Some(u),
            }
        }
        entry.2.push((step.timestamp(), order, step));
        Ok(())
    }

    fn finish(self) -> Dataset {
        let sessions = self
            .sessions
            .into_iter()
            .filter(|(_, _, steps)| !steps.is_empty())
            .map(|(id, user, mut steps)| {
                steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                Session { id, user, steps: steps.into_iter().map(|(_, _, s)| s).collect() }
            })
            .collect();
        Dataset { sessions }
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))
}

fn at_line(path: &Path, line: usize, reason: impl std::fmt::Display) -> Error {
    invalid(format!("{}:{line}: {reason}", path.display()))
}

fn parse_list(s: &str) -> Vec<String> {
    s.split('|').map(str::to_owned).collect()
}

fn parse_prices(s: &str) -> std::result::Result<Vec<f32>, String> {
    s.split('|').map(|p| p.trim().parse::<f32>().map_err(|_| format!("price {p:?} is not a number"))).collect()
}

// ---------------------------------------------------------------------------------------------
// CSV reading (RFC 4180)
// ---------------------------------------------------------------------------------------------

/// A CSV record with the line it starts on, or a problem with the line it is on.
type CsvRecord = std::result::Result<(usize, Vec<String>), (usize, String)>;

/// A minimal RFC 4180 reader over a whole file: comma-separated fields, double-quoted fields may
/// contain commas, line breaks and doubled quotes; `\n` and `\r\n` line ends.
struct CsvReader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> CsvReader<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        CsvReader { text, pos: 0, line: 1 }
    }

    /// The next record and the line it starts on; `None` at the end. Empty lines are skipped.
    fn next_record(&mut self) -> Option<CsvRecord> {
        let bytes = self.text.as_bytes();
        // Skip empty lines.
        while self.pos < bytes.len() && (bytes[self.pos] == b'\n' || bytes[self.pos] == b'\r') {
            if bytes[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= bytes.len() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        loop {
            // One field.
            if bytes.get(self.pos) == Some(&b'"') {
                self.pos += 1;
                let mut value = String::new();
                loop {
                    let Some(rel) = self.text[self.pos..].find(['"', '\n']) else {
                        return Some(Err((start_line, "unterminated quoted field".into())));
                    };
                    let at = self.pos + rel;
                    value.push_str(&self.text[self.pos..at]);
                    if bytes[at] == b'\n' {
                        value.push('\n');
                        self.line += 1;
                        self.pos = at + 1;
                    } else if bytes.get(at + 1) == Some(&b'"') {
                        value.push('"');
                        self.pos = at + 2;
                    } else {
                        self.pos = at + 1;
                        break;
                    }
                }
                fields.push(value);
                match bytes.get(self.pos) {
                    None | Some(b'\n') | Some(b',') => {}
                    Some(b'\r') if matches!(bytes.get(self.pos + 1), None | Some(b'\n')) => {}
                    Some(_) => {
                        return Some(Err((self.line, "unexpected character after a closing quote".into())));
                    }
                }
            } else {
                let rest = &self.text[self.pos..];
                let end = rest.find([',', '\n']).unwrap_or(rest.len());
                let field = rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]);
                fields.push(field.to_owned());
                self.pos += end;
            }
            match bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'\r') => {
                    self.pos += 1;
                    if bytes.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    self.line += 1;
                    return Some(Ok((start_line, fields)));
                }
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    return Some(Ok((start_line, fields)));
                }
                _ => return Some(Ok((start_line, fields))),
            }
        }
    }
}

/// Reads a CSV header and maps the wanted column names to indices.
struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    fn read(path: &Path, reader: &mut CsvReader<'_>) -> Result<Header> {
        let (line, names) = match reader.next_record() {
            None => return Err(invalid(format!("{}: the file is empty (no header row)", path.display()))),
            Some(Err((line, reason))) => return Err(at_line(path, line, reason)),
            Some(Ok(r)) => r,
        };
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if index.insert(name.trim().to_owned(), i).is_some() {
                return Err(at_line(path, line, format!("column {name:?} appears twice in the header")));
            }
        }
        Ok(Header { names, index })
    }

    fn require(&self, path: &Path, cols: &[&str]) -> Result<Vec<usize>> {
        cols.iter()
            .map(|c| {
                self.index.get(*c).copied().ok_or_else(|| {
                    invalid(format!(
                        "{}:1: missing column {c:?} in the header (found: {})",
                        path.display(),
                        self.names.join(",")
                    ))
                })
            })
            .collect()
    }

    fn optional(&self, col: &str) -> Option<usize> {
        self.index.get(col).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// trivago
// ---------------------------------------------------------------------------------------------

/// trivago item actions that become click events.
const TRIVAGO_ITEM_ACTIONS: [&str; 5] = [
    "interaction item image",
    "interaction item info",
    "interaction item rating",
    "interaction item deals",
    "search for item",
];

/// A CSV record with its line number, or the error naming the file and line: a malformed record, or
/// one whose field count differs from the header's.
fn checked_record(path: &Path, record: CsvRecord, n_cols: usize) -> Result<(usize, Vec<String>)> {
    let (line, f) = record.map_err(|(line, reason)| at_line(path, line, reason))?;
    if f.len() != n_cols {
        return Err(at_line(path, line, format!("expected {n_cols} fields, found {}", f.len())));
    }
    Ok((line, f))
}

fn load_trivago(path: &Path) -> Result<Dataset> {
    let text = read_text(path)?;
    let mut reader = CsvReader::new(&text);
    let header = Header::read(path, &mut reader)?;
    let cols = header.require(
        path,
        &["user_id", "session_id", "timestamp", "step", "action_type", "reference", "impressions", "prices"],
    )?;
    let [c_user, c_session, c_time, c_step, c_action, c_ref, c_impr, c_prices] =
        <[usize; 8]>::try_from(cols).map_err(|_| invalid("internal: column count".into()))?;
    let n_cols = header.names.len();
    let mut asm = Assembler::default();
    while let Some(record) = reader.next_record() {
        let (line, f) = checked_record(path, record, n_cols)?;
        let err = |reason: String| at_line(path, line, reason);
        let action = f[c_action].as_str();
        let is_click = action == "clickout item";
        if !is_click && !TRIVAGO_ITEM_ACTIONS.contains(&action) {
            continue;
        }
        let timestamp: f64 = f[c_time]
            .trim()
            .parse()
            .map_err(|_| err(format!("timestamp {:?} is not a number", f[c_time])))
            .and_then(|t| check_timestamp(t).map_err(err))?;
        let step_no: u64 =
            f[c_step].trim().parse().map_err(|_| err(format!("step {:?} is not a non-negative integer", f[c_step])))?;
        let session = f[c_session].clone();
        check_id("session_id", &session).map_err(err)?;
        let user = (!f[c_user].is_empty()).then(|| f[c_user].clone());
        if let Some(u) = &user {
            check_id("user_id", u).map_err(err)?;
        }
        let reference = &f[c_ref];
        let step = if is_click {
            if f[c_impr].is_empty() {
                return Err(err("a clickout row without impressions".into()));
            }
            let items = parse_list(&f[c_impr]);
            let prices = match f[c_prices].as_str() {
                "" => None,
                p => Some(parse_prices(p).map_err(err)?),
            };
            let clicked = (!reference.is_empty()).then(|| reference.clone());
            Step::Results(make_display(timestamp, items, prices, clicked, EventKind::Cart).map_err(err)?)
        } else {
            if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            check_id("reference", reference).map_err(err)?;
            let mut event = Event::new(reference.clone(), EventKind::Click);
            event.timestamp = Some(timestamp);
            Step::Event { timestamp, event }
        };
        // Order ties by step number, then by line.
        let order = (step_no.min(u32::MAX as u64) << 32) | (line as u64 & 0xFFFF_FFFF);
        asm.add(session, user, order, step).map_err(err)?;
    }
    Ok(asm.finish())
}

// ---------------------------------------------------------------------------------------------
// Generic CSV
// ---------------------------------------------------------------------------------------------

fn load_csv(path: &Path) -> Result<Dataset> {
    let text = read_text(path)?;
    let mut reader = CsvReader::new(&text);
    let header = Header::read(path, &mut reader)?;
    let req = header.require(path, &["session", "timestamp", "type"])?;
    let (c_session, c_time, c_type) = (req[0], req[1], req[2]);
    let c_user = header.optional("user");
    let c_item = header.optional("item");
    let c_items = header.optional("items");
    let c_prices = header.optional("prices");
    let c_clicked = header.optional("clicked");
    let c_click_type = header.optional("click_type");
    let c_dwell = header.optional("dwell_ms");
    let n_cols = header.names.len();
    let mut asm = Assembler::default();
    while let Some(record) = reader.next_record() {
        let (line, f) = checked_record(path, record, n_cols)?;
        let err = |reason: String| at_line(path, line, reason);
        let get = |c: Option<usize>| c.map(|c| f[c].as_str()).filter(|s| !s.is_empty());
        let number = |what: &str, s: &str| -> Result<f64> {
            s.trim().parse::<f64>().map_err(|_| err(format!("{what} {s:?} is not a number")))
        };
        let raw = RawRow {
            session: get(Some(c_session)).map(str::to_owned),
            user: get(c_user).map(str::to_owned),
            timestamp: get(Some(c_time)).map(|s| number("timestamp", s)).transpose()?,
            kind: get(Some(c_type)).map(str::to_owned),
            item: get(c_item).map(str::to_owned),
            items: get(c_items).map(parse_list),
            prices: get(c_prices).map(parse_prices).transpose().map_err(err)?,
            clicked: get(c_clicked).map(str::to_owned),
            click_type: get(c_click_type).map(str::to_owned),
            dwell_ms: get(c_dwell).map(|s| number("dwell_ms", s)).transpose()?,
        };
        let (session, user, step) = raw.into_step().map_err(err)?;
        asm.add(session, user, line as u64, step).map_err(err)?;
    }
    Ok(asm.finish())
}

// ---------------------------------------------------------------------------------------------
// JSONL
// ---------------------------------------------------------------------------------------------

fn load_jsonl(path: &Path) -> Result<Dataset> {
    use serde_json::Value;
    let text = read_text(path)?;
    let mut asm = Assembler::default();
    for (i, line_text) in text.lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| at_line(path, line, reason);
        if line_text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line_text).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(err("expected a JSON object".into()));
        };
        let id = |key: &str| -> Result<Option<String>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
                Some(other) => Err(err(format!("{key:?} must be a string, got {other}"))),
            }
        };
        let number = |key: &str| -> Result<Option<f64>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| err(format!("{key:?} is out of range"))),
                Some(other) => Err(err(format!("{key:?} must be a number, got {other}"))),
            }
        };
        let items = match obj.get("items") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                        other => Err(err(format!("\"items\" must hold strings, got {other}"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(other) => return Err(err(format!("\"items\" must be an array, got {other}"))),
        };
        let prices = match obj.get("prices") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| {
                        v.as_f64()
                            .map(|p| p as f32)
                            .ok_or_else(|| err(format!("\"prices\" must hold numbers, got {v}")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(other) => return Err(err(format!("\"prices\" must be an array, got {other}"))),
        };
        let kind = match obj.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(err(format!("\"type\" must be a string, got {other}"))),
        };
        let click_type = match obj.get("click_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(err(format!("\"click_type\" must be a string, got {other}"))),
        };
        let raw = RawRow {
            session: id("session")?,
            user: id("user")?,
            timestamp: number("timestamp")?,
            kind,
            item: id("item")?,
            items,
            prices,
            clicked: id("clicked")?,
            click_type,
            dwell_ms: number("dwell_ms")?,
        };
        let (session, user, step) = raw.into_step().map_err(err)?;
        asm.add(session, user, line as u64, step).map_err(err)?;
    }
    Ok(asm.finish())
}

// ---------------------------------------------------------------------------------------------
// Parquet
// ---------------------------------------------------------------------------------------------

fn load_parquet(path: &Path) -> Result<Dataset> {
    // The parquet crate panics on some damaged files (e.g. a page that ends inside a value it
    // declares: found by fuzz/fuzz_targets/loaders.rs); such a file is an error like any other.
    std::panic::catch_unwind(|| read_parquet(path)).unwrap_or_else(|_| {
        Err(invalid(format!("{}: not a readable Parquet file (the Parquet decoder failed on it)", path.display())))
    })
}

fn read_parquet(path: &Path) -> Result<Dataset> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot open {}: {e}", path.display())))?;
    let file_len = file.metadata().map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?.len();
    let reader = SerializedFileReader::new(file)
        .map_err(|e| invalid(format!("{}: not a readable Parquet file: {e}", path.display())))?;
    // parquet 60 panics ("column start and length should not be negative") on a column chunk whose
    // footer gives a negative offset or size: refuse such a footer, and chunks outside the file.
    for (g, group) in reader.metadata().row_groups().iter().enumerate() {
        for (c, chunk) in group.columns().iter().enumerate() {
            let start = chunk.dictionary_page_offset().unwrap_or(chunk.data_page_offset());
            let len = chunk.compressed_size();
            if start < 0 || len < 0 || start.checked_add(len).map_or(true, |end| end as u64 > file_len) {
                return Err(invalid(format!(
                    "{}: not a readable Parquet file: row group {g}, column {c} is at bytes {start}..+{len} of a \
                     {file_len}-byte file",
                    path.display()
                )));
            }
        }
    }
    {
        let schema = reader.metadata().file_metadata().schema_descr();
        let names: Vec<&str> = schema.root_schema().get_fields().iter().map(|f| f.name()).collect();
        for needed in ["session", "timestamp", "type"] {
            if !names.contains(&needed) {
                return Err(invalid(format!(
                    "{}: missing column {needed:?} (found: {})",
                    path.display(),
                    names.join(",")
                )));
            }
        }
    }
    let rows = reader.get_row_iter(None).map_err(|e| invalid(format!("{}: cannot read rows: {e}", path.display())))?;

    fn string(key: &str, f: &Field) -> std::result::Result<Option<String>, String> {
        match f {
            Field::Null => Ok(None),
            Field::Str(s) => Ok((!s.is_empty()).then(|| s.clone())),
            Field::Bytes(b) => std::str::from_utf8(b.data())
                .map(|s| (!s.is_empty()).then(|| s.to_owned()))
                .map_err(|_| format!("column {key:?} is not UTF-8 text")),
            Field::Int(v) => Ok(Some(v.to_string())),
            Field::Long(v) => Ok(Some(v.to_string())),
            Field::UInt(v) => Ok(Some(v.to_string())),
            Field::ULong(v) => Ok(Some(v.to_string())),
            other => Err(format!("column {key:?} must be a string, found {other}")),
        }
    }
    fn number(key: &str, f: &Field) -> std::result::Result<Option<f64>, String> {
        Ok(Some(match f {
            Field::Null => return Ok(None),
            Field::Double(v) => *v,
            Field::Float(v) => *v as f64,
            Field::Long(v) => *v as f64,
            Field::Int(v) => *v as f64,
            Field::Short(v) => *v as f64,
            Field::Byte(v) => *v as f64,
            Field::ULong(v) => *v as f64,
            Field::UInt(v) => *v as f64,
            Field::UShort(v) => *v as f64,
            Field::UByte(v) => *v as f64,
            Field::TimestampMillis(v) => *v as f64 / 1e3,
            Field::TimestampMicros(v) => *v as f64 / 1e6,
            Field::Str(s) if s.is_empty() => return Ok(None),
            Field::Str(s) => s.trim().parse().map_err(|_| format!("column {key:?}: {s:?} is not a number"))?,
            other => return Err(format!("column {key:?} must be a number, found {other}")),
        }))
    }
    fn items(key: &str, f: &Field) -> std::result::Result<Option<Vec<String>>, String> {
        match f {
            Field::ListInternal(list) => list
                .elements()
                .iter()
                .map(|e| string(key, e)?.ok_or_else(|| format!("column {key:?} holds a null or empty item")))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Some),
            other => Ok(string(key, other)?.map(|s| parse_list(&s))),
        }
    }
    fn prices(key: &str, f: &Field) -> std::result::Result<Option<Vec<f32>>, String> {
        match f {
            Field::ListInternal(list) => list
                .elements()
                .iter()
                .map(|e| number(key, e)?.map(|p| p as f32).ok_or_else(|| format!("column {key:?} holds a null price")))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Some),
            other => string(key, other)?.map(|s| parse_prices(&s)).transpose(),
        }
    }

    let mut asm = Assembler::default();
    for (i, row) in rows.enumerate() {
        let row_no = i + 1;
        let err = |reason: String| invalid(format!("{}: row {row_no}: {reason}", path.display()));
        let row = row.map_err(|e| err(format!("cannot decode: {e}")))?;
        let mut raw = RawRow::default();
        for (name, field) in row.get_column_iter() {
            let key = name.as_str();
            match key {
                "session" => raw.session = string(key, field).map_err(err)?,
                "user" => raw.user = string(key, field).map_err(err)?,
                "timestamp" => raw.timestamp = number(key, field).map_err(err)?,
                "type" => raw.kind = string(key, field).map_err(err)?,
                "item" => raw.item = string(key, field).map_err(err)?,
                "items" => raw.items = items(key, field).map_err(err)?,
                "prices" => raw.prices = prices(key, field).map_err(err)?,
                "clicked" => raw.clicked = string(key, field).map_err(err)?,
                "click_type" => raw.click_type = string(key, field).map_err(err)?,
                "dwell_ms" => raw.dwell_ms = number(key, field).map_err(err)?,
                _ => {}
            }
        }
        let (session, user, step) = raw.into_step().map_err(err)?;
        asm.add(session, user, row_no as u64, step).map_err(err)?;
    }
    Ok(asm.finish())
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
        let mut r = CsvReader::new(text);
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
