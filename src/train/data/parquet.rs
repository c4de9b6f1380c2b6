//! Parquet (`--format parquet`): the CSV format's columns, matched by name.

use super::*;
use ::parquet::record::Field;

pub(super) fn load_parquet(path: &Path, progress: LoadProgress) -> Result<Dataset> {
    // The parquet crate panics on some damaged files (e.g. a page that ends inside a value it
    // declares: found by fuzz/fuzz_targets/loaders.rs); such a file is an error like any other.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_parquet(path, progress))).unwrap_or_else(|_| {
        Err(invalid(format!("{}: not a readable Parquet file (the Parquet decoder failed on it)", path.display())))
    })
}

pub(super) fn read_parquet(path: &Path, progress: LoadProgress) -> Result<Dataset> {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};

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
            if start < 0 || len < 0 || start.checked_add(len).is_none_or(|end| end as u64 > file_len) {
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

    // Row group by row group: one group's pages are decoded at a time, never the whole file.
    let mut asm = Assembler::default();
    let mut row_no = 0usize;
    for g in 0..reader.num_row_groups() {
        let group = reader
            .get_row_group(g)
            .map_err(|e| invalid(format!("{}: cannot read row group {g}: {e}", path.display())))?;
        let rows = group
            .get_row_iter(None)
            .map_err(|e| invalid(format!("{}: cannot read row group {g}: {e}", path.display())))?;
        for row in rows {
            row_no += 1;
            read_row(path, g, row_no, row, &mut asm)?;
        }
        progress(g as u64 + 1, reader.num_row_groups() as u64);
    }
    Ok(asm.finish())
}

/// One row into the assembler; errors name the row (counted from 1 over the file) and its group.
fn read_row(
    path: &Path,
    group: usize,
    row_no: usize,
    row: ::parquet::errors::Result<::parquet::record::Row>,
    asm: &mut Assembler,
) -> Result<()> {
    let err = |reason: String| invalid(format!("{}: row {row_no} (row group {group}): {reason}", path.display()));
    {
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
    Ok(())
}

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
