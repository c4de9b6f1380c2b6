//! JSONL (`--format jsonl`): one JSON object per line, read line by line and written session by
//! session, so neither side holds the file's text.

use super::*;
use std::io::{BufRead, BufReader, BufWriter, Write};

pub(super) fn load_jsonl(path: &Path) -> Result<Dataset> {
    use serde_json::Value;
    let file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut asm = Assembler::default();
    for (i, line_text) in BufReader::new(file).lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| at_line(path, line, reason);
        let line_text = line_text.map_err(|e| err(format!("cannot read the line: {e}")))?;
        if line_text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line_text).map_err(|e| err(format!("not valid JSON: {e}")))?;
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
