//! What every loader shares: the generic row before validation, the checks of ids, times and
//! result lists, and the assembly of rows into time-ordered sessions.

use super::*;

pub(super) fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

/// One generic row (JSONL, CSV or Parquet) before validation.
#[derive(Default)]
pub(super) struct RawRow {
    pub(super) session: Option<String>,
    pub(super) user: Option<String>,
    pub(super) timestamp: Option<f64>,
    pub(super) kind: Option<String>,
    pub(super) item: Option<String>,
    pub(super) items: Option<Vec<String>>,
    pub(super) prices: Option<Vec<f32>>,
    pub(super) clicked: Option<String>,
    pub(super) click_type: Option<String>,
    pub(super) dwell_ms: Option<f64>,
}

/// Checks an id and explains the problem in loader terms.
pub(super) fn check_id(what: &str, id: &str) -> std::result::Result<(), String> {
    validate_id(id).map_err(|e| match e {
        Error::InvalidId { reason } => format!("{what}: {reason}"),
        other => format!("{what}: {other}"),
    })
}

/// Checks a row's time: seconds in 0..[`MAX_TIMESTAMP_SECONDS`] (10^11 s is the year 5138, so
/// anything above it is a unit mistake, milliseconds or microseconds since the epoch, or a corrupt
/// value such as u64::MAX that would silently wreck every time feature).
pub(super) fn check_timestamp(t: f64) -> std::result::Result<f64, String> {
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
pub(super) fn make_display(
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
    pub(super) fn into_step(self) -> std::result::Result<(String, Option<String>, Step), String> {
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
                // Checked as the f32 the event keeps: a finite f64 beyond f32's range becomes ∞.
                let dwell = ms as f32;
                if !dwell.is_finite() || dwell < 0.0 {
                    return Err(format!("dwell_ms must be a finite, non-negative number (at most 3.4e38), got {ms}"));
                }
                event.dwell_ms = dwell;
            }
            Step::Event { timestamp, event }
        };
        Ok((session, self.user, step))
    }
}

/// A session being assembled: id, user, and its steps with their (timestamp, order key).
pub(super) type PendingSession = (String, Option<String>, Vec<(f64, u64, Step)>);

/// Groups steps into sessions (in order of first appearance) and sorts each session's steps by
/// (timestamp, order key).
#[derive(Default)]
pub(super) struct Assembler {
    pub(super) index: HashMap<String, usize>,
    pub(super) sessions: Vec<PendingSession>,
}

impl Assembler {
    /// Adds a step; `order` breaks timestamp ties (file order, or the trivago step number).
    pub(super) fn add(
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

    pub(super) fn finish(self) -> Dataset {
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

pub(super) fn at_line(path: &Path, line: usize, reason: impl std::fmt::Display) -> Error {
    invalid(format!("{}:{line}: {reason}", path.display()))
}

pub(super) fn parse_list(s: &str) -> Vec<String> {
    s.split('|').map(str::to_owned).collect()
}

pub(super) fn parse_prices(s: &str) -> std::result::Result<Vec<f32>, String> {
    s.split('|').map(|p| p.trim().parse::<f32>().map_err(|_| format!("price {p:?} is not a number"))).collect()
}

/// Where a loader reports how far it is: `(done, total)`, bytes of the file (Parquet: row groups).
pub type LoadProgress<'a> = &'a mut dyn FnMut(u64, u64);

/// A file that counts the bytes read from it, for a loader's progress.
pub(super) struct CountedFile {
    file: std::fs::File,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl std::io::Read for CountedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// How far through a [`CountedFile`] a loader is; reports at each whole percent.
pub(super) struct Tracker {
    read: std::rc::Rc<std::cell::Cell<u64>>,
    total: u64,
    last: u64,
}

impl Tracker {
    /// Calls `progress` when the share read has passed another percent (and at the end).
    pub(super) fn tick(&mut self, progress: LoadProgress) {
        let read = self.read.get();
        let percent = read.saturating_mul(100) / self.total.max(1);
        if percent != self.last {
            self.last = percent;
            progress(read, self.total);
        }
    }
}

/// Opens `path` for buffered reading with a byte count behind it.
pub(super) fn open_counted(path: &Path) -> Result<(std::io::BufReader<CountedFile>, Tracker)> {
    let file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let tracker = Tracker { read: read.clone(), total, last: u64::MAX };
    Ok((std::io::BufReader::with_capacity(1 << 16, CountedFile { file, read }), tracker))
}
