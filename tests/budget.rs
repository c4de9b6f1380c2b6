//! Memory bounded by construction (src/budget.rs): the ceiling of one configuration, and the pool
//! the rerankers of one instance share. The pool is the process's, so everything that touches it
//! runs in this binary's one test, in order.

use fewclick::budget::{
    self, configuration_bytes, DEFAULT_BUDGET_BYTES, MAX_BUDGET_BYTES, MAX_RERANKER_BYTES, MIN_BUDGET_BYTES,
};
use fewclick::model_file::Model;
use fewclick::rng::Rng;
use fewclick::{Arch, Config, Error, Event, EventKind, InnerLoop, Reranker};

const MIB: usize = 1 << 20;

fn model(item_dim: usize, hidden: usize) -> Model {
    let arch = Arch::new(item_dim, hidden).unwrap();
    let mut rng = Rng::new(5);
    let theta = arch.init(&mut rng);
    Model {
        arch,
        alpha: vec![0.05; theta.len()],
        theta,
        inner: InnerLoop::default(),
        max_move: None,
        rank_without_events: false,
        algorithm: "test".into(),
        feature_names: (0..item_dim).map(|i| format!("f{i}")).collect(),
        items: None,
    }
}

fn results(r: &mut Reranker, n: usize, prefix: &str) -> fewclick::Result<()> {
    let d = r.model().arch.item_dim;
    let ids = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let x = (0..n * d).map(|k| (k % 7) as f32 / 7.0).collect();
    r.set_results(ids, Some(x), None, None)
}

fn cfg(max_candidates: usize, event_capacity: usize) -> Config {
    Config { max_candidates, event_capacity, ..Config::default() }
}

#[test]
fn configurations_have_a_ceiling_and_rerankers_share_one_budget() {
    // 1. The ceiling of one configuration: the widest model with the largest log is refused,
    //    naming the limit; the same model with the default log is accepted.
    let wide = model(1024, 64);
    let n_params = wide.theta.len();
    let over = configuration_bytes(100_000, 100_000, 1024, 64, n_params);
    assert!(over > MAX_RERANKER_BYTES, "{over}");
    match Reranker::new(wide.clone(), cfg(100_000, 100_000)) {
        Err(Error::InvalidConfig { field: "memory", reason }) => {
            assert!(reason.contains(&format!("{} MiB", MAX_RERANKER_BYTES / MIB)), "{reason}");
            println!("refused: {reason}");
        }
        other => panic!("expected INVALID_CONFIG memory, got {:?}", other.err()),
    }
    let accepted = configuration_bytes(100_000, 256, 1024, 64, n_params);
    assert!(accepted <= MAX_RERANKER_BYTES);
    println!(
        "largest result set on a 1024-wide model with the default log: {} MiB of the {} MiB ceiling",
        accepted / MIB,
        MAX_RERANKER_BYTES / MIB
    );
    assert_eq!(budget::usage().0, 0, "a refused configuration reserves nothing");

    // 2. The budget is checked when it is set.
    assert_eq!(budget::usage().1, DEFAULT_BUDGET_BYTES);
    for bad in [0, MIN_BUDGET_BYTES - 1, MAX_BUDGET_BYTES + 1] {
        assert!(matches!(budget::set_budget(bad), Err(Error::InvalidConfig { field: "memoryBudget", .. })), "{bad}");
    }
    assert_eq!(budget::usage().1, DEFAULT_BUDGET_BYTES);

    // 3. The pool: at a 64 MiB budget, rerankers with result sets of 10,000 × 64 are made until
    //    the budget refuses one (at creation or at its setResults); a refused call changes
    //    nothing and reserves nothing; freeing a reranker returns its share.
    const N: usize = 10_000;
    budget::set_budget(64 * MIB).unwrap();
    let m = model(64, 32);
    let mut rerankers: Vec<Reranker> = Vec::new();
    let (last, error) = loop {
        assert!(rerankers.len() < 20, "the budget never refused");
        let held = budget::usage().0;
        let mut r = match Reranker::new(m.clone(), cfg(N, 256)) {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(budget::usage().0, held, "a refused reranker reserves nothing");
                break (None, e);
            }
        };
        let held = budget::usage().0;
        match results(&mut r, N, &format!("r{}-", rerankers.len())) {
            Ok(()) => rerankers.push(r),
            Err(e) => {
                assert_eq!(r.n_results(), 0, "a refused setResults keeps no results");
                assert_eq!(budget::usage().0, held, "a refused setResults reserves nothing");
                break (Some(r), e);
            }
        }
    };
    assert_eq!(error.code(), "MEMORY_BUDGET", "{error}");
    println!("{} rerankers with 10,000 × 64 results fit in 64 MiB; the next: {error}", rerankers.len());
    assert!(rerankers.len() >= 2, "{}", rerankers.len());
    drop(last);
    // Replacing a set reserves the new one before the old one is let go: with the budget cut to
    // what is held plus 1 MiB, a replacement is refused, and the reranker keeps its set and ranks
    // the same; at 64 MiB again it goes through.
    let first = &mut rerankers[0];
    first.record(Event::new("r0-3", EventKind::Click)).unwrap();
    let before = first.rank().unwrap();
    let held = budget::usage().0;
    budget::set_budget(held.next_multiple_of(MIB) + MIB).unwrap();
    let e = results(first, N, "again-").expect_err("a replacement past the budget");
    assert_eq!(e.code(), "MEMORY_BUDGET");
    assert_eq!(budget::usage().0, held, "a refused call reserves nothing");
    assert_eq!(first.n_results(), N);
    assert_eq!(first.results().map(|r| r.ids()[0].as_str()), Some("r0-0"));
    assert_eq!(first.rank().unwrap(), before);
    budget::set_budget(64 * MIB).unwrap();
    results(first, N, "again-").expect("a replacement within the budget");
    let id_bytes = |prefix: &str| (0..N).map(|i| format!("{prefix}{i}").len()).sum::<usize>();
    let swapped = held - first.result_set_bytes(N, id_bytes("r0-")) + first.result_set_bytes(N, id_bytes("again-"));
    assert_eq!(budget::usage().0, swapped, "the old set's share returned, the new one's held");
    // Freeing one makes room for another.
    rerankers.pop();
    let mut late = Reranker::new(m.clone(), cfg(N, 256)).expect("room after a reranker is dropped");
    results(&mut late, N, "late-").expect("room after a reranker is dropped");
    assert_eq!(late.n_results(), N);
    drop(late);
    // Everything back when they are all gone.
    drop(rerankers);
    assert_eq!(budget::usage().0, 0);
    budget::set_budget(DEFAULT_BUDGET_BYTES).unwrap();
}
