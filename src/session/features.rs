//! The session features of every candidate: what the log says about it, where it sits in the
//! list, its price in context, and the session's timing.
//!
//! Three implementations compute the same numbers and are tested equal:
//! [`Summary::reference_features`], the per-row reference; [`Summary::all_features`], the batched
//! CPU version (through [`SummaryTable`]); and src/gpu/shaders/features.wgsl, from the same table.
//! [`Summary::features`] is the reference with the set's own price context: one row for an event's
//! training example or an explanation, without sorting the list per row.
//!
//! Times are seconds. `now` is the session's clock ([`super::EventLog::clock`]): the latest of
//! the events' timestamps, the times lists were shown and the host's clock at ranking; for a
//! training example it is the time of the event that made it.

use super::events::{EventLog, ListMark, Snapshot};
use super::id_hash::IdMap;
use super::results::{
    context_row, median_of_sorted, price_order, price_rank, ResultSet, LIST_CONTEXT_DIM, MAX_LOG_PRICE_RATIO,
};
use super::tally::ItemTally;
use super::{EventKind, MAX_SIMILARITY_ITEMS};
use crate::kernels::Kernels;
use std::borrow::Cow;

mod table;
pub use table::{SummaryTable, NO_ROW};

/// Number of session features per candidate.
pub const SESSION_DIM: usize = 29;

/// What each session feature means, in the order of the feature vector (formulas in
/// ARCHITECTURE.md, "Session features").
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
    "log_display_position",
    "price_rank_in_list",
    "log_price_vs_list_median",
    "log_price_vs_list_min",
    "list_prices_available",
    "signed_offset_to_last_engaged",
    "same_list_as_previous",
    "signed_offset_to_previous_list_engaged",
    "log_seconds_since_last_event",
    "log_seconds_since_first_event",
    "engaged_time_recency",
    "last_event_click",
    "last_event_cart_or_purchase",
    "last_event_other",
    "last_event_on_item_click",
    "last_event_on_item_cart_or_purchase",
];

/// Index of a feature by name (for tests and explanations).
pub fn feature_index(name: &str) -> Option<usize> {
    SESSION_FEATURE_NAMES.iter().position(|n| *n == name)
}

/// Divides `ln(1 + display index)` and signed log offsets, so a list of 25 spans about 0..1.
pub const POSITION_SCALE: f32 = 3.0;
/// Divides `ln(1 + seconds)`, so an hour is about 1.
pub const TIME_SCALE: f32 = 8.0;
/// Seconds after which an engagement's time recency has halved.
pub const RECENCY_HALF_SECONDS: f32 = 60.0;

/// `sign(i − j) · ln(1 + |i − j|) / POSITION_SCALE`.
pub fn signed_log_offset(i: usize, j: usize) -> f32 {
    let d = i as f32 - j as f32;
    d.signum() * (1.0 + d.abs()).ln() / POSITION_SCALE
}

/// `ln(1 + max(0, now − then)) / TIME_SCALE`, 0 when either is unknown. A span beyond f32's range
/// (finite timestamps far apart) counts as `f32::MAX` seconds, so the feature stays finite.
fn log_seconds(now: Option<f64>, then: Option<f64>) -> f32 {
    match (now, then) {
        (Some(n), Some(t)) => (1.0 + ((n - t).max(0.0) as f32).min(f32::MAX)).ln() / TIME_SCALE,
        _ => 0.0,
    }
}

/// `1 / (1 + max(0, now − then) / RECENCY_HALF_SECONDS)`, 0 when either is unknown.
fn time_recency(now: Option<f64>, then: Option<f64>) -> f32 {
    match (now, then) {
        (Some(n), Some(t)) => 1.0 / (1.0 + (n - t).max(0.0) as f32 / RECENCY_HALF_SECONDS),
        _ => 0.0,
    }
}

/// One-hot of the last event's kind: click; cart or purchase; anything else (impression, skip,
/// dwell). All 0 before the first event. Features 27 and 28 repeat the first two on the last
/// event's item only: "the shopper just looked at this one" differs from "just bought it".
fn kind_one_hot(kind: Option<EventKind>) -> [f32; 3] {
    match kind {
        None => [0.0; 3],
        Some(EventKind::Click) => [1.0, 0.0, 0.0],
        Some(EventKind::Cart | EventKind::Purchase) => [0.0, 1.0, 0.0],
        Some(EventKind::Impression | EventKind::Skip | EventKind::Dwell) => [0.0, 0.0, 1.0],
    }
}

/// Features 19, 21 and 22, and feature 20's anchor: the same for every candidate of a list.
struct SessionLevel {
    since_last: f32,
    since_first: f32,
    same_list: f32,
    /// Row of the previous list's last engagement.
    prev_row: Option<u32>,
}

/// What the log says, summarised for feature computation at one time.
pub struct Summary<'a> {
    /// Per logged item: the log's running totals, or the reference's recount.
    items: Cow<'a, IdMap<ItemTally>>,
    /// Engagement numbers handed out (recency counts the engagements after an item's last one).
    engagements: u64,
    n_engaged_events: usize,
    last_engaged_item: Option<&'a str>,
    /// Most recent distinct engaged items with known features: (id, snapshot, engagement weight).
    similar: Vec<(&'a str, &'a Snapshot, f32)>,
    centroid: Option<(Vec<f32>, f32)>,
    log_mean_price: Option<f32>,
    now: Option<f64>,
    first_time: Option<f64>,
    last_time: Option<f64>,
    last_kind: Option<EventKind>,
    /// The item of the last event.
    last_item: Option<&'a str>,
    current: Option<ListMark>,
    previous: Option<ListMark>,
}

impl EventLog {
    /// Summarises the log at the session's clock. `dim` filters snapshots to the current feature
    /// width.
    pub fn summarize(&self, dim: Option<usize>) -> Summary<'_> {
        self.summarize_at(dim, self.clock)
    }

    /// Summarises the log as seen at time `now` (seconds), from its running totals: O(logged
    /// items) for the per-item counts, O([`MAX_SIMILARITY_ITEMS`]) snapshots for the rest.
    pub fn summarize_at(&self, dim: Option<usize>, now: Option<f64>) -> Summary<'_> {
        let t = &self.tally;
        let mut similar: Vec<(&str, &Snapshot, f32)> = Vec::new();
        // The list of engaged items from its newest end.
        let mut next = t.newest_engaged;
        while let Some(entry) = next.and_then(|seq| self.entry_at(seq)) {
            if similar.len() == MAX_SIMILARITY_ITEMS {
                break;
            }
            let id = entry.event.item.as_str();
            let Some(item) = t.items.get(id) else { break };
            next = item.older;
            let Some(snap) = entry.snapshot.as_ref() else { continue };
            if dim.is_some_and(|d| d != snap.x.len()) {
                continue;
            }
            similar.push((id, snap, item.engagement as f32));
        }
        self.finish_summary(
            Cow::Borrowed(&t.items),
            t.engagements,
            t.engaged_events,
            t.last_engaged.and_then(|s| self.entry_at(s)).map(|e| e.event.item.as_str()),
            similar,
            now,
            (t.first_time(), t.last_time()),
        )
    }

    /// The same summary recounted from the entries, one pass over the log: the reference the
    /// running totals are tested against.
    #[doc(hidden)]
    pub fn reference_summary_at(&self, dim: Option<usize>, now: Option<f64>) -> Summary<'_> {
        let mut items: IdMap<ItemTally> = IdMap::default();
        let mut n_engaged = 0u64;
        let mut last_engaged_item = None;
        let (mut first_time, mut last_time) = (None, None);
        for entry in &self.entries {
            let e = &entry.event;
            if let Some(t) = e.timestamp {
                first_time = first_time.or(Some(t));
                last_time = Some(t);
            }
            let agg = items.get_or_default(&e.item);
            match e.kind {
                EventKind::Impression => agg.impressions += 1,
                EventKind::Skip => agg.skips += 1,
                _ => {}
            }
            let w = e.engagement();
            if w > 0.0 {
                agg.engagement += w as f64;
                agg.engaged_events += 1;
                agg.last_engaged = Some(n_engaged);
                if let Some(t) = e.timestamp {
                    agg.last_engaged_time = Some((0, t));
                }
                n_engaged += 1;
                last_engaged_item = Some(e.item.as_str());
            }
        }
        // Each item's newest engagement with a snapshot, newest items first; an item whose
        // newest snapshot has another width is left out.
        let mut similar: Vec<(&str, &Snapshot, f32)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for entry in self.entries.iter().rev() {
            if similar.len() == MAX_SIMILARITY_ITEMS {
                break;
            }
            let id = entry.event.item.as_str();
            let Some(snap) = entry.snapshot.as_ref() else { continue };
            if entry.event.engagement() <= 0.0 || seen.contains(&id) {
                continue;
            }
            seen.push(id);
            if dim.is_some_and(|d| d != snap.x.len()) {
                continue;
            }
            similar.push((id, snap, items.get(id).map_or(0.0, |a| a.engagement as f32)));
        }
        self.finish_summary(
            Cow::Owned(items),
            n_engaged,
            n_engaged as usize,
            last_engaged_item,
            similar,
            now,
            (first_time, last_time),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_summary<'a>(
        &'a self,
        items: Cow<'a, IdMap<ItemTally>>,
        engagements: u64,
        n_engaged_events: usize,
        last_engaged_item: Option<&'a str>,
        similar: Vec<(&'a str, &'a Snapshot, f32)>,
        now: Option<f64>,
        (first_time, last_time): (Option<f64>, Option<f64>),
    ) -> Summary<'a> {
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
            engagements,
            n_engaged_events,
            last_engaged_item,
            similar,
            centroid,
            log_mean_price: (wsum > 0.0).then(|| lp / wsum),
            now,
            first_time,
            last_time,
            last_kind: self.entries.back().map(|e| e.event.kind),
            last_item: self.entries.back().map(|e| e.event.item.as_str()),
            current: self.current,
            previous: self.previous,
        }
    }
}

/// The list context of row `i` by counting, one row at a time: the reference of the batched
/// [`ResultSet::list_context`].
pub fn reference_list_context(r: &ResultSet, i: usize) -> [f32; LIST_CONTEXT_DIM] {
    let Some(prices) = r.prices() else { return [0.0; LIST_CONTEXT_DIM] };
    let p = prices[i];
    let cheaper = prices.iter().filter(|&&q| q < p).count();
    let same = prices.iter().filter(|&&q| q == p).count() - 1;
    let sorted: Vec<f32> = price_order(prices).into_iter().map(|j| prices[j]).collect();
    context_row(p.ln(), price_rank(cheaper, same, prices.len()), median_of_sorted(&sorted), sorted[0])
}

impl Summary<'_> {
    /// Whether the session engaged with `id`.
    pub fn engaged(&self, id: &str) -> bool {
        self.items.get(id).is_some_and(|a| a.engaged_events > 0)
    }

    /// `1 / (1 + engagements after the item's last one)`, 0 when it has none.
    fn recency(&self, a: &ItemTally) -> f32 {
        a.last_engaged.map_or(0.0, |l| 1.0 / (self.engagements - l) as f32)
    }

    /// The list shown before `r` (the log's previous list when `r` is the current one).
    fn list_before(&self, r: &ResultSet) -> Option<ListMark> {
        match self.current {
            Some(c) if c.generation == r.generation() => self.previous,
            other => other,
        }
    }

    /// What is the same for every candidate of `r`: the timing and the previous list.
    fn session_level(&self, r: &ResultSet) -> SessionLevel {
        let before = self.list_before(r);
        SessionLevel {
            since_last: log_seconds(self.now, self.last_time),
            since_first: log_seconds(self.now, self.first_time),
            same_list: before.is_some_and(|b| b.fingerprint == r.fingerprint()) as u8 as f32,
            prev_row: before.and_then(|b| b.engaged_row),
        }
    }

    /// Session features of candidate `i` of `r`, written to `out` (length [`SESSION_DIM`]), one
    /// row at a time: what an event's training example and `explain` need. The price context is
    /// the set's own row (from its one sort of the prices); [`Summary::reference_features`]
    /// recounts it.
    pub fn features(&self, r: &ResultSet, i: usize, out: &mut [f32]) {
        let mut context = [0.0; LIST_CONTEXT_DIM];
        context.copy_from_slice(&r.list_context()[i * LIST_CONTEXT_DIM..(i + 1) * LIST_CONTEXT_DIM]);
        self.row_features(r, i, context, out)
    }

    /// The per-row reference of the batched features: [`Summary::features`] with the price
    /// context recounted from the prices ([`reference_list_context`], O(n log n) per row).
    pub fn reference_features(&self, r: &ResultSet, i: usize, out: &mut [f32]) {
        self.row_features(r, i, reference_list_context(r, i), out)
    }

    fn row_features(&self, r: &ResultSet, i: usize, context: [f32; LIST_CONTEXT_DIM], out: &mut [f32]) {
        let id = r.ids()[i].as_str();
        out.fill(0.0);
        if let Some(a) = self.items.get(id) {
            out[0] = (1.0 + a.engagement as f32).ln();
            out[1] = self.recency(a);
            out[3] = (1.0 + a.impressions as f32).ln();
            out[4] = (1.0 + a.skips as f32).ln();
            out[23] = time_recency(self.now, a.last_engaged_time.map(|(_, t)| t));
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
            let rel = (p.ln() - lm).clamp(-MAX_LOG_PRICE_RATIO, MAX_LOG_PRICE_RATIO);
            out[7] = rel;
            out[8] = rel.abs();
            out[9] = 1.0;
        }
        out[10] = (1.0 + self.n_engaged_events as f32).ln();
        // Shoppers tend to carry on scanning from the last item they engaged with: how close this
        // candidate is to it in the current list, whether it comes after it, and the signed
        // offset (all 0 until the shopper engages with an item of this list).
        if let Some(j) = self.last_engaged_item.and_then(|id| r.position(id)) {
            if j != i {
                out[11] = 1.0 / (1.0 + (i as f32 - j as f32).abs());
                out[12] = (i > j) as u8 as f32;
                out[18] = signed_log_offset(i, j);
            }
        }
        out[13] = (1.0 + i as f32).ln() / POSITION_SCALE;
        if r.prices().is_some() {
            let [_, rank, vs_median, vs_min] = context;
            out[14] = rank;
            out[15] = vs_median;
            out[16] = vs_min;
            out[17] = 1.0;
        }
        let level = self.session_level(r);
        out[19] = level.same_list;
        if let Some(j) = level.prev_row {
            out[20] = signed_log_offset(i, j as usize);
        }
        out[21] = level.since_last;
        out[22] = level.since_first;
        let kind = kind_one_hot(self.last_kind);
        out[24..27].copy_from_slice(&kind);
        if self.last_item == Some(id) {
            out[27] = kind[0];
            out[28] = kind[1];
        }
    }
}
