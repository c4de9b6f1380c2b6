//! Ranking tasks from sessions: one task per engaged result list. The session is replayed through
//! the core's own event log, exactly as the page would see it: the support set is what the log has
//! learned from the events *before* the list, the query is the list itself with the engaged item.
//! Nothing from later events leaks into a task.

use super::data::{Dataset, Step};
use super::hvp::rank_hvp;
use super::items::ItemFeatures;
use super::meta::MetaTask;
use crate::adapt::{Objective, RankObjective};
use crate::kernels::Fast;
use crate::loss::LossKind;
use crate::params::Arch;
use crate::session::{EventLog, Group, ResultSet, SupportSet};
use crate::Scope;
use rayon::prelude::*;

/// The event-log capacity of training replays: the browser's default.
pub const LOG_CAPACITY: usize = 256;

/// One ranking task.
#[derive(Clone, Debug)]
pub struct RankTask {
    arch: Arch,
    inner_loss: LossKind,
    pub support: SupportSet,
    /// The displayed list: row 0 the engaged item, then the others in display order; one
    /// listwise group over all rows.
    pub query: SupportSet,
    /// Events in the log before this list.
    pub prior_events: usize,
}

impl MetaTask for RankTask {
    fn support(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        RankObjective::new(&Fast, self.arch, &self.support, self.inner_loss, theta, Scope::All).loss_grad(theta, grad)
    }
    fn query(&self, theta: &[f32], grad: &mut [f32]) -> f32 {
        RankObjective::new(&Fast, self.arch, &self.query, LossKind::Listwise, theta, Scope::All).loss_grad(theta, grad)
    }
    /// Exact, by the R-operator ([`rank_hvp`]). A support set that does not fit the architecture
    /// (the trainer never builds one) gives a NaN product: the meta-optimiser skips non-finite
    /// gradient entries instead of the process aborting.
    fn support_hvp(&self, theta: &[f32], u: &[f32], out: &mut [f32]) {
        if rank_hvp(&Fast, &self.arch, &self.support, self.inner_loss, theta, u, out).is_err() {
            out.fill(f32::NAN);
        }
    }
    /// The page's own head-scope objective ([`RankObjective`] with [`Scope::Head`]: the body's
    /// activations at θ0 cached), when the trainable range is exactly the head.
    fn support_head<'a>(&'a self, theta0: &[f32], trainable_from: usize) -> Option<Box<dyn Objective + 'a>> {
        (trainable_from == self.arch.head_start()).then(|| {
            Box::new(RankObjective::new(&Fast, self.arch, &self.support, self.inner_loss, theta0, Scope::Head))
                as Box<dyn Objective + 'a>
        })
    }
}

/// Builds the query set of a result list whose engaged item is at display index `target`.
fn query_set(rs: &ResultSet, log: &EventLog, target: usize) -> SupportSet {
    let d = rs.dim();
    let s = log.summarize(Some(d)).all_features(&crate::kernels::Fast, rs);
    let width = d + crate::session::SESSION_DIM;
    let n = rs.len();
    let mut q = SupportSet { width, ..SupportSet::default() };
    let order = std::iter::once(target).chain((0..n).filter(|&i| i != target));
    for i in order {
        q.inputs.extend_from_slice(rs.row(i));
        q.inputs.extend_from_slice(&s[i * crate::session::SESSION_DIM..(i + 1) * crate::session::SESSION_DIM]);
        q.base.push(rs.base()[i]);
    }
    q.groups.push(Group { pos: 0, negs: 1..n as u32, weight: 1.0 });
    q
}

/// Tasks of every session; session `i` is featurised with `tables[i % tables.len()]` (pass
/// out-of-fold tables for training data). Lists seen with an empty log are skipped unless
/// `with_empty_log`: without it the page shows the host's order for them whatever the model.
pub fn build_tasks(
    ds: &Dataset,
    tables: &[ItemFeatures],
    arch: Arch,
    inner_loss: LossKind,
    with_empty_log: bool,
) -> Vec<RankTask> {
    build_tasks_observed(ds, tables, arch, inner_loss, with_empty_log, &mut |_, _| {})
}

/// [`build_tasks`] for a shard of a larger log whose first session is session `first_session` of
/// the whole: session `i` of `ds` is featurised with `tables[(first_session + i) % tables.len()]`,
/// so the shards of a log, built separately and concatenated in order, give the whole log's tasks.
pub fn build_shard_tasks(
    ds: &Dataset,
    first_session: usize,
    tables: &[ItemFeatures],
    arch: Arch,
    inner_loss: LossKind,
    with_empty_log: bool,
) -> Vec<RankTask> {
    session_tasks(ds, 0..ds.sessions.len(), first_session, tables, arch, inner_loss, with_empty_log)
}

/// [`build_tasks`], telling `progress` `(sessions done, sessions)` about fifty times: sessions go
/// in order, a fiftieth at a time, each part across the threads.
pub fn build_tasks_observed(
    ds: &Dataset,
    tables: &[ItemFeatures],
    arch: Arch,
    inner_loss: LossKind,
    with_empty_log: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<RankTask> {
    let n = ds.sessions.len();
    let part = n.div_ceil(50).max(1);
    let mut tasks = Vec::new();
    for start in (0..n).step_by(part) {
        let end = (start + part).min(n);
        tasks.extend(session_tasks(ds, start..end, 0, tables, arch, inner_loss, with_empty_log));
        progress(end, n);
    }
    tasks
}

/// The tasks of sessions `range` of `ds`, in session order; `ds` starts at session `first` of the
/// whole log (out-of-fold tables are chosen by the index in the whole log).
fn session_tasks(
    ds: &Dataset,
    range: std::ops::Range<usize>,
    first: usize,
    tables: &[ItemFeatures],
    arch: Arch,
    inner_loss: LossKind,
    with_empty_log: bool,
) -> Vec<RankTask> {
    let offset = first + range.start;
    let per_session: Vec<Vec<RankTask>> = ds.sessions[range]
        .par_iter()
        .enumerate()
        .map(|(k, session)| {
            let i = offset + k;
            let table = &tables[i % tables.len()];
            let mut log = EventLog::new(LOG_CAPACITY).expect("valid capacity");
            let mut results: Option<ResultSet> = None;
            let mut tasks = Vec::new();
            for step in &session.steps {
                match step {
                    Step::Event { event, .. } => {
                        let _ = log.record(event.clone(), results.as_ref());
                    }
                    Step::Results(display) => {
                        let x = table.for_display(&display.items);
                        let Ok(rs) = ResultSet::new(
                            display.items.clone(),
                            x,
                            arch.item_dim,
                            None,
                            display.prices.clone(),
                            usize::MAX,
                        ) else {
                            continue;
                        };
                        log.show(&rs);
                        let _ = log.advance(display.timestamp);
                        if let (Some(target), Some(event)) = (display.clicked_index(), display.click_event()) {
                            if (with_empty_log || !log.is_empty()) && rs.len() > 1 {
                                tasks.push(RankTask {
                                    arch,
                                    inner_loss,
                                    support: log.support(arch.item_dim),
                                    query: query_set(&rs, &log, target),
                                    prior_events: log.len(),
                                });
                            }
                            let _ = log.record(event, Some(&rs));
                        }
                        results = Some(rs);
                    }
                }
            }
            tasks
        })
        .collect();
    per_session.into_iter().flatten().collect()
}
