//! From a training split to a model file: item features, tasks, joint pre-training and
//! meta-training. Choosing the epoch and the serve-time settings on validation data is
//! [`super::select`].

use super::data::Dataset;
use super::items::ItemFeatures;
use super::meta::{meta_train, meta_train_observed, Algorithm, MetaConfig, Progress};
use super::select::Selection;
use super::tasks::{build_tasks_observed, RankTask};
use crate::adapt::{InnerLoop, Scope};
use crate::error::{Error, Result};
use crate::loss::LossKind;
use crate::model_file::Model;
use crate::params::Arch;
use crate::rng::Rng;
use std::time::Instant;

/// Settings of one training run (validated by [`TrainOptions::validate`] before anything runs).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub algorithm: Algorithm,
    pub hidden: usize,
    pub steps: u32,
    /// Adapt scope; `None` = `head` for ANIL, `all` otherwise.
    pub scope: Option<Scope>,
    pub inner_loss: LossKind,
    pub prox: f32,
    pub clip: f32,
    pub alpha: f32,
    pub meta_lr: f32,
    pub alpha_lr: f32,
    pub batch: usize,
    pub epochs: f32,
    /// Epochs of joint training (the query loss at θ0, no inner loop) before meta-training
    /// starts from its θ (0: meta-train from the random initialisation).
    pub pretrain_epochs: f32,
    pub seed: u64,
    pub folds: usize,
    pub max_move: Option<u32>,
    /// Train on, and rank, lists seen before any event too (see `Model::rank_without_events`).
    pub rank_without_events: bool,
    /// What is chosen on validation data, among which candidates.
    pub selection: Selection,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            algorithm: Algorithm::Fomaml,
            hidden: 32,
            steps: 5,
            scope: None,
            inner_loss: LossKind::Pairwise,
            prox: 0.1,
            clip: 10.0,
            alpha: 0.05,
            meta_lr: 3e-3,
            alpha_lr: 1e-3,
            batch: 32,
            epochs: 10.0,
            pretrain_epochs: 10.0,
            seed: 42,
            folds: 5,
            max_move: None,
            rank_without_events: false,
            selection: Selection::default(),
        }
    }
}

impl TrainOptions {
    pub fn validate(&self) -> Result<()> {
        let pos = |v: f32| v.is_finite() && v > 0.0;
        if !(pos(self.alpha) && pos(self.meta_lr) && self.alpha_lr.is_finite() && self.alpha_lr >= 0.0) {
            return Err(Error::config("alpha/meta_lr/alpha_lr", "step sizes must be finite and positive"));
        }
        if !(self.pretrain_epochs.is_finite() && self.pretrain_epochs >= 0.0) {
            return Err(Error::config("pretrain_epochs", "must be finite and ≥ 0"));
        }
        if self.batch == 0 || !pos(self.epochs) || self.folds < 2 {
            return Err(Error::config("batch/epochs/folds", "batch ≥ 1, epochs > 0, folds ≥ 2"));
        }
        self.inner().validate()?;
        self.selection.validate()?;
        Arch::new(1, self.hidden)?;
        Ok(())
    }

    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or(if self.algorithm == Algorithm::Anil { Scope::Head } else { Scope::All })
    }

    pub fn inner(&self) -> InnerLoop {
        InnerLoop { steps: self.steps, scope: self.scope(), loss: self.inner_loss, prox: self.prox, clip: self.clip }
    }

    /// Whether joint pre-training runs before meta-training.
    pub fn pretrains(&self) -> bool {
        self.pretrain_epochs > 0.0 && self.algorithm != Algorithm::Joint
    }

    /// The outer loop's settings of `phase` over a pool of `n_tasks` tasks: what `train`, `train
    /// --stream` and the Python package's Ray driver all run.
    pub fn phase_config(&self, phase: Phase, arch: &Arch, n_tasks: usize) -> MetaConfig {
        let inner = self.inner();
        let (algorithm, epochs, trainable_from, alpha_lr, seed) = match phase {
            Phase::Pretrain => (Algorithm::Joint, self.pretrain_epochs, 0, 0.0, self.seed ^ 0x9e37_79b9),
            Phase::Meta => (self.algorithm, self.epochs, inner.scope.trainable_from(arch), self.alpha_lr, self.seed),
        };
        MetaConfig {
            algorithm,
            inner,
            trainable_from,
            alpha: self.alpha,
            meta_lr: self.meta_lr,
            alpha_lr,
            batch: self.batch,
            iterations: iterations_for(n_tasks, self.batch, epochs),
            seed,
        }
    }
}

/// The two phases of a training run: joint pre-training (when [`TrainOptions::pretrains`]), then
/// meta-training from its θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pretrain,
    Meta,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pretrain => "pretrain",
            Phase::Meta => "meta",
        }
    }

    pub fn parse(s: &str) -> Result<Phase> {
        match s {
            "pretrain" => Ok(Phase::Pretrain),
            "meta" => Ok(Phase::Meta),
            other => Err(Error::config("phase", format!("{other:?} is not pretrain or meta"))),
        }
    }
}

/// The initial θ0 of a run with `seed` (before pre-training).
pub fn initial_theta(arch: &Arch, seed: u64) -> Vec<f32> {
    arch.init(&mut Rng::new(seed))
}

/// What every algorithm of one run shares: item features and tasks.
pub struct Prepared {
    pub features: ItemFeatures,
    pub tasks: Vec<RankTask>,
    pub arch: Arch,
}

/// Learns item features (out-of-fold for the training tasks, on the whole split for serving) and
/// builds the tasks. With `fixed`, a given item table (for example catalogue attributes, which carry
/// no labels and so cannot leak) is used for both instead.
pub fn prepare(train: &Dataset, opts: &TrainOptions, fixed: Option<ItemFeatures>) -> Result<Prepared> {
    prepare_observed(train, opts, fixed, &mut |_, _| {})
}

/// [`prepare`], telling `progress` how far task building is (`(sessions done, sessions)`).
pub fn prepare_observed(
    train: &Dataset,
    opts: &TrainOptions,
    fixed: Option<ItemFeatures>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Prepared> {
    opts.validate()?;
    if train.n_displays() == 0 {
        return Err(Error::InvalidInput { reason: "the training sessions contain no result lists".into() });
    }
    let (features, tables) = match fixed {
        Some(table) => (table.clone(), vec![table]),
        None => (ItemFeatures::learn(train)?, ItemFeatures::learn_out_of_fold(train, opts.folds)?),
    };
    let arch = Arch::new(features.dim(), opts.hidden)?;
    let tasks = build_tasks_observed(train, &tables, arch, opts.inner_loss, opts.rank_without_events, progress);
    Ok(Prepared { features, tasks, arch })
}

/// The result of one training run.
pub struct Trained {
    pub model: Model,
    /// (iteration, mean query loss of the meta-batch)
    pub log: Vec<(usize, f32)>,
    pub seconds: f64,
    pub iterations: usize,
}

/// Meta-iterations of `opts.epochs` passes over the tasks.
pub(super) fn iterations(prep: &Prepared, opts: &TrainOptions) -> usize {
    iterations_for(prep.tasks.len(), opts.batch, opts.epochs)
}

fn iterations_for(n_tasks: usize, batch: usize, epochs: f32) -> usize {
    ((n_tasks as f32 * epochs) / batch as f32).ceil().max(1.0) as usize
}

/// The model of θ0 and α with the training settings.
pub(super) fn model_of(prep: &Prepared, opts: &TrainOptions, theta: Vec<f32>, alpha: Vec<f32>) -> Model {
    model_with(prep.arch, &prep.features, opts, theta, alpha)
}

/// The model of θ0 and α on `arch` with the training settings, carrying `features`' table.
pub(super) fn model_with(
    arch: Arch,
    features: &ItemFeatures,
    opts: &TrainOptions,
    theta: Vec<f32>,
    alpha: Vec<f32>,
) -> Model {
    Model {
        arch,
        theta,
        alpha,
        inner: opts.inner(),
        max_move: opts.max_move,
        rank_without_events: opts.rank_without_events,
        algorithm: opts.algorithm.name().to_string(),
        feature_names: features.names.clone(),
        items: Some(features.table().clone()),
    }
}

/// The model served without validation selection: θ0 and α on `arch`, `features`' table and the
/// training settings (what `train --validation 0`, `train --stream` and the Ray driver write).
pub fn served_model(
    arch: Arch,
    features: &ItemFeatures,
    opts: &TrainOptions,
    theta: Vec<f32>,
    alpha: Vec<f32>,
) -> Result<Model> {
    let model = opts.selection.unselected(opts).apply(&model_with(arch, features, opts, theta, alpha));
    model.validate()?;
    Ok(model)
}

/// Meta-trains one algorithm on prepared tasks; the model keeps the training settings.
pub fn train(prep: &Prepared, opts: &TrainOptions, mut progress: impl FnMut(Progress)) -> Result<Trained> {
    train_observed(prep, opts, |p, _, _| progress(p))
}

/// [`train`], showing `observe` θ0 and α after every iteration.
pub(super) fn train_observed(
    prep: &Prepared,
    opts: &TrainOptions,
    mut observe: impl FnMut(Progress, &[f32], &[f32]),
) -> Result<Trained> {
    opts.validate()?;
    let started = Instant::now();
    let arch = prep.arch;
    let mut theta0 = initial_theta(&arch, opts.seed);
    let iterations = iterations(prep, opts);
    if opts.pretrains() {
        theta0 =
            meta_train(&prep.tasks, theta0, &opts.phase_config(Phase::Pretrain, &arch, prep.tasks.len()), |_| {}).0;
    }
    let cfg = opts.phase_config(Phase::Meta, &arch, prep.tasks.len());
    let mut log = Vec::with_capacity(iterations);
    let (theta, alpha) = meta_train_observed(&prep.tasks, theta0, &cfg, |p, theta, alpha| {
        log.push((p.iteration, p.query_loss));
        observe(p, theta, alpha);
    });
    let model = model_of(prep, opts, theta, alpha);
    model.validate()?;
    Ok(Trained { model, log, seconds: started.elapsed().as_secs_f64(), iterations })
}
