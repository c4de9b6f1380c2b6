//! A session that spans page loads: `Reranker::export_session` / `import_session` round-trip the
//! events exactly (the next page ranks as this one would), refuse damaged, truncated and foreign
//! bytes with `InvalidSession` and leave the reranker as it was, and stay under the size bound.

use fewclick::rng::Rng;
use fewclick::session::MAX_SESSION_BYTES;
use fewclick::{Arch, Config, Error, Event, EventKind, InnerLoop, Model, Reranker, Scope};

const SEED: u64 = 4711;

fn model(seed: u64) -> Model {
    let arch = Arch::new(6, 8).expect("arch");
    let mut rng = Rng::new(seed);
    let theta = arch.init(&mut rng);
    Model {
        arch,
        alpha: vec![0.05; theta.len()],
        theta,
        inner: InnerLoop { steps: 3, scope: Scope::All, ..InnerLoop::default() },
        max_move: None,
        rank_without_events: false,
        algorithm: "test".into(),
        feature_names: (0..6).map(|i| format!("f{i}")).collect(),
        items: None,
    }
}

fn page(r: &mut Reranker, rng: &mut Rng, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("sku-{i}")).collect();
    let x = (0..n * 6).map(|_| rng.range(-1.0, 1.0)).collect();
    let prices = (0..n).map(|_| rng.range(5.0, 90.0)).collect();
    r.set_results(ids.clone(), Some(x), None, Some(prices)).expect("results");
    ids
}

/// A session on a first page: clicks, a cart, a skip, at increasing times.
fn first_page(seed: u64) -> Reranker {
    let mut rng = Rng::new(seed);
    let mut r = Reranker::new(model(SEED), Config::default()).expect("reranker");
    let ids = page(&mut r, &mut rng, 30);
    for (k, (i, kind)) in [(12, EventKind::Click), (3, EventKind::Skip), (20, EventKind::Cart), (7, EventKind::Click)]
        .into_iter()
        .enumerate()
    {
        let event = Event { timestamp: Some(100.0 + 10.0 * k as f64), ..Event::new(ids[i].clone(), kind) };
        r.record(event).expect("record");
    }
    r
}

#[test]
fn an_exported_session_ranks_the_next_page_as_the_session_itself_would_but_for_the_list_history() {
    println!("seed {SEED}");
    let old = first_page(SEED);
    let bytes = old.export_session();
    assert!(bytes.len() < MAX_SESSION_BYTES);
    // The next page: the same results on both, one with the original log, one restored.
    let mut next = Reranker::new(model(SEED), Config::default()).expect("reranker");
    next.import_session(&bytes).expect("imports");
    let mut same = old;
    let mut rng = Rng::new(SEED + 1);
    page(&mut same, &mut rng, 25);
    let mut rng = Rng::new(SEED + 1);
    page(&mut next, &mut rng, 25);
    assert_eq!(next.n_events(), 4);
    let (a, b) = (same.rank().expect("rank"), next.rank().expect("rank"));
    assert!(a.adapted && b.adapted);
    // The lists shown are not carried (a new page shows new lists), so only the features of the
    // previous list may differ: compare the order and the scores within a tolerance.
    assert_eq!(a.order.len(), b.order.len());
    let worst = a.scores.iter().zip(&b.scores).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    println!("largest score difference after a page load: {worst:e}");
    assert!(worst < 0.05, "restored scores differ by {worst}");
    // Exporting the restored session gives the same bytes back: nothing was lost or invented.
    let mut again = Reranker::new(model(SEED), Config::default()).expect("reranker");
    again.import_session(&bytes).expect("imports");
    assert_eq!(again.export_session(), bytes);
}

#[test]
fn damaged_truncated_and_foreign_bytes_are_refused_and_change_nothing() {
    println!("seed {SEED}");
    let bytes = first_page(SEED).export_session();
    let mut r = first_page(SEED + 9);
    let before = r.export_session();
    let refused = |r: &mut Reranker, b: &[u8]| {
        let err = r.import_session(b).expect_err("refused");
        assert!(matches!(err, Error::InvalidSession { .. }), "{err:?}");
        assert_eq!(err.code(), "INVALID_SESSION");
    };
    for cut in [0, 7, 39, bytes.len() / 2, bytes.len() - 1] {
        refused(&mut r, &bytes[..cut]);
    }
    let mut rng = Rng::new(SEED);
    for _ in 0..300 {
        let mut b = bytes.clone();
        let i = rng.below(b.len());
        b[i] ^= 1 + (rng.next_u32() % 255) as u8;
        refused(&mut r, &b);
    }
    // Another model's session.
    let mut other = Reranker::new(model(SEED + 1), Config::default()).expect("reranker");
    refused(&mut other, &bytes);
    refused(&mut r, b"not a session at all, but long enough to have a header and more");
    assert_eq!(r.export_session(), before, "every refusal left the session as it was");
}

#[test]
fn exports_stay_under_the_size_bound_keeping_the_newest_events() {
    let mut rng = Rng::new(SEED);
    let mut r = Reranker::new(model(SEED), Config { event_capacity: 100_000, ..Config::default() }).expect("reranker");
    let ids = page(&mut r, &mut rng, 60);
    // Each click low in the list carries an example of 11 rows × (6 + 29) floats: ~1.6 KB.
    for k in 0..1200 {
        let e = Event { timestamp: Some(k as f64), ..Event::new(ids[40 + k % 20].clone(), EventKind::Click) };
        r.record(e).expect("record");
    }
    let bytes = r.export_session();
    assert!(bytes.len() <= MAX_SESSION_BYTES, "{} bytes", bytes.len());
    let mut next = Reranker::new(model(SEED), Config::default()).expect("reranker");
    next.import_session(&bytes).expect("imports");
    assert!(next.n_events() > 100 && next.n_events() < 1200, "{} events kept", next.n_events());
    // A smaller log keeps the newest of them.
    let mut small = Reranker::new(model(SEED), Config { event_capacity: 10, ..Config::default() }).expect("reranker");
    small.import_session(&bytes).expect("imports");
    assert_eq!(small.n_events(), 10);
}
