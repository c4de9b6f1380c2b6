//! JSONL (`--format jsonl`): one JSON object per line, read line by line and written session by
//! session, so neither side holds the file's text.

use super::*;
use std::io::{BufRead, BufReader, BufWriter, Write};

pub(super) fn load_jsonl(path: &Path, progress: LoadProgress) -> Result<Dataset> {
    let mut asm = Assembler::default();
    let mut rows = JsonlRows::open(path)?;
    while let Some(row) = rows.next() {
        rows.tracker.tick(progress);
        let (line, session, user, step) = row?;
        asm.add(session, user, line as u64, step).map_err(|reason| at_line(path, line, reason))?;
    }
    Ok(asm.finish())
}

/// The rows of a JSONL log in file order, each with its line number, session, user and step
/// (empty lines skipped): what [`load_jsonl`] assembles, and what [`SessionStream`] cuts into
/// sessions without holding the log.
pub(super) struct JsonlRows {
    path: std::path::PathBuf,
    lines: std::io::Lines<BufReader<CountedFile>>,
    line: usize,
    tracker: Tracker,
}

/// A row: line number, session id, user id and the step.
pub(super) type JsonlRow = (usize, String, Option<String>, Step);

impl JsonlRows {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let (file, tracker) = open_counted(path)?;
        Ok(JsonlRows { path: path.to_path_buf(), lines: file.lines(), line: 0, tracker })
    }
}

impl Iterator for JsonlRows {
    type Item = Result<JsonlRow>;

    fn next(&mut self) -> Option<Result<JsonlRow>> {
        loop {
            let text = self.lines.next()?;
            self.line += 1;
            let line = self.line;
            let text = match text {
                Ok(t) => t,
                Err(e) => return Some(Err(at_line(&self.path, line, format!("cannot read the line: {e}")))),
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(
                parse_row(&text)
                    .map(|(session, user, step)| (line, session, user, step))
                    .map_err(|reason| at_line(&self.path, line, reason)),
            );
        }
    }
}

/// One JSONL line: the session, user and step it describes, or what is wrong with it.
fn parse_row(line_text: &str) -> std::result::Result<(String, Option<String>, Step), String> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(line_text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("expected a JSON object".into());
    };
    let id = |key: &str| -> std::result::Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Some(other) => Err(format!("{key:?} must be a string, got {other}")),
        }
    };
    let number = |key: &str| -> std::result::Result<Option<f64>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| format!("{key:?} is out of range")),
            Some(other) => Err(format!("{key:?} must be a number, got {other}")),
        }
    };
    let items = match obj.get("items") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                    other => Err(format!("\"items\" must hold strings, got {other}")),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        ),
        Some(other) => return Err(format!("\"items\" must be an array, got {other}")),
    };
    let prices = match obj.get("prices") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_f64().map(|p| p as f32).ok_or_else(|| format!("\"prices\" must hold numbers, got {v}")))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        ),
        Some(other) => return Err(format!("\"prices\" must be an array, got {other}")),
    };
    let string = |key: &str| -> std::result::Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{key:?} must be a string, got {other}")),
        }
    };
    let raw = RawRow {
        session: id("session")?,
        user: id("user")?,
        timestamp: number("timestamp")?,
        kind: string("type")?,
        item: id("item")?,
        items,
        prices,
        clicked: id("clicked")?,
        click_type: string("click_type")?,
        dwell_ms: number("dwell_ms")?,
    };
    raw.into_step()
}

/// The sessions of a JSONL log one at a time, in windows of at most `window`, for logs that do
/// not fit in memory: each session's rows must be together in the file (as `fewclick simulate` and
/// [`JsonlWriter`] write them); a session whose rows come back after another session's is an
/// error naming its line. Memory holds one window and an 8-byte hash per session seen.
pub struct SessionStream {
    rows: JsonlRows,
    window: usize,
    /// The first row of the next session, read ahead.
    ahead: Option<JsonlRow>,
    seen: std::collections::HashSet<u64>,
    done: bool,
}

impl SessionStream {
    pub fn open(path: &Path, window: usize) -> Result<Self> {
        if window == 0 {
            return Err(Error::config("window", "must be at least 1 session"));
        }
        Ok(SessionStream { rows: JsonlRows::open(path)?, window, ahead: None, seen: Default::default(), done: false })
    }

    fn hash(id: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    }
}

impl Iterator for SessionStream {
    type Item = Result<Dataset>;

    /// The next window of sessions (each complete, in time order, as [`super::load`] gives them).
    fn next(&mut self) -> Option<Result<Dataset>> {
        if self.done {
            return None;
        }
        let mut asm = Assembler::default();
        let mut current: Option<String> = None;
        let mut sessions = 0;
        loop {
            let row = match self.ahead.take() {
                Some(r) => r,
                None => match self.rows.next() {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            let (line, session, user, step) = row;
            if current.as_deref() != Some(session.as_str()) {
                if sessions == self.window {
                    self.ahead = Some((line, session, user, step));
                    break;
                }
                if !self.seen.insert(Self::hash(&session)) {
                    self.done = true;
                    return Some(Err(at_line(
                        &self.rows.path,
                        line,
                        format!(
                            "session {session:?} continues after other sessions' rows: streaming needs each \
                             session's rows together (load the file without streaming, or sort it by session)"
                        ),
                    )));
                }
                current = Some(session.clone());
                sessions += 1;
            }
            if let Err(reason) = asm.add(session, user, line as u64, step) {
                self.done = true;
                return Some(Err(at_line(&self.rows.path, line, reason)));
            }
        }
        (sessions > 0).then(|| Ok(asm.finish()))
    }
}

/// Writes sessions in the JSONL format, one after another, through a buffer: what
/// [`super::write_jsonl`] and `fewclick simulate` use, in memory bounded by one session.
pub struct JsonlWriter {
    path: std::path::PathBuf,
    out: BufWriter<std::fs::File>,
}

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

impl JsonlWriter {
    pub fn create(path: &Path) -> Result<JsonlWriter> {
        let file = std::fs::File::create(path).map_err(|e| invalid(format!("cannot write {}: {e}", path.display())))?;
        Ok(JsonlWriter { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 16, file) })
    }

    fn io(&self, e: std::io::Error) -> Error {
        invalid(format!("cannot write {}: {e}", self.path.display()))
    }

    /// Appends one session, a line per step.
    pub fn write_session(&mut self, s: &Session) -> Result<()> {
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
            serde_json::to_writer(&mut self.out, &line)
                .map_err(|e| invalid(format!("cannot encode session {:?} as JSON: {e}", s.id)))?;
            self.out.write_all(b"\n").map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Flushes the buffer to the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.io(e))
    }
}
