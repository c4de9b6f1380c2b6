//! Turning scores into an order: stable (ties keep display order), optionally with a bound on how
//! many places any item may move from its display position.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An integer key for the unbounded order: ascending keys are descending scores. The IEEE bits
/// of a float order like the float once negatives have all bits flipped and positives the sign
/// bit set; −0 and +0 compare equal as floats, so both map to +0 (adding +0 turns −0 into +0).
/// NaN (which the engine never produces) sorts below every number. The tests check the order
/// against the float comparator it replaces.
pub fn descending_key(score: f32) -> u32 {
    let bits = (score + 0.0).to_bits();
    let ascending = if score.is_nan() {
        0
    } else if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    !ascending
}

/// Indices `0..n` in ascending order of their `high` values, equal values in index order: the
/// one sort of the core (the ranking, a list's prices, the session's item rows), through
/// [`sort_indexed_keys`] on the keys `high << 32 | i`. Indices fit 32 bits: a result set holds
/// at most 100,000 items.
pub fn order_by(high: impl Iterator<Item = u32>) -> Vec<usize> {
    let keys = high.enumerate().map(|(i, h)| (h as u64) << 32 | i as u64).collect();
    sort_indexed_keys(keys).into_iter().map(|k| (k & 0xffff_ffff) as usize).collect()
}

/// Sorts keys of the form `high << 32 | i`, made in ascending `i` (so the low halves are distinct
/// and already in order), into ascending order: the result `sort_unstable` gives. A stable LSD
/// radix sort on the high halves, four passes of 8 bits, each skipped when every key has the same
/// digit there. No comparisons, so no sort instantiation in the page (pattern-defeating quicksort
/// over `u64` was 3.3 KB of the wasm; issue 11), and O(n): at 100,000 items four passes over the
/// keys instead of about 1.7 million comparisons. Every sort of the core goes through it.
pub fn sort_indexed_keys(keys: Vec<u64>) -> Vec<u64> {
    let n = keys.len();
    let mut counts = [[0u32; 256]; 4];
    for &k in &keys {
        for (d, c) in counts.iter_mut().enumerate() {
            c[(k >> (32 + 8 * d)) as usize & 0xff] += 1;
        }
    }
    let (mut keys, mut spare) = (keys, vec![0u64; n]);
    for (d, c) in counts.iter().enumerate() {
        if c.iter().any(|&x| x as usize == n) {
            continue; // one bucket holds every key: this digit is already "sorted"
        }
        let mut next = [0u32; 256];
        let mut at = 0;
        for (b, &x) in c.iter().enumerate() {
            next[b] = at;
            at += x;
        }
        for &k in &keys {
            let b = (k >> (32 + 8 * d)) as usize & 0xff;
            spare[next[b] as usize] = k;
            next[b] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    keys
}

/// The display indices in ranked order. With `max_move = Some(m)`, no item ends up more than `m`
/// places above or below its display position: at each output slot the item whose deadline has
/// come is placed; otherwise the best-scored item among those allowed to move up to this slot.
pub fn order(scores: &[f32], max_move: Option<usize>) -> Vec<usize> {
    let n = scores.len();
    let Some(m) = max_move.filter(|&m| m < n) else {
        // One u64 per item, sorted as plain integers: no comparator, no indirection (a fifth of
        // the time of sorting indices by score at 100,000 items).
        return order_by(scores.iter().map(|&s| descending_key(s)));
    };
    #[derive(PartialEq)]
    struct Cand(f32, usize);
    impl Eq for Cand {}
    impl PartialOrd for Cand {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Cand {
        fn cmp(&self, o: &Self) -> Ordering {
            // Max-heap: the "greatest" is the best score, then the smallest display index.
            self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal).then(o.1.cmp(&self.1))
        }
    }
    let mut placed = vec![false; n];
    let mut heap = BinaryHeap::new();
    let mut out = Vec::with_capacity(n);
    let mut next_in = 0; // next display index to enter the window
    for t in 0..n {
        while next_in < n && next_in <= t + m {
            heap.push(Cand(scores[next_in], next_in));
            next_in += 1;
        }
        // An item whose display index is t − m must be placed now or it would fall too far.
        let forced = t.checked_sub(m).filter(|&i| !placed[i]);
        let pick = match forced {
            Some(i) => i,
            None => loop {
                let Cand(_, i) = heap.pop().expect("window holds an unplaced item");
                if !placed[i] {
                    break i;
                }
            },
        };
        placed[pick] = true;
        out.push(pick);
    }
    out
}

/// How far each item moved: display position minus new position (positive = moved up), indexed by
/// new position.
pub fn moves(order: &[usize]) -> Vec<i32> {
    order.iter().enumerate().map(|(new, &old)| old as i32 - new as i32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The specification of the unbounded order: descending by score, equal scores in display
    /// order.
    fn better(scores: &[f32], a: usize, b: usize) -> Ordering {
        scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal).then(a.cmp(&b))
    }

    fn is_permutation(o: &[usize]) -> bool {
        let mut seen = vec![false; o.len()];
        o.iter().all(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true))
    }

    #[test]
    fn integer_keys_order_like_the_comparator() {
        let seed = 77;
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let specials =
            [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45];
        for _ in 0..200 {
            let n = rng.below(300);
            let scores: Vec<f32> = (0..n)
                .map(|_| match rng.below(4) {
                    0 => specials[rng.below(specials.len())],
                    1 => rng.below(5) as f32 - 2.0, // ties
                    _ => rng.range(-1e6, 1e6),
                })
                .collect();
            let mut want: Vec<usize> = (0..n).collect();
            want.sort_by(|&a, &b| better(&scores, a, b));
            assert_eq!(order(&scores, None), want, "{scores:?}");
        }
        // NaN (never produced by the engine) goes last, NaNs in display order.
        let with_nan = [1.0, f32::NAN, f32::NEG_INFINITY, f32::NAN, 2.0];
        assert_eq!(order(&with_nan, None), vec![4, 0, 2, 1, 3]);
    }

    #[test]
    fn indexed_keys_sort_like_sort_unstable() {
        let seed = 78;
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        for case in 0..300 {
            let n = if case % 50 == 0 { 70_000 + rng.below(30_000) } else { rng.below(600) };
            // High halves: few distinct values (ties), any 32-bit value, or one byte varying.
            let kind = rng.below(3);
            let keys: Vec<u64> = (0..n as u64)
                .map(|i| {
                    let high = match kind {
                        0 => rng.below(4) as u64,
                        1 => rng.next_u32() as u64,
                        _ => (rng.below(256) as u64) << 16 | 0x8000_0000,
                    };
                    high << 32 | i
                })
                .collect();
            let mut want = keys.clone();
            want.sort_unstable();
            assert_eq!(sort_indexed_keys(keys), want, "case {case}, n {n}, kind {kind}");
        }
        assert_eq!(sort_indexed_keys(vec![]), Vec::<u64>::new());
        assert_eq!(sort_indexed_keys(vec![5 << 32]), vec![5 << 32]);
    }

    #[test]
    fn stable_descending_order() {
        assert_eq!(order(&[1.0, 3.0, 3.0, 2.0], None), vec![1, 2, 3, 0]);
    }

    #[test]
    fn bounded_moves_respect_the_bound_and_are_permutations() {
        let seed = 99;
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        for _ in 0..300 {
            let n = 1 + rng.below(60);
            let m = rng.below(6);
            let scores: Vec<f32> = (0..n).map(|_| rng.below(10) as f32).collect();
            let o = order(&scores, Some(m));
            assert!(is_permutation(&o));
            assert!(moves(&o).iter().all(|d| d.unsigned_abs() as usize <= m), "bound {m}: {:?}", moves(&o));
        }
    }

    #[test]
    fn bound_of_zero_keeps_display_order_and_large_bound_is_a_full_sort() {
        let s = [0.1, 5.0, -2.0, 3.0];
        assert_eq!(order(&s, Some(0)), vec![0, 1, 2, 3]);
        assert_eq!(order(&s, Some(10)), order(&s, None));
        // The best item may climb at most one place with a bound of 1.
        assert_eq!(order(&[0.0, 0.0, 9.0], Some(1)), vec![0, 2, 1]);
    }
}
