//! The page's API surface: a `Reranker` over a small model made here, driven by an arbitrary
//! sequence of calls (results, events, rankings, explanations, resets, the clock, session export
//! and import, the deferred-scoring path a GPU backend takes), with arbitrary floats (NaN, ±inf,
//! huge, tiny, negative) wherever the API takes numbers.
//!
//! Checked after every call:
//! - no panic;
//! - the config is refused (`INVALID_CONFIG`) exactly when a limit is out of range;
//! - a call that returns `Err` changes nothing observable: event and result counts, result ids,
//!   the exported session bytes, whether the host's order is served, and the next ranking;
//! - errors are the documented ones where the outcome is known (`NO_RESULTS` exactly when no
//!   results are set, `UNKNOWN_ITEM` for an id not shown, `NO_ITEM_TABLE`, a clock time outside 0..1e11 s);
//! - every ranking is a permutation of 0..n with finite scores, `moved` is display − new
//!   position, and no item moves more than the bound in force (config override, else the model's);
//! - while `serves_host_order()` (no events, and the model/config does not rank before the first
//!   event) the ranking is the host's order with the host's base scores, exactly; and
//!   `serves_host_order()` is exactly "no events and no rank-without-events";
//! - an event that is valid by `Event::validate` and has no timestamp is accepted, and the log
//!   then holds min(events + 1, capacity);
//! - `reset` leaves no events, `forget` no events and no results;
//! - the session's own export imports, after every call (`EventLog::import`, and on the
//!   `ExportImport` op through `import_session`, after which it exports to the same bytes); a
//!   damaged export (one byte changed, or truncated) is refused;
//! - the deferred path (`prepare_deferred`, `adopt`, `score_job`, `finish`) refuses a θ of the
//!   wrong length or with NaN, and with the CPU's own adapted θ ranks exactly as `rank` does.
#![no_main]

use arbitrary::Arbitrary;
use fewclick::adapt::{adapt, RankObjective};
use fewclick::kernels::Fast;
use fewclick::reranker::Scoring;
use fewclick::rng::Rng;
use fewclick::session::{EventLog, MAX_TIMESTAMP_SECONDS, SESSION_DIM};
use fewclick::{
    Arch, Config, Event, EventKind, InnerLoop, ItemTable, LossKind, Model, Ranking, ReasonCode, Reranker, Scope,
};
use libfuzzer_sys::fuzz_target;

const ITEM_DIM: usize = 4;
const HIDDEN: usize = 8;
/// Ids the ops pick from: the model's item table holds the first eight.
const ALPHABET: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
const TABLE_IDS: usize = 8;
const MAX_OPS: usize = 48;
const MAX_LIST: usize = 24;

#[derive(Arbitrary, Debug)]
struct Input {
    model: ModelSpec,
    config: ConfigSpec,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct ModelSpec {
    seed: u8,
    item_table: bool,
    rank_without_events: bool,
    max_move: Option<u8>,
    scope_all: bool,
    listwise: bool,
    steps: u8,
}

#[derive(Arbitrary, Debug)]
enum Limit {
    Default,
    Small(u8),
    Zero,
    Over,
}

#[derive(Arbitrary, Debug)]
struct ConfigSpec {
    max_candidates: Limit,
    event_capacity: Limit,
    max_move: Option<Option<u8>>,
    scope: Option<bool>,
    steps: Option<u8>,
    rank_without_events: Option<bool>,
}

#[derive(Arbitrary, Debug, Clone)]
enum Id {
    Known(u8),
    Text(String),
    /// A run of `n` 'x' (ids over 256 bytes are refused).
    Long(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(i8),
    Positive(u16),
    Bits(u32),
    Special(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Floats {
    /// Cycled (or zero-filled) to exactly the length the call needs.
    Fitted(Vec<Num>),
    /// As given: usually the wrong length.
    Raw(Vec<Num>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    /// `v / 4` seconds after the latest time this harness has produced (so times mostly increase).
    After(u16),
    Bits(u64),
    Special(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    SetResults { ids: Vec<Id>, features: Option<Floats>, base: Option<Floats>, prices: Option<Floats> },
    Record { item: Id, kind: u8, timestamp: Option<Time>, dwell: Num },
    Rank,
    RankDeferred { adopt_cpu_theta: bool },
    Explain(Id),
    Reset,
    Forget,
    ClearAdaptation,
    AdvanceClock(Time),
    ExportImport,
    ImportDamaged { at: u32, flip: u8, truncate: bool },
    ImportBytes(Vec<u8>),
    CheckFeatureNames { change: Option<(u8, Id)>, drop_last: bool },
}

impl Num {
    fn value(self) -> f32 {
        match self {
            Num::Small(v) => v as f32 / 8.0,
            Num::Positive(v) => 0.5 + v as f32 / 100.0,
            Num::Bits(b) => f32::from_bits(b),
            Num::Special(k) => [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                f32::MAX,
                f32::MIN,
                f32::MIN_POSITIVE,
                1e-45,
                1e30,
                -1e30,
                1e20,
            ][k as usize % 12],
        }
    }
}

impl Floats {
    fn values(&self, n: usize) -> Vec<f32> {
        match self {
            Floats::Fitted(v) if v.is_empty() => vec![0.0; n],
            Floats::Fitted(v) => (0..n).map(|i| v[i % v.len()].value()).collect(),
            Floats::Raw(v) => v.iter().map(|x| x.value()).collect(),
        }
    }
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Known(k) => ALPHABET[*k as usize % ALPHABET.len()].to_string(),
            Id::Text(s) => s.clone(),
            Id::Long(n) => "x".repeat(*n as usize % 600),
        }
    }
}

impl Limit {
    fn value(&self, default: usize) -> usize {
        match self {
            Limit::Default => default,
            Limit::Small(v) => *v as usize,
            Limit::Zero => 0,
            Limit::Over => 100_001,
        }
    }
}

/// A small model (item width 4, hidden 8) as the tests build them, optionally with an item table.
fn model(spec: &ModelSpec) -> Model {
    let arch = Arch::new(ITEM_DIM, HIDDEN).expect("arch");
    let mut rng = Rng::new(spec.seed as u64);
    let mut theta = arch.init(&mut rng);
    for v in &mut theta[arch.head_start()..] {
        *v += rng.range(-0.3, 0.3);
    }
    let alpha = (0..theta.len()).map(|_| rng.range(0.02, 0.2)).collect();
    let items = spec.item_table.then(|| {
        let rows = ALPHABET[..TABLE_IDS]
            .iter()
            .map(|id| (id.to_string(), (0..ITEM_DIM).map(|_| rng.range(-1.0, 1.0)).collect()))
            .collect();
        ItemTable::quantise(vec![0.0; ITEM_DIM], rows).expect("table")
    });
    let model = Model {
        arch,
        theta,
        alpha,
        inner: InnerLoop {
            steps: spec.steps as u32 % 6,
            scope: if spec.scope_all { Scope::All } else { Scope::Head },
            loss: if spec.listwise { LossKind::Listwise } else { LossKind::Pairwise },
            ..InnerLoop::default()
        },
        max_move: spec.max_move.map(|m| m as u32 % 6),
        rank_without_events: spec.rank_without_events,
        algorithm: "fuzz".into(),
        feature_names: (0..ITEM_DIM).map(|i| format!("f{i}")).collect(),
        items,
    };
    model.validate().expect("the harness builds a valid model");
    model
}

fn config(spec: &ConfigSpec) -> Config {
    Config {
        max_candidates: spec.max_candidates.value(fewclick::reranker::MAX_CANDIDATES),
        event_capacity: spec.event_capacity.value(256),
        max_move: spec.max_move.map(|m| m.map(|v| v as u32 % 8)),
        scope: spec.scope.map(|all| if all { Scope::All } else { Scope::Head }),
        // Mostly cheap step counts; 100 (the most allowed) and over-limit values now and then.
        steps: spec.steps.map(|v| match v {
            0..=197 => v as u32 % 8,
            198 => 100,
            199 => 101,
            _ => v as u32 * 1000,
        }),
        rank_without_events: spec.rank_without_events,
    }
}

/// A ranking as bits, so NaN support losses compare equal to themselves.
type RankingBits = (Vec<usize>, Vec<u32>, Vec<i32>, bool, Option<(u32, u32)>);

fn bits(r: &Ranking) -> RankingBits {
    (
        r.order.clone(),
        r.scores.iter().map(|s| s.to_bits()).collect(),
        r.moved.clone(),
        r.adapted,
        r.support_loss.map(|(a, b)| (a.to_bits(), b.to_bits())),
    )
}

/// What a failed call must leave as it was.
#[derive(Debug, PartialEq)]
struct Observed {
    n_events: usize,
    n_results: usize,
    ids: Option<Vec<String>>,
    session: Vec<u8>,
    serves_host_order: bool,
    ranking: Option<RankingBits>,
}

struct Harness {
    r: Reranker,
    /// The bound on moves in force, and whether the model ranks before the first event.
    max_move: Option<usize>,
    rank_without_events: bool,
    capacity: usize,
    has_table: bool,
    feature_names: Vec<String>,
    /// The latest time `Time::After` produced.
    time: f64,
}

impl Harness {
    fn observe(&mut self) -> Observed {
        let ranking = self.r.rank().ok().map(|k| bits(&k));
        Observed {
            n_events: self.r.n_events(),
            n_results: self.r.n_results(),
            ids: self.r.results().map(|s| s.ids().to_vec()),
            session: self.r.export_session(),
            serves_host_order: self.r.serves_host_order(),
            ranking,
        }
    }

    fn time(&mut self, t: Time) -> f64 {
        match t {
            Time::After(v) => {
                self.time += v as f64 / 4.0;
                self.time
            }
            Time::Bits(b) => f64::from_bits(b),
            Time::Special(k) => {
                [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, -0.0, 1e300, f64::MAX, 1e11][k as usize % 9]
            }
        }
    }

    /// Runs a call that may fail; a failure must leave everything observable as it was.
    fn fallible(&mut self, what: &str, call: impl FnOnce(&mut Reranker) -> fewclick::Result<()>) -> bool {
        let before = self.observe();
        match call(&mut self.r) {
            Ok(()) => true,
            Err(e) => {
                let after = self.observe();
                assert!(before == after, "{what} failed ({e}) and changed the reranker:\n{before:?}\n{after:?}");
                false
            }
        }
    }

    fn check_invariants(&self) {
        assert_eq!(
            self.r.serves_host_order(),
            self.r.n_events() == 0 && !self.rank_without_events,
            "serves_host_order disagrees with its definition"
        );
        assert!(self.r.n_events() <= self.capacity, "{} events in a log of {}", self.r.n_events(), self.capacity);
        assert_eq!(self.r.n_results(), self.r.results().map_or(0, |s| s.len()));
        // Whatever the session holds, its export can be restored (a page persists after every event).
        let bytes = self.r.export_session();
        let dim = self.r.model().arch.item_dim;
        if let Err(e) = EventLog::import(&bytes, self.r.model_tag(), dim, self.capacity) {
            panic!("the session's own export does not import: {e}");
        }
    }

    fn check_ranking(&self, k: &Ranking) {
        let set = self.r.results().expect("a ranking needs results");
        let n = set.len();
        assert_eq!(k.order.len(), n, "order of {} for {n} results", k.order.len());
        assert_eq!(k.scores.len(), n);
        assert_eq!(k.moved.len(), n);
        let mut seen = vec![false; n];
        for &i in &k.order {
            assert!(i < n && !seen[i], "not a permutation of 0..{n}: {:?}", k.order);
            seen[i] = true;
        }
        for (new, (&old, &m)) in k.order.iter().zip(&k.moved).enumerate() {
            assert_eq!(m, old as i32 - new as i32, "moved[{new}] is not display − new position");
            if let Some(bound) = self.max_move {
                assert!(
                    m.unsigned_abs() as usize <= bound,
                    "item {old} moved {m} places, bound {bound}: {:?}",
                    k.order
                );
            }
        }
        assert!(k.scores.iter().all(|s| s.is_finite()), "non-finite score: {:?}", k.scores);
        if self.r.serves_host_order() {
            assert!(
                k.order.iter().enumerate().all(|(i, &o)| i == o),
                "no events, yet not the host's order: {:?}",
                k.order
            );
            let base: Vec<u32> = set.base().iter().map(|b| b.to_bits()).collect();
            let scores: Vec<u32> = k.scores.iter().map(|s| s.to_bits()).collect();
            assert_eq!(scores, base, "the host's order without the host's scores");
            assert!(!k.adapted && k.support_loss.is_none());
        }
        assert_eq!(k.adapted, k.support_loss.is_some());
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::SetResults { ids, features, base, prices } => {
                let ids: Vec<String> = ids.iter().take(MAX_LIST).map(Id::text).collect();
                let n = ids.len();
                let features = features.map(|f| f.values(n * ITEM_DIM));
                let no_vectors = features.is_none();
                let base = base.map(|f| f.values(n));
                let prices = prices.map(|f| f.values(n));
                let mut error = None;
                let ok = self.fallible("set_results", |r| {
                    r.set_results(ids.clone(), features, base, prices).inspect_err(|e| error = Some(e.clone()))
                });
                if no_vectors && !self.has_table {
                    // Refused: for want of a table, unless a limit refuses the list first.
                    let code = error.as_ref().map(|e| e.code());
                    assert!(
                        matches!(code, Some("NO_ITEM_TABLE" | "TOO_MANY_CANDIDATES" | "MEMORY_BUDGET")),
                        "results without vectors and no item table: {error:?}"
                    );
                }
                if ok {
                    assert_eq!(self.r.results().map(|s| s.ids().to_vec()), Some(ids));
                }
            }
            Op::Record { item, kind, timestamp, dwell } => {
                let kind = [
                    EventKind::Impression,
                    EventKind::Click,
                    EventKind::Cart,
                    EventKind::Purchase,
                    EventKind::Skip,
                    EventKind::Dwell,
                ][kind as usize % 6];
                let timestamp = timestamp.map(|t| self.time(t));
                let event = Event { item: item.text(), kind, timestamp, dwell_ms: dwell.value() };
                let must_accept = timestamp.is_none() && event.validate().is_ok();
                let before = self.r.n_events();
                let ok = self.fallible("record", |r| r.record(event));
                assert!(ok || !must_accept, "a valid event without a timestamp was refused");
                if ok {
                    assert_eq!(self.r.n_events(), (before + 1).min(self.capacity));
                }
            }
            Op::Rank => match self.r.rank() {
                Ok(k) => self.check_ranking(&k),
                Err(e) => {
                    assert!(self.r.results().is_none() && e.code() == "NO_RESULTS", "rank failed with results set: {e}")
                }
            },
            Op::RankDeferred { adopt_cpu_theta } => self.rank_deferred(adopt_cpu_theta),
            Op::Explain(id) => {
                let id = id.text();
                let shown = self.r.results().map(|s| s.ids().iter().position(|x| *x == id));
                let before = self.observe();
                match self.r.explain(&id) {
                    Ok(x) => {
                        assert_eq!(shown, Some(Some(x.display_position)), "explained {id:?} at the wrong position");
                        assert_eq!(x.id, id);
                        assert_eq!(x.signals.len(), SESSION_DIM);
                        assert!(!x.reasons.is_empty());
                        if self.r.serves_host_order() {
                            assert!(
                                x.reasons.len() == 1 && x.reasons[0].code == ReasonCode::Nothing,
                                "{:?}",
                                x.reasons
                            );
                        }
                    }
                    Err(e) => {
                        let expected = match shown {
                            None => "NO_RESULTS",
                            Some(None) => "UNKNOWN_ITEM",
                            Some(Some(_)) => panic!("explain failed for a shown item {id:?}: {e}"),
                        };
                        assert_eq!(e.code(), expected);
                    }
                }
                assert!(before == self.observe(), "explain changed the reranker");
            }
            Op::Reset => {
                let n = self.r.n_results();
                self.r.reset();
                assert_eq!((self.r.n_events(), self.r.n_results()), (0, n));
            }
            Op::Forget => {
                self.r.forget();
                assert!(self.r.n_events() == 0 && self.r.results().is_none());
                assert_eq!(self.r.rank().err().map(|e| e.code()), Some("NO_RESULTS"));
            }
            Op::ClearAdaptation => {
                let before = self.observe();
                self.r.clear_adaptation();
                assert!(before == self.observe(), "clear_adaptation changed the ranking");
            }
            Op::AdvanceClock(t) => {
                let now = self.time(t);
                let ok = self.fallible("advance_clock", |r| r.advance_clock(now));
                let in_range = now.is_finite() && (0.0..MAX_TIMESTAMP_SECONDS).contains(&now);
                assert_eq!(ok, in_range, "advance_clock({now})");
            }
            Op::ExportImport => {
                let bytes = self.r.export_session();
                let n = self.r.n_events();
                self.r
                    .import_session(&bytes)
                    .unwrap_or_else(|e| panic!("the session's own export does not import: {e}"));
                assert!(self.r.n_events() <= n);
                assert!(self.r.export_session() == bytes, "import then export changes the session's bytes");
            }
            Op::ImportDamaged { at, flip, truncate } => {
                let mut bytes = self.r.export_session();
                let at = at as usize % bytes.len();
                if truncate {
                    bytes.truncate(at);
                } else {
                    bytes[at] ^= flip.max(1);
                }
                let ok = self.fallible("import_session (damaged)", |r| r.import_session(&bytes));
                assert!(!ok, "a damaged export was imported (truncate {truncate}, byte {at})");
            }
            Op::ImportBytes(bytes) => {
                self.fallible("import_session", |r| r.import_session(&bytes));
            }
            Op::CheckFeatureNames { change, drop_last } => {
                let mut names = self.feature_names.clone();
                if let Some((i, id)) = change {
                    let i = i as usize % names.len();
                    names[i] = id.text();
                }
                if drop_last {
                    names.pop();
                }
                let ok = self.r.check_feature_names(&names).is_ok();
                assert_eq!(ok, names == self.feature_names, "check_feature_names({names:?})");
            }
        }
        self.check_invariants();
    }

    fn rank_deferred(&mut self, adopt_cpu_theta: bool) {
        let job = match self.r.prepare_deferred() {
            Err(e) => {
                assert!(self.r.results().is_none() && e.code() == "NO_RESULTS", "prepare_deferred: {e}");
                return;
            }
            Ok(Scoring::Done(k)) => {
                assert!(self.r.serves_host_order(), "a finished job while the model ranks");
                self.check_ranking(&k);
                return;
            }
            Ok(Scoring::Job(job)) => job,
        };
        let mut job = job;
        let mut same_as_rank = job.adapt.is_none();
        if let Some(pending) = job.adapt.clone() {
            let n = job.theta.len();
            assert!(!self.r.adopt(&mut job, vec![0.0; n + 1]), "adopted a θ of the wrong length");
            assert!(!self.r.adopt(&mut job, vec![f32::NAN; n]), "adopted a NaN θ");
            assert!(job.adapt.is_some(), "a refused θ consumed the job");
            if adopt_cpu_theta {
                let m = self.r.model();
                let (arch, inner) = (m.arch, pending.inner);
                let obj = RankObjective::new(&Fast, arch, &pending.support, inner.loss, &m.theta, inner.scope);
                let theta = adapt(&obj, &m.theta, &m.alpha, &inner, inner.scope.trainable_from(&arch), None);
                let finite = theta.iter().all(|v| v.is_finite());
                assert_eq!(self.r.adopt(&mut job, theta), finite, "adopt of the CPU's θ");
                same_as_rank = true;
            }
        }
        let scores = self.r.score_job(&job);
        let k = self.r.finish(&job, scores);
        self.check_ranking(&k);
        if same_as_rank {
            let cpu = self.r.rank().expect("results are set");
            assert!(bits(&k) == bits(&cpu), "the deferred path ranks differently:\n{k:?}\n{cpu:?}");
        }
    }
}

fuzz_target!(|input: Input| {
    let model = model(&input.model);
    let cfg = config(&input.config);
    let feature_names = model.feature_names.clone();
    let has_table = model.items.is_some();
    let bad_fields: Vec<&str> = [
        ("max_candidates", cfg.max_candidates == 0 || cfg.max_candidates > fewclick::reranker::MAX_CANDIDATES),
        ("steps", cfg.steps.is_some_and(|s| s > fewclick::adapt::MAX_STEPS)),
        ("event_capacity", cfg.event_capacity == 0 || cfg.event_capacity > 100_000),
    ]
    .into_iter()
    .filter_map(|(f, bad)| bad.then_some(f))
    .collect();
    let max_move = cfg.max_move.unwrap_or(model.max_move).map(|m| m as usize);
    let rank_without_events = cfg.rank_without_events.unwrap_or(model.rank_without_events);
    let capacity = cfg.event_capacity;
    let r = match Reranker::new(model, cfg) {
        Ok(r) => {
            assert!(bad_fields.is_empty(), "a config with {bad_fields:?} out of range was accepted");
            r
        }
        Err(fewclick::Error::InvalidConfig { field, .. }) => {
            // An out-of-range limit is named; limits in range may still add up to more memory
            // than one reranker may hold ("memory", src/budget.rs).
            let named = bad_fields.contains(&field) || (bad_fields.is_empty() && field == "memory");
            assert!(named, "config refused for {field}, out of range: {bad_fields:?}");
            return;
        }
        // Limits in range that together exceed the instance's memory budget.
        Err(e) if e.code() == "MEMORY_BUDGET" && bad_fields.is_empty() => return,
        Err(e) => panic!("a valid model with config {bad_fields:?} out of range: {e}"),
    };
    let mut h = Harness { r, max_move, rank_without_events, capacity, has_table, feature_names, time: 0.0 };
    h.check_invariants();
    for op in input.ops.into_iter().take(MAX_OPS) {
        h.run(op);
    }
});
