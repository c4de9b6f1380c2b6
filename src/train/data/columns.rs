//! Columns in memory (the Python package's Arrow tables and pandas DataFrames): the Parquet
//! format's columns as one vector each, checked and assembled exactly as a file's rows are.

use super::*;

/// A log's columns, one value per row; `None` is a missing (null) value. `session`, `timestamp`
/// and `type` are required, the others may be absent (an empty vector).
#[derive(Clone, Debug, Default)]
pub struct Columns {
    pub session: Vec<Option<String>>,
    pub user: Vec<Option<String>>,
    pub timestamp: Vec<Option<f64>>,
    pub kind: Vec<Option<String>>,
    pub item: Vec<Option<String>>,
    pub items: Vec<Option<Vec<String>>>,
    pub prices: Vec<Option<Vec<f32>>>,
    pub clicked: Vec<Option<String>>,
    pub click_type: Vec<Option<String>>,
    pub dwell_ms: Vec<Option<f64>>,
}

/// The sessions of `cols` (see [`Columns`]); errors name the row (counted from 1).
pub fn load_columns(cols: Columns) -> Result<Dataset> {
    let rows = cols.session.len();
    if cols.timestamp.len() != rows || cols.kind.len() != rows {
        return Err(invalid(format!(
            "columns session, timestamp and type are required and of one length (got {}, {} and {} values)",
            rows,
            cols.timestamp.len(),
            cols.kind.len()
        )));
    }
    let optional = [
        ("user", cols.user.len()),
        ("item", cols.item.len()),
        ("items", cols.items.len()),
        ("prices", cols.prices.len()),
        ("clicked", cols.clicked.len()),
        ("click_type", cols.click_type.len()),
        ("dwell_ms", cols.dwell_ms.len()),
    ];
    if let Some((name, n)) = optional.iter().find(|(_, n)| *n != 0 && *n != rows) {
        return Err(invalid(format!("column {name} has {n} values for {rows} rows")));
    }
    fn take<T>(v: &mut std::vec::IntoIter<Option<T>>) -> Option<T> {
        v.next().flatten()
    }
    let (mut session, mut user, mut timestamp) =
        (cols.session.into_iter(), cols.user.into_iter(), cols.timestamp.into_iter());
    let (mut kind, mut item, mut items) = (cols.kind.into_iter(), cols.item.into_iter(), cols.items.into_iter());
    let (mut prices, mut clicked) = (cols.prices.into_iter(), cols.clicked.into_iter());
    let (mut click_type, mut dwell_ms) = (cols.click_type.into_iter(), cols.dwell_ms.into_iter());
    let mut asm = Assembler::default();
    for row in 1..=rows {
        let raw = RawRow {
            session: take(&mut session),
            user: take(&mut user),
            timestamp: take(&mut timestamp),
            kind: take(&mut kind),
            item: take(&mut item),
            items: take(&mut items),
            prices: take(&mut prices),
            clicked: take(&mut clicked),
            click_type: take(&mut click_type),
            dwell_ms: take(&mut dwell_ms),
        };
        let err = |reason: String| invalid(format!("row {row}: {reason}"));
        let (s, u, step) = raw.into_step().map_err(err)?;
        asm.add(s, u, row as u64, step).map_err(err)?;
    }
    Ok(asm.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn columns_assemble_like_rows_and_errors_name_the_row() {
        let cols = Columns {
            session: vec![s("a"), s("a"), s("b")],
            timestamp: vec![Some(2.0), Some(1.0), Some(5.0)],
            kind: vec![s("results"), s("click"), s("results")],
            item: vec![None, s("x"), None],
            items: vec![Some(vec!["x".into(), "y".into()]), None, Some(vec!["y".into()])],
            prices: vec![Some(vec![1.0, 2.0]), None, None],
            clicked: vec![s("y"), None, None],
            ..Columns::default()
        };
        let ds = load_columns(cols.clone()).expect("loads");
        assert_eq!(ds.n_sessions(), 2);
        assert_eq!(ds.n_displays(), 2);
        // Sorted by time within the session: the click (t = 1) before the list (t = 2).
        assert!(matches!(ds.sessions[0].steps[0], Step::Event { .. }));
        let mut broken = cols.clone();
        broken.kind[2] = s("teleport");
        let err = load_columns(broken).expect_err("unknown type").to_string();
        assert!(err.contains("row 3") && err.contains("unknown type"), "{err}");
        let mut short = cols;
        short.clicked.pop();
        assert!(load_columns(short).expect_err("ragged").to_string().contains("clicked has 2 values"));
    }
}
