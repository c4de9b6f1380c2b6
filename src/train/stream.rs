//! Streaming training (`fewclick train --stream`): meta-training on a JSONL log of any length in
//! memory bounded by one window of sessions and the item table. Each pass reads the log again,
//! a window at a time ([`SessionStream`]); the window's tasks are built, visited once in a seeded
//! shuffle ([`Trainer::pass`]) and dropped before the next window is read.
//!
//! **Item features.** Given a table (`--item-table`, such as the catalogue's attributes), every
//! session is featurised with it. Without one, a first pass over the log counts the item
//! statistics ([`ItemStats`]: counts per item and co-occurrence totals per item pair, so memory
//! grows with the catalogue and its co-engaged pairs, not with the log) by residue class of the
//! session's index; training tasks then use out-of-fold tables and the model ships the table of all
//! the counts: the same features `train` learns from the same sessions.
//!
//! What it gives up against [`super::select::train_selected`], and why:
//! - **No validation selection**: the model is served with the training settings, and whole
//!   passes are run (`epochs` rounded up), as `train --validation 0` does.
//! - **Shuffling within a window**, not over the whole log: consecutive sessions of a log are not
//!   ordered by anything the model learns from, so a window of thousands mixes well enough.

use super::data::SessionStream;
use super::item_stats::ItemStats;
use super::items::ItemFeatures;
use super::meta::{Algorithm, Progress, Trainer};
use super::pipeline::{initial_theta, served_model, Phase, TrainOptions};
use super::tasks::build_shard_tasks;
use crate::error::{Error, Result};
use crate::model_file::Model;
use crate::params::Arch;
use std::path::Path;
use std::time::Instant;

/// Sessions per window by default: about 200 MB resident for the demo store's sessions (5,000
/// sessions: 600 MB).
pub const DEFAULT_WINDOW: usize = 2_000;

/// Where a streaming run is, after each window.
#[derive(Clone, Copy, Debug)]
pub struct StreamProgress {
    /// "pretrain" (joint) or the algorithm's name.
    pub phase: &'static str,
    /// Pass over the log (1-based) and how many the phase runs.
    pub pass: usize,
    pub passes: usize,
    /// Sessions and tasks of this pass so far.
    pub sessions: usize,
    pub tasks: usize,
    /// Mean query loss of the window's last meta-batch.
    pub query_loss: f32,
}

/// What a streaming run did.
#[derive(Clone, Debug)]
pub struct StreamReport {
    pub model: Model,
    /// Sessions read, over every pass (counting item statistics, pre-training, meta-training).
    pub sessions_read: usize,
    /// Sessions in the log (one pass).
    pub sessions: usize,
    /// Tasks trained on, over every pass, and meta-iterations run.
    pub tasks: usize,
    pub iterations: usize,
    pub seconds: f64,
}

/// The item tables of a streaming run: learned in one counting pass over the log, a window at a
/// time (out-of-fold tables for the tasks, the table of all counts to serve), or the given one.
fn stream_tables(
    path: &Path,
    given: Option<&ItemFeatures>,
    opts: &TrainOptions,
    window: usize,
    progress: &mut impl FnMut(StreamProgress),
) -> Result<(Vec<ItemFeatures>, ItemFeatures, usize)> {
    if let Some(t) = given {
        return Ok((vec![t.clone()], t.clone(), 0));
    }
    let folds = opts.folds.max(2);
    let mut by_residue = vec![ItemStats::default(); folds];
    let mut sessions = 0;
    for part in SessionStream::open(path, window)? {
        let part = part?;
        for (acc, counted) in by_residue.iter_mut().zip(ItemStats::by_residue(&part, sessions, folds)) {
            acc.merge(&counted);
        }
        sessions += part.n_sessions();
        progress(StreamProgress { phase: "items", pass: 1, passes: 1, sessions, tasks: 0, query_loss: 0.0 });
    }
    let serving = ItemFeatures::from_stats(&ItemStats::merged(&by_residue))?;
    Ok((ItemFeatures::out_of_fold(&by_residue)?, serving, sessions))
}

/// Meta-trains on the JSONL log at `path` in windows of `window` sessions (see the [module
/// documentation](self)): with no `table`, a pass counting item statistics first; then
/// `opts.pretrain_epochs` passes of joint training and `opts.epochs` of `opts.algorithm`, each
/// rounded up to whole passes.
pub fn train_streaming(
    path: &Path,
    table: Option<&ItemFeatures>,
    opts: &TrainOptions,
    window: usize,
    mut progress: impl FnMut(StreamProgress),
) -> Result<StreamReport> {
    opts.validate()?;
    let started = Instant::now();
    let (tables, serving, counted) = stream_tables(path, table, opts, window, &mut progress)?;
    let arch = Arch::new(serving.dim(), opts.hidden)?;
    let mut theta = initial_theta(&arch, opts.seed);
    let mut alpha = vec![opts.alpha; theta.len()];
    let (mut sessions_read, mut sessions, mut tasks_seen, mut iterations) = (counted, 0, 0, 0);
    let phases = [(Phase::Pretrain, opts.pretrain_epochs, opts.pretrains()), (Phase::Meta, opts.epochs, true)];
    for (phase, epochs, run) in phases {
        if !run {
            continue;
        }
        // Whole passes, however many iterations the pool would give: `iterations` is unused.
        let cfg = opts.phase_config(phase, &arch, 0);
        let algorithm = cfg.algorithm;
        let mut trainer = Trainer::new(theta, &cfg);
        let passes = (epochs.ceil() as usize).max(1);
        let phase = if phase == Phase::Meta { algorithm.name() } else { "pretrain" };
        for pass in 1..=passes {
            let (mut pass_sessions, mut pass_tasks) = (0, 0);
            for part in SessionStream::open(path, window)? {
                let part = part?;
                let tasks =
                    build_shard_tasks(&part, pass_sessions, &tables, arch, opts.inner_loss, opts.rank_without_events);
                let mut last = 0.0;
                trainer.pass(&tasks, |p: Progress| last = p.query_loss);
                pass_sessions += part.n_sessions();
                pass_tasks += tasks.len();
                progress(StreamProgress {
                    phase,
                    pass,
                    passes,
                    sessions: pass_sessions,
                    tasks: pass_tasks,
                    query_loss: last,
                });
            }
            if pass_tasks == 0 {
                return Err(Error::InvalidInput {
                    reason: format!("{}: no training task (no engaged result list after an event)", path.display()),
                });
            }
            sessions = pass_sessions;
            sessions_read += pass_sessions;
            tasks_seen += pass_tasks;
        }
        iterations += trainer.iterations();
        let (t, a) = trainer.into_parts();
        theta = t;
        if algorithm != Algorithm::Joint {
            alpha = a;
        }
    }
    let model = served_model(arch, &serving, opts, theta, alpha)?;
    Ok(StreamReport {
        model,
        sessions_read,
        sessions,
        tasks: tasks_seen,
        iterations,
        seconds: started.elapsed().as_secs_f64(),
    })
}
