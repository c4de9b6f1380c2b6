//! `fewclick export-items`: a model's item table for a host's search API, for catalogues too large
//! to ship to a page. The host looks each result's vector up server-side (the package's
//! `fewclick/server` reads the JSONL file) and sends it with the results; the page passes it to
//! `setResults({ ids, prices, features, featureNames })`, checked against the model's schema.
//!
//! **JSONL.** The first line is the schema, every other line one item:
//!
//! ```text
//! {"format":"fewclick-items","version":1,"names":[...],"default":[...],"items":N,"model":"sha256-…"}
//! {"id":"item id","features":[...]}
//! ```
//!
//! `default` is the cold-item vector (for ids not in the file), `model` the integrity string of the
//! model file the table came from. Values are the dequantised ones the model itself uses, written
//! with the shortest representation that reads back to the same f32.
//!
//! **Parquet.** One row per item: `id` (UTF-8) and one `FLOAT` column per feature, named as in the
//! schema. The key-value metadata carries `fewclick.names`, `fewclick.default` (JSON arrays) and
//! `fewclick.model`.

use crate::error::{Error, Result};
use crate::items::ItemTable;
use crate::model_file::Model;
use std::io::Write;
use std::path::Path;

pub const JSONL_FORMAT: &str = "fewclick-items";
pub const JSONL_VERSION: u32 = 1;

/// The Subresource-Integrity string of a file's bytes (`sha256-` and the base64 digest), as
/// `createReranker(url, { integrity })` checks it.
pub fn integrity(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256-{}", base64(&Sha256::digest(bytes)))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::InvalidInput { reason: format!("cannot write {}: {e}", path.display()) }
}

/// The model's table, or an error naming why there is none.
pub fn table_of(model: &Model) -> Result<&ItemTable> {
    model.items.as_ref().ok_or_else(|| Error::InvalidInput {
        reason: "the model carries no item table (format version 1, or trained with host-supplied features)".into(),
    })
}

/// Writes the JSONL export of `model`'s table; `integrity` names the model file.
pub fn write_jsonl(model: &Model, integrity: &str, path: &Path) -> Result<()> {
    // Structs of f32, not `serde_json::Value` (f64): each value is written in the shortest form
    // that reads back to the same f32.
    #[derive(serde::Serialize)]
    struct Header<'a> {
        format: &'a str,
        version: u32,
        names: &'a [String],
        default: &'a [f32],
        items: usize,
        model: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Line<'a> {
        id: &'a str,
        features: &'a [f32],
    }
    let t = table_of(model)?;
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let header = Header {
        format: JSONL_FORMAT,
        version: JSONL_VERSION,
        names: &model.feature_names,
        default: t.default_vector(),
        items: t.len(),
        model: integrity,
    };
    let encode = |e: serde_json::Error| io(path, e);
    serde_json::to_writer(&mut w, &header).map_err(encode)?;
    writeln!(w).map_err(|e| io(path, e))?;
    let mut row = vec![0.0f32; t.dim()];
    for i in 0..t.len() {
        t.row_into(i, &mut row);
        serde_json::to_writer(&mut w, &Line { id: t.id(i), features: &row }).map_err(encode)?;
        writeln!(w).map_err(|e| io(path, e))?;
    }
    w.flush().map_err(|e| io(path, e))
}

/// Writes the Parquet export of `model`'s table.
pub fn write_parquet(model: &Model, integrity: &str, path: &Path) -> Result<()> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, FloatType};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    use std::sync::Arc;

    let t = table_of(model)?;
    let pq = |e: parquet::errors::ParquetError| io(path, e);
    let mut fields = vec![Arc::new(
        Type::primitive_type_builder("id", Physical::BYTE_ARRAY)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::String))
            .build()
            .map_err(pq)?,
    )];
    for name in &model.feature_names {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, Physical::FLOAT)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .map_err(pq)?,
        ));
    }
    let schema = Arc::new(Type::group_type_builder("fewclick_items").with_fields(fields).build().map_err(pq)?);
    let json = |v: serde_json::Value| Some(v.to_string());
    let meta = vec![
        KeyValue { key: "fewclick.names".into(), value: json(serde_json::json!(model.feature_names)) },
        KeyValue { key: "fewclick.default".into(), value: json(serde_json::json!(t.default_vector())) },
        KeyValue { key: "fewclick.model".into(), value: Some(integrity.to_string()) },
    ];
    let props = Arc::new(WriterProperties::builder().set_key_value_metadata(Some(meta)).build());
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(pq)?;
    let mut group = writer.next_row_group().map_err(pq)?;
    let mut column = 0usize;
    let mut row = vec![0.0f32; t.dim()];
    while let Some(mut col) = group.next_column().map_err(pq)? {
        if column == 0 {
            let ids: Vec<ByteArray> = (0..t.len()).map(|i| ByteArray::from(t.id(i))).collect();
            col.typed::<ByteArrayType>().write_batch(&ids, None, None).map_err(pq)?;
        } else {
            let values: Vec<f32> = (0..t.len())
                .map(|i| {
                    t.row_into(i, &mut row);
                    row[column - 1]
                })
                .collect();
            col.typed::<FloatType>().write_batch(&values, None, None).map_err(pq)?;
        }
        col.close().map_err(pq)?;
        column += 1;
    }
    group.close().map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Arch;

    fn model_with_table() -> Model {
        let arch = Arch::new(2, 4).expect("arch");
        let n = arch.n_params();
        let rows = vec![
            ("b".to_string(), vec![0.5, -1.0]),
            ("a".to_string(), vec![0.1, 2.0]),
            ("c".to_string(), vec![0.3, 0.0]),
        ];
        Model {
            arch,
            theta: vec![0.0; n],
            alpha: vec![0.0; n],
            inner: crate::InnerLoop::default(),
            max_move: None,
            rank_without_events: false,
            algorithm: "test".into(),
            feature_names: vec!["x".into(), "y".into()],
            items: Some(ItemTable::quantise(vec![0.25, 0.75], rows).expect("table")),
        }
    }

    #[test]
    fn both_exports_hold_every_item_with_the_values_the_model_uses() {
        let m = model_with_table();
        let t = m.items.as_ref().expect("table");
        let dir = std::env::temp_dir().join(format!("fewclick-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (jsonl, parquet) = (dir.join("items.jsonl"), dir.join("items.parquet"));
        write_jsonl(&m, "sha256-x", &jsonl).expect("jsonl");
        write_parquet(&m, "sha256-x", &parquet).expect("parquet");

        let text = std::fs::read_to_string(&jsonl).expect("read");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["format"], JSONL_FORMAT);
        assert_eq!(lines[0]["names"], serde_json::json!(["x", "y"]));
        assert_eq!(lines[0]["default"], serde_json::json!([0.25, 0.75]));
        assert_eq!(lines[0]["items"], 3);
        let mut row = [0.0f32; 2];
        for (i, line) in lines[1..].iter().enumerate() {
            t.row_into(i, &mut row);
            assert_eq!(line["id"], t.id(i));
            let back: Vec<f32> =
                line["features"].as_array().expect("array").iter().map(|v| v.as_f64().expect("num") as f32).collect();
            assert_eq!(back, row, "values read back to the same f32");
        }

        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(&parquet).expect("open")).expect("parquet");
        let meta = reader.metadata().file_metadata();
        assert_eq!(meta.num_rows(), 3);
        let kv = meta.key_value_metadata().expect("metadata");
        assert!(kv.iter().any(|k| k.key == "fewclick.model" && k.value.as_deref() == Some("sha256-x")));
        let rows: Vec<_> = reader.get_row_iter(None).expect("rows").map(|r| r.expect("row")).collect();
        for (i, r) in rows.iter().enumerate() {
            t.row_into(i, &mut row);
            let cols: Vec<String> = r.get_column_iter().map(|(n, v)| format!("{n}={v}")).collect();
            assert_eq!(cols[0], format!("id=\"{}\"", t.id(i)));
            assert_eq!(cols[1], format!("x={:?}", row[0]));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn integrity_strings_match_known_digests() {
        // sha256("") and sha256("abc") in base64 (FIPS 180-2 test vectors).
        assert_eq!(integrity(b""), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(integrity(b"abc"), "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
