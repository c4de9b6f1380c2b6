//! Session-log loading, item features and the evaluation report, on generated data (and, when it
//! is present, a load check of the real trivago development split).

#![cfg(feature = "cli")]

use fewclick::rng::Rng;
use fewclick::session::{Event, EventKind};
use fewclick::train::data::{self, Dataset, Display, Format, Session, Step};
use fewclick::train::items::ItemFeatures;
use fewclick::train::report::{Bootstrap, Outcome, Report, BUCKETS, DISPLAY, INTERACTED_FIRST};
use fewclick::train::select::hold_out;
use fewclick::Model;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fewclick-train-data-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Item ids, one with a comma and quotes to exercise CSV quoting.
fn item_id(i: usize) -> String {
    if i == 7 {
        "sku \"7\", red".to_string()
    } else {
        format!("sku-{i}")
    }
}

/// Random sessions with every kind of step. `integer_times` keeps timestamps integral (for the
/// INT64 Parquet variant).
fn generate(seed: u64, n_sessions: usize, integer_times: bool) -> Dataset {
    let mut rng = Rng::new(seed);
    let kinds = [
        EventKind::Click,
        EventKind::Impression,
        EventKind::Cart,
        EventKind::Purchase,
        EventKind::Skip,
        EventKind::Dwell,
    ];
    let mut sessions = Vec::new();
    for s in 0..n_sessions {
        let mut t = 1_000.0 + rng.below(10_000) as f64;
        let user = (rng.f32() < 0.7).then(|| format!("user-{}", rng.below(20)));
        let mut steps = Vec::new();
        for _ in 0..1 + rng.below(8) {
            t += rng.below(60) as f64 + if integer_times { 0.0 } else { 0.25 * rng.below(4) as f64 };
            if rng.f32() < 0.4 {
                let n = 1 + rng.below(12);
                let mut items: Vec<String> = Vec::new();
                while items.len() < n {
                    let id = item_id(rng.below(40));
                    if !items.contains(&id) {
                        items.push(id);
                    }
                }
                let prices = (rng.f32() < 0.6)
                    .then(|| (0..n).map(|_| (rng.range(5.0, 500.0) * 100.0).round() / 100.0).collect());
                let clicked = (rng.f32() < 0.8).then(|| items[rng.below(n)].clone());
                let click_kind = [EventKind::Click, EventKind::Cart, EventKind::Purchase][rng.below(3)];
                steps.push(Step::Results(Display { timestamp: t, items, prices, clicked, click_kind }));
            } else {
                let kind = kinds[rng.below(kinds.len())];
                let mut event = Event::new(item_id(rng.below(40)), kind);
                event.timestamp = Some(t);
                if kind == EventKind::Dwell {
                    event.dwell_ms = rng.below(60_000) as f32;
                }
                steps.push(Step::Event { timestamp: t, event });
            }
        }
        sessions.push(Session { id: format!("session-{s}"), user, steps });
    }
    Dataset { sessions }
}

/// Flattened rows of the generic formats: (session, user, timestamp, type, item, items, prices,
/// clicked, click_type, dwell_ms), missing values as None.
type FlatRow = (
    String,
    Option<String>,
    f64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
);

fn flatten(ds: &Dataset) -> Vec<FlatRow> {
    let mut rows = Vec::new();
    for s in &ds.sessions {
        for step in &s.steps {
            match step {
                Step::Event { timestamp, event } => rows.push((
                    s.id.clone(),
                    s.user.clone(),
                    *timestamp,
                    event.kind.as_str().to_string(),
                    Some(event.item.clone()),
                    None,
                    None,
                    None,
                    None,
                    (event.dwell_ms != 0.0).then_some(event.dwell_ms as f64),
                )),
                Step::Results(d) => rows.push((
                    s.id.clone(),
                    s.user.clone(),
                    d.timestamp,
                    "results".to_string(),
                    None,
                    Some(d.items.join("|")),
                    d.prices.as_ref().map(|p| p.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("|")),
                    d.clicked.clone(),
                    Some(d.click_kind.as_str().to_string()),
                    None,
                )),
            }
        }
    }
    rows
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_csv(ds: &Dataset, path: &Path) {
    // Columns in a different order than documented, plus an ignored extra column.
    let mut out = String::from("type,session,timestamp,item,items,prices,clicked,click_type,dwell_ms,user,note\n");
    for (session, user, t, kind, item, items, prices, clicked, click_type, dwell) in flatten(ds) {
        let fields = [
            kind,
            session,
            t.to_string(),
            item.unwrap_or_default(),
            items.unwrap_or_default(),
            prices.unwrap_or_default(),
            clicked.unwrap_or_default(),
            click_type.unwrap_or_default(),
            dwell.map(|d| d.to_string()).unwrap_or_default(),
            user.unwrap_or_default(),
            "free text, ignored".to_string(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    std::fs::write(path, out).expect("write CSV");
}

/// Writes `ds` as Parquet in `groups` row groups of about equal size.
fn write_parquet(ds: &Dataset, path: &Path, int64_timestamps: bool, groups: usize) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = format!(
        "message session_log {{
            REQUIRED BYTE_ARRAY session (UTF8);
            OPTIONAL BYTE_ARRAY user (UTF8);
            REQUIRED {} timestamp;
            REQUIRED BYTE_ARRAY type (UTF8);
            OPTIONAL BYTE_ARRAY item (UTF8);
            OPTIONAL BYTE_ARRAY items (UTF8);
            OPTIONAL BYTE_ARRAY prices (UTF8);
            OPTIONAL BYTE_ARRAY clicked (UTF8);
            OPTIONAL BYTE_ARRAY click_type (UTF8);
            OPTIONAL DOUBLE dwell_ms;
        }}",
        if int64_timestamps { "INT64" } else { "DOUBLE" }
    );
    let schema = Arc::new(parse_message_type(&schema).expect("schema"));
    let props = Arc::new(WriterProperties::builder().build());
    let file = std::fs::File::create(path).expect("create parquet file");
    let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
    let all_rows = flatten(ds);

    fn strings(values: impl Iterator<Item = Option<String>>) -> (Vec<ByteArray>, Vec<i16>) {
        let (mut data, mut defs) = (Vec::new(), Vec::new());
        for v in values {
            match v {
                Some(s) => {
                    data.push(ByteArray::from(s.as_str()));
                    defs.push(1);
                }
                None => defs.push(0),
            }
        }
        (data, defs)
    }

    for rows in all_rows.chunks(all_rows.len().div_ceil(groups.max(1)).max(1)) {
        let mut group = writer.next_row_group().expect("row group");
        let mut column = 0;
        while let Some(mut col) = group.next_column().expect("next column") {
            match column {
                2 if int64_timestamps => {
                    let v: Vec<i64> = rows.iter().map(|r| r.2 as i64).collect();
                    col.typed::<Int64Type>().write_batch(&v, None, None).expect("write");
                }
                2 => {
                    let v: Vec<f64> = rows.iter().map(|r| r.2).collect();
                    col.typed::<DoubleType>().write_batch(&v, None, None).expect("write");
                }
                9 => {
                    let v: Vec<f64> = rows.iter().filter_map(|r| r.9).collect();
                    let defs: Vec<i16> = rows.iter().map(|r| r.9.is_some() as i16).collect();
                    col.typed::<DoubleType>().write_batch(&v, Some(&defs), None).expect("write");
                }
                0 | 3 => {
                    let (data, _) =
                        strings(rows.iter().map(|r| Some(if column == 0 { r.0.clone() } else { r.3.clone() })));
                    col.typed::<ByteArrayType>().write_batch(&data, None, None).expect("write");
                }
                c => {
                    let (data, defs) = strings(rows.iter().map(|r| match c {
                        1 => r.1.clone(),
                        4 => r.4.clone(),
                        5 => r.5.clone(),
                        6 => r.6.clone(),
                        7 => r.7.clone(),
                        _ => r.8.clone(),
                    }));
                    col.typed::<ByteArrayType>().write_batch(&data, Some(&defs), None).expect("write");
                }
            }
            col.close().expect("close column");
            column += 1;
        }
        group.close().expect("close row group");
    }
    writer.close().expect("close writer");
}

#[test]
fn jsonl_csv_and_parquet_load_to_the_same_dataset() {
    let dir = temp_dir("equivalence");
    let original = generate(42, 60, false);

    let jsonl = dir.join("log.jsonl");
    data::write_jsonl(&original, &jsonl).expect("write JSONL");
    let from_jsonl = data::load(Format::Jsonl, &jsonl).expect("load JSONL");

    let csv = dir.join("log.csv");
    write_csv(&original, &csv);
    let from_csv = data::load(Format::Csv, &csv).expect("load CSV");

    let parquet = dir.join("log.parquet");
    write_parquet(&original, &parquet, false, 1);
    let from_parquet = data::load(Format::Parquet, &parquet).expect("load Parquet");

    assert_eq!(from_jsonl.sessions, original.sessions);
    assert_eq!(from_csv.sessions, original.sessions);
    assert_eq!(from_parquet.sessions, original.sessions);
    assert_eq!(from_csv.n_displays(), original.n_displays());
    assert!(original.sessions.iter().flat_map(|s| s.displays()).any(|d| d.items.contains(&item_id(7))));

    // The loader reads row group by row group; a session may straddle two groups.
    let grouped = dir.join("groups.parquet");
    write_parquet(&original, &grouped, false, 3);
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(&grouped).expect("open")).expect("reader");
        assert_eq!(reader.num_row_groups(), 3);
    }
    assert_eq!(data::load(Format::Parquet, &grouped).expect("load").sessions, original.sessions);

    // INT64 timestamps in Parquet.
    let integral = generate(7, 20, true);
    let parquet = dir.join("int64.parquet");
    write_parquet(&integral, &parquet, true, 1);
    assert_eq!(data::load(Format::Parquet, &parquet).expect("load").sessions, integral.sessions);
}

#[test]
fn rows_out_of_order_are_sorted_per_session() {
    let dir = temp_dir("order");
    let path = dir.join("log.jsonl");
    std::fs::write(
        &path,
        concat!(
            "{\"session\": \"b\", \"timestamp\": 5, \"type\": \"click\", \"item\": \"x\"}\n",
            "{\"session\": \"a\", \"timestamp\": 9, \"type\": \"results\", \"items\": [\"x\", \"y\"], \"clicked\": \"zzz\"}\n",
            "\n",
            "{\"session\": \"a\", \"timestamp\": 3, \"type\": \"view\", \"item\": \"y\", \"user\": 17}\n",
            "{\"session\": \"b\", \"timestamp\": 5, \"type\": \"cart\", \"item\": \"x\"}\n",
        ),
    )
    .expect("write");
    let ds = data::load(Format::Jsonl, &path).expect("load");
    let ids: Vec<&str> = ds.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["b", "a"], "sessions keep the order of first appearance");
    let a = &ds.sessions[1];
    assert_eq!(a.user.as_deref(), Some("17"));
    assert_eq!(a.start_time(), 3.0);
    assert!(matches!(&a.steps[0], Step::Event { event, .. } if event.kind == EventKind::Impression));
    match &a.steps[1] {
        Step::Results(d) => assert_eq!((d.clicked.as_deref(), d.click_kind), (None, EventKind::Click)),
        other => panic!("expected results, got {other:?}"),
    }
    // Equal timestamps keep file order.
    let kinds: Vec<EventKind> = ds.sessions[0]
        .steps
        .iter()
        .map(|s| match s {
            Step::Event { event, .. } => event.kind,
            Step::Results(_) => EventKind::Skip,
        })
        .collect();
    assert_eq!(kinds, vec![EventKind::Click, EventKind::Cart]);
}

#[test]
fn split_by_time_is_disjoint_and_time_ordered() {
    let ds = generate(3, 200, false);
    for fraction in [0.0, 0.1, 0.5, 0.75, 0.99, 1.0] {
        let (train, test) = ds.split_by_time(fraction);
        assert_eq!(train.sessions.len() + test.sessions.len(), ds.sessions.len());
        let train_ids: std::collections::HashSet<&str> = train.sessions.iter().map(|s| s.id.as_str()).collect();
        assert!(test.sessions.iter().all(|s| !train_ids.contains(s.id.as_str())));
        let last_train = train.sessions.iter().map(Session::start_time).fold(f64::NEG_INFINITY, f64::max);
        let first_test = test.sessions.iter().map(Session::start_time).fold(f64::INFINITY, f64::min);
        assert!(last_train < first_test, "fraction {fraction}: {last_train} !< {first_test}");
        let expected = (fraction * ds.sessions.len() as f64).round() as usize;
        assert!(train.sessions.len() >= expected && train.sessions.len() <= expected + 5);
        // Deterministic.
        let (again, _) = ds.split_by_time(fraction);
        assert_eq!(again.sessions, train.sessions);
    }
}

#[test]
fn item_features_on_generated_sessions() {
    let ds = generate(11, 150, false);
    let (train, test) = ds.split_by_time(0.7);
    let features = ItemFeatures::learn(&train).expect("learns");
    assert!((5..=16).contains(&features.dim()));
    for d in test.sessions.iter().flat_map(|s| s.displays()) {
        let rows = features.for_display(&d.items);
        assert_eq!(rows.len(), d.items.len() * features.dim());
        assert!(rows.iter().all(|v| v.is_finite() && v.abs() <= 10.0), "{rows:?}");
    }
    let unknown = vec!["never-seen".to_string()];
    assert_eq!(features.for_display(&unknown), features.default_vector());

    let path = temp_dir("items").join("items.json");
    features.save_json(&path).expect("save");
    let loaded = ItemFeatures::load_json(&path).expect("load");
    assert_eq!(loaded.names, features.names);
    assert_eq!(loaded.n_items(), features.n_items());
    // Re-quantised from the dequantised values: the same codes, a scale equal up to its last bits.
    for d in ds.sessions.iter().flat_map(|s| s.displays()) {
        for (x, y) in loaded.for_display(&d.items).iter().zip(features.for_display(&d.items)) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
}

/// Checks that every tag is closed in order (a small XML well-formedness check for our SVG).
fn assert_balanced_xml(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched closing tag");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split_whitespace().next().expect("tag name");
            stack.push(name.to_string());
        }
        let text = &rest[..start];
        assert!(!text.contains('>'), "stray '>' in text: {text}");
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    for (i, _) in svg.match_indices('&') {
        let entity = &svg[i..svg[i..].find(';').map_or(svg.len(), |e| i + e + 1)];
        assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "bad entity {entity}");
    }
}

#[test]
fn report_files() {
    let outcomes = |seed: u64| -> Vec<Outcome> {
        let mut rng = Rng::new(seed);
        (0..300).map(|i| Outcome { rank: 1 + rng.below(20), prior_events: rng.below(9), session: i / 3 }).collect()
    };
    let report = Report::new(
        "generated <sessions> & \"clicks\"",
        vec![
            (DISPLAY.to_string(), outcomes(1)),
            (INTERACTED_FIRST.to_string(), outcomes(2)),
            ("fewclick (k = 5)".to_string(), outcomes(3)),
            ("no events".to_string(), Vec::new()),
        ],
        vec!["seed 1".to_string()],
        Bootstrap::default(),
    );
    let svg = report.to_svg();
    assert!(svg.starts_with("<svg"));
    assert_balanced_xml(&svg);
    for m in &report.methods {
        assert!(svg.contains(&m.name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")));
    }
    for b in BUCKETS {
        assert!(svg.contains(&format!(">{b}</text>")), "bucket label {b}");
    }

    let dir = temp_dir("report");
    report.write_all(&dir).expect("write report");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("read")).expect("JSON");
    for m in json["methods"].as_array().expect("methods") {
        for key in ["name", "mrr", "ndcg5", "hit1", "n"] {
            assert!(m.get(key).is_some(), "{key}");
        }
    }
    assert_eq!(json["methods"][3]["n"], 0);
    for key in ["mean", "lo", "hi"] {
        assert!(json["methods"][2]["delta_vs_interacted"][key].is_number(), "{key}");
        assert!(json["methods"][2]["delta_vs_display"][key].is_number(), "{key}");
    }
    assert!(json["methods"][3]["delta_vs_interacted"].is_null(), "no lists, no interval");
    assert_eq!(json["bootstrap"]["seed"], 1);
    let md = std::fs::read_to_string(dir.join("report.md")).expect("read");
    assert!(md.contains("| no events | – | – | – | 0 |"), "{md}");
    assert!(dir.join("report.svg").exists());
}

/// Loads the real trivago development split when it is present (it is not part of the repository).
#[test]
fn real_trivago_split_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/trivago/sessions.csv");
    if !path.exists() {
        println!("skipped: {} is not present", path.display());
        return;
    }
    let start = std::time::Instant::now();
    let ds = data::load(Format::Trivago, &path).expect("load trivago");
    let load_time = start.elapsed();
    // 5,709 sessions in the file; 75 of them contain only filter, sort or destination actions and
    // are dropped as empty. Every one of the 10,245 clickouts becomes a result list.
    assert_eq!(ds.sessions.len(), 5_634);
    assert_eq!(ds.n_displays(), 10_245);
    let clicked = ds.sessions.iter().flat_map(|s| s.displays()).filter(|d| d.clicked.is_some()).count();
    assert!(clicked >= 10_240, "{clicked} clicked lists");

    let (train, test) = ds.split_by_time(0.8);
    let start = std::time::Instant::now();
    let features = ItemFeatures::learn(&train).expect("learns");
    let learn_time = start.elapsed();
    let mut max_abs = vec![0.0f32; features.dim()];
    for d in test.sessions.iter().flat_map(|s| s.displays()) {
        let rows = features.for_display(&d.items);
        for row in rows.chunks_exact(features.dim()) {
            for (m, v) in max_abs.iter_mut().zip(row) {
                assert!(v.is_finite());
                *m = m.max(v.abs());
            }
        }
    }
    println!(
        "{}; load {load_time:?}, item features learned on {} sessions in {learn_time:?} ({} items); max |feature| on the held-out part: {max_abs:?}",
        data::describe(&ds),
        train.sessions.len(),
        features.n_items()
    );
}

/// `items` and `prices` may also be Parquet LIST columns.
#[test]
fn parquet_list_columns() {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let schema = "message session_log {
        REQUIRED BYTE_ARRAY session (UTF8);
        REQUIRED INT64 timestamp;
        REQUIRED BYTE_ARRAY type (UTF8);
        OPTIONAL BYTE_ARRAY item (UTF8);
        OPTIONAL group items (LIST) { REPEATED group list { REQUIRED BYTE_ARRAY element (UTF8); } }
        OPTIONAL group prices (LIST) { REPEATED group list { REQUIRED DOUBLE element; } }
    }";
    let path = temp_dir("parquet-lists").join("lists.parquet");
    let file = std::fs::File::create(&path).expect("create");
    let mut writer = SerializedFileWriter::new(
        file,
        Arc::new(parse_message_type(schema).expect("schema")),
        Arc::new(WriterProperties::builder().build()),
    )
    .expect("writer");
    let bytes = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
    // Rows: click on a at 1; results [a, b, c] with prices at 2; results [c] without prices at 3.
    let mut group = writer.next_row_group().expect("row group");
    let mut column = 0;
    while let Some(mut col) = group.next_column().expect("column") {
        match column {
            0 => col.typed::<ByteArrayType>().write_batch(&bytes(&["s", "s", "s"]), None, None),
            1 => col.typed::<Int64Type>().write_batch(&[1, 2, 3], None, None),
            2 => col.typed::<ByteArrayType>().write_batch(&bytes(&["click", "results", "results"]), None, None),
            3 => col.typed::<ByteArrayType>().write_batch(&bytes(&["a"]), Some(&[1, 0, 0]), None),
            4 => col.typed::<ByteArrayType>().write_batch(
                &bytes(&["a", "b", "c", "c"]),
                Some(&[0, 2, 2, 2, 2]),
                Some(&[0, 0, 1, 1, 0]),
            ),
            _ => {
                col.typed::<DoubleType>().write_batch(&[1.5, 2.0, 3.0], Some(&[0, 2, 2, 2, 0]), Some(&[0, 0, 1, 1, 0]))
            }
        }
        .expect("write");
        col.close().expect("close column");
        column += 1;
    }
    group.close().expect("close row group");
    writer.close().expect("close");

    let ds = data::load(Format::Parquet, &path).expect("load");
    assert_eq!(ds.sessions.len(), 1);
    let steps = &ds.sessions[0].steps;
    assert_eq!(steps.len(), 3);
    assert!(matches!(&steps[0], Step::Event { event, .. } if event.item == "a"));
    match (&steps[1], &steps[2]) {
        (Step::Results(d1), Step::Results(d2)) => {
            assert_eq!(d1.items, vec!["a", "b", "c"]);
            assert_eq!(d1.prices, Some(vec![1.5, 2.0, 3.0]));
            assert_eq!(d2.items, vec!["c"]);
            assert_eq!(d2.prices, None);
        }
        other => panic!("expected two result lists, got {other:?}"),
    }
}

#[test]
fn validation_is_the_latest_sessions_and_disjoint() {
    let ds = generate(5, 300, false);
    for fraction in [0.1, 0.25, 0.5] {
        let (fit, validation) = hold_out(&ds, fraction);
        assert_eq!(fit.sessions.len() + validation.sessions.len(), ds.sessions.len());
        let fit_ids: std::collections::HashSet<&str> = fit.sessions.iter().map(|s| s.id.as_str()).collect();
        assert!(validation.sessions.iter().all(|s| !fit_ids.contains(s.id.as_str())));
        let last_fit = fit.sessions.iter().map(Session::start_time).fold(f64::NEG_INFINITY, f64::max);
        let first_validation = validation.sessions.iter().map(Session::start_time).fold(f64::INFINITY, f64::min);
        assert!(last_fit < first_validation, "{fraction}: {last_fit} !< {first_validation}");
        let expected = (fraction * ds.sessions.len() as f64).round() as usize;
        assert!(validation.sessions.len() <= expected && validation.sessions.len() + 5 >= expected);
    }
}

/// Sessions in which the engaged item of every list is the one item the shopper clicked just
/// before: interacted-first ranks it first every time (MRR 1), so no model can beat it.
fn recurring_clicks(seed: u64, n_sessions: usize) -> Dataset {
    let mut rng = Rng::new(seed);
    let sessions = (0..n_sessions)
        .map(|s| {
            let t = 1_000.0 + 100.0 * s as f64;
            let liked = item_id(rng.below(30));
            let mut event = Event::new(liked.clone(), EventKind::Click);
            event.timestamp = Some(t);
            let mut steps = vec![Step::Event { timestamp: t, event }];
            for k in 1..=2 {
                let mut items: Vec<String> = Vec::new();
                while items.len() < 7 {
                    let id = item_id(rng.below(30));
                    if id != liked && !items.contains(&id) {
                        items.push(id);
                    }
                }
                items.insert(rng.below(8), liked.clone());
                let prices = Some((0..8).map(|_| rng.range(50.0, 150.0).round()).collect());
                steps.push(Step::Results(Display {
                    timestamp: t + 10.0 * k as f64,
                    items,
                    prices,
                    clicked: Some(liked.clone()),
                    click_kind: EventKind::Click,
                }));
            }
            Session { id: format!("s{s}"), user: None, steps }
        })
        .collect();
    Dataset { sessions }
}

/// Runs the `fewclick` binary; (success, stderr).
fn fewclick(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fewclick")).args(args).output().expect("run fewclick");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn read_model(path: &Path) -> Model {
    Model::from_bytes(&std::fs::read(path).expect("model written")).expect("model reads back")
}

/// Small, fast training settings for the command-line tests.
const SMALL: [&str; 6] = ["--hidden", "8", "--batch", "8", "--validation", "0.25"];

#[test]
fn train_writes_the_selected_settings_into_the_model() {
    let dir = temp_dir("selection");
    let sessions = dir.join("sessions.jsonl");
    data::write_jsonl(&recurring_clicks(17, 64), &sessions).expect("write sessions");
    let model = dir.join("m.fcm");
    let s = sessions.to_str().expect("utf-8 path");
    let mut args = vec!["train", "--format", "jsonl", "--sessions", s, "--out", model.to_str().expect("utf-8")];
    args.extend(SMALL);
    let (ok, stderr) = fewclick(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("validation MRR"), "{stderr}");
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.train-log.json")).expect("log")).expect("JSON");
    let sel = &log["selection"];
    assert_eq!(sel["epochs"].as_array().expect("epochs").len(), 10, "one validation score per epoch");
    // 1 candidate without steps + 4 step counts × 2 scopes × 3 α multipliers × 3 prox, then the
    // other rank_without_events for the best.
    assert_eq!(sel["grid"].as_array().expect("grid").len(), 74);
    assert_eq!(sel["interacted_first_mrr"], 1.0);
    assert_eq!(sel["beats_interacted_first"], false);
    assert!(stderr.contains("does NOT beat interacted-first"), "{stderr}");
    let chosen = &sel["chosen"];
    let m = read_model(&model);
    assert_eq!(m.inner.steps as u64, chosen["steps"].as_u64().expect("steps"));
    assert_eq!(m.inner.scope.as_str(), chosen["scope"].as_str().expect("scope"));
    assert_eq!(m.inner.prox, chosen["prox"].as_f64().expect("prox") as f32);
    assert_eq!(m.rank_without_events, chosen["rank_without_events"].as_bool().expect("rwe"));
    let best = sel["grid"].as_array().expect("grid").iter().filter_map(|c| c["mrr"].as_f64()).fold(0.0, f64::max);
    assert_eq!(sel["chosen_mrr"].as_f64(), Some(best), "the best candidate is chosen");
}

#[test]
fn explicit_settings_are_fixed_and_alpha_is_scaled() {
    let dir = temp_dir("fixed");
    let sessions = dir.join("sessions.jsonl");
    data::write_jsonl(&recurring_clicks(23, 48), &sessions).expect("write sessions");
    let s = sessions.to_str().expect("utf-8 path");
    let run = |scale: &str| {
        let out = dir.join(format!("m{scale}.fcm"));
        let mut args = vec!["train", "--format", "jsonl", "--sessions", s, "--out", out.to_str().expect("utf-8")];
        args.extend(SMALL);
        args.extend([
            "--epochs",
            "1",
            "--steps",
            "2",
            "--scope",
            "head",
            "--prox",
            "0.5",
            "--rank-without-events",
            "--alpha-scale",
            scale,
        ]);
        let (ok, stderr) = fewclick(&args);
        assert!(ok, "{stderr}");
        read_model(&out)
    };
    let (one, two) = (run("1"), run("2"));
    for m in [&one, &two] {
        assert_eq!(
            (m.inner.steps, m.inner.scope.as_str(), m.inner.prox, m.rank_without_events),
            (2, "head", 0.5, true)
        );
    }
    assert_eq!(one.theta, two.theta, "the same training run");
    assert!(one.alpha.iter().zip(&two.alpha).all(|(a, b)| 2.0 * a == *b));
    assert!(one.alpha.iter().any(|&a| a > 0.0));
}

#[test]
fn require_lift_fails_when_interacted_first_cannot_be_beaten() {
    let dir = temp_dir("require-lift");
    let sessions = dir.join("sessions.jsonl");
    data::write_jsonl(&recurring_clicks(29, 48), &sessions).expect("write sessions");
    let model = dir.join("m.fcm");
    let mut args = vec![
        "train",
        "--format",
        "jsonl",
        "--sessions",
        sessions.to_str().expect("utf-8"),
        "--out",
        model.to_str().expect("utf-8"),
        "--epochs",
        "1",
        "--steps",
        "1",
        "--require-lift",
    ];
    args.extend(SMALL);
    let (ok, stderr) = fewclick(&args);
    assert!(!ok, "must fail: {stderr}");
    assert!(stderr.contains("--require-lift: the model does not beat interacted-first"), "{stderr}");
    assert!(!model.exists(), "no model is written");
    // Without validation there is nothing to require a lift on: refused before reading data.
    let (ok, stderr) = fewclick(&["train", "--sessions", "missing.jsonl", "--validation", "0", "--require-lift"]);
    assert!(!ok && stderr.contains("--require-lift needs validation"), "{stderr}");
}

/// Timestamps outside 0..1e11 seconds (a unit mistake, or a corrupt u64::MAX) are refused with
/// the row named, in every format that reads them.
#[test]
fn timestamps_out_of_range_are_refused() {
    let dir = temp_dir("time-range");
    for (t, why) in [("1700000000000", "milliseconds?"), ("18446744073709551615", "outside"), ("-5", "outside")] {
        let path = dir.join("log.jsonl");
        let line = format!("{{\"session\": \"a\", \"timestamp\": {t}, \"type\": \"click\", \"item\": \"x\"}}\n");
        std::fs::write(&path, line).expect("write");
        let err = data::load(Format::Jsonl, &path).expect_err("refused").to_string();
        assert!(err.contains(why), "{t}: {err}");
        let csv = dir.join("log.csv");
        std::fs::write(&csv, format!("session,timestamp,type,item\na,{t},click,x\n")).expect("write");
        assert!(data::load(Format::Csv, &csv).is_err(), "{t} in CSV");
    }
    let ok = dir.join("ok.jsonl");
    std::fs::write(&ok, "{\"session\": \"a\", \"timestamp\": 1700000000, \"type\": \"click\", \"item\": \"x\"}\n")
        .expect("write");
    assert_eq!(data::load(Format::Jsonl, &ok).expect("seconds load").sessions.len(), 1);
}

/// A dwell time beyond f32's range (finite as an f64, ∞ as the f32 an event keeps) is refused like
/// a negative or NaN one, in CSV and JSONL (the fuzzer's `loaders` target found the CSV case:
/// `fuzz/seeds/loaders/regress-dwell-f32-overflow.seed`).
#[test]
fn dwell_times_beyond_f32_are_refused() {
    let dir = temp_dir("dwell-range");
    for (ms, ok) in [("1e39", false), ("-1", false), ("1e30", true), ("1200", true)] {
        let csv = dir.join("log.csv");
        std::fs::write(&csv, format!("session,timestamp,type,item,dwell_ms\na,7,dwell,x,{ms}\n")).expect("write");
        let jsonl = dir.join("log.jsonl");
        let line = format!(
            "{{\"session\": \"a\", \"timestamp\": 7, \"type\": \"dwell\", \"item\": \"x\", \"dwell_ms\": {ms}}}\n"
        );
        std::fs::write(&jsonl, line).expect("write");
        for (format, path) in [(Format::Csv, &csv), (Format::Jsonl, &jsonl)] {
            match data::load(format, path) {
                Ok(ds) if ok => assert_eq!(ds.sessions.len(), 1),
                Err(e) if !ok => assert!(e.to_string().contains("dwell_ms"), "{ms}: {e}"),
                other => panic!("dwell_ms {ms} in {format:?}: {:?}", other.map(|d| d.sessions.len())),
            }
        }
    }
}

/// A result list longer than any reranker takes (issue 13: one 10 MB line with a 1M-item list held
/// 1.1 GB) is refused with its row named; one at the limit loads.
#[test]
fn result_lists_longer_than_a_reranker_takes_are_refused() {
    let dir = temp_dir("long-list");
    let line = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("\"i{i}\"")).collect();
        format!("{{\"session\": \"a\", \"timestamp\": 9, \"type\": \"results\", \"items\": [{}]}}\n", items.join(","))
    };
    let path = dir.join("long.jsonl");
    std::fs::write(&path, line(fewclick::reranker::MAX_CANDIDATES + 1)).expect("write");
    let err = data::load(Format::Jsonl, &path).expect_err("refused").to_string();
    assert!(err.contains("at most 100000") && err.contains("long.jsonl:1:"), "{err}");
    std::fs::write(&path, line(fewclick::reranker::MAX_CANDIDATES)).expect("write");
    assert_eq!(data::load(Format::Jsonl, &path).expect("the limit loads").sessions.len(), 1);
}

/// What `write_jsonl` writes, the JSONL loader reads back exactly, times included (found by the
/// loaders fuzz target: without serde_json's `float_roundtrip`, 12.500000238418579 read back one
/// unit in the last place off).
#[test]
fn jsonl_times_round_trip_to_the_last_bit() {
    let dir = temp_dir("float-roundtrip");
    let csv = dir.join("log.csv");
    std::fs::write(&csv, "session,timestamp,type,item\ns,12.500000238418579,click,a\n").expect("write");
    let original = data::load(Format::Csv, &csv).expect("load CSV");
    let jsonl = dir.join("log.jsonl");
    data::write_jsonl(&original, &jsonl).expect("write JSONL");
    let back = data::load(Format::Jsonl, &jsonl).expect("load JSONL");
    let time = |ds: &fewclick::train::data::Dataset| ds.sessions[0].steps[0].timestamp();
    assert_eq!(time(&back).to_bits(), time(&original).to_bits(), "{} vs {}", time(&back), time(&original));
    assert_eq!(time(&original), 12.500000238418579);
}
