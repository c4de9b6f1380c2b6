//! Writes the binary seed inputs under fuzz/seeds/ (models, exported sessions, Parquet session
//! logs), each in its target's input layout, from small models and sessions made here with the
//! crate's own writers. The text seeds (JSONL, CSV, trivago) are written by hand and the
//! reranker_ops seeds are picked from a run's corpus (see fuzz/seeds/README.md).
//!
//!     cd fuzz && cargo run --example make_seeds
//!
//! Deterministic: the same crate writes the same bytes.

use fewclick::model_file::crc32;
use fewclick::rng::Rng;
use fewclick::{Arch, Config, Event, EventKind, InnerLoop, ItemTable, LossKind, Model, Reranker, Scope};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = seeds().join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("write seed");
    println!("{target}/{name}: {} bytes", bytes.len());
}

/// A model of item width 2 and hidden width 4 (the smallest the format allows but one).
fn model(seed: u64, table: bool) -> Model {
    let arch = Arch::new(2, 4).expect("arch");
    let mut rng = Rng::new(seed);
    let theta = arch.init(&mut rng);
    let alpha = (0..theta.len()).map(|_| rng.range(0.02, 0.2)).collect();
    let items = table.then(|| {
        let rows = ["sku-1", "sku-2", "sku-3"]
            .iter()
            .map(|id| (id.to_string(), vec![rng.range(-1.0, 1.0), rng.range(0.0, 5.0)]))
            .collect();
        ItemTable::quantise(vec![0.0, 1.0], rows).expect("table")
    });
    Model {
        arch,
        theta,
        alpha,
        inner: if table {
            InnerLoop { steps: 3, scope: Scope::All, loss: LossKind::Listwise, prox: 0.5, clip: 2.0 }
        } else {
            InnerLoop::default()
        },
        max_move: table.then_some(2),
        rank_without_events: table,
        algorithm: if table { "meta-sgd" } else { "maml" }.into(),
        feature_names: vec!["rating".into(), "log_price".into()],
        items,
    }
}

/// The same model in format version 1 (no item table): the version field and the empty table's
/// `n_items` word go, the length and checksum are redone.
fn version_1(m: &Model) -> Vec<u8> {
    assert!(m.items.is_none());
    let mut b = m.to_bytes().expect("a valid model");
    b.truncate(b.len() - 8); // the CRC and n_items = 0
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    let total = (b.len() + 4) as u32;
    b[12..16].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(Model::from_bytes(&b).expect("version 1 reads"), *m);
    b
}

/// `[flags = 0][file]`: the model_reader layout, the file read as it is.
fn model_seed(file: &[u8]) -> Vec<u8> {
    assert!(Model::from_bytes(file).is_ok());
    [&[0u8][..], file].concat()
}

/// `[tag][dim][capacity][flags = 0][export]`: the session_reader layout.
fn session_seed(r: &Reranker, capacity: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&r.model_tag().to_le_bytes());
    b.extend_from_slice(&(r.model().arch.item_dim as u32).to_le_bytes());
    b.extend_from_slice(&capacity.to_le_bytes());
    b.push(0);
    b.extend_from_slice(&r.export_session());
    b
}

fn sessions() {
    let m = model(7, false);
    let mut r = Reranker::new(m.clone(), Config::default()).expect("reranker");
    write("session_reader", "empty.seed", &session_seed(&r, 256));
    let ids: Vec<String> = ["p1", "p2", "p3", "p4", "p5"].iter().map(|s| s.to_string()).collect();
    let x = vec![0.1, 1.0, -0.4, 2.0, 0.9, 0.5, 0.0, 3.0, -1.0, 1.5];
    r.set_results(ids.clone(), Some(x), None, Some(vec![20.0, 35.5, 12.0, 80.0, 41.0])).expect("results");
    let events = [
        (EventKind::Impression, "p1", Some(10.0), 0.0),
        (EventKind::Click, "p3", Some(12.5), 0.0),
        (EventKind::Skip, "p1", Some(13.0), 0.0),
        (EventKind::Dwell, "p3", None, 12_000.0),
        (EventKind::Cart, "p4", Some(40.0), 0.0),
        (EventKind::Click, "elsewhere", Some(41.0), 0.0),
    ];
    for (kind, item, timestamp, dwell_ms) in events {
        r.record(Event { item: item.into(), kind, timestamp, dwell_ms }).expect("record");
    }
    r.advance_clock(60.0).expect("clock");
    write("session_reader", "events.seed", &session_seed(&r, 4));
}

fn models() {
    let plain = model(1, false);
    write("model_reader", "v2-plain.seed", &model_seed(&plain.to_bytes().expect("valid")));
    write("model_reader", "v2-item-table.seed", &model_seed(&model(2, true).to_bytes().expect("valid")));
    write("model_reader", "v1.seed", &model_seed(&version_1(&plain)));
}

/// Session logs in Parquet: plain columns (`items`/`prices` `|`-joined, a double timestamp,
/// uncompressed) and LIST columns (an INT64 timestamp, Snappy pages).
fn parquet_logs() {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let bytes = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
    let file = |schema: &str,
                compression: Compression,
                columns: &mut dyn FnMut(usize, &mut parquet::file::writer::SerializedColumnWriter<'_>)| {
        let mut out = Vec::new();
        let props = WriterProperties::builder().set_compression(compression).build();
        let schema = Arc::new(parse_message_type(schema).expect("schema"));
        let mut w = SerializedFileWriter::new(&mut out, schema, Arc::new(props)).expect("writer");
        let mut group = w.next_row_group().expect("row group");
        let mut i = 0;
        while let Some(mut col) = group.next_column().expect("column") {
            columns(i, &mut col);
            col.close().expect("close column");
            i += 1;
        }
        group.close().expect("close group");
        w.close().expect("close");
        out
    };

    // Rows: a click, a priced list clicked as a cart, a dwell (session s1, user u1); an unpriced
    // list in session s2.
    let plain = file(
        "message session_log {
            REQUIRED BYTE_ARRAY session (UTF8);
            OPTIONAL BYTE_ARRAY user (UTF8);
            REQUIRED DOUBLE timestamp;
            REQUIRED BYTE_ARRAY type (UTF8);
            OPTIONAL BYTE_ARRAY item (UTF8);
            OPTIONAL BYTE_ARRAY items (UTF8);
            OPTIONAL BYTE_ARRAY prices (UTF8);
            OPTIONAL BYTE_ARRAY clicked (UTF8);
            OPTIONAL BYTE_ARRAY click_type (UTF8);
            OPTIONAL DOUBLE dwell_ms;
        }",
        Compression::UNCOMPRESSED,
        &mut |i, col| {
            let r = match i {
                0 => col.typed::<ByteArrayType>().write_batch(&bytes(&["s1", "s1", "s1", "s2"]), None, None),
                1 => col.typed::<ByteArrayType>().write_batch(&bytes(&["u1"]), Some(&[1, 0, 0, 0]), None),
                2 => col.typed::<DoubleType>().write_batch(&[12.5, 20.0, 31.0, 5.0], None, None),
                3 => col.typed::<ByteArrayType>().write_batch(
                    &bytes(&["click", "results", "dwell", "results"]),
                    None,
                    None,
                ),
                4 => col.typed::<ByteArrayType>().write_batch(&bytes(&["a", "b"]), Some(&[1, 0, 1, 0]), None),
                5 => col.typed::<ByteArrayType>().write_batch(&bytes(&["a|b|c", "x|y"]), Some(&[0, 1, 0, 1]), None),
                6 => col.typed::<ByteArrayType>().write_batch(&bytes(&["10|12.5|9.99"]), Some(&[0, 1, 0, 0]), None),
                7 => col.typed::<ByteArrayType>().write_batch(&bytes(&["b"]), Some(&[0, 1, 0, 0]), None),
                8 => col.typed::<ByteArrayType>().write_batch(&bytes(&["cart"]), Some(&[0, 1, 0, 0]), None),
                _ => col.typed::<DoubleType>().write_batch(&[1200.0], Some(&[0, 0, 1, 0]), None),
            };
            r.expect("write column");
        },
    );
    let lists = file(
        "message session_log {
            REQUIRED BYTE_ARRAY session (UTF8);
            REQUIRED INT64 timestamp;
            REQUIRED BYTE_ARRAY type (UTF8);
            OPTIONAL BYTE_ARRAY item (UTF8);
            OPTIONAL group items (LIST) { REPEATED group list { REQUIRED BYTE_ARRAY element (UTF8); } }
            OPTIONAL group prices (LIST) { REPEATED group list { REQUIRED DOUBLE element; } }
        }",
        Compression::SNAPPY,
        &mut |i, col| {
            let r = match i {
                0 => col.typed::<ByteArrayType>().write_batch(&bytes(&["s", "s", "s"]), None, None),
                1 => col.typed::<Int64Type>().write_batch(&[1, 2, 3], None, None),
                2 => col.typed::<ByteArrayType>().write_batch(&bytes(&["click", "results", "results"]), None, None),
                3 => col.typed::<ByteArrayType>().write_batch(&bytes(&["a"]), Some(&[1, 0, 0]), None),
                4 => col.typed::<ByteArrayType>().write_batch(
                    &bytes(&["a", "b", "c", "c"]),
                    Some(&[0, 2, 2, 2, 2]),
                    Some(&[0, 0, 1, 1, 0]),
                ),
                _ => col.typed::<DoubleType>().write_batch(
                    &[1.5, 2.0, 3.0],
                    Some(&[0, 2, 2, 2, 0]),
                    Some(&[0, 0, 1, 1, 0]),
                ),
            };
            r.expect("write column");
        },
    );
    for (name, data) in [("parquet-plain.seed", plain), ("parquet-lists-snappy.seed", lists)] {
        // The loader must read what the seed holds, or the seed teaches the fuzzer nothing.
        let path = std::env::temp_dir().join(format!("fewclick-make-seeds-{}.parquet", std::process::id()));
        std::fs::write(&path, &data).expect("write");
        let ds = fewclick::train::data::load(fewclick::train::data::Format::Parquet, &path).expect("the seed loads");
        assert!(ds.n_sessions() > 0);
        std::fs::remove_file(&path).ok();
        write("loaders", name, &[&[b'3'][..], &data].concat());
    }
}

/// Every loaders seed, the hand-written ones included, must load (first byte: the format); a
/// `regress-` seed (a damaged file the fuzzer found) only says what loading it gives.
fn check_loader_seeds() {
    use fewclick::train::data::{describe, load, Format};
    let formats = [Format::Jsonl, Format::Csv, Format::Trivago, Format::Parquet];
    let mut names: Vec<_> = std::fs::read_dir(seeds().join("loaders")).expect("loaders seeds").flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let data = std::fs::read(entry.path()).expect("read seed");
        let format = formats[data[0] as usize % 4];
        let path = std::env::temp_dir().join(format!("fewclick-make-seeds-{}.in", std::process::id()));
        std::fs::write(&path, &data[1..]).expect("write");
        let loaded = load(format, &path);
        std::fs::remove_file(&path).ok();
        let name = entry.file_name().to_string_lossy().into_owned();
        let outcome = match loaded {
            Ok(ds) => describe(&ds),
            Err(e) if name.starts_with("regress-") => format!("refused: {e}"),
            Err(e) => panic!("{}: {e}", entry.path().display()),
        };
        println!("loaders/{name} ({}): {outcome}", format.as_str());
    }
}

fn main() {
    models();
    sessions();
    parquet_logs();
    check_loader_seeds();
}
