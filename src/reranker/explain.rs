//! Why an item sits where it does: [`Reranker::explain`] and the reasons it gives, as codes with
//! numbers (the package builds the sentences in JavaScript, where a store can localise them).

use super::Reranker;
use crate::error::{Error, Result};
use crate::session::{SESSION_DIM, SESSION_FEATURE_NAMES};

/// Why an item sits where it does: its session features and what each contributes to its score.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub id: String,
    pub display_position: usize,
    pub score: f32,
    /// (feature name, value, contribution to the score: score − score with the feature at 0)
    pub signals: Vec<(&'static str, f32, f32)>,
    /// Why, strongest first: codes with their numbers (the package builds the sentences in
    /// JavaScript, where a store can localise them).
    pub reasons: Vec<Reason>,
}

/// What singles an item out in this session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonCode {
    /// The shopper engaged with it; value: engagement weight (clicks count 1, carts more).
    Engaged,
    /// It resembles engaged items; value: cosine similarity to the closest one (0..1).
    Similar,
    /// Its price against the engaged items' mean price; value: relative difference (0.25 = 25 %
    /// pricier, −0.1 = 10 % cheaper).
    PriceVsEngaged,
    /// Its price within this list; value: price rank (0 = cheapest, 1 = dearest).
    PriceInList,
    /// The shopper skipped it; value: how many times.
    Skipped,
    /// Shown before and not opened; value: how many times.
    Seen,
    /// Nothing in the session singles it out: it keeps the store's order.
    Nothing,
}

impl ReasonCode {
    /// The stable code the package's sentences are keyed by.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Engaged => "ENGAGED",
            ReasonCode::Similar => "SIMILAR",
            ReasonCode::PriceVsEngaged => "PRICE_VS_ENGAGED",
            ReasonCode::PriceInList => "PRICE_IN_LIST",
            ReasonCode::Skipped => "SKIPPED",
            ReasonCode::Seen => "SEEN",
            ReasonCode::Nothing => "NOTHING",
        }
    }
}

/// One reason: its code, its number and how much it moves the score (positive: up).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reason {
    pub code: ReasonCode,
    pub value: f32,
    pub contribution: f32,
}

impl Reranker {
    /// Explains one item of the current results.
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn explain(&mut self, id: &str) -> Result<Explanation> {
        let r = self.results.as_ref().ok_or(Error::NoResults)?;
        let pos = r.set.position(id).ok_or_else(|| Error::UnknownItem { id: id.to_string() })?;
        let (theta, _) = self.adapted_theta();
        let r = self.results.as_ref().ok_or(Error::NoResults)?;
        let summary = self.log.summarize(Some(r.set.dim()));
        let mut s = [0.0; SESSION_DIM];
        summary.features(&r.set, pos, &mut s);
        let arch = self.model.arch;
        // The item as ranked, then once with each session feature zeroed: 1 + SESSION_DIM rows
        // through the ranking's own scorer (so `score` is the score the ranking used).
        let rows = 1 + SESSION_DIM;
        let x = r.set.row(pos).repeat(rows);
        let mut variants = Vec::with_capacity(rows * SESSION_DIM);
        variants.extend_from_slice(&s);
        for k in 0..SESSION_DIM {
            let mut without = s;
            without[k] = 0.0;
            variants.extend_from_slice(&without);
        }
        let base = vec![r.set.base()[pos]; rows];
        let mut scores = vec![0.0; rows];
        let k = &self.kernels;
        crate::scorer::score_candidates(k, &arch, &theta, &x, &variants, &base, None, &mut Vec::new(), &mut scores);
        let score = scores[0];
        let signals: Vec<_> =
            (0..SESSION_DIM).map(|k| (SESSION_FEATURE_NAMES[k], s[k], score - scores[1 + k])).collect();
        let contribution =
            |names: &[&str]| -> f32 { signals.iter().filter(|(n, _, _)| names.contains(n)).map(|t| t.2).sum() };
        let mut reasons = Vec::new();
        let mut reason =
            |code, value, names: &[&str]| reasons.push(Reason { code, value, contribution: contribution(names) });
        if s[0] > 0.0 {
            reason(ReasonCode::Engaged, s[0].exp() - 1.0, &["engagement_log_count", "engagement_recency"]);
        }
        if s[5] > 0.3 {
            reason(ReasonCode::Similar, s[5], &["max_similarity_to_engaged", "similarity_to_engaged_centroid"]);
        }
        if s[9] > 0.0 {
            reason(ReasonCode::PriceVsEngaged, s[7].exp() - 1.0, &["log_price_vs_engaged", "abs_log_price_vs_engaged"]);
        }
        if s[17] > 0.0 {
            reason(
                ReasonCode::PriceInList,
                s[14],
                &["price_rank_in_list", "log_price_vs_list_median", "log_price_vs_list_min"],
            );
        }
        if s[4] > 0.0 {
            reason(ReasonCode::Skipped, s[4].exp() - 1.0, &["skips_log_count"]);
        }
        if s[3] > 0.0 {
            reason(ReasonCode::Seen, s[3].exp() - 1.0, &["impressions_log_count"]);
        }
        // Only what moves the item counts; with nothing left, or while the host's order is served
        // untouched (no event yet, and the model does not rank before one), say so.
        if self.serves_host_order() {
            reasons.clear();
        }
        reasons.retain(|r| r.contribution.abs() > REASON_THRESHOLD);
        if reasons.is_empty() {
            reasons.push(Reason { code: ReasonCode::Nothing, value: 0.0, contribution: 0.0 });
        }
        // Largest contribution first, ties in the order found. A handful of reasons: an insertion
        // sort, not the standard library's stable sort (6 KB of wasm for this one call).
        for i in 1..reasons.len() {
            let mut j = i;
            while j > 0 && reasons[j - 1].contribution.abs() < reasons[j].contribution.abs() {
                reasons.swap(j - 1, j);
                j -= 1;
            }
        }
        Ok(Explanation { id: id.to_string(), display_position: pos, score, signals, reasons })
    }
}

/// A contribution smaller than this (in score units) is not a reason.
const REASON_THRESHOLD: f32 = 1e-4;
