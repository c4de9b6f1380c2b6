//! JSONL (`--format jsonl`): one JSON object per line.

use super::*;

pub(super) fn load_jsonl(path: &Path) -> Result<Dataset> {
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
