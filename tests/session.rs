//! The session features, one signal at a time on hand-made sessions (values worked out in the
//! comments), and the batched CPU features against the per-row reference on random sessions with
//! timestamps and changing lists. src/gpu/shaders/features.wgsl is checked against the batched
//! features in tests/webgpu.rs; native against wasm by the recorded scores in tests/core.rs.

use fewclick::kernels::{Fast, Reference};
use fewclick::rng::Rng;
use fewclick::session::{
    feature_index, reference_list_context, signed_log_offset, EventLog, ResultSet, LIST_CONTEXT_DIM, POSITION_SCALE,
    RECENCY_HALF_SECONDS, SESSION_DIM, SESSION_FEATURE_NAMES, TIME_SCALE,
};
use fewclick::{Error, Event, EventKind};

/// Absolute tolerance of the hand-computed values (f32 logs of small numbers).
const TOL: f32 = 1e-6;

fn set(ids: &[&str], prices: Option<Vec<f32>>) -> ResultSet {
    let d = 2;
    let x = (0..ids.len() * d).map(|k| 1.0 + (k % 3) as f32).collect();
    ResultSet::new(ids.iter().map(|s| s.to_string()).collect(), x, d, None, prices, 1000).unwrap()
}

fn event(item: &str, kind: EventKind, t: f64) -> Event {
    Event { timestamp: Some(t), ..Event::new(item, kind) }
}

/// The features of every row of `r` by the per-row reference, and checks the batched ones agree.
fn features(log: &EventLog, r: &ResultSet) -> Vec<[f32; SESSION_DIM]> {
    let summary = log.summarize(Some(r.dim()));
    let batched = summary.all_features(&Fast, r);
    (0..r.len())
        .map(|i| {
            let mut out = [0.0; SESSION_DIM];
            summary.reference_features(r, i, &mut out);
            // The per-row path of events and explanations reads the set's price context.
            let mut row = [0.0; SESSION_DIM];
            summary.features(r, i, &mut row);
            assert_eq!(row, out, "row {i}: per-row features differ from the reference");
            for (k, (a, b)) in out.iter().zip(&batched[i * SESSION_DIM..]).enumerate() {
                assert!((a - b).abs() <= TOL, "row {i} {}: reference {a} vs batched {b}", SESSION_FEATURE_NAMES[k]);
            }
            out
        })
        .collect()
}

fn f(name: &str) -> usize {
    feature_index(name).unwrap_or_else(|| panic!("no feature {name}"))
}

fn close(got: f32, want: f32, what: &str) {
    assert!((got - want).abs() <= TOL, "{what}: got {got}, want {want}");
}

#[test]
fn every_feature_has_a_distinct_name() {
    let mut names = SESSION_FEATURE_NAMES.to_vec();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SESSION_DIM);
}

#[test]
fn display_position_is_an_input_on_a_log_scale() {
    let r = set(&["a", "b", "c", "d", "e"], None);
    let mut log = EventLog::new(8).unwrap();
    log.record(event("zzz", EventKind::Click, 1.0), Some(&r)).unwrap();
    for (i, row) in features(&log, &r).iter().enumerate() {
        close(row[f("log_display_position")], (1.0 + i as f32).ln() / POSITION_SCALE, "log_display_position");
    }
}

#[test]
fn price_context_ranks_and_compares_within_the_list() {
    // Prices 100, 50, 200, 50: sorted 50 50 100 200, median 75, minimum 50.
    let r = set(&["a", "b", "c", "d"], Some(vec![100.0, 50.0, 200.0, 50.0]));
    let log = EventLog::new(8).unwrap();
    let rows = features(&log, &r);
    // 100: two cheaper, no tie → 2/3. 50: none cheaper, one tie → ½/3. 200: three cheaper → 1.
    let want_rank = [2.0 / 3.0, 0.5 / 3.0, 1.0, 0.5 / 3.0];
    for (i, (row, p)) in rows.iter().zip([100.0f32, 50.0, 200.0, 50.0]).enumerate() {
        close(row[f("price_rank_in_list")], want_rank[i], "price rank");
        close(row[f("log_price_vs_list_median")], (p / 75.0).ln(), "vs median");
        close(row[f("log_price_vs_list_min")], (p / 50.0).ln(), "vs min");
        close(row[f("list_prices_available")], 1.0, "prices available");
        let ctx = reference_list_context(&r, i);
        assert_eq!(ctx[..], r.list_context()[i * LIST_CONTEXT_DIM..(i + 1) * LIST_CONTEXT_DIM]);
    }
    // A list of one: rank ½; without prices: all four are 0.
    let one = features(&log, &set(&["a"], Some(vec![10.0])));
    close(one[0][f("price_rank_in_list")], 0.5, "rank in a list of one");
    for row in features(&log, &set(&["a", "b"], None)) {
        for name in ["price_rank_in_list", "log_price_vs_list_median", "log_price_vs_list_min", "list_prices_available"]
        {
            assert_eq!(row[f(name)], 0.0, "{name} without prices");
        }
    }
    // The ratio to the engaged items' mean price: clicked at 50, so 100 is ln 2 above it.
    let mut log = EventLog::new(8).unwrap();
    log.record(event("b", EventKind::Click, 1.0), Some(&r)).unwrap();
    close(features(&log, &r)[0][f("log_price_vs_engaged")], 2f32.ln(), "vs engaged");
}

#[test]
fn position_relative_to_the_last_engaged_item() {
    let r = set(&["a", "b", "c", "d", "e", "f"], None);
    let mut log = EventLog::new(8).unwrap();
    let rows = features(&log, &r);
    assert!(rows.iter().all(|row| row[f("signed_offset_to_last_engaged")] == 0.0), "0 before any engagement");
    log.record(event("c", EventKind::Click, 1.0), Some(&r)).unwrap();
    let rows = features(&log, &r);
    // c is row 2: row 5 is 3 below (+ln 4 / 3), row 0 two above (−ln 3 / 3), c itself 0.
    close(rows[5][f("signed_offset_to_last_engaged")], 4f32.ln() / POSITION_SCALE, "below");
    close(rows[0][f("signed_offset_to_last_engaged")], -(3f32.ln()) / POSITION_SCALE, "above");
    close(rows[2][f("signed_offset_to_last_engaged")], 0.0, "itself");
    close(rows[5][f("display_proximity_to_last_engaged")], 0.25, "distance 3");
    assert_eq!(signed_log_offset(7, 7), 0.0);
}

#[test]
fn the_previous_list_and_where_the_shopper_engaged_in_it() {
    let ids = ["a", "b", "c", "d", "e"];
    let first = set(&ids, None);
    let mut log = EventLog::new(8).unwrap();
    log.show(&first);
    assert!(features(&log, &first).iter().all(|row| row[f("same_list_as_previous")] == 0.0), "no previous list");
    log.record(event("b", EventKind::Click, 1.0), Some(&first)).unwrap();
    // The same ids again (a new set: the shopper came back to the list).
    let again = set(&ids, None);
    log.show(&again);
    let rows = features(&log, &again);
    for (i, row) in rows.iter().enumerate() {
        close(row[f("same_list_as_previous")], 1.0, "same list");
        close(row[f("signed_offset_to_previous_list_engaged")], signed_log_offset(i, 1), "offset to row 1");
    }
    // Another list: not the same; the anchor is now the list before it, which had no engagement.
    let other = set(&["e", "d", "x"], None);
    log.show(&other);
    for row in features(&log, &other) {
        assert_eq!(row[f("same_list_as_previous")], 0.0);
        assert_eq!(row[f("signed_offset_to_previous_list_engaged")], 0.0);
    }
    // A set not shown yet is ranked against the list shown now.
    let next = set(&["e", "d", "x"], None);
    assert_eq!(features(&log, &next)[0][f("same_list_as_previous")], 1.0);
}

#[test]
fn time_since_events_is_measured_on_the_session_clock() {
    let r = set(&["a", "b", "c"], None);
    let mut log = EventLog::new(8).unwrap();
    log.record(event("a", EventKind::Click, 100.0), Some(&r)).unwrap();
    log.record(event("b", EventKind::Click, 130.0), Some(&r)).unwrap();
    log.advance(190.0).unwrap();
    log.advance(150.0).unwrap(); // ignored: the clock never goes back
    assert_eq!(log.clock(), Some(190.0));
    let rows = features(&log, &r);
    close(rows[2][f("log_seconds_since_last_event")], 61f32.ln() / TIME_SCALE, "since last");
    close(rows[2][f("log_seconds_since_first_event")], 91f32.ln() / TIME_SCALE, "since first");
    // b engaged 60 s ago, a 90 s ago; c never.
    close(rows[1][f("engaged_time_recency")], 1.0 / (1.0 + 60.0 / RECENCY_HALF_SECONDS), "b");
    close(rows[0][f("engaged_time_recency")], 1.0 / (1.0 + 90.0 / RECENCY_HALF_SECONDS), "a");
    assert_eq!(rows[2][f("engaged_time_recency")], 0.0);
    // Without any timestamp the time features are 0.
    let mut untimed = EventLog::new(8).unwrap();
    untimed.record(Event::new("a", EventKind::Click), Some(&r)).unwrap();
    for row in features(&untimed, &r) {
        for name in ["log_seconds_since_last_event", "log_seconds_since_first_event", "engaged_time_recency"] {
            assert_eq!(row[f(name)], 0.0, "{name} without timestamps");
        }
    }
}

#[test]
fn the_kind_of_the_last_event_is_one_hot() {
    let r = set(&["a", "b"], None);
    let mut log = EventLog::new(8).unwrap();
    let one_hot = |log: &EventLog| {
        let row = features(log, &r)[0];
        [row[f("last_event_click")], row[f("last_event_cart_or_purchase")], row[f("last_event_other")]]
    };
    assert_eq!(one_hot(&log), [0.0; 3]);
    for (t, kind, want) in [
        (1.0, EventKind::Click, [1.0, 0.0, 0.0]),
        (2.0, EventKind::Purchase, [0.0, 1.0, 0.0]),
        (3.0, EventKind::Skip, [0.0, 0.0, 1.0]),
        (4.0, EventKind::Cart, [0.0, 1.0, 0.0]),
        (5.0, EventKind::Impression, [0.0, 0.0, 1.0]),
    ] {
        log.record(event("a", kind, t), Some(&r)).unwrap();
        assert_eq!(one_hot(&log), want, "after a {kind:?}");
        // On the last event's item only, the click and cart values again.
        let rows = features(&log, &r);
        let on_item = |row: &[f32; SESSION_DIM]| {
            [row[f("last_event_on_item_click")], row[f("last_event_on_item_cart_or_purchase")]]
        };
        assert_eq!(on_item(&rows[0]), [want[0], want[1]]);
        assert_eq!(on_item(&rows[1]), [0.0, 0.0]);
    }
}

#[test]
fn a_timestamp_that_goes_backwards_is_a_typed_error_and_changes_nothing() {
    let r = set(&["a", "b"], None);
    let mut log = EventLog::new(8).unwrap();
    log.record(event("a", EventKind::Click, 50.0), Some(&r)).unwrap();
    let before: Vec<Event> = log.events().cloned().collect();
    let err = log.record(event("b", EventKind::Click, 49.0), Some(&r)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(log.events().cloned().collect::<Vec<_>>(), before);
    assert_eq!(log.clock(), Some(50.0));
    // Equal times are fine (two events in the same second).
    log.record(event("b", EventKind::Click, 50.0), Some(&r)).unwrap();
    assert!(matches!(log.advance(f64::NAN), Err(Error::NonFinite { .. })));
    assert_eq!(log.clock(), Some(50.0));
}

#[test]
fn training_examples_see_the_session_as_it_was_at_the_event() {
    // The click on b at t = 160 becomes an example whose rows have "since last event" = 60 s (the
    // click on a at 100), not the clock at ranking time.
    let r = set(&["a", "b", "c"], None);
    let mut log = EventLog::new(8).unwrap();
    log.record(event("a", EventKind::Click, 100.0), Some(&r)).unwrap();
    log.record(event("b", EventKind::Click, 160.0), Some(&r)).unwrap();
    log.advance(10_000.0).unwrap();
    let support = log.support(r.dim());
    let k = r.dim() + f("log_seconds_since_last_event");
    let width = support.width;
    let last_group = support.groups.last().expect("b's example");
    let pos_row = last_group.pos as usize;
    close(support.inputs[pos_row * width + k], 61f32.ln() / TIME_SCALE, "example features at the event's time");
}

#[test]
fn forgetting_the_session_forgets_its_clock_and_list_history() {
    let r = set(&["a", "b"], None);
    let mut log = EventLog::new(8).unwrap();
    log.record(event("a", EventKind::Click, 5.0), Some(&r)).unwrap();
    let again = set(&["a", "b"], None);
    log.show(&again);
    log.clear();
    assert_eq!(log.clock(), None);
    let rows = features(&log, &again);
    assert_eq!(rows[0][f("same_list_as_previous")], 0.0);
    // An earlier timestamp is accepted after forgetting.
    log.record(event("b", EventKind::Click, 1.0), Some(&again)).unwrap();
}

#[test]
fn batched_features_match_the_reference_on_random_timed_sessions_with_changing_lists() {
    // |batched − reference| ≤ 1e-6 + 1e-5·|reference| (the similarities are f32 dot products
    // summed in another order; everything else is the same arithmetic).
    let kinds = [EventKind::Click, EventKind::Cart, EventKind::Purchase, EventKind::Skip, EventKind::Impression];
    let mut checked = [0usize; SESSION_DIM];
    for seed in 1000..1080u64 {
        let mut rng = Rng::new(seed);
        let d = [3, 8][rng.below(2)];
        let mut log = EventLog::new(1 + rng.below(40)).unwrap();
        let mut t = 1.7e9;
        for _ in 0..1 + rng.below(4) {
            let n = 1 + rng.below(60);
            // Ids drawn from a small pool, so lists repeat and overlap.
            let mut ids: Vec<String> = Vec::new();
            while ids.len() < n.min(40) {
                let id = format!("i{}", rng.below(40));
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if rng.below(3) == 0 {
                ids.sort();
            }
            let n = ids.len();
            let x: Vec<f32> = (0..n * d).map(|_| rng.range(-1.0, 1.0)).collect();
            let prices = (rng.below(3) > 0)
                .then(|| (0..n).map(|_| [20.0, 50.0, rng.range(10.0, 300.0)][rng.below(3)]).collect());
            let r = ResultSet::new(ids.clone(), x, d, None, prices, 1000).unwrap();
            log.show(&r);
            for _ in 0..rng.below(8) {
                t += rng.range(0.0, 120.0) as f64;
                let item = if rng.below(5) == 0 { format!("gone{}", rng.below(3)) } else { ids[rng.below(n)].clone() };
                let timed = rng.below(6) > 0;
                let e = Event { timestamp: timed.then_some(t), ..Event::new(item, kinds[rng.below(kinds.len())]) };
                log.record(e, Some(&r)).unwrap();
            }
            t += rng.range(0.0, 60.0) as f64;
            log.advance(t).unwrap();
            let summary = log.summarize(Some(d));
            let mut want = vec![0.0; n * SESSION_DIM];
            for (i, out) in want.chunks_exact_mut(SESSION_DIM).enumerate() {
                summary.reference_features(&r, i, out);
            }
            for (name, got) in
                [("fast", summary.all_features(&Fast, &r)), ("reference", summary.all_features(&Reference, &r))]
            {
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
                        "seed {seed} {name}: row {} {}: {g} vs {w}",
                        k / SESSION_DIM,
                        SESSION_FEATURE_NAMES[k % SESSION_DIM]
                    );
                }
            }
            for row in want.chunks_exact(SESSION_DIM) {
                for (k, v) in row.iter().enumerate() {
                    checked[k] += (*v != 0.0) as usize;
                }
            }
        }
    }
    println!("seeds 1000..1080; non-zero values compared per feature: {checked:?}");
    for (k, c) in checked.iter().enumerate() {
        assert!(*c >= 20, "feature {} was non-zero only {c} times", SESSION_FEATURE_NAMES[k]);
    }
}

/// The reproduction of a trap (issue 13): with a large event capacity, thousands of click/skip
/// pairs on a 2-item list made the support set pair every click with every skip (225 M pairs at
/// 15,000 pairs, a 3 GB wasm memory). The newest examples only are used: the pairs stay bounded.
#[test]
fn the_support_set_stays_bounded_however_many_events_the_log_holds() {
    use fewclick::session::{MAX_ABOVE, MAX_SUPPORT_EXAMPLES};
    let r = set(&["a", "b"], Some(vec![10.0, 20.0]));
    let mut log = EventLog::new(100_000).unwrap();
    for k in 0..3_000 {
        let t = 2.0 * k as f64;
        log.record(event("b", EventKind::Click, t), Some(&r)).unwrap();
        log.record(event("a", EventKind::Skip, t + 1.0), Some(&r)).unwrap();
    }
    assert_eq!(log.len(), 6_000);
    let support = log.support(r.dim());
    let bound = MAX_SUPPORT_EXAMPLES * (MAX_ABOVE + MAX_SUPPORT_EXAMPLES);
    assert!(support.pairs.len() <= bound, "{} pairs, bound {bound}", support.pairs.len());
    assert!(!support.pairs.is_empty());
    // The newest examples: 128 clicks against 128 skips (each click also against "a" above it).
    assert_eq!(support.n_rows(), MAX_SUPPORT_EXAMPLES + MAX_SUPPORT_EXAMPLES / 2);
}

/// Times are seconds in 0..1e11 (issue 13: a timestamp of 1e38 became the session's clock, and
/// every real event after it was "earlier than the previous event's"): outside it, an error that
/// changes nothing.
#[test]
fn times_outside_0_to_1e11_seconds_are_refused_and_change_nothing() {
    let r = set(&["a", "b"], None);
    let mut log = EventLog::new(16).unwrap();
    log.record(event("a", EventKind::Click, 1_700_000_000.0), Some(&r)).unwrap();
    for t in [1e11, 1.7e12, 1e38, -1.0, -1e38] {
        let err = log.record(event("b", EventKind::Click, t), Some(&r)).unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "timestamp {t}: {err}");
        assert!(matches!(log.advance(t), Err(Error::InvalidInput { .. })), "advance({t})");
    }
    assert_eq!(log.len(), 1);
    assert_eq!(log.clock(), Some(1_700_000_000.0));
    assert_eq!(log.record(event("b", EventKind::Click, f64::NAN), Some(&r)).unwrap_err().code(), "NON_FINITE");
    log.record(event("b", EventKind::Click, 1_700_000_060.0), Some(&r)).expect("a real time after a refused one");
}
