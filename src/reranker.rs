//! The engine a page talks to: a model, the current results, the session's events, and `rank`.
//!
//! Every method validates its input completely before changing anything, so a failed call leaves
//! the reranker exactly as it was.

use std::cell::RefCell;

use crate::adapt::{
    adapt_from, low_rank_pays, uniform_input_step, InnerLoop, LowRankObjective, Objective, RankObjective, Scope,
};
use crate::budget::{self, Reservation};
use crate::error::{msg, Error, Result};
use crate::kernels::{Fast, Kernels};
use crate::model_file::Model;
use crate::rank;
use crate::scorer::{project_items, score_candidates, score_scratch_len, SCORE_BLOCK};
use crate::session::{Event, EventLog, ResultSet, SummaryTable, SupportSet};

mod explain;
pub use explain::{Explanation, Reason, ReasonCode};

/// Host-chosen limits and overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub max_candidates: usize,
    pub event_capacity: usize,
    /// Overrides the model's bound on how far an item may move (`Some(None)` = unbounded).
    pub max_move: Option<Option<u32>>,
    /// Overrides the model's adapt scope.
    pub scope: Option<Scope>,
    /// Overrides the model's number of inner steps.
    pub steps: Option<u32>,
    /// Overrides the model's choice of ranking before any event (false: the host's order).
    pub rank_without_events: Option<bool>,
}

pub const MAX_CANDIDATES: usize = 100_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            max_candidates: MAX_CANDIDATES,
            event_capacity: 256,
            max_move: None,
            scope: None,
            steps: None,
            rank_without_events: None,
        }
    }
}

/// The outcome of [`Reranker::rank`].
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Display indices in the new order.
    pub order: Vec<usize>,
    /// Score of each item, by new position.
    pub scores: Vec<f32>,
    /// Places moved up (negative: down), by new position.
    pub moved: Vec<i32>,
    /// Whether the inner loop ran (false with no training examples or no events).
    pub adapted: bool,
    /// Support loss before and after adaptation (None when it did not run).
    pub support_loss: Option<(f32, f32)>,
}

/// What [`Reranker::prepare_scoring`] leaves to do.
pub enum Scoring {
    /// Nothing to score (no events): the host's order.
    Done(Ranking),
    Job(ScoringJob),
}

/// Parameters and session features with which to score every candidate.
#[derive(Clone, Debug)]
pub struct ScoringJob {
    /// The adapted parameters (θ0 when nothing was learned, or while `adapt` is pending).
    pub theta: Vec<f32>,
    /// Session features, `n × S`, display order (empty when `table` is given instead).
    pub session_features: Vec<f32>,
    /// The session summary flattened for the results, from [`Reranker::prepare_deferred`]: the
    /// backend computes the session features from it (src/gpu/shaders/features.wgsl).
    pub table: Option<Box<SummaryTable>>,
    pub support_loss: Option<(f32, f32)>,
    /// The inner loop still to run, from [`Reranker::prepare_deferred`]: the backend adapts
    /// `theta` itself and hands the result to [`Reranker::adopt`] before scoring with it.
    pub adapt: Option<AdaptJob>,
}

/// An inner loop for a backend to run: [`crate::adapt::adapt`] from the model's θ0 and α over
/// this support set with these settings.
#[derive(Clone, Debug)]
pub struct AdaptJob {
    pub support: SupportSet,
    pub inner: InnerLoop,
}

struct Results {
    set: ResultSet,
    /// `X·Wx` with θ0's `Wx`: valid for every head-scope adaptation.
    proj: Vec<f32>,
    /// The set's share of the instance's memory pool, with its ranking scratch (src/budget.rs).
    _held: Reservation,
}

/// An adapted θ and its support loss before and after the inner loop (`None`: nothing learned).
type Adapted = (Vec<f32>, Option<(f32, f32)>);

pub struct Reranker {
    model: Model,
    cfg: Config,
    kernels: Fast,
    results: Option<Results>,
    log: EventLog,
    /// θ adapted to the current log (cleared by every new event).
    adapted: Option<Adapted>,
    /// [`Reranker::model_tag`], computed once: a persisting page exports after every event.
    model_tag: u32,
    /// Whether the body's input weights share one step size: the inner loop in scope `all` can
    /// then run in low-rank form (src/adapt/low_rank.rs).
    uniform_input_step: bool,
    /// One block of a ranking's hidden layer and session features ([`score_scratch_len`]), allocated once and
    /// reused by every rank: a buffer of the result set's size per rank would be carved from
    /// whatever free memory the small long-lived allocations (ids, events) had split, and grow
    /// the wasm memory as the session ages (tests/js/soak.test.mjs).
    scratch: RefCell<Vec<f32>>,
    /// The model's, the full log's and the adaptation's share of the memory pool.
    _held: Reservation,
}

/// CRC-32 of the item width, θ0 and α.
fn tag_of(model: &Model) -> u32 {
    let mut b = Vec::with_capacity(8 * model.theta.len() + 4);
    b.extend_from_slice(&(model.arch.item_dim as u32).to_le_bytes());
    for v in model.theta.iter().chain(&model.alpha) {
        b.extend_from_slice(&v.to_le_bytes());
    }
    crate::model_file::crc32(&b)
}

impl Reranker {
    pub fn new(model: Model, cfg: Config) -> Result<Self> {
        model.validate()?;
        if cfg.max_candidates == 0 || cfg.max_candidates > MAX_CANDIDATES {
            return Err(Error::config("max_candidates", msg!("must be in 1..=", MAX_CANDIDATES)));
        }
        if let Some(s) = cfg.steps {
            crate::adapt::InnerLoop { steps: s, ..model.inner }.validate()?;
        }
        let log = EventLog::new(cfg.event_capacity)?;
        let (dim, hidden, n_params) = (model.arch.item_dim, model.arch.hidden, model.theta.len());
        budget::check_configuration(budget::configuration_bytes(
            cfg.max_candidates,
            cfg.event_capacity,
            dim,
            hidden,
            n_params,
        ))?;
        let model_bytes =
            4 * (model.theta.len() + model.alpha.len()) + model.items.as_ref().map_or(0, |t| t.heap_bytes());
        let held = budget::reserve(
            model_bytes
                + cfg.event_capacity.next_power_of_two() * budget::entry_bytes(dim)
                + budget::adaptation_bytes(dim, hidden, n_params),
        )?;
        let model_tag = tag_of(&model);
        let uniform_input_step = uniform_input_step(&model.arch, &model.alpha);
        Ok(Reranker {
            model,
            cfg,
            kernels: Fast,
            results: None,
            log,
            adapted: None,
            model_tag,
            uniform_input_step,
            scratch: RefCell::new(Vec::with_capacity(score_scratch_len(SCORE_BLOCK, hidden))),
            _held: held,
        })
    }

    /// What a result set of `n` items whose ids take `id_bytes` reserves from the instance's
    /// memory pool (src/budget.rs).
    pub fn result_set_bytes(&self, n: usize, id_bytes: usize) -> usize {
        budget::result_set_bytes(n, id_bytes, self.model.arch.item_dim, self.model.arch.hidden)
    }

    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn from_bytes(bytes: &[u8], cfg: Config) -> Result<Self> {
        Reranker::new(Model::from_bytes(bytes)?, cfg)
    }

    /// The largest result set this reranker accepts.
    pub fn max_candidates(&self) -> usize {
        self.cfg.max_candidates
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn backend(&self) -> &'static str {
        self.kernels.name()
    }
    pub fn n_events(&self) -> usize {
        self.log.len()
    }
    pub fn n_results(&self) -> usize {
        self.results.as_ref().map_or(0, |r| r.set.len())
    }
    pub fn results(&self) -> Option<&ResultSet> {
        self.results.as_ref().map(|r| &r.set)
    }

    fn inner(&self) -> crate::adapt::InnerLoop {
        let mut inner = self.model.inner;
        if let Some(s) = self.cfg.scope {
            inner.scope = s;
        }
        if let Some(k) = self.cfg.steps {
            inner.steps = k;
        }
        inner
    }

    fn max_move(&self) -> Option<usize> {
        self.cfg.max_move.unwrap_or(self.model.max_move).map(|m| m as usize)
    }

    /// Replaces the results: ids in display order, their feature vectors (`None`: looked up in the
    /// model's item table, cold items getting its default), optional base scores and prices. The
    /// session's events are kept. On error nothing changes.
    pub fn set_results(
        &mut self,
        ids: Vec<String>,
        features: Option<Vec<f32>>,
        base: Option<Vec<f32>>,
        prices: Option<Vec<f32>>,
    ) -> Result<()> {
        let arch = self.model.arch;
        if ids.len() > self.cfg.max_candidates {
            return Err(Error::TooManyCandidates { limit: self.cfg.max_candidates, found: ids.len() });
        }
        // Reserved before anything is built; the old set's share returns when it is replaced.
        let held = budget::reserve(self.result_set_bytes(ids.len(), ids.iter().map(String::len).sum()))?;
        let features = match (features, &self.model.items) {
            (Some(x), _) => x,
            (None, Some(table)) => table.features_for(&ids),
            (None, None) => return Err(Error::NoItemTable),
        };
        let set = ResultSet::new(ids, features, arch.item_dim, base, prices, self.cfg.max_candidates)?;
        let proj = project_items(&self.kernels, &arch, &self.model.theta, set.features(), set.len());
        self.log.show(&set);
        self.results = Some(Results { set, proj, _held: held });
        Ok(())
    }

    /// A tag of the model's parameters (CRC-32 of θ0 and α, with the item width): what an
    /// exported session is bound to, so one model's session never feeds another.
    pub fn model_tag(&self) -> u32 {
        self.model_tag
    }

    /// The session (events, their snapshots and training examples, the clock) as bytes for a
    /// later page (see [`crate::session`]'s `persist.rs`): at most
    /// [`crate::session::MAX_SESSION_BYTES`], the oldest events left out first.
    pub fn export_session(&self) -> Vec<u8> {
        self.log.export(self.model_tag(), self.model.arch.item_dim)
    }

    /// Replaces the session's events with exported ones (the current results stay). Bytes that
    /// are damaged, foreign or from another model are an `InvalidSession` error and change
    /// nothing.
    pub fn import_session(&mut self, bytes: &[u8]) -> Result<()> {
        let log = EventLog::import(bytes, self.model_tag(), self.model.arch.item_dim, self.log.capacity())?;
        self.log = log;
        if let Some(r) = &self.results {
            self.log.show(&r.set);
        }
        self.adapted = None;
        Ok(())
    }

    /// Checks a host's feature names against the model's schema (name, count and order).
    pub fn check_feature_names(&self, names: &[String]) -> Result<()> {
        let expected = &self.model.feature_names;
        // The first name that differs, else the end of the shorter list when the counts differ.
        let differs = names.iter().zip(expected).position(|(a, b)| a != b);
        let shorter = (names.len() != expected.len()).then(|| names.len().min(expected.len()));
        match differs.or(shorter) {
            Some(index) => Err(Error::SchemaMismatch { index, expected: expected.len(), found: names.len() }),
            None => Ok(()),
        }
    }

    /// Moves the session's clock to `now` (seconds; an earlier time is ignored): the time the
    /// session features are computed at. The wasm boundary calls it with the page clock when a
    /// list is shown (not when ranking, so a ranking depends only on what was recorded); the
    /// trainer with the log's time of each list. A time that is not finite or not in 0..1e11 seconds is an
    /// error and changes nothing.
    pub fn advance_clock(&mut self, now: f64) -> Result<()> {
        self.log.advance(now)
    }

    pub fn record(&mut self, event: Event) -> Result<()> {
        self.log.record(event, self.results.as_ref().map(|r| &r.set))?;
        self.adapted = None;
        Ok(())
    }

    /// Drops the cached adapted θ, so the next rank runs the inner loop again (for timing the
    /// backends on the same work; rankings do not change).
    pub fn clear_adaptation(&mut self) {
        self.adapted = None;
    }

    /// Forgets every event of the session (the result set stays).
    pub fn reset(&mut self) {
        self.log.clear();
        self.adapted = None;
    }

    /// Forgets everything: events and results.
    pub fn forget(&mut self) {
        self.reset();
        self.results = None;
    }

    /// The inner loop this session's events call for, when θ is not adapted to them yet (`None`:
    /// cached, or nothing to learn from, which leaves θ0).
    fn pending_adaptation(&self) -> Option<AdaptJob> {
        if self.adapted.is_some() {
            return None;
        }
        let inner = self.inner();
        let support = self.log.support(self.model.arch.item_dim);
        (!support.is_empty() && inner.steps > 0).then_some(AdaptJob { support, inner })
    }

    /// θ adapted to the session's examples (θ0 when there is nothing to learn from), cached.
    fn adapted_theta(&mut self) -> Adapted {
        if let Some(a) = &self.adapted {
            return a.clone();
        }
        let result = match self.pending_adaptation() {
            None => (self.model.theta.clone(), None),
            Some(job) => {
                let arch = self.model.arch;
                let (set, inner) = (&job.support, &job.inner);
                if low_rank_pays(&arch, inner, self.uniform_input_step, set.n_rows()) {
                    self.adapt_low_rank(set, inner)
                } else {
                    let obj = RankObjective::new(&self.kernels, arch, set, inner.loss, &self.model.theta, inner.scope);
                    let (theta, before) = adapt_from(
                        &obj,
                        &self.model.theta,
                        &self.model.alpha,
                        inner,
                        inner.scope.trainable_from(&arch),
                    );
                    self.losses(&obj, theta, before)
                }
                .unwrap_or_else(|| (self.model.theta.clone(), None))
            }
        };
        self.adapted = Some(result.clone());
        result
    }

    /// The inner loop through [`LowRankObjective`] (the caller checked that it pays, so it fits):
    /// the same steps as the plain loop, up to rounding. `None` if θ is not finite.
    fn adapt_low_rank(&self, set: &SupportSet, inner: &InnerLoop) -> Option<Adapted> {
        let theta0 = &self.model.theta;
        let obj = LowRankObjective::new(&self.kernels, self.model.arch, set, inner.loss, theta0)?;
        let (phi, before) = adapt_from(&obj, &obj.start(theta0), &self.model.alpha, inner, 0);
        let theta = obj.theta(theta0, &phi);
        // The loss at θ0 is the first step's (φ0 stands for θ0); the loss after is φ's.
        let losses = before.map(|b| (b, obj.loss(&phi)));
        theta.iter().all(|v| v.is_finite()).then_some((theta, losses))
    }

    /// An adapted θ with its support loss before and after, or `None` if it is not finite (then
    /// θ0 serves, as if nothing had been learned). `before`, when given, is the loss at θ0 the
    /// inner loop's first step computed (the same value `obj.loss(θ0)` gives).
    fn losses(&self, obj: &dyn Objective, theta: Vec<f32>, before: Option<f32>) -> Option<Adapted> {
        if !theta.iter().all(|v| v.is_finite()) {
            return None;
        }
        let before = before.unwrap_or_else(|| obj.loss(&self.model.theta));
        let after = obj.loss(&theta);
        Some((theta, Some((before, after))))
    }

    /// Takes θ adapted by another backend for `job` (from [`Reranker::prepare_deferred`]):
    /// checks its length, records the support loss before and after (on the CPU: the support set
    /// is small), caches it as this session's θ, as the CPU's own adaptation would be, and fills
    /// in the job. A θ of the wrong length or with non-finite values is refused (`false`), and
    /// nothing changes.
    pub fn adopt(&mut self, job: &mut ScoringJob, theta: Vec<f32>) -> bool {
        let Some(pending) = &job.adapt else { return false };
        if theta.len() != self.model.theta.len() {
            return false;
        }
        let arch = self.model.arch;
        let (set, inner) = (&pending.support, &pending.inner);
        let obj = RankObjective::new(&self.kernels, arch, set, inner.loss, &self.model.theta, inner.scope);
        let Some(result) = self.losses(&obj, theta, None) else { return false };
        job.theta = result.0.clone();
        job.support_loss = result.1;
        job.adapt = None;
        self.adapted = Some(result);
        true
    }

    /// Scores every candidate with θ and the given session features (none without results:
    /// [`Reranker::finish`] then falls back to the host's order, which is empty too).
    fn score(&self, theta: &[f32], s: &[f32], scope: Scope) -> Vec<f32> {
        let Some(r) = self.results.as_ref() else { return Vec::new() };
        let n = r.set.len();
        let mut out = vec![0.0; n];
        let mut scratch = self.scratch.borrow_mut();
        let proj = (scope == Scope::Head).then_some(r.proj.as_slice());
        score_candidates(
            &self.kernels,
            &self.model.arch,
            theta,
            r.set.features(),
            s,
            r.set.base(),
            proj,
            &mut scratch,
            &mut out,
        );
        out
    }

    /// Ranks the current results for this session on the CPU.
    pub fn rank(&mut self) -> Result<Ranking> {
        match self.prepare_scoring()? {
            Scoring::Done(ranking) => Ok(ranking),
            Scoring::Job(job) => {
                let scores = self.score_job(&job);
                Ok(self.finish(&job, scores))
            }
        }
    }

    /// The CPU's scores for a job (display order). A job whose inner loop is still pending
    /// scores with θ0.
    pub fn score_job(&self, job: &ScoringJob) -> Vec<f32> {
        if job.table.is_some() {
            return self.score(&job.theta, &self.session_features(), self.inner().scope);
        }
        self.score(&job.theta, &job.session_features, self.inner().scope)
    }

    /// The first half of [`Reranker::rank`]: adapts θ and computes the session features, leaving
    /// the scoring of the candidates to the caller (the CPU in `rank`, or a GPU backend), which
    /// hands the scores back to [`Reranker::finish`].
    pub fn prepare_scoring(&mut self) -> Result<Scoring> {
        self.prepare(true)
    }

    /// [`Reranker::prepare_scoring`] for a backend that also runs the inner loop and computes
    /// the session features: when θ is not adapted to the events yet, the job carries the
    /// [`AdaptJob`] (and θ0); the backend adapts, calls [`Reranker::adopt`], and scores with the
    /// job's θ. The session features come as the summary table (`table`).
    pub fn prepare_deferred(&mut self) -> Result<Scoring> {
        self.prepare(false)
    }

    /// Whether a ranking now returns the host's order untouched, computing nothing: no event
    /// yet, and the model does not rank before the first one.
    pub fn serves_host_order(&self) -> bool {
        self.log.is_empty() && !self.cfg.rank_without_events.unwrap_or(self.model.rank_without_events)
    }

    fn prepare(&mut self, adapt_here: bool) -> Result<Scoring> {
        let n = self.results.as_ref().ok_or(Error::NoResults)?.set.len();
        if self.serves_host_order() {
            let base = self.results.as_ref().map(|r| r.set.base().to_vec()).unwrap_or_default();
            let ranking = Ranking {
                order: (0..n).collect(),
                scores: base,
                moved: vec![0; n],
                adapted: false,
                support_loss: None,
            };
            return Ok(Scoring::Done(ranking));
        }
        let adapt = if adapt_here { None } else { self.pending_adaptation() };
        let (theta, support_loss) = match adapt {
            Some(_) => (self.model.theta.clone(), None),
            None => self.adapted_theta(),
        };
        let table = if adapt_here { None } else { self.summary_table().map(Box::new) };
        let session_features = if table.is_some() { Vec::new() } else { self.session_features() };
        Ok(Scoring::Job(ScoringJob { theta, session_features, table, support_loss, adapt }))
    }

    /// The second half of [`Reranker::rank`]: orders the candidates by `scores` (display order,
    /// one per candidate). Non-finite or missing scores fall back to the host's order.
    pub fn finish(&self, job: &ScoringJob, mut scores: Vec<f32>) -> Ranking {
        let base = self.results.as_ref().map_or(&[][..], |r| r.set.base());
        if scores.len() != base.len() || scores.iter().any(|v| !v.is_finite()) {
            // Cannot happen with validated inputs and a correct backend; never let it reach the page.
            scores = base.to_vec();
        }
        let order = rank::order(&scores, self.max_move());
        let moved = rank::moves(&order);
        let scores = order.iter().map(|&i| scores[i]).collect();
        Ranking { order, scores, moved, adapted: job.support_loss.is_some(), support_loss: job.support_loss }
    }

    /// The adapt scope in force (the model's, or the host's override).
    pub fn scope(&self) -> Scope {
        self.inner().scope
    }

    /// The session summary flattened for the current results (see [`SummaryTable`]).
    fn summary_table(&self) -> Option<SummaryTable> {
        let r = self.results.as_ref()?;
        self.log.summarize(Some(r.set.dim())).table(&r.set)
    }

    /// Session features of every candidate (`n × S`).
    pub fn session_features(&self) -> Vec<f32> {
        match &self.results {
            Some(r) => self.log.summarize(Some(r.set.dim())).all_features(&self.kernels, &r.set),
            None => Vec::new(),
        }
    }
}
