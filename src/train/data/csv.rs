//! CSV: an RFC 4180 reader over a whole file, the header's columns, and the generic CSV loader
//! (`--format csv`; the columns are in the [module documentation](super)).

use super::*;

/// A CSV record with the line it starts on, or a problem with the line it is on.
pub(super) type CsvRecord = std::result::Result<(usize, Vec<String>), (usize, String)>;

/// A minimal RFC 4180 reader over a whole file: comma-separated fields, double-quoted fields may
/// contain commas, line breaks and doubled quotes; `\n` and `\r\n` line ends.
pub(super) struct CsvReader<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
    pub(super) line: usize,
}

impl<'a> CsvReader<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        CsvReader { text, pos: 0, line: 1 }
    }

    /// The next record and the line it starts on; `None` at the end. Empty lines are skipped.
    pub(super) fn next_record(&mut self) -> Option<CsvRecord> {
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
pub(super) struct Header {
    pub(super) names: Vec<String>,
    pub(super) index: HashMap<String, usize>,
}

impl Header {
    pub(super) fn read(path: &Path, reader: &mut CsvReader<'_>) -> Result<Header> {
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

    pub(super) fn require(&self, path: &Path, cols: &[&str]) -> Result<Vec<usize>> {
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

    pub(super) fn optional(&self, col: &str) -> Option<usize> {
        self.index.get(col).copied()
    }
}

pub(super) fn load_csv(path: &Path) -> Result<Dataset> {
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
