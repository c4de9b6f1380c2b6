//! The host's current results: ids in display order, item features, base scores, prices, and what
//! every ranking needs of them computed once per set (norms, log prices, the price context of
//! each row within the list).

use super::id_hash::{id_map, IdMap};
use super::validate_id;
use crate::error::{check_finite, check_len, msg, Error, Result};

/// Per-row values of a result set that depend on the list alone: `[ln price, price rank in the
/// list, ln price − ln median price, ln price − ln min price]`, all 0 when the set has no prices.
pub const LIST_CONTEXT_DIM: usize = 4;

/// Bound on a log price ratio within a list.
pub const MAX_LOG_PRICE_RATIO: f32 = 3.0;

/// The host's current results, in display order.
#[derive(Clone, Debug)]
pub struct ResultSet {
    /// The ids in display order, entry `i` the id of row `i`.
    index: IdMap<()>,
    pub(super) dim: usize,
    /// Item features, row-major `n × dim`.
    x: Vec<f32>,
    /// Host base scores; `-ln(1 + display index)` when the host gives none.
    base: Vec<f32>,
    prices: Option<Vec<f32>>,
    /// `ln(price)`, computed once per set (every ranking needs it).
    log_prices: Option<Vec<f32>>,
    /// `n × LIST_CONTEXT_DIM` (see [`LIST_CONTEXT_DIM`]), batched from one sort of the prices.
    context: Vec<f32>,
    pub(super) norms: Vec<f32>,
    /// A hash of the ids in display order: two sets with the same fingerprint show the same list.
    fingerprint: u64,
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
                return Err(Error::InvalidInput { reason: msg!("price at index ", i, " must be positive") });
            }
        }
        let fingerprint = fingerprint(&ids);
        let mut index = id_map(n);
        for id in ids {
            validate_id(&id)?;
            index.insert_new(id, ()).map_err(|id| Error::DuplicateId { id })?;
        }
        // A row whose squared norm overflows would make its norm, its similarities and the
        // snapshot an event takes of it non-finite (and the session's export unreadable).
        let mut norms = Vec::with_capacity(n);
        for (i, row) in x.chunks_exact(dim.max(1)).enumerate() {
            let squared = row.iter().map(|v| v * v).sum::<f32>();
            if !squared.is_finite() {
                return Err(Error::NonFinite { what: "features (a row's squared norm)", index: i });
            }
            norms.push(squared.sqrt());
        }
        let generation = GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log_prices: Option<Vec<f32>> = prices.as_ref().map(|p| p.iter().map(|v| v.ln()).collect());
        let context = match (&prices, &log_prices) {
            (Some(p), Some(lp)) => list_context(p, lp),
            _ => vec![0.0; n * LIST_CONTEXT_DIM],
        };
        Ok(ResultSet { index, dim, x, base, prices, log_prices, context, norms, fingerprint, generation })
    }

    /// Identifies these contents: two sets with the same generation have the same features and
    /// base scores (see the field).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A hash of the ids in display order (FNV-1a, 64 bit, ids separated by a 0xff byte, which no
    /// UTF-8 id contains).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn len(&self) -> usize {
        self.index.keys().len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.keys().is_empty()
    }
    pub fn ids(&self) -> &[String] {
        self.index.keys()
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn features(&self) -> &[f32] {
        &self.x
    }
    #[inline]
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
    pub fn prices(&self) -> Option<&[f32]> {
        self.prices.as_deref()
    }
    pub fn price(&self, i: usize) -> Option<f32> {
        self.prices.as_ref().map(|p| p[i])
    }
    /// The list context of every row, `n × LIST_CONTEXT_DIM` (zeros without prices).
    pub fn list_context(&self) -> &[f32] {
        &self.context
    }
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.position(id)
    }
}

fn fingerprint(ids: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for b in id.bytes().chain(std::iter::once(0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The price rank of a row from its counts: (#cheaper + ½ #others at the same price) / (n − 1);
/// ½ for a list of one. Shared by the batched computation and the per-row reference.
pub(super) fn price_rank(cheaper: usize, same: usize, n: usize) -> f32 {
    if n <= 1 {
        return 0.5;
    }
    (cheaper as f32 + 0.5 * same as f32) / (n - 1) as f32
}

/// Row indices by ascending price. Prices are positive, so their bit patterns order as the
/// prices do: the core's one integer sort, `rank::order_by` (a comparator sort would add its own
/// code to the page).
pub(super) fn price_order(prices: &[f32]) -> Vec<usize> {
    crate::rank::order_by(prices.iter().map(|p| p.to_bits()))
}

/// The median of sorted prices (the mean of the middle two for an even count).
pub(super) fn median_of_sorted(sorted: &[f32]) -> f32 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// One row's list context from its log price, rank and the list's median and minimum price.
pub(super) fn context_row(lp: f32, rank: f32, median: f32, min: f32) -> [f32; LIST_CONTEXT_DIM] {
    let m = MAX_LOG_PRICE_RATIO;
    [lp, rank, (lp - median.ln()).clamp(-m, m), (lp - min.ln()).clamp(0.0, m)]
}

/// The list context of every row from one sort of the prices (the reference is
/// `features::reference_list_context`, one row at a time by counting).
fn list_context(prices: &[f32], log_prices: &[f32]) -> Vec<f32> {
    let n = prices.len();
    let mut out = vec![0.0; n * LIST_CONTEXT_DIM];
    if n == 0 {
        return out;
    }
    let order = price_order(prices);
    let sorted: Vec<f32> = order.iter().map(|&i| prices[i]).collect();
    let (median, min) = (median_of_sorted(&sorted), sorted[0]);
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && sorted[end] == sorted[start] {
            end += 1;
        }
        let rank = price_rank(start, end - start - 1, n);
        for &i in &order[start..end] {
            out[i * LIST_CONTEXT_DIM..(i + 1) * LIST_CONTEXT_DIM].copy_from_slice(&context_row(
                log_prices[i],
                rank,
                median,
                min,
            ));
        }
        start = end;
    }
    out
}
