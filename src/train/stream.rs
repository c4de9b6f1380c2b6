//! Streaming training (`fewclick train --stream`): meta-training on a JSONL log of any length in
//! memory bounded by one window of sessions and the item table. Each pass reads the log again,
//! a window at a time ([`SessionStream`]); the window's tasks are built, visited once in a seeded
//! shuffle ([`Trainer::pass`]) and dropped before the next window is read.
//!
//! What it gives up against [`super::select::train_selected`], and why:
//! - **A fixed item table** (`--item-table`, such as the catalogue's attributes): learned item
//!   statistics would need every session before the first task, and their co-occurrence links grow
//!   with the log.
//! - **No validation selection**: the model is served with the training settings, and whole
//!   passes are run (`epochs` rounded up), as `train --validation 0` does.
//! - **Shuffling within a window**, not over the whole log: consecutive sessions of a log are not
//!   ordered by anything the model learns from, so a window of thousands mixes well enough.

use super::data::SessionStream;
use super::items::ItemFeatures;
use super::meta::{Algorithm, Progress, Trainer};
use super::pipeline::{initial_theta, served_model, Phase, TrainOptions};
use super::tasks::build_tasks;
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
    /// Sessions read, over every pass of both phases.
    pub sessions_read: usize,
    /// Sessions in the log (one pass).
    pub sessions: usize,
    /// Tasks trained on, over every pass, and meta-iterations run.
    pub tasks: usize,
    pub iterations: usize,
    pub seconds: f64,
}

/// Meta-trains on the JSONL log at `path` in windows of `window` sessions (see the [module
/// documentation](self)): `opts.pretrain_epochs` passes of joint training, then `opts.epochs` of
/// `opts.algorithm`, each rounded up to whole passes.
pub fn train_streaming(
    path: &Path,
    table: &ItemFeatures,
    opts: &TrainOptions,
    window: usize,
    mut progress: impl FnMut(StreamProgress),
) -> Result<StreamReport> {
    opts.validate()?;
    let started = Instant::now();
    let arch = Arch::new(table.dim(), opts.hidden)?;
    let mut theta = initial_theta(&arch, opts.seed);
    let mut alpha = vec![opts.alpha; theta.len()];
    let tables = std::slice::from_ref(table);
    let (mut sessions_read, mut sessions, mut tasks_seen, mut iterations) = (0, 0, 0, 0);
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
                let tasks = build_tasks(&part, tables, arch, opts.inner_loss, opts.rank_without_events);
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
    let model = served_model(arch, table, opts, theta, alpha)?;
    Ok(StreamReport {
        model,
        sessions_read,
        sessions,
        tasks: tasks_seen,
        iterations,
        seconds: started.elapsed().as_secs_f64(),
    })
}
