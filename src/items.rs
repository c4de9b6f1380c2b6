//! The item table a model carries: every item the trainer learned a feature vector for, keyed by
//! id, so a page sends `{ ids, prices }` and the core looks the vectors up itself. The trainer's
//! evaluation featurises through the same table, so what was evaluated is what the browser
//! computes (no host code in between to drift).
//!
//! **Quantisation.** Each column `c` is stored as one byte per item: `v = offset[c] + scale[c]·q`,
//! `q ∈ 0..=255`, with `offset` the column's minimum and `scale = (max − min)/255` (0 for a constant
//! column). The rounding error is at most `scale/2` per value. The trainer builds its tables with
//! [`ItemTable::quantise`] and reads vectors back through [`ItemTable::vector_into`], so training,
//! evaluation and serving all see the dequantised values.
//!
//! An item the table does not hold gets the **default** vector (stored unquantised): the trainer's
//! cold-item vector.
//!
//! **Layout** (inside the model file, after α; see [`crate::model_file`]):
//!
//! ```text
//! n_items (u32; 0 = no table, nothing follows)
//! default, offset, scale: item_dim × f32 each
//! ids, ascending by byte order, unique: (u8 length − 1, UTF-8 bytes) each
//! codes: n_items × item_dim × u8, row-major, row i for the i-th id
//! ```
//!
//! Ids are sorted so a lookup is a binary search over one contiguous buffer: no hash map, and no
//! allocation per item.

use crate::bytes::Reader;
use crate::error::{check_finite, check_len, msg, Error, Result};
use crate::session::{validate_id, MAX_ID_BYTES};

/// The most items a table may hold (a model file with more is refused before anything is
/// allocated).
pub const MAX_ITEMS: usize = 4_000_000;
/// Levels of a quantised value.
const LEVELS: f32 = 255.0;

/// A quantised item-feature table (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct ItemTable {
    dim: usize,
    default: Vec<f32>,
    offset: Vec<f32>,
    scale: Vec<f32>,
    /// Every id's bytes, concatenated in ascending order.
    id_bytes: Vec<u8>,
    /// End of id `i` in `id_bytes` (its start is the previous end, or 0).
    id_ends: Vec<u32>,
    codes: Vec<u8>,
}

impl ItemTable {
    /// Bytes the table holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        4 * (self.default.len() + self.offset.len() + self.scale.len() + self.id_ends.len())
            + self.id_bytes.len()
            + self.codes.len()
    }

    /// Quantises `rows` (id, vector of `default.len()` values). Ids must be valid and distinct and
    /// every value finite; their order does not matter.
    pub fn quantise(default: Vec<f32>, mut rows: Vec<(String, Vec<f32>)>) -> Result<ItemTable> {
        let dim = default.len();
        if dim == 0 {
            return Err(Error::InvalidInput { reason: "an item table needs at least one feature".into() });
        }
        if rows.len() > MAX_ITEMS {
            return Err(Error::InvalidInput {
                reason: msg!(rows.len(), " items exceed the table limit of ", MAX_ITEMS),
            });
        }
        check_finite("item table default", &default)?;
        rows.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let (mut lo, mut hi) = (vec![f32::INFINITY; dim], vec![f32::NEG_INFINITY; dim]);
        for (i, (id, v)) in rows.iter().enumerate() {
            validate_id(id)?;
            if i > 0 && rows[i - 1].0 == *id {
                return Err(Error::DuplicateId { id: id.clone() });
            }
            check_len("item table row", dim, v.len())?;
            check_finite("item table row", v)?;
            for ((l, h), x) in lo.iter_mut().zip(hi.iter_mut()).zip(v) {
                *l = l.min(*x);
                *h = h.max(*x);
            }
        }
        let offset: Vec<f32> = lo.iter().map(|&l| if l.is_finite() { l } else { 0.0 }).collect();
        let scale: Vec<f32> = lo.iter().zip(&hi).map(|(&l, &h)| if h > l { (h - l) / LEVELS } else { 0.0 }).collect();
        let mut table = ItemTable {
            dim,
            default,
            offset,
            scale,
            id_bytes: Vec::new(),
            id_ends: Vec::with_capacity(rows.len()),
            codes: Vec::with_capacity(rows.len() * dim),
        };
        for (id, v) in &rows {
            table.id_bytes.extend_from_slice(id.as_bytes());
            table.id_ends.push(table.id_bytes.len() as u32);
            for ((x, offset), scale) in v.iter().zip(&table.offset).zip(&table.scale) {
                let q = if *scale > 0.0 { ((x - offset) / scale).round() } else { 0.0 };
                table.codes.push(q.clamp(0.0, LEVELS) as u8);
            }
        }
        Ok(table)
    }

    /// Width of a vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of items held.
    pub fn len(&self) -> usize {
        self.id_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_ends.is_empty()
    }

    /// The cold-item vector.
    pub fn default_vector(&self) -> &[f32] {
        &self.default
    }

    /// The `i`-th id in ascending order.
    pub fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.id_ends[i - 1] as usize };
        // Ids are checked UTF-8 when built or read; a failure here is impossible.
        std::str::from_utf8(&self.id_bytes[start..self.id_ends[i] as usize]).unwrap_or_default()
    }

    /// The row index of `id`, if the table holds it.
    pub fn find(&self, id: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id(mid).as_bytes().cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Writes row `i`'s dequantised vector into `out` (`dim` values).
    pub fn row_into(&self, i: usize, out: &mut [f32]) {
        let codes = &self.codes[i * self.dim..(i + 1) * self.dim];
        for (c, (o, &q)) in out.iter_mut().zip(codes).enumerate() {
            *o = self.offset[c] + self.scale[c] * q as f32;
        }
    }

    /// Writes `id`'s vector (the default for an unknown id) into `out`; returns whether it was
    /// known.
    pub fn vector_into(&self, id: &str, out: &mut [f32]) -> bool {
        match self.find(id) {
            Some(i) => {
                self.row_into(i, out);
                true
            }
            None => {
                out.copy_from_slice(&self.default);
                false
            }
        }
    }

    /// Row-major `ids.len() × dim` vectors for a list, in its order.
    pub fn features_for<S: AsRef<str>>(&self, ids: &[S]) -> Vec<f32> {
        let mut out = vec![0.0; ids.len() * self.dim];
        for (id, row) in ids.iter().zip(out.chunks_exact_mut(self.dim)) {
            self.vector_into(id.as_ref(), row);
        }
        out
    }

    /// Appends the table in the model file's layout (see the [module documentation](self)).
    pub(crate) fn write(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for v in self.default.iter().chain(&self.offset).chain(&self.scale) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for i in 0..self.len() {
            let id = self.id(i).as_bytes();
            b.push((id.len() - 1) as u8);
            b.extend_from_slice(id);
        }
        b.extend_from_slice(&self.codes);
    }

    /// Reads a table of `dim` columns from `bytes` (exactly the table's bytes); `Ok(None)` for
    /// `n_items = 0`. Every size is checked against the bytes present before allocating.
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub(crate) fn read(bytes: &[u8], dim: usize) -> Result<Option<ItemTable>> {
        let bad = |reason: String| Error::model(msg!("item table: ", reason));
        let mut r = Reader::new(bytes, 0, || Error::model("item table: unexpected end"));
        let n = r.u32()? as usize;
        if n == 0 {
            return if r.remaining() == 0 { Ok(None) } else { Err(bad("bytes after an empty table".into())) };
        }
        if n > MAX_ITEMS {
            return Err(bad(msg!(n, " items exceed the limit of ", MAX_ITEMS)));
        }
        // At least 2 bytes of id and `dim` codes per item must be present.
        if bytes.len() < 4 + 12 * dim + n * (2 + dim) {
            return Err(bad(msg!(bytes.len(), " bytes cannot hold ", n, " items")));
        }
        let (default, offset, scale) = (r.f32s(dim)?, r.f32s(dim)?, r.f32s(dim)?);
        check_finite("item table default", &default).map_err(|e| bad(e.message()))?;
        check_finite("item table offset", &offset).map_err(|e| bad(e.message()))?;
        if scale.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(bad("a scale is negative or not finite".into()));
        }
        let mut id_bytes = Vec::new();
        let mut id_ends = Vec::with_capacity(n);
        for i in 0..n {
            let len = r.u8()? as usize + 1;
            debug_assert!(len <= MAX_ID_BYTES);
            let id = std::str::from_utf8(r.take(len)?).map_err(|_| bad(msg!("id ", i, " is not UTF-8")))?;
            let prev_start = if i >= 2 { id_ends[i - 2] as usize } else { 0 };
            if i > 0 && id_bytes[prev_start..].as_ref() >= id.as_bytes() {
                return Err(bad(msg!("ids are not in ascending order at ", i)));
            }
            id_bytes.extend_from_slice(id.as_bytes());
            id_ends.push(id_bytes.len() as u32);
        }
        let codes = r.take(n * dim)?.to_vec();
        if r.remaining() != 0 {
            return Err(bad(msg!(r.remaining(), " bytes after the codes")));
        }
        Ok(Some(ItemTable { dim, default, offset, scale, id_bytes, id_ends, codes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(String, Vec<f32>)> {
        vec![
            ("b".into(), vec![1.0, -2.0, 5.0]),
            ("a".into(), vec![0.0, 2.0, 5.0]),
            ("ü".into(), vec![0.5, 0.0, 5.0]),
            ("aa".into(), vec![0.25, 1.0, 5.0]),
        ]
    }

    #[test]
    fn lookups_round_within_half_a_step_and_unknown_ids_get_the_default() {
        let t = ItemTable::quantise(vec![9.0, 8.0, 7.0], rows()).expect("valid rows");
        assert_eq!(t.len(), 4);
        let mut out = [0.0; 3];
        for (id, v) in rows() {
            assert!(t.vector_into(&id, &mut out), "{id} is known");
            for c in 0..3 {
                let step = [1.0 / 255.0, 4.0 / 255.0, 0.0][c];
                assert!((out[c] - v[c]).abs() <= step / 2.0 + 1e-6, "{id}[{c}]: {} vs {}", out[c], v[c]);
            }
        }
        assert!(!t.vector_into("zz", &mut out));
        assert_eq!(out, [9.0, 8.0, 7.0]);
        assert_eq!(t.features_for(&["zz", "a"]).len(), 6);
    }

    #[test]
    fn bad_rows_are_refused() {
        let mut dup = rows();
        dup.push(("a".into(), vec![0.0; 3]));
        assert!(matches!(ItemTable::quantise(vec![0.0; 3], dup), Err(Error::DuplicateId { .. })));
        let mut nan = rows();
        nan[1].1[2] = f32::NAN;
        assert!(matches!(ItemTable::quantise(vec![0.0; 3], nan), Err(Error::NonFinite { .. })));
        let mut short = rows();
        short[0].1.pop();
        assert!(matches!(ItemTable::quantise(vec![0.0; 3], short), Err(Error::DimensionMismatch { .. })));
        let mut empty_id = rows();
        empty_id[0].0 = String::new();
        assert!(matches!(ItemTable::quantise(vec![0.0; 3], empty_id), Err(Error::InvalidId { .. })));
    }

    #[test]
    fn the_file_layout_round_trips_and_rejects_damage() {
        let t = ItemTable::quantise(vec![0.5, 0.0, -1.0], rows()).expect("valid rows");
        let mut b = Vec::new();
        t.write(&mut b);
        assert_eq!(ItemTable::read(&b, 3).expect("reads back"), Some(t.clone()));
        // Every truncation is an error, never a panic.
        for cut in 0..b.len() {
            assert!(ItemTable::read(&b[..cut], 3).is_err(), "cut at {cut}");
        }
        // Ids out of order.
        let first_id = 4 + 36;
        let mut swapped = b.clone();
        swapped[first_id + 1] = b'z';
        assert!(ItemTable::read(&swapped, 3).is_err());
        // A trailing byte.
        let mut long = b.clone();
        long.push(0);
        assert!(ItemTable::read(&long, 3).is_err());
        // An empty table is exactly four zero bytes.
        assert_eq!(ItemTable::read(&[0, 0, 0, 0], 3).expect("empty"), None);
    }
}
