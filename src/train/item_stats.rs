//! The counts behind the learned item features ([`super::items`]), kept so that they merge
//! **exactly**: counts counted on the shards of a log separately and merged are the counts of the
//! whole log, bit for bit, in whatever order the shards come. This is what lets the Ray driver
//! (issue 14) build the same item table as `fewclick train` while the rows stay on the workers:
//! each worker counts its shards, only these counts travel.
//!
//! What is exact and why:
//! - shown / clicked / interaction counts are integers;
//! - a session's co-occurrence links weigh 1/(k − 1) for its k engaged items (k ≤ 50), so each
//!   pair's total is kept as an integer multiple of 1/[`LINK_DENOM`] (lcm(1, …, 49), which every
//!   k − 1 divides) in an i128: enough for 10^16 sessions;
//! - items are indexed by their id's order when the table is made ([`ItemStats::sorted`]), not by
//!   first appearance, so the embedding's floating-point sums run in one order whatever the input
//!   order.
//!
//! Serialised form ([`ItemStats::to_bytes`], little-endian): `b"FCIS"`, version u32 = 1, the item
//! count u32, per item its id (u32 length, UTF-8 bytes) and its shown, clicked and interaction
//! counts (u64 each), the link count u64, per link the two item indices (u32 each) and the weight
//! numerator (i128).

use super::data::{Dataset, Step};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// lcm(1, …, 49): the common denominator of every link weight 1/(k − 1).
pub const LINK_DENOM: i128 = lcm_upto(49);

/// At most this many distinct engaged items per session enter the co-occurrence links.
pub const MAX_COOC_ITEMS: usize = 50;

const MAGIC: &[u8; 4] = b"FCIS";
const VERSION: u32 = 1;

const fn lcm_upto(n: i128) -> i128 {
    let mut l: i128 = 1;
    let mut k: i128 = 2;
    while k <= n {
        let (mut a, mut b) = (l, k);
        while b != 0 {
            let t = a % b;
            a = b;
            b = t;
        }
        l = l / a * k;
        k += 1;
    }
    l
}

/// Per-item counts and co-occurrence link totals of a set of sessions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemStats {
    index: HashMap<String, u32>,
    pub(super) ids: Vec<String>,
    pub(super) shown: Vec<u64>,
    pub(super) clicked: Vec<u64>,
    pub(super) interactions: Vec<u64>,
    /// (i, j) → total weight × [`LINK_DENOM`], for i ≠ j.
    pub(super) links: HashMap<(u32, u32), i128>,
}

impl ItemStats {
    /// The counts of every session of `ds`.
    pub fn count(ds: &Dataset) -> ItemStats {
        let mut s = ItemStats::default();
        for session in &ds.sessions {
            s.add_session(&session.steps);
        }
        s
    }

    /// The counts of `ds` split by residue: part `r` counts the sessions whose index in the whole
    /// log, `first_session` + their index in `ds`, is `r` modulo `folds` (what out-of-fold tables
    /// are merged from, see [`super::items::ItemFeatures::learn_out_of_fold`]). `folds` below 2
    /// counts as 2.
    pub fn by_residue(ds: &Dataset, first_session: usize, folds: usize) -> Vec<ItemStats> {
        let folds = folds.max(2);
        let mut parts = vec![ItemStats::default(); folds];
        for (i, session) in ds.sessions.iter().enumerate() {
            parts[(first_session + i) % folds].add_session(&session.steps);
        }
        parts
    }

    /// The merge of `parts` (exact: any order gives the same counts).
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a ItemStats>) -> ItemStats {
        let mut all = ItemStats::default();
        for p in parts {
            all.merge(p);
        }
        all
    }

    /// Items counted.
    pub fn n_items(&self) -> usize {
        self.ids.len()
    }

    fn intern(&mut self, id: &str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i as usize;
        }
        let i = self.ids.len();
        self.index.insert(id.to_string(), i as u32);
        self.ids.push(id.to_string());
        self.shown.push(0);
        self.clicked.push(0);
        self.interactions.push(0);
        i
    }

    fn add_session(&mut self, steps: &[Step]) {
        let mut engaged: Vec<usize> = Vec::new();
        for step in steps {
            let engaged_item = match step {
                Step::Event { event, .. } => {
                    let i = self.intern(&event.item);
                    (event.engagement() > 0.0).then(|| {
                        self.interactions[i] += 1;
                        i
                    })
                }
                Step::Results(d) => {
                    for id in &d.items {
                        let i = self.intern(id);
                        self.shown[i] += 1;
                    }
                    d.clicked.as_deref().map(|id| {
                        let i = self.intern(id);
                        self.clicked[i] += 1;
                        i
                    })
                }
            };
            if let Some(i) = engaged_item {
                if engaged.len() < MAX_COOC_ITEMS && !engaged.contains(&i) {
                    engaged.push(i);
                }
            }
        }
        if engaged.len() > 1 {
            let w = LINK_DENOM / (engaged.len() as i128 - 1);
            for &a in &engaged {
                for &b in engaged.iter().filter(|&&b| b != a) {
                    *self.links.entry((a as u32, b as u32)).or_insert(0) += w;
                }
            }
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &ItemStats) {
        let map: Vec<usize> = other.ids.iter().map(|id| self.intern(id)).collect();
        // Saturating: counts read from bytes (`from_bytes`) could be anything; no real log comes
        // near the limits (2^64 showings, 10^16 sessions of links).
        for (k, &i) in map.iter().enumerate() {
            self.shown[i] = self.shown[i].saturating_add(other.shown[k]);
            self.clicked[i] = self.clicked[i].saturating_add(other.clicked[k]);
            self.interactions[i] = self.interactions[i].saturating_add(other.interactions[k]);
        }
        for (&(a, b), &w) in &other.links {
            let total = self.links.entry((map[a as usize] as u32, map[b as usize] as u32)).or_insert(0);
            *total = total.saturating_add(w);
        }
    }

    /// The items in id order: (ids, shown, clicked, interactions, links as (i, j, weight) sorted by
    /// (i, j)), indices into the sorted ids. Input order leaves no trace in it.
    #[allow(clippy::type_complexity)]
    pub(super) fn sorted(&self) -> (Vec<&str>, Vec<u64>, Vec<u64>, Vec<u64>, Vec<(u32, u32, f32)>) {
        let mut order: Vec<usize> = (0..self.ids.len()).collect();
        order.sort_unstable_by(|&a, &b| self.ids[a].cmp(&self.ids[b]));
        let mut rank = vec![0u32; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        let pick = |v: &[u64]| order.iter().map(|&i| v[i]).collect::<Vec<u64>>();
        let mut links: Vec<(u32, u32, f32)> = self
            .links
            .iter()
            .map(|(&(a, b), &w)| (rank[a as usize], rank[b as usize], (w as f64 / LINK_DENOM as f64) as f32))
            .collect();
        links.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let ids = order.iter().map(|&i| self.ids[i].as_str()).collect();
        (ids, pick(&self.shown), pick(&self.clicked), pick(&self.interactions), links)
    }

    /// The serialised form (see the [module documentation](self)); links in (i, j) order, so equal
    /// counts built in the same order give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.ids.len() * 40 + self.links.len() * 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for (i, id) in self.ids.iter().enumerate() {
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
            for v in [self.shown[i], self.clicked[i], self.interactions[i]] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut links: Vec<(&(u32, u32), &i128)> = self.links.iter().collect();
        links.sort_unstable_by_key(|(k, _)| **k);
        out.extend_from_slice(&(links.len() as u64).to_le_bytes());
        for (&(a, b), w) in links {
            out.extend_from_slice(&a.to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads [`ItemStats::to_bytes`]'s form; anything else is an [`Error::InvalidInput`] that says
    /// what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<ItemStats> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(bad("not item statistics (no FCIS header)".into()));
        }
        let version = u32::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(bad(format!("version {version} (this build reads {VERSION})")));
        }
        let n = u32::from_le_bytes(r.array()?) as usize;
        let mut s = ItemStats::default();
        for _ in 0..n {
            let len = u32::from_le_bytes(r.array()?) as usize;
            let id = std::str::from_utf8(r.take(len)?).map_err(|_| bad("an item id is not UTF-8".into()))?;
            if s.index.contains_key(id) {
                return Err(bad(format!("item {id:?} appears twice")));
            }
            let i = s.intern(id);
            s.shown[i] = u64::from_le_bytes(r.array()?);
            s.clicked[i] = u64::from_le_bytes(r.array()?);
            s.interactions[i] = u64::from_le_bytes(r.array()?);
        }
        let links = u64::from_le_bytes(r.array()?);
        for _ in 0..links {
            let a = u32::from_le_bytes(r.array()?);
            let b = u32::from_le_bytes(r.array()?);
            let w = i128::from_le_bytes(r.array()?);
            if a as usize >= n || b as usize >= n || a == b || w <= 0 {
                return Err(bad(format!("link ({a}, {b}) of weight {w} does not fit {n} items")));
            }
            if s.links.insert((a, b), w).is_some() {
                return Err(bad(format!("link ({a}, {b}) appears twice")));
            }
        }
        if r.at != bytes.len() {
            return Err(bad(format!("{} bytes after the end", bytes.len() - r.at)));
        }
        Ok(s)
    }
}

fn bad(reason: String) -> Error {
    Error::InvalidInput { reason: format!("item statistics: {reason}") }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad("truncated".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{generate_catalogue, simulate_with_shoppers};

    fn log(sessions: usize, seed: u64) -> Dataset {
        simulate_with_shoppers(&generate_catalogue(seed, 96), sessions, seed).0
    }

    #[test]
    fn the_denominator_is_divisible_by_every_weight() {
        for k in 1..=49 {
            assert_eq!(LINK_DENOM % k, 0, "{k}");
        }
    }

    #[test]
    fn shards_merged_in_any_order_count_what_the_whole_log_counts() {
        let ds = log(300, 7);
        let whole = ItemStats::count(&ds);
        assert!(whole.n_items() > 10 && !whole.links.is_empty(), "the log should link items");
        let parts: Vec<Dataset> = ds.sessions.chunks(70).map(|c| Dataset { sessions: c.to_vec() }).collect();
        let counted: Vec<ItemStats> = parts.iter().map(ItemStats::count).collect();
        let forward = ItemStats::merged(&counted);
        let backward = ItemStats::merged(counted.iter().rev());
        assert_eq!(forward.sorted(), whole.sorted());
        assert_eq!(backward.sorted(), whole.sorted());
        // Residue classes: each session in exactly one part, indices counted over the whole log.
        let mut offset = 0;
        let mut by_residue = vec![ItemStats::default(); 5];
        for p in &parts {
            for (r, s) in ItemStats::by_residue(p, offset, 5).iter().enumerate() {
                by_residue[r].merge(s);
            }
            offset += p.sessions.len();
        }
        let direct = ItemStats::by_residue(&ds, 0, 5);
        for (a, b) in by_residue.iter().zip(&direct) {
            assert_eq!(a.sorted(), b.sorted());
        }
        assert_eq!(ItemStats::merged(&direct).sorted(), whole.sorted());
    }

    #[test]
    fn bytes_round_trip_and_damage_is_an_error() {
        let s = ItemStats::count(&log(50, 3));
        let bytes = s.to_bytes();
        let back = ItemStats::from_bytes(&bytes).expect("reads");
        assert_eq!(back.sorted(), s.sorted());
        assert_eq!(back.to_bytes(), bytes);
        assert!(ItemStats::from_bytes(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(ItemStats::from_bytes(b"nope").is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ItemStats::from_bytes(&longer).unwrap_err().to_string().contains("after the end"));
        let empty = ItemStats::default();
        assert_eq!(ItemStats::from_bytes(&empty.to_bytes()).expect("reads"), empty);
        // Hostile counts merge without overflowing (saturating), and still make a finite table.
        let mut huge = s.clone();
        huge.shown.iter_mut().for_each(|v| *v = u64::MAX);
        huge.links.values_mut().for_each(|w| *w = i128::MAX);
        let hostile = ItemStats::from_bytes(&huge.to_bytes()).expect("reads");
        let merged = ItemStats::merged([&hostile, &hostile]);
        assert!(merged.shown.iter().all(|&v| v == u64::MAX));
        let table = crate::train::items::ItemFeatures::from_stats(&merged).expect("a table");
        assert!(table.vector("sku-001").iter().all(|v| v.is_finite()));
    }
}
