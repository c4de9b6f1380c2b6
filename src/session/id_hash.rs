//! The hash of the maps keyed by item id (the result set's index, the log's per-item totals).
//!
//! std's default, SipHash-1-3 with per-process keys, defends a server against keys chosen to
//! collide. Here the keys are the ids the host page shows and records, which the shopper does not
//! choose, and SipHash's rounds, inlined at every lookup, cost the shipped wasm about 2 KB
//! (issue 11). This hash reads the id eight bytes at a time (multiply and rotate, as rustc's
//! FxHash does) and ends with a murmur3-style finaliser, so every input bit reaches the low bits
//! the table indexes with: ids that differ only in a trailing digit (`sku-1`, `sku-2`) must not
//! share a bucket. Deterministic, so maps iterate the same way on every run.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from item id to `V` with [`IdHasher`].
pub type IdMap<V> = HashMap<String, V, BuildHasherDefault<IdHasher>>;

/// An empty [`IdMap`] with room for `n` ids.
pub fn id_map<V>(n: usize) -> IdMap<V> {
    IdMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

const MUL: u64 = 0x517c_c1b7_2722_0a95;

/// Word-at-a-time multiply–rotate hashing with a finaliser; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MUL);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        // The length goes into the last word, so "a" and "a\0" differ.
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(s)
    }

    /// Ids of the shapes stores use, hashed into 2^17 buckets by the hash's low bits (what the
    /// table indexes with) and by its top 7 bits (hashbrown's control byte): no bucket may hold
    /// far more than a uniform hash would put there. A hash that ignored trailing bytes, or left
    /// them out of the low bits, would pile these ids into a few buckets.
    #[test]
    fn ids_spread_over_the_low_and_the_high_bits() {
        let ids: Vec<String> = (0..100_000)
            .flat_map(|i| [format!("sku-{i}"), format!("{:07}", 3_000_000 + i * 7), format!("item/{i}/variant")])
            .collect();
        let buckets = 1usize << 17;
        let mut low = vec![0u32; buckets];
        let mut top = [0u32; 128];
        for id in &ids {
            let h = hash(id);
            low[(h as usize) & (buckets - 1)] += 1;
            top[(h >> 57) as usize] += 1;
        }
        // 300,000 ids in 131,072 buckets: a mean of 2.3; a uniform hash's fullest bucket holds
        // about 12 (Poisson tail), so 20 leaves room without letting a clustered hash pass.
        let fullest = *low.iter().max().unwrap();
        assert!(fullest <= 20, "fullest of {buckets} buckets holds {fullest} of {} ids", ids.len());
        let mean = ids.len() as f64 / 128.0;
        for (b, &c) in top.iter().enumerate() {
            assert!((c as f64 - mean).abs() < 0.1 * mean, "top-7-bit value {b}: {c} ids, expected about {mean:.0}");
        }
    }

    #[test]
    fn equal_ids_hash_equal_and_lengths_matter() {
        assert_eq!(hash("sku-12"), hash(&String::from("sku-12")));
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash(""), hash("\0"));
        assert_ne!(hash("12345678"), hash("123456780"));
        let mut map = id_map(4);
        for (i, id) in ["x", "y", "x\0", ""].iter().enumerate() {
            assert!(map.insert(id.to_string(), i).is_none(), "{id:?}");
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map.get("x\0"), Some(&2));
    }
}
