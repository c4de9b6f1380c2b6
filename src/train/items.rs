//! Item features: the per-item feature vector a model's item table holds, learned from the
//! training sessions only.
//!
//! | # | name | formula |
//! |---|---|---|
//! | 0 | `seen_in_training` | 1 if the item occurs in the training sessions (in a result list or an event), else 0 |
//! | 1 | `log_times_shown` | ln(1 + number of training result lists showing the item) |
//! | 2 | `log_times_clicked` | ln(1 + number of training result lists in which the item was the engaged one) |
//! | 3 | `click_log_odds` | logit(p) − logit(g), p = (clicks + 10·g) / (shown + 10), g = all clicks / all shown items in training (0.05 without training lists) |
//! | 4 | `log_interactions` | ln(1 + number of training engagement events on the item: clicks, carts, purchases, dwell > 0) |
//! | 5–8 | `cooc_0` … `cooc_3` | co-occurrence embedding (below); zero for items never engaged together with another item |
//!
//! Nothing here depends on the list an item is shown in: price in context and display position
//! are session features the core computes from the `prices` a page gives (see
//! [`crate::session`]), so no host code repeats a formula of the trainer.
//!
//! The learned values are stored quantised in a core [`ItemTable`] (one byte per value, see
//! [`crate::items`]); training, evaluation and the browser all read the same dequantised values, so
//! the features a model was evaluated on are the ones a page gets.
//!
//! An item unknown to the table gets the **default** vector: `seen_in_training` 0,
//! `log_times_shown`, `log_times_clicked` and `log_interactions` at their averages over all training
//! result-list slots (so an unseen item looks like an average candidate), `click_log_odds` 0 (the
//! prior) and a zero embedding.
//!
//! **Co-occurrence embedding.** For every training session, the distinct items it engaged with
//! (engagement events and clicks on result lists, the first 50) are linked pairwise with weight
//! 1/(k − 1), k the number of such items. With A the row-normalised link matrix and R a fixed
//! Gaussian 4-vector per item (seeded by a hash of the item id, so no OS randomness), the embedding
//! is the unit-normalised row of ((I + A)/2)³ R: items engaged in the same sessions, or with common
//! neighbours, get similar directions.
//!
//! **Target leakage.** Statistics learned on a set of sessions include those sessions' own clicks.
//! Featurising a training session with a table learned on itself leaks its labels (an item's click
//! count includes the click being predicted); use [`ItemFeatures::learn_out_of_fold`] for training
//! examples and [`ItemFeatures::learn`] on the whole training split for held-out evaluation and
//! serving.
//!
//! **JSON file** ([`ItemFeatures::save_json`], read by `fewclick train --item-table` for tables made
//! elsewhere, such as the demo's catalogue):
//!
//! ```text
//! {"format": "fewclick-item-features", "version": 2,
//!  "names": [the feature names],
//!  "default": [the values of an unknown item],
//!  "items": {"item id": [its values], ...}}
//! ```

use super::data::Dataset;
use super::item_stats::ItemStats;
use crate::error::{Error, Result};
use crate::items::ItemTable;
use crate::rng::Rng;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Dimensions of the co-occurrence embedding.
pub const EMBED_DIM: usize = 4;
/// Width of the feature vector.
pub const ITEM_DIM: usize = 5 + EMBED_DIM;

/// Names of the features, in vector order.
pub const ITEM_NAMES: [&str; ITEM_DIM] = [
    "seen_in_training",
    "log_times_shown",
    "log_times_clicked",
    "click_log_odds",
    "log_interactions",
    "cooc_0",
    "cooc_1",
    "cooc_2",
    "cooc_3",
];

/// Pseudo-counts pulling an item's click rate toward the global rate.
const PRIOR_STRENGTH: f64 = 10.0;
/// Global click rate used when the training set has no result lists.
const FALLBACK_CLICK_RATE: f64 = 0.05;
/// Smoothing steps of the co-occurrence embedding.
const EMBED_STEPS: usize = 3;
/// Mixed into every item's hash to seed its random projection vector.
const EMBED_SEED: u64 = 0x6665_7763_6c69_636b; // "fewclick"
const FILE_FORMAT: &str = "fewclick-item-features";
/// Version 1 carried three list-context names after the item features; those are session
/// features now.
const FILE_VERSION: u32 = 2;

/// A learned item-feature table: the feature names and the quantised values.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemFeatures {
    /// Feature names (length [`ItemFeatures::dim`]).
    pub names: Vec<String>,
    table: ItemTable,
}

/// FNV-1a, 64 bit: a stable hash of an item id across runs and platforms.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

impl ItemFeatures {
    /// Learns item statistics from the given sessions only (pass the training split).
    pub fn learn(train: &Dataset) -> Result<ItemFeatures> {
        ItemFeatures::from_stats(&ItemStats::count(train))
    }

    /// The table of counted statistics (merged from shards or counted in one place: the same
    /// counts give the same table, bit for bit; see [`ItemStats`]).
    pub fn from_stats(stats: &ItemStats) -> Result<ItemFeatures> {
        let (ids, shown, clicked, interactions, links) = stats.sorted();
        let n = ids.len();
        let embedding = cooccurrence_embedding(&ids, links);

        // Saturating, like the counts' merge (counts read from bytes can be anything).
        let total_shown = shown.iter().fold(0u64, |a, &b| a.saturating_add(b));
        let total_clicked = clicked.iter().fold(0u64, |a, &b| a.saturating_add(b));
        let g = if total_shown > 0 && total_clicked > 0 {
            (total_clicked as f64 / total_shown as f64).min(0.5)
        } else {
            FALLBACK_CLICK_RATE
        };
        let logit_g = logit(g);

        let mut rows = Vec::with_capacity(n);
        // Sums over result-list slots (each showing of an item), for the unknown-item default.
        let (mut s_shown, mut s_clicked, mut s_inter) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let shown = shown[i] as f64;
            let clicked = clicked[i] as f64;
            let p = (clicked + PRIOR_STRENGTH * g) / (shown.max(clicked) + PRIOR_STRENGTH);
            let log_shown = shown.ln_1p();
            let log_clicked = clicked.ln_1p();
            let log_inter = (interactions[i] as f64).ln_1p();
            let mut row =
                vec![1.0, log_shown as f32, log_clicked as f32, (logit(p) - logit_g) as f32, log_inter as f32];
            row.extend_from_slice(&embedding[i * EMBED_DIM..(i + 1) * EMBED_DIM]);
            rows.push((ids[i].to_string(), row));
            s_shown += shown * log_shown;
            s_clicked += shown * log_clicked;
            s_inter += shown * log_inter;
        }
        let mut default = vec![0.0f32; ITEM_DIM];
        if total_shown > 0 {
            let t = total_shown as f64;
            default[1] = (s_shown / t) as f32;
            default[2] = (s_clicked / t) as f32;
            default[4] = (s_inter / t) as f32;
        }
        Ok(ItemFeatures { names: names(), table: ItemTable::quantise(default, rows)? })
    }

    /// Out-of-fold tables for featurising training sessions without leaking their own clicks:
    /// table `f` is learned from every session of `train` whose index `i` has `i % folds != f`, so
    /// session `i` should be featurised with table `i % folds`. `folds` below 2 counts as 2.
    pub fn learn_out_of_fold(train: &Dataset, folds: usize) -> Result<Vec<ItemFeatures>> {
        ItemFeatures::out_of_fold(&ItemStats::by_residue(train, 0, folds))
    }

    /// Out-of-fold tables from the counts of each residue class ([`ItemStats::by_residue`], merged
    /// over shards): table `f` from every class but `f`.
    pub fn out_of_fold(by_residue: &[ItemStats]) -> Result<Vec<ItemFeatures>> {
        use rayon::prelude::*;
        (0..by_residue.len())
            .into_par_iter()
            .map(|f| {
                let others = by_residue.iter().enumerate().filter(|&(g, _)| g != f).map(|(_, s)| s);
                ItemFeatures::from_stats(&ItemStats::merged(others))
            })
            .collect()
    }

    /// A model's table under its feature names (for evaluating a model file on what it carries).
    pub fn from_table(names: Vec<String>, table: ItemTable) -> Result<ItemFeatures> {
        if names.len() != table.dim() {
            return Err(Error::DimensionMismatch {
                what: "item feature names",
                expected: table.dim(),
                found: names.len(),
            });
        }
        Ok(ItemFeatures { names, table })
    }

    /// Width of the feature vector.
    pub fn dim(&self) -> usize {
        self.table.dim()
    }

    /// Number of items in the table.
    pub fn n_items(&self) -> usize {
        self.table.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.table.find(id).is_some()
    }

    /// An item's vector: its learned row, or the default for an unknown item.
    pub fn vector(&self, id: &str) -> Vec<f32> {
        let mut out = vec![0.0; self.dim()];
        self.table.vector_into(id, &mut out);
        out
    }

    /// The vector of an unknown item.
    pub fn default_vector(&self) -> &[f32] {
        self.table.default_vector()
    }

    /// The quantised table, as a model file carries it.
    pub fn table(&self) -> &ItemTable {
        &self.table
    }

    /// Feature rows (row-major, n × dim) for the items of one displayed list, in display order:
    /// exactly what a page's `setResults({ ids, prices })` looks up in the model's table.
    pub fn for_display(&self, items: &[String]) -> Vec<f32> {
        self.table.features_for(items)
    }

    /// Writes the table as JSON (see the [module documentation](self) for the layout).
    pub fn save_json(&self, path: &Path) -> Result<()> {
        #[derive(serde::Serialize)]
        struct File<'a> {
            format: &'a str,
            version: u32,
            names: &'a [String],
            default: &'a [f32],
            items: BTreeMap<&'a str, Vec<f32>>,
        }
        let t = &self.table;
        let items = (0..t.len())
            .map(|i| {
                let mut row = vec![0.0; t.dim()];
                t.row_into(i, &mut row);
                (t.id(i), row)
            })
            .collect();
        let file =
            File { format: FILE_FORMAT, version: FILE_VERSION, names: &self.names, default: t.default_vector(), items };
        let json = serde_json::to_string(&file)
            .map_err(|e| Error::InvalidInput { reason: format!("cannot encode item features: {e}") })?;
        std::fs::write(path, json)
            .map_err(|e| Error::InvalidInput { reason: format!("cannot write {}: {e}", path.display()) })
    }

    /// Reads a table written by [`ItemFeatures::save_json`] (or by hand), validating every vector,
    /// and quantises it.
    pub fn load_json(path: &Path) -> Result<ItemFeatures> {
        #[derive(serde::Deserialize)]
        struct File {
            format: Option<String>,
            version: Option<u32>,
            names: Vec<String>,
            default: Vec<f32>,
            items: HashMap<String, Vec<f32>>,
        }
        let bad = |reason: String| Error::InvalidInput { reason: format!("{}: {reason}", path.display()) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidInput { reason: format!("cannot read {}: {e}", path.display()) })?;
        let file: File = serde_json::from_str(&text).map_err(|e| bad(format!("not an item-feature file: {e}")))?;
        if let Some(f) = &file.format {
            if f != FILE_FORMAT {
                return Err(bad(format!("format is {f:?}, expected {FILE_FORMAT:?}")));
            }
        }
        if let Some(v) = file.version {
            if v != FILE_VERSION {
                return Err(bad(format!("version {v} is not supported (this build reads version {FILE_VERSION})")));
            }
        }
        let dim = file.names.len();
        if dim == 0 {
            return Err(bad("\"names\" is empty".into()));
        }
        if file.default.len() != dim {
            return Err(bad(format!("\"default\" has {} values, expected {dim}", file.default.len())));
        }
        let rows = file.items.into_iter().collect();
        let table = ItemTable::quantise(file.default, rows).map_err(|e| bad(e.to_string()))?;
        Ok(ItemFeatures { names: file.names, table })
    }
}

fn names() -> Vec<String> {
    ITEM_NAMES.iter().map(|s| s.to_string()).collect()
}

/// Unit-normalised rows of ((I + A)/2)^EMBED_STEPS · R over the co-occurrence graph
/// (`n_items × EMBED_DIM`; zero rows for items without links).
fn cooccurrence_embedding(ids: &[&str], mut links: Vec<(u32, u32, f32)>) -> Vec<f32> {
    let n = ids.len();
    let mut emb = vec![0.0f32; n * EMBED_DIM];
    if links.is_empty() {
        return emb;
    }
    // Merge duplicate links into a CSR adjacency (stable sort: deterministic sums).
    links.sort_by_key(|&(a, b, _)| (a, b));
    let mut offsets = vec![0usize; n + 1];
    let mut targets: Vec<u32> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    let mut k = 0;
    while k < links.len() {
        let (a, b, mut w) = links[k];
        k += 1;
        while k < links.len() && links[k].0 == a && links[k].1 == b {
            w += links[k].2;
            k += 1;
        }
        targets.push(b);
        weights.push(w);
        offsets[a as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    // Row-normalise.
    for i in 0..n {
        let row = &mut weights[offsets[i]..offsets[i + 1]];
        let total: f32 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|w| *w /= total);
        }
    }
    let linked: Vec<bool> = (0..n).map(|i| offsets[i + 1] > offsets[i]).collect();
    for i in (0..n).filter(|&i| linked[i]) {
        let mut rng = Rng::new(fnv1a(ids[i]) ^ EMBED_SEED);
        for v in &mut emb[i * EMBED_DIM..(i + 1) * EMBED_DIM] {
            *v = rng.normal();
        }
    }
    let mut next = vec![0.0f32; n * EMBED_DIM];
    for _ in 0..EMBED_STEPS {
        for i in (0..n).filter(|&i| linked[i]) {
            let mut acc = [0.0f32; EMBED_DIM];
            for e in offsets[i]..offsets[i + 1] {
                let j = targets[e] as usize;
                for (a, v) in acc.iter_mut().zip(&emb[j * EMBED_DIM..(j + 1) * EMBED_DIM]) {
                    *a += weights[e] * v;
                }
            }
            for d in 0..EMBED_DIM {
                next[i * EMBED_DIM + d] = 0.5 * emb[i * EMBED_DIM + d] + 0.5 * acc[d];
            }
        }
        std::mem::swap(&mut emb, &mut next);
    }
    for row in emb.chunks_exact_mut(EMBED_DIM) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    emb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Event, EventKind};
    use crate::train::data::{Display, Session, Step};

    fn event(t: f64, item: &str) -> Step {
        let mut event = Event::new(item, EventKind::Click);
        event.timestamp = Some(t);
        Step::Event { timestamp: t, event }
    }

    fn results(t: f64, items: &[&str], prices: Option<Vec<f32>>, clicked: Option<&str>) -> Step {
        Step::Results(Display {
            timestamp: t,
            items: items.iter().map(|s| s.to_string()).collect(),
            prices,
            clicked: clicked.map(str::to_owned),
            click_kind: EventKind::Cart,
        })
    }

    fn toy() -> Dataset {
        Dataset {
            sessions: vec![
                Session {
                    id: "s1".into(),
                    user: None,
                    steps: vec![
                        event(1.0, "a"),
                        results(2.0, &["a", "b", "c"], Some(vec![10.0, 20.0, 40.0]), Some("b")),
                    ],
                },
                Session {
                    id: "s2".into(),
                    user: None,
                    steps: vec![event(1.0, "b"), results(2.0, &["c", "b"], None, Some("b")), event(3.0, "d")],
                },
                Session { id: "s3".into(), user: None, steps: vec![results(5.0, &["c", "e"], None, None)] },
            ],
        }
    }

    /// Quantisation moves a value by at most half a step of its column; the toy's columns span
    /// at most 2, so half a step is under 0.004.
    const QUANTISED: f32 = 0.004;

    #[test]
    fn statistics_follow_the_formulas() {
        let f = ItemFeatures::learn(&toy()).expect("learns");
        assert_eq!(f.dim(), ITEM_DIM);
        assert_eq!(f.names.len(), f.dim());
        assert_eq!(f.n_items(), 5);
        // Item b: shown 2, clicked 2, one click event. All shown slots: 3 + 2 + 2 = 7, clicks 2.
        let b = f.vector("b");
        let g = 2.0f64 / 7.0;
        let p = (2.0 + 10.0 * g) / (2.0 + 10.0);
        assert_eq!(b[0], 1.0);
        assert!((b[1] - 3f32.ln()).abs() < QUANTISED);
        assert!((b[2] - 3f32.ln()).abs() < QUANTISED);
        assert!((b[3] - (logit(p) - logit(g)) as f32).abs() < QUANTISED);
        assert!((b[4] - 2f32.ln()).abs() < QUANTISED);
        // c: shown 3 times, never clicked: negative log-odds.
        assert!(f.vector("c")[3] < 0.0);
        // e never engaged: a (near) zero embedding; a and b co-engaged in s1: unit embeddings, same
        // direction after smoothing (a pair only linked to each other).
        assert!(f.vector("e")[5..].iter().all(|&v| v.abs() < QUANTISED));
        let ea = &f.vector("a")[5..];
        let eb = &f.vector("b")[5..];
        let dot: f32 = ea.iter().zip(eb).map(|(x, y)| x * y).sum();
        assert!((ea.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 4.0 * QUANTISED);
        assert!(dot > 0.5, "co-engaged items should point the same way, cosine {dot}");
    }

    #[test]
    fn unknown_items_get_the_defaults_and_rows_are_finite() {
        let f = ItemFeatures::learn(&toy()).expect("learns");
        let items: Vec<String> = ["b", "zzz"].iter().map(|s| s.to_string()).collect();
        let rows = f.for_display(&items);
        assert_eq!(rows.len(), 2 * f.dim());
        assert!(rows.iter().all(|v| v.is_finite()));
        let unknown = &rows[f.dim()..2 * f.dim()];
        assert_eq!(unknown, f.default_vector());
        assert_eq!(unknown[0], 0.0);
        assert!(unknown[1] > 0.0, "shown default is the slot average");
        assert_eq!(unknown[3], 0.0);
        assert!(!f.contains("zzz"));
        // Learning from nothing still gives a usable, finite table.
        let empty = ItemFeatures::learn(&Dataset::default()).expect("learns");
        let rows = empty.for_display(&items);
        assert!(rows.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn learning_is_deterministic_and_out_of_fold_excludes_own_sessions() {
        let ds = toy();
        assert_eq!(ItemFeatures::learn(&ds).expect("learns"), ItemFeatures::learn(&ds).expect("learns"));
        let folds = ItemFeatures::learn_out_of_fold(&ds, 3).expect("learns");
        assert_eq!(folds.len(), 3);
        // Table 2 excludes s3 (index 2): e only occurs in s3.
        assert!(!folds[2].contains("e"));
        assert!(folds[0].contains("e"));
        // Table 1 excludes s2: d only occurs in s2.
        assert!(!folds[1].contains("d"));
    }

    #[test]
    fn json_round_trip_and_validation() {
        let f = ItemFeatures::learn(&toy()).expect("learns");
        let dir = std::env::temp_dir().join(format!("fewclick-items-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("items.json");
        f.save_json(&path).expect("save");
        let g = ItemFeatures::load_json(&path).expect("load");
        assert_eq!(g.names, f.names);
        assert_eq!(g.default_vector(), f.default_vector());
        // Re-quantising dequantised values gives back the same codes; the scale may differ in its
        // last bit.
        for id in ["a", "b", "c", "d", "e", "unknown"] {
            for (x, y) in g.vector(id).iter().zip(f.vector(id)) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{id}: {x} vs {y}");
            }
        }

        let text = std::fs::read_to_string(&path).expect("read");
        let broken = text.replacen("\"default\":[", "\"default\":[1.0,", 1);
        std::fs::write(&path, broken).expect("write");
        let err = ItemFeatures::load_json(&path).expect_err("wrong length");
        assert!(err.to_string().contains("\"default\" has 10 values"), "{err}");
        std::fs::write(&path, "{\"names\":[\"x\"],\"default\":[],\"items\":{}}").expect("write");
        assert!(ItemFeatures::load_json(&path).is_err());
        std::fs::write(&path, "{\"names\":[\"x\"],\"default\":[0],\"items\":{\"a\":[1,2]}}").expect("write");
        assert!(ItemFeatures::load_json(&path).is_err(), "a row of the wrong width");
        assert!(ItemFeatures::load_json(&dir.join("missing.json")).is_err());
    }
}
