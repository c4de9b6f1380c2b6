//! The log's running totals (src/session/tally.rs) against the recount from the entries
//! (`EventLog::reference_summary_at`), after random sequences of events with evictions, clears,
//! lists that change width and sessions read back from their export; and `record`'s cost not
//! growing with the log (issue 13: it re-summarised the whole log on every event).

use fewclick::rng::Rng;
use fewclick::session::{EventLog, ResultSet, SESSION_DIM, SESSION_FEATURE_NAMES};
use fewclick::{Event, EventKind};
use std::time::Instant;

const KINDS: [EventKind; 6] =
    [EventKind::Click, EventKind::Skip, EventKind::Impression, EventKind::Cart, EventKind::Dwell, EventKind::Purchase];

fn random_set(rng: &mut Rng, d: usize) -> ResultSet {
    let n = 1 + rng.below(24);
    let mut ids: Vec<String> = Vec::new();
    while ids.len() < n {
        let id = format!("i{}", rng.below(40));
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
    let prices = (rng.below(3) > 0).then(|| (0..n).map(|_| rng.range(10.0, 300.0)).collect());
    ResultSet::new(ids, x, d, None, prices, 1000).unwrap()
}

/// Every feature of every row of `r`, from the running totals and from the recount, agree.
fn assert_same_features(log: &EventLog, r: &ResultSet, what: &str) {
    let fast = log.summarize(Some(r.dim()));
    let slow = log.reference_summary_at(Some(r.dim()), log.clock());
    let (mut a, mut b) = ([0.0; SESSION_DIM], [0.0; SESSION_DIM]);
    for i in 0..r.len() {
        fast.features(r, i, &mut a);
        slow.features(r, i, &mut b);
        for k in 0..SESSION_DIM {
            // The engagement sums are added and taken away in f64: equal to the recount up to
            // its rounding, far below f32's.
            assert!(
                (a[k] - b[k]).abs() <= 1e-6 + 1e-6 * b[k].abs(),
                "{what}: row {i} {}: totals {} vs recount {}",
                SESSION_FEATURE_NAMES[k],
                a[k],
                b[k]
            );
        }
        assert_eq!(fast.engaged(&r.ids()[i]), slow.engaged(&r.ids()[i]), "{what}: engaged({})", r.ids()[i]);
    }
}

#[test]
fn running_totals_equal_the_recount_through_evictions_clears_and_imports() {
    let mut compared = 0usize;
    for seed in 0..60u64 {
        let mut rng = Rng::new(7_000 + seed);
        // Small logs evict all the time; larger ones hold more engaged items than the 16 the
        // similarity features read.
        let capacity = 1 + rng.below(if seed % 2 == 0 { 12 } else { 60 });
        let mut log = EventLog::new(capacity).unwrap();
        let mut t = 0.0f64;
        let mut r = random_set(&mut rng, 3);
        for step in 0..300 {
            match rng.below(40) {
                0 => log.clear(),
                1..=3 => {
                    let d = if rng.below(6) == 0 { 4 } else { 3 };
                    r = random_set(&mut rng, d);
                }
                4 => {
                    // Read back from its export: the import replays the entries into the totals.
                    let bytes = log.export(9, r.dim());
                    match EventLog::import(&bytes, 9, r.dim(), capacity) {
                        Ok(back) => {
                            assert_same_features(&back, &r, &format!("seed {seed} step {step} imported"));
                            log = back;
                        }
                        Err(e) => panic!("seed {seed} step {step}: own export refused: {e}"),
                    }
                }
                _ => {
                    t += rng.range(0.0, 90.0) as f64;
                    let item = if rng.below(6) == 0 {
                        format!("gone{}", rng.below(3))
                    } else {
                        r.ids()[rng.below(r.len())].clone()
                    };
                    let mut e = Event::new(item, KINDS[rng.below(KINDS.len())]);
                    e.timestamp = (rng.below(5) > 0).then_some(t);
                    e.dwell_ms = rng.range(0.0, 40_000.0);
                    let on_list = rng.below(8) > 0;
                    log.record(e, on_list.then_some(&r)).unwrap();
                }
            }
            assert_same_features(&log, &r, &format!("seed {seed} step {step} (capacity {capacity})"));
            compared += r.len();
        }
    }
    println!("seeds 7000..7060, capacities 1..60: {compared} rows compared");
}

/// Median seconds per event over `batches` batches of `per_batch` events, the log already full.
fn seconds_per_record(capacity: usize, batches: usize, per_batch: usize) -> f64 {
    let ids: Vec<String> = (0..200).map(|k| format!("p{k}")).collect();
    let x: Vec<f32> = (0..ids.len() * 8).map(|k| ((k * 7919) % 13) as f32 / 13.0).collect();
    let r = ResultSet::new(ids.clone(), x, 8, None, None, 1000).unwrap();
    let mut log = EventLog::new(capacity).unwrap();
    let mut k = 0usize;
    let mut event = |log: &mut EventLog| {
        let kind = if k.is_multiple_of(3) { EventKind::Click } else { EventKind::Impression };
        let e = Event { timestamp: Some(k as f64), ..Event::new(ids[(k * 31) % ids.len()].clone(), kind) };
        log.record(e, Some(&r)).unwrap();
        k += 1;
    };
    while log.len() < capacity {
        event(&mut log);
    }
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                event(&mut log);
            }
            start.elapsed().as_secs_f64() / per_batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[batches / 2]
}

/// A full log of 100,000 events records as fast as one of 1,000 (within a factor the noise of a
/// shared machine cannot reach: re-summarising the log made it about 100 times slower).
#[test]
fn record_costs_the_same_whatever_the_log_holds() {
    let small = seconds_per_record(1_000, 7, 300);
    let large = seconds_per_record(100_000, 7, 300);
    println!("record: {:.2} µs per event at 1,000 logged, {:.2} µs at 100,000", small * 1e6, large * 1e6);
    assert!(large < 8.0 * small, "record grows with the log: {large:e} s at 100k vs {small:e} s at 1k");
}
