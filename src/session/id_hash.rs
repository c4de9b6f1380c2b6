//! The map keyed by item id (the result set's index, the log's per-item totals) and its hash.
//!
//! std's default, SipHash-1-3 with per-process keys, defends a server against keys chosen to
//! collide. Here the keys are the ids the host page shows and records, which the shopper does not
//! choose, and SipHash's rounds, inlined at every lookup, cost the shipped wasm about 2 KB
//! (issue 11). This hash reads the id eight bytes at a time (multiply and rotate, as rustc's
//! FxHash does) and ends with a murmur3-style finaliser, so every input bit reaches the low bits
//! the table indexes with: ids that differ only in a trailing digit (`sku-1`, `sku-2`) must not
//! share a bucket. Deterministic, so maps iterate the same way on every run.

use std::hash::Hasher;

/// A map from item id to `V`, in the shape a page needs (issue 11: hashbrown's group probing,
/// inlined at every lookup, and its rehash cost the shipped wasm about 3 KB): the entries in two
/// vectors, in insertion order (a removal moves the last entry into the gap), and an open-addressing
/// table of `u64` slots probed linearly, each the id's hash's high 32 bits (compared before the
/// id) and its entry's index + 1 (0: empty). The table is a power of two at least twice the
/// entries, so probes stay short; a removal shifts the probe chain back, with no tombstones.
#[derive(Clone, Debug)]
pub struct IdMap<V> {
    keys: Vec<String>,
    values: Vec<V>,
    slots: Vec<u64>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap { keys: Vec::new(), values: Vec::new(), slots: Vec::new() }
    }
}

/// An empty [`IdMap`] with room for `n` ids.
pub fn id_map<V>(n: usize) -> IdMap<V> {
    let mut map = IdMap { keys: Vec::with_capacity(n), values: Vec::with_capacity(n), slots: Vec::new() };
    map.rebuild(n);
    map
}

/// [`IdHasher`] over the id's bytes.
pub fn hash_id(id: &str) -> u64 {
    let mut h = IdHasher::default();
    h.write(id.as_bytes());
    h.finish()
}

impl<V> IdMap<V> {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// The slot holding `id` (`Ok`), or the empty slot where it would go (`Err`). The table must
    /// have a slot free.
    fn find(&self, id: &str, h: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut s = h as usize & mask;
        loop {
            let slot = self.slots[s];
            if slot == 0 {
                return Err(s);
            }
            if slot >> 32 == h >> 32 && self.keys[entry_of(slot)] == id {
                return Ok(s);
            }
            s = (s + 1) & mask;
        }
    }

    /// The entry number of `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        self.find(id, hash_id(id)).ok().map(|s| entry_of(self.slots[s]))
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        self.position(id).map(|i| &self.values[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        self.position(id).map(|i| &mut self.values[i])
    }

    /// Inserts `value` under `id` as the next entry, or gives `id` back if it is present.
    pub fn insert_new(&mut self, id: String, value: V) -> Result<usize, String> {
        match self.slot_for(&id) {
            Ok(_) => Err(id),
            Err((s, h)) => Ok(self.push(s, h, id, value)),
        }
    }

    /// The ids, entry by entry.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The value under `id`, inserted as `V::default()` if absent (the id is copied only then).
    pub fn get_or_default(&mut self, id: &str) -> &mut V
    where
        V: Default,
    {
        let i = match self.slot_for(id) {
            Ok(i) => i,
            Err((s, h)) => self.push(s, h, id.to_owned(), V::default()),
        };
        &mut self.values[i]
    }

    /// Removes `id`, returning its value.
    pub fn remove(&mut self, id: &str) -> Option<V> {
        if self.slots.is_empty() {
            return None;
        }
        let s = self.find(id, hash_id(id)).ok()?;
        let i = entry_of(self.slots[s]);
        self.unlink(s);
        let last = self.keys.len() - 1;
        if i != last {
            // The last entry moves to `i`: its slot says so.
            let mask = self.slots.len() - 1;
            let mut t = hash_id(&self.keys[last]) as usize & mask;
            while entry_of(self.slots[t]) != last {
                t = (t + 1) & mask;
            }
            self.slots[t] = (self.slots[t] & !0xffff_ffff) | (i as u64 + 1);
        }
        self.keys.swap_remove(i);
        Some(self.values.swap_remove(i))
    }

    /// Entries in insertion order (but for removals, which move the last entry).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.keys.iter().zip(&self.values)
    }

    /// `Ok(entry)` if `id` is present, else `Err((free slot, hash))` with room for one more.
    fn slot_for(&mut self, id: &str) -> Result<usize, (usize, u64)> {
        if 2 * (self.keys.len() + 1) > self.slots.len() {
            self.rebuild(self.keys.len() + 1);
        }
        let h = hash_id(id);
        self.find(id, h).map(|s| entry_of(self.slots[s])).map_err(|s| (s, h))
    }

    fn push(&mut self, slot: usize, h: u64, id: String, value: V) -> usize {
        let i = self.keys.len();
        self.slots[slot] = (h & !0xffff_ffff) | (i as u64 + 1);
        self.keys.push(id);
        self.values.push(value);
        i
    }

    /// Empties slot `s`, moving later slots of its probe chain back into the gap where their
    /// probe passes it (backward-shift deletion).
    fn unlink(&mut self, s: usize) {
        let mask = self.slots.len() - 1;
        let (mut hole, mut j) = (s, (s + 1) & mask);
        while self.slots[j] != 0 {
            let home = hash_id(&self.keys[entry_of(self.slots[j])]) as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = 0;
    }

    /// A table for `n` entries (a power of two ≥ 2n, at least 8), filled from the entries.
    fn rebuild(&mut self, n: usize) {
        let len = (2 * n).max(8).next_power_of_two();
        self.slots = vec![0; len];
        for i in 0..self.keys.len() {
            let h = hash_id(&self.keys[i]);
            let mut s = h as usize & (len - 1);
            while self.slots[s] != 0 {
                s = (s + 1) & (len - 1);
            }
            self.slots[s] = (h & !0xffff_ffff) | (i as u64 + 1);
        }
    }
}

/// The entry index a non-empty slot holds.
fn entry_of(slot: u64) -> usize {
    (slot as u32 as usize).wrapping_sub(1)
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
    use crate::rng::Rng;
    use std::collections::HashMap;

    fn hash(s: &str) -> u64 {
        hash_id(s)
    }

    /// Random inserts, replacements, lookups and removals against std's HashMap, with ids that
    /// share prefixes and a small id space, so chains collide and removals shift them.
    #[test]
    fn the_map_agrees_with_std_under_random_operations() {
        for seed in [1u64, 2, 3] {
            println!("seed {seed}");
            let mut rng = Rng::new(seed);
            let (mut map, mut std_map) = (IdMap::<u32>::default(), HashMap::<String, u32>::new());
            for step in 0..20_000u32 {
                let id = format!("sku-{}", rng.below(300));
                match rng.below(4) {
                    0 => {
                        let fresh = !std_map.contains_key(&id);
                        let entries = map.len();
                        assert_eq!(map.insert_new(id.clone(), step).is_ok(), fresh, "seed {seed} step {step}");
                        if fresh {
                            std_map.insert(id.clone(), step);
                            assert_eq!(map.keys()[entries], id, "the next entry");
                        }
                    }
                    1 => assert_eq!(map.remove(&id), std_map.remove(&id), "seed {seed} step {step}"),
                    2 => {
                        *map.get_or_default(&id) += 1;
                        *std_map.entry(id).or_default() += 1;
                    }
                    _ => assert_eq!(map.get(&id), std_map.get(&id), "seed {seed} step {step}"),
                }
                assert_eq!(map.len(), std_map.len());
            }
            let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let mut want: Vec<_> = std_map.into_iter().collect();
            all.sort();
            want.sort();
            assert_eq!(all, want, "seed {seed}");
            for (k, v) in &want {
                assert_eq!(map.get(k), Some(v));
                *map.get_mut(k).unwrap() += 1;
                assert_eq!(map.get(k), Some(&(v + 1)));
            }
            assert_eq!(map.get("absent"), None);
        }
        assert_eq!(IdMap::<u8>::default().get("x"), None, "an empty map has no table yet");
        assert_eq!(IdMap::<u8>::default().remove("x"), None);
    }

    /// Ids of the shapes stores use, hashed into 2^17 buckets by the hash's low bits (what the
    /// table indexes with) and by its top 7 bits (part of the tag compared before the id): no
    /// bucket may hold far more than a uniform hash would put there. A hash that ignored trailing bytes, or left
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
            assert_eq!(map.insert_new(id.to_string(), i), Ok(i), "{id:?}");
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map.get("x\0"), Some(&2));
    }
}
