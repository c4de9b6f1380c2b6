//! The shopper's session: the current result set, the bounded event log, the session features
//! computed from it for every candidate, and the training examples the inner loop learns from.
//!
//! Decisions (documented in ARCHITECTURE.md, tested below):
//! * The log keeps at most `capacity` events; the oldest is dropped first.
//! * An event on an item in the current results snapshots that item's features and price, so it
//!   keeps counting for similarity and price features after the results change. An event on an
//!   item that is not in the current results reuses an earlier snapshot of the same item if the log
//!   has one; otherwise it counts only by id (interaction count, recency, skips).
//! * An engagement (click, cart, purchase, long dwell) on an item in the current results becomes a
//!   training example: that item against the items shown above it that the session has not engaged
//!   with (skip-above), with session features as they were just before the event. An explicit skip
//!   becomes a negative row paired with every engaged row.

use crate::error::{check_finite, check_len, Error, Result};
use crate::kernels::Kernels;
use std::collections::{HashMap, VecDeque};

/// Number of session features per candidate.
pub const SESSION_DIM: usize = 13;

/// What each session feature means, in the order of the feature vector.
pub const SESSION_FEATURE_NAMES: [&str; SESSION_DIM] = [
    "engagement_log_count",
    "engagement_recency",
    "is_last_engaged",
    "impressions_log_count",
    "skips_log_count",
    "max_similarity_to_engaged",
    "similarity_to_engaged_centroid",
    "log_price_vs_engaged",
    "abs_log_price_vs_engaged",
    "price_comparison_available",
    "session_engagement_depth",
    "display_proximity_to_last_engaged",
    "shown_below_last_engaged",
];

/// Most items shown above an engaged item that become its negatives.
pub const MAX_ABOVE: usize = 10;
/// The similarity features look at this many most recent distinct engaged items.
pub const MAX_SIMILARITY_ITEMS: usize = 16;
/// Item ids longer than this are rejected.
pub const MAX_ID_BYTES: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Impression,
    Click,
    Cart,
    Purchase,
    Skip,
    Dwell,
}

impl EventKind {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "impression" | "view" => EventKind::Impression,
            "click" => EventKind::Click,
            "cart" | "add_to_cart" | "add-to-cart" => EventKind::Cart,
            "purchase" => EventKind::Purchase,
            "skip" => EventKind::Skip,
            "dwell" => EventKind::Dwell,
            other => {
                return Err(Error::InvalidInput {
                    reason: format!(
                        "unknown event type {other:?} (expected impression, view, click, cart, purchase, skip or dwell)"
                    ),
                })
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::Click => "click",
            EventKind::Cart => "cart",
            EventKind::Purchase => "purchase",
            EventKind::Skip => "skip",
            EventKind::Dwell => "dwell",
        }
    }
}

/// One shopper event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub item: String,
    pub kind: EventKind,
    pub timestamp: Option<f64>,
    /// Dwell time in milliseconds (only meaningful for [`EventKind::Dwell`]).
    pub dwell_ms: f32,
}

impl Event {
    pub fn new(item: impl Into<String>, kind: EventKind) -> Self {
        Event { item: item.into(), kind, timestamp: None, dwell_ms: 0.0 }
    }

    /// How strongly the event says "I want this": click 1 < cart 2 < purchase 3; dwell 0..1 by
    /// time (30 s saturates); impressions and skips are not engagement.
    pub fn engagement(&self) -> f32 {
        match self.kind {
            EventKind::Click => 1.0,
            EventKind::Cart => 2.0,
            EventKind::Purchase => 3.0,
            EventKind::Dwell => (self.dwell_ms / 30_000.0).clamp(0.0, 1.0),
            EventKind::Impression | EventKind::Skip => 0.0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate_id(&self.item)?;
        if let Some(t) = self.timestamp {
            if !t.is_finite() {
                return Err(Error::NonFinite { what: "event timestamp", index: 0 });
            }
        }
        if !self.dwell_ms.is_finite() || self.dwell_ms < 0.0 {
            return Err(Error::InvalidInput {
                reason: format!("dwell must be a finite, non-negative number of ms, got {}", self.dwell_ms),
            });
        }
        Ok(())
    }
}

/// Dwell events below this engagement are too weak to train on.
const MIN_EXAMPLE_ENGAGEMENT: f32 = 0.2;

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidId { reason: "empty id".into() });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::InvalidId { reason: format!("id longer than {MAX_ID_BYTES} bytes") });
    }
    Ok(())
}

/// The host's current results, in display order.
#[derive(Clone, Debug)]
pub struct ResultSet {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    dim: usize,
    /// Item features, row-major `n × dim`.
    x: Vec<f32>,
    /// Host base scores; `-ln(1 + display index)` when the host gives none.
    base: Vec<f32>,
    prices: Option<Vec<f32>>,
    /// `ln(price)`, computed once per set (every ranking needs it).
    log_prices: Option<Vec<f32>>,
    norms: Vec<f32>,
    /// Unique per constructed set (clones share it, as they share the contents): lets a backend
    /// that keeps the features on a device skip the upload when the set has not changed.
    generation: u64,
}

/// The next [`ResultSet`] generation.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ResultSet {
    /// Validates everything before building: on error nothing is kept.
    pub fn new(
        ids: Vec<String>,
        x: Vec<f32>,
        dim: usize,
        base: Option<Vec<f32>>,
        prices: Option<Vec<f32>>,
        max_candidates: usize,
    ) -> Result<Self> {
        let n = ids.len();
        if n > max_candidates {
            return Err(Error::TooManyCandidates { limit: max_candidates, found: n });
        }
        check_len("features (n × item_dim)", n * dim, x.len())?;
        check_finite("features", &x)?;
        let base = match base {
            Some(b) => {
                check_len("base scores", n, b.len())?;
                check_finite("base scores", &b)?;
                b
            }
            None => (0..n).map(|i| -((1 + i) as f32).ln()).collect(),
        };
        if let Some(p) = &prices {
            check_len("prices", n, p.len())?;
            check_finite("prices", p)?;
            if let Some(i) = p.iter().position(|&v| v <= 0.0) {
                return Err(Error::InvalidInput { reason: format!("price at index {i} must be positive") });
            }
        }
        let mut index = HashMap::with_capacity(n);
        for (i, id) in ids.iter().enumerate() {
            validate_id(id)?;
            if index.insert(id.clone(), i).is_some() {
                return Err(Error::DuplicateId { id: id.clone() });
            }
        }
        let norms = x.chunks_exact(dim.max(1)).map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt()).collect();
        let generation = GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_prices = prices.as_ref().map(|p| p.iter().map(|v| v.ln()).collect());
        Ok(ResultSet { ids, index, dim, x, base, prices, log_prices, norms, generation })
    }

    /// Identifies these contents: two sets with the same generation have the same features and
    /// base scores (see the field).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn features(&self) -> &[f32] {
        &self.x
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }
    pub fn base(&self) -> &[f32] {
        &self.base
    }
    /// `ln(price)` of every row, when the host gave prices.
    pub fn log_prices(&self) -> Option<&[f32]> {
        self.log_prices.as_deref()
    }
    pub fn price(&self, i: usize) -> Option<f32> {
        self.prices.as_ref().map(|p| p[i])
    }
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// The features and price of an item as they were when an event on it was recorded.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    x: Vec<f32>,
    norm: f32,
    price: Option<f32>,
}

/// A training example: row 0 is the positive (absent for a bare skip), the rest negatives.
/// Each input row is `[x (d) | s (S)]`; the host base score of each row is in `base`.
#[derive(Clone, Debug, PartialEq)]
struct Example {
    inputs: Vec<f32>,
    base: Vec<f32>,
    has_positive: bool,
    weight: f32,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    event: Event,
    snapshot: Option<Snapshot>,
    example: Option<Example>,
}

/// The bounded session log.
#[derive(Clone, Debug)]
pub struct EventLog {
    entries: VecDeque<Entry>,
    capacity: usize,
}

/// Per-item aggregates of the log, computed once per ranking.
#[derive(Default, Clone, Debug)]
struct ItemAgg {
    engagement: f32,
    /// Index (in engagement order) of the last engagement with this item.
    last_engaged: Option<usize>,
    impressions: u32,
    skips: u32,
}

/// What the log says, summarised for feature computation.
pub struct Summary<'a> {
    items: HashMap<&'a str, ItemAgg>,
    n_engaged_events: usize,
    last_engaged_item: Option<&'a str>,
    /// Most recent distinct engaged items with known features: (id, snapshot, engagement weight).
    similar: Vec<(&'a str, &'a Snapshot, f32)>,
    centroid: Option<(Vec<f32>, f32)>,
    log_mean_price: Option<f32>,
}

impl EventLog {
    pub fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 || capacity > 100_000 {
            return Err(Error::config("event_capacity", format!("must be in 1..=100000, got {capacity}")));
        }
        Ok(EventLog { entries: VecDeque::with_capacity(capacity.min(1024)), capacity })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn clear(&mut self) {
        self.entries.clear();
    }
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.entries.iter().map(|e| &e.event)
    }
    pub fn has_engagement(&self) -> bool {
        self.entries.iter().any(|e| e.event.engagement() > 0.0)
    }

    /// Records an event against the current results (if any). Validates first; on error the log
    /// is unchanged.
    pub fn record(&mut self, event: Event, results: Option<&ResultSet>) -> Result<()> {
        event.validate()?;
        let pos = results.and_then(|r| r.position(&event.item).map(|p| (r, p)));
        let snapshot = match pos {
            Some((r, p)) => Some(Snapshot { x: r.row(p).to_vec(), norm: r.norms[p], price: r.price(p) }),
            None => self
                .entries
                .iter()
                .rev()
                .find(|e| e.event.item == event.item && e.snapshot.is_some())
                .and_then(|e| e.snapshot.clone())
                .filter(|s| results.map_or(true, |r| r.dim == s.x.len())),
        };
        let example = match pos {
            Some((r, p)) => self.example_for(&event, r, p),
            None => None,
        };
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry { event, snapshot, example });
        Ok(())
    }

    /// Builds the training example an event contributes, with features as of before the event.
    fn example_for(&self, event: &Event, r: &ResultSet, p: usize) -> Option<Example> {
        let summary = self.summarize(Some(r.dim));
        let mut ex = Example { inputs: Vec::new(), base: Vec::new(), has_positive: true, weight: 1.0 };
        let push_row = |ex: &mut Example, i: usize| {
            ex.inputs.extend_from_slice(r.row(i));
            let mut s = [0.0; SESSION_DIM];
            summary.features(r, i, &mut s);
            ex.inputs.extend_from_slice(&s);
            ex.base.push(r.base[i]);
        };
        let engagement = event.engagement();
        if event.kind == EventKind::Skip {
            push_row(&mut ex, p);
            ex.has_positive = false;
            return Some(ex);
        }
        if engagement < MIN_EXAMPLE_ENGAGEMENT {
            return None;
        }
        ex.weight = engagement;
        push_row(&mut ex, p);
        let mut negatives = 0;
        for i in (0..p).rev() {
            if negatives == MAX_ABOVE {
                break;
            }
            let engaged = summary.items.get(r.ids[i].as_str()).is_some_and(|a| a.engagement > 0.0);
            if !engaged && r.ids[i] != event.item {
                push_row(&mut ex, i);
                negatives += 1;
            }
        }
        Some(ex)
    }

    /// Summarises the log. `dim` filters snapshots to the current feature width.
    pub fn summarize(&self, dim: Option<usize>) -> Summary<'_> {
        let mut items: HashMap<&str, ItemAgg> = HashMap::new();
        let mut n_engaged = 0;
        let mut last_engaged_item = None;
        for entry in &self.entries {
            let e = &entry.event;
            let agg = items.entry(e.item.as_str()).or_default();
            match e.kind {
                EventKind::Impression => agg.impressions += 1,
                EventKind::Skip => agg.skips += 1,
                _ => {}
            }
            let w = e.engagement();
            if w > 0.0 {
                agg.engagement += w;
                agg.last_engaged = Some(n_engaged);
                n_engaged += 1;
                last_engaged_item = Some(e.item.as_str());
            }
        }
        // Most recent distinct engaged items with a usable snapshot.
        let mut similar: Vec<(&str, &Snapshot, f32)> = Vec::new();
        for entry in self.entries.iter().rev() {
            if similar.len() == MAX_SIMILARITY_ITEMS {
                break;
            }
            let w = entry.event.engagement();
            let Some(snap) = entry.snapshot.as_ref() else { continue };
            if w <= 0.0 || dim.is_some_and(|d| d != snap.x.len()) {
                continue;
            }
            if similar.iter().any(|(id, _, _)| *id == entry.event.item) {
                continue;
            }
            let total = items.get(entry.event.item.as_str()).map_or(w, |a| a.engagement);
            similar.push((entry.event.item.as_str(), snap, total));
        }
        let centroid = (!similar.is_empty()).then(|| {
            let d = similar[0].1.x.len();
            let mut c = vec![0.0f32; d];
            for (_, s, w) in &similar {
                if s.norm > 0.0 {
                    for (ci, xi) in c.iter_mut().zip(&s.x) {
                        *ci += w * xi / s.norm;
                    }
                }
            }
            let norm = c.iter().map(|v| v * v).sum::<f32>().sqrt();
            (c, norm)
        });
        let (mut lp, mut wsum) = (0.0f32, 0.0f32);
        for (_, s, w) in &similar {
            if let Some(p) = s.price {
                lp += w * p.ln();
                wsum += w;
            }
        }
        Summary {
            items,
            n_engaged_events: n_engaged,
            last_engaged_item,
            similar,
            centroid,
            log_mean_price: (wsum > 0.0).then(|| lp / wsum),
        }
    }

    /// All training examples in the log, flattened for the loss.
    pub fn support(&self, dim: usize) -> SupportSet {
        let width = dim + SESSION_DIM;
        let mut set = SupportSet { width, ..SupportSet::default() };
        let mut skip_rows = Vec::new();
        for entry in &self.entries {
            let Some(ex) = &entry.example else { continue };
            if ex.inputs.len() != ex.base.len() * width {
                continue; // recorded under another feature width
            }
            let start = set.n_rows() as u32;
            set.inputs.extend_from_slice(&ex.inputs);
            set.base.extend_from_slice(&ex.base);
            let n = ex.base.len() as u32;
            if ex.has_positive {
                set.groups.push(Group { pos: start, negs: start + 1..start + n, weight: ex.weight });
            } else {
                skip_rows.push(start);
            }
        }
        for g in &set.groups {
            for j in g.negs.clone() {
                set.pairs.push((g.pos, j, g.weight));
            }
            for &j in &skip_rows {
                set.pairs.push((g.pos, j, 0.5 * g.weight));
            }
        }
        set
    }
}

impl Summary<'_> {
    /// Session features of candidate `i` of `r`, written to `out` (length [`SESSION_DIM`]).
    pub fn features(&self, r: &ResultSet, i: usize, out: &mut [f32]) {
        let id = r.ids[i].as_str();
        out.fill(0.0);
        if let Some(a) = self.items.get(id) {
            out[0] = (1.0 + a.engagement).ln();
            if let Some(last) = a.last_engaged {
                out[1] = 1.0 / (1 + self.n_engaged_events - 1 - last) as f32;
            }
            out[3] = (1.0 + a.impressions as f32).ln();
            out[4] = (1.0 + a.skips as f32).ln();
        }
        out[2] = (self.last_engaged_item == Some(id)) as u8 as f32;
        let x = r.row(i);
        let norm = r.norms[i];
        if norm > 0.0 {
            let mut best = 0.0f32;
            for (eid, s, _) in &self.similar {
                if *eid != id && s.norm > 0.0 {
                    let dot: f32 = x.iter().zip(&s.x).map(|(a, b)| a * b).sum();
                    best = best.max(dot / (norm * s.norm));
                }
            }
            out[5] = best;
            if let Some((c, cn)) = &self.centroid {
                if *cn > 0.0 {
                    out[6] = x.iter().zip(c).map(|(a, b)| a * b).sum::<f32>() / (norm * cn);
                }
            }
        }
        if let (Some(lm), Some(p)) = (self.log_mean_price, r.price(i)) {
            let rel = (p.ln() - lm).clamp(-3.0, 3.0);
            out[7] = rel;
            out[8] = rel.abs();
            out[9] = 1.0;
        }
        out[10] = (1.0 + self.n_engaged_events as f32).ln();
        // Shoppers tend to carry on scanning from the last item they engaged with: how close this
        // candidate is to it in the current list, and whether it comes after it. (Relative to the
        // shopper's own click, so not a position prior: both are 0 until the shopper engages with
        // an item of this list.)
        if let Some(j) = self.last_engaged_item.and_then(|id| r.position(id)) {
            if j != i {
                out[11] = 1.0 / (1.0 + (i as f32 - j as f32).abs());
                out[12] = (i > j) as u8 as f32;
            }
        }
    }

    /// The summary as flat arrays for the candidates of `r`: what the batched features need
    /// besides the result set. `None` when a snapshot has another width than `r` (a summary made
    /// without a dimension), which only the per-row reference handles.
    pub fn table(&self, r: &ResultSet) -> Option<SummaryTable> {
        let d = r.dim;
        if self.similar.iter().any(|(_, snap, _)| snap.x.len() != d) {
            return None;
        }
        let mut columns = Vec::new();
        let mut own_rows = Vec::new();
        for (id, snap, _) in self.similar.iter().filter(|(_, snap, _)| snap.norm > 0.0) {
            columns.extend(snap.x.iter().map(|v| v / snap.norm));
            own_rows.push(r.position(id).map_or(NO_ROW, |i| i as u32));
        }
        let centroid = self.centroid.as_ref().filter(|(_, cn)| *cn > 0.0);
        if let Some((c, cn)) = centroid {
            columns.extend(c.iter().map(|v| v / cn));
        }
        let unsorted: Vec<(u32, [f32; 4])> = self
            .items
            .iter()
            .filter_map(|(id, a)| {
                let row = r.position(id)? as u32;
                let recency = a.last_engaged.map_or(0.0, |l| 1.0 / (1 + self.n_engaged_events - 1 - l) as f32);
                let counts = [
                    (1.0 + a.engagement).ln(),
                    recency,
                    (1.0 + a.impressions as f32).ln(),
                    (1.0 + a.skips as f32).ln(),
                ];
                Some((row, counts))
            })
            .collect();
        // By row (u64 keys: the same integer sort rank::order uses, so the page carries one).
        let mut keys: Vec<u64> =
            unsorted.iter().enumerate().map(|(k, item)| (item.0 as u64) << 32 | k as u64).collect();
        keys.sort_unstable();
        let items = keys.into_iter().map(|k| unsorted[(k & 0xffff_ffff) as usize]).collect();
        Some(SummaryTable {
            columns,
            own_rows,
            has_centroid: centroid.is_some(),
            log_mean_price: self.log_mean_price.filter(|_| r.log_prices.is_some()),
            engaged: (1.0 + self.n_engaged_events as f32).ln(),
            last_row: self.last_engaged_item.and_then(|id| r.position(id)).map_or(NO_ROW, |i| i as u32),
            items,
        })
    }

    /// Session features of every candidate, row-major `n × SESSION_DIM`: [`Summary::features`]
    /// (the reference) for each row, batched through [`Summary::table`]. The per-item counts are
    /// written from the few logged items (one id lookup per logged item, not one per candidate);
    /// the similarities to the engaged items and their centroid are one matrix product on
    /// `kernels`.
    pub fn all_features<K: Kernels + ?Sized>(&self, kernels: &K, r: &ResultSet) -> Vec<f32> {
        let mut s = vec![0.0; r.len() * SESSION_DIM];
        match self.table(r) {
            Some(t) => t.features_into(kernels, r, &mut s),
            None => {
                for (i, out) in s.chunks_exact_mut(SESSION_DIM).enumerate() {
                    self.features(r, i, out);
                }
            }
        }
        s
    }
}

/// `own_rows` / `last_row` of an item that is not in the result set.
pub const NO_ROW: u32 = u32::MAX;

/// A session summary flattened for one result set ([`Summary::table`]): the CPU's batched
/// features and src/gpu/shaders/features.wgsl compute the same `n × SESSION_DIM` features from it
/// and the result set's own arrays (features, log prices).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryTable {
    /// Unit vectors, `columns.len() / d` of them: the engaged items' snapshots (most recent
    /// first), then their weighted centroid when `has_centroid`.
    pub columns: Vec<f32>,
    /// Per snapshot column, the display row of its item ([`NO_ROW`]: not in the list); an item
    /// is not compared with its own snapshot.
    pub own_rows: Vec<u32>,
    pub has_centroid: bool,
    /// Weighted mean log price of the engaged items; `None` when unknown or the result set has
    /// no prices.
    pub log_mean_price: Option<f32>,
    /// `ln(1 + engaged events)`, the same for every row.
    pub engaged: f32,
    /// Display row of the last engaged item ([`NO_ROW`]: none, or not in the list).
    pub last_row: u32,
    /// Logged items found in the list, by row: (row, [engagement log-count, engagement recency,
    /// impressions log-count, skips log-count]) — features 0, 1, 3 and 4.
    pub items: Vec<(u32, [f32; 4])>,
}

impl SummaryTable {
    pub fn n_similar(&self) -> usize {
        self.own_rows.len()
    }

    /// Writes the features of every candidate of `r` into `s` (`n × SESSION_DIM`, zeroed).
    fn features_into<K: Kernels + ?Sized>(&self, kernels: &K, r: &ResultSet, s: &mut [f32]) {
        let (n, d) = (r.len(), r.dim);
        let n_similar = self.n_similar();
        let n_cols = self.columns.len().checked_div(d).unwrap_or(0);
        // The columns as a d × m matrix (m padded to a multiple of 4 for the kernels).
        let m = n_cols.next_multiple_of(4);
        let mut dots = Vec::new();
        if m > 0 {
            let mut w = vec![0.0f32; d * m];
            for (j, col) in self.columns.chunks_exact(d).enumerate() {
                for (k, v) in col.iter().enumerate() {
                    w[k * m + j] = *v;
                }
            }
            dots = vec![0.0f32; n * m];
            kernels.matmul_acc(r.features(), n, d, &w, m, &mut dots);
        }
        let last = (self.last_row != NO_ROW).then_some(self.last_row as usize);
        for (i, out) in s.chunks_exact_mut(SESSION_DIM).enumerate() {
            let norm = r.norms[i];
            if norm > 0.0 && m > 0 {
                let row = &dots[i * m..(i + 1) * m];
                let mut best = 0.0f32;
                for (j, &own) in self.own_rows.iter().enumerate() {
                    if own as usize != i {
                        best = best.max(row[j] / norm);
                    }
                }
                out[5] = best;
                if self.has_centroid {
                    out[6] = row[n_similar] / norm;
                }
            }
            if let (Some(lm), Some(lp)) = (self.log_mean_price, &r.log_prices) {
                let rel = (lp[i] - lm).clamp(-3.0, 3.0);
                out[7] = rel;
                out[8] = rel.abs();
                out[9] = 1.0;
            }
            out[10] = self.engaged;
            if let Some(j) = last.filter(|&j| j != i) {
                out[11] = 1.0 / (1.0 + (i as f32 - j as f32).abs());
                out[12] = (i > j) as u8 as f32;
            }
        }
        for &(row, [engagement, recency, impressions, skips]) in &self.items {
            let out = &mut s[row as usize * SESSION_DIM..(row as usize + 1) * SESSION_DIM];
            out[0] = engagement;
            out[1] = recency;
            out[3] = impressions;
            out[4] = skips;
        }
        if let Some(i) = last {
            s[i * SESSION_DIM + 2] = 1.0;
        }
    }
}

/// A listwise group: one positive row against its negatives.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub pos: u32,
    pub negs: std::ops::Range<u32>,
    pub weight: f32,
}

/// The inner loop's training data: input rows `[x | s]` (row-major, `width = d + S`), the host
/// base score of each row, and the pairs and listwise groups over them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SupportSet {
    pub width: usize,
    pub inputs: Vec<f32>,
    pub base: Vec<f32>,
    /// (positive row, negative row, weight)
    pub pairs: Vec<(u32, u32, f32)>,
    pub groups: Vec<Group>,
}

impl SupportSet {
    pub fn n_rows(&self) -> usize {
        self.base.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Validates a feature vector for one item against the expected width.
pub fn check_item_features(x: &[f32], dim: usize) -> Result<()> {
    check_len("item features", dim, x.len())?;
    check_finite("item features", x)
}
