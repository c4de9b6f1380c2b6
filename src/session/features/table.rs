//! The batched path: a session summary flattened for one result set ([`SummaryTable`]), and the
//! features of every candidate computed from it at once ([`Summary::all_features`]). The CPU's
//! batched features and src/gpu/shaders/features.wgsl both read this table; both are tested equal
//! to the per-row reference of the parent module.

use super::{
    kind_one_hot, signed_log_offset, time_recency, Kernels, ResultSet, Summary, LIST_CONTEXT_DIM, MAX_LOG_PRICE_RATIO,
    POSITION_SCALE, SESSION_DIM,
};

impl Summary<'_> {
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
        let unsorted: Vec<(u32, [f32; 5])> = self
            .items
            .iter()
            .filter_map(|(id, a)| {
                let row = r.position(id)? as u32;
                let counts = [
                    (1.0 + a.engagement as f32).ln(),
                    self.recency(a),
                    (1.0 + a.impressions as f32).ln(),
                    (1.0 + a.skips as f32).ln(),
                    time_recency(self.now, a.last_engaged_time.map(|(_, t)| t)),
                ];
                Some((row, counts))
            })
            .collect();
        // By row (the integer sort rank::order uses, so the page carries one sort).
        let items =
            crate::rank::order_by(unsorted.iter().map(|item| item.0)).into_iter().map(|k| unsorted[k]).collect();
        let level = self.session_level(r);
        Some(SummaryTable {
            columns,
            own_rows,
            has_centroid: centroid.is_some(),
            log_mean_price: self.log_mean_price.filter(|_| r.log_prices().is_some()),
            engaged: (1.0 + self.n_engaged_events as f32).ln(),
            last_row: self.last_engaged_item.and_then(|id| r.position(id)).map_or(NO_ROW, |i| i as u32),
            items,
            since_last: level.since_last,
            since_first: level.since_first,
            same_list: level.same_list,
            prev_row: level.prev_row.unwrap_or(NO_ROW),
            last_kind: kind_one_hot(self.last_kind),
            last_event_row: self.last_item.and_then(|id| r.position(id)).map_or(NO_ROW, |i| i as u32),
        })
    }

    /// Session features of every candidate, row-major `n × SESSION_DIM`:
    /// [`Summary::reference_features`] for each row, batched through [`Summary::table`]. The per-item counts are
    /// written from the few logged items (one id lookup per logged item, not one per candidate);
    /// the similarities to the engaged items and their centroid are one matrix product on
    /// `kernels`; the price context comes from the set's one sort of its prices.
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

/// `own_rows` / `last_row` / `prev_row` of an item that is not in the result set.
pub const NO_ROW: u32 = u32::MAX;

/// A session summary flattened for one result set ([`Summary::table`]): the CPU's batched
/// features and src/gpu/shaders/features.wgsl compute the same `n × SESSION_DIM` features from it
/// and the result set's own arrays (features, list context).
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
    /// impressions log-count, skips log-count, engagement time recency]) — features 0, 1, 3, 4
    /// and 23.
    pub items: Vec<(u32, [f32; 5])>,
    /// Features 21 and 22 (the same for every row).
    pub since_last: f32,
    pub since_first: f32,
    /// Feature 19 (the same for every row).
    pub same_list: f32,
    /// Row of the previous list's last engagement ([`NO_ROW`]: none): feature 20's anchor.
    pub prev_row: u32,
    /// Features 24–26 (the same for every row).
    pub last_kind: [f32; 3],
    /// Display row of the last event's item ([`NO_ROW`]: none, or not in the list): features 27
    /// and 28 repeat the kind's first two values there.
    pub last_event_row: u32,
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
        let prev = (self.prev_row != NO_ROW).then_some(self.prev_row as usize);
        let priced = r.prices().is_some();
        let context = r.list_context();
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
            let ctx = &context[i * LIST_CONTEXT_DIM..(i + 1) * LIST_CONTEXT_DIM];
            if let Some(lm) = self.log_mean_price.filter(|_| priced) {
                let rel = (ctx[0] - lm).clamp(-MAX_LOG_PRICE_RATIO, MAX_LOG_PRICE_RATIO);
                out[7] = rel;
                out[8] = rel.abs();
                out[9] = 1.0;
            }
            out[10] = self.engaged;
            if let Some(j) = last.filter(|&j| j != i) {
                out[11] = 1.0 / (1.0 + (i as f32 - j as f32).abs());
                out[12] = (i > j) as u8 as f32;
                out[18] = signed_log_offset(i, j);
            }
            out[13] = (1.0 + i as f32).ln() / POSITION_SCALE;
            if priced {
                out[14..17].copy_from_slice(&ctx[1..4]);
                out[17] = 1.0;
            }
            out[19] = self.same_list;
            if let Some(j) = prev {
                out[20] = signed_log_offset(i, j);
            }
            out[21] = self.since_last;
            out[22] = self.since_first;
            out[24..27].copy_from_slice(&self.last_kind);
        }
        for &(row, [engagement, recency, impressions, skips, time]) in &self.items {
            let out = &mut s[row as usize * SESSION_DIM..(row as usize + 1) * SESSION_DIM];
            out[0] = engagement;
            out[1] = recency;
            out[3] = impressions;
            out[4] = skips;
            out[23] = time;
        }
        if let Some(i) = last {
            s[i * SESSION_DIM + 2] = 1.0;
        }
        if self.last_event_row != NO_ROW {
            let i = self.last_event_row as usize;
            s[i * SESSION_DIM + 27] = self.last_kind[0];
            s[i * SESSION_DIM + 28] = self.last_kind[1];
        }
    }
}
