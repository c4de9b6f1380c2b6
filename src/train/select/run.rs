//! One training run with selection (see the [parent module](super) for the rule): the fitting
//! and validation parts set up once per comparison ([`setup`]), then meta-training with θ0 scored
//! on validation after every epoch, the best epoch kept and the serve-time grid chosen on it
//! ([`train_selected`]), and the log of what was seen and chosen ([`SelectionLog`]).

use super::{choose, hold_out, ServeSettings, Validation};
use crate::error::{Error, Result};
use crate::model_file::Model;
use crate::train::data::Dataset;
use crate::train::eval::{evaluate, Method};
use crate::train::items::ItemFeatures;
use crate::train::meta::Progress;
use crate::train::pipeline::{
    iterations, model_of, prepare_observed, served_model, train, train_observed, Prepared, TrainOptions, Trained,
};
use crate::train::report::metrics;

/// What one training run is given: the prepared fitting part, the validation part when selecting,
/// and the item features to ship with the model.
pub struct Setup {
    pub prep: Prepared,
    pub validation: Option<Validation>,
    /// Learned on the whole training split (or the fixed item table).
    pub serving: ItemFeatures,
}

/// Holds back the validation part (when `opts.selection.validation` > 0), prepares the rest and
/// learns the item features to serve with. Shared by every algorithm of one comparison.
pub fn setup(train: &Dataset, opts: &TrainOptions, fixed: Option<ItemFeatures>) -> Result<Setup> {
    setup_observed(train, opts, fixed, &mut |_, _| {})
}

/// [`setup`], telling `progress` how far task building is (`(sessions done, sessions)`).
pub fn setup_observed(
    train: &Dataset,
    opts: &TrainOptions,
    fixed: Option<ItemFeatures>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Setup> {
    opts.validate()?;
    if opts.selection.validation == 0.0 {
        let prep = prepare_observed(train, opts, fixed, progress)?;
        let serving = prep.features.clone();
        return Ok(Setup { prep, validation: None, serving });
    }
    let (fit, held) = hold_out(train, opts.selection.validation);
    let serving = match &fixed {
        Some(table) => table.clone(),
        None => ItemFeatures::learn(train)?,
    };
    let prep = prepare_observed(&fit, opts, fixed, progress)?;
    if serving.dim() != prep.features.dim() {
        return Err(Error::InvalidInput {
            reason: format!(
                "item features of the whole split have {} dimensions, of the fitting part {}",
                serving.dim(),
                prep.features.dim()
            ),
        });
    }
    // Validation models carry the fitting part's table (see `model_of`).
    let validation = Validation::new(held)?;
    Ok(Setup { prep, validation: Some(validation), serving })
}

/// Validation MRR after one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochScore {
    /// Epochs trained (the last may be fractional).
    pub epoch: f32,
    pub iteration: usize,
    /// With the training inner loop, as served.
    pub mrr: f64,
    /// θ0 without adaptation.
    pub mrr_no_adapt: f64,
}

/// What selection saw and chose.
#[derive(Clone, Debug)]
pub struct SelectionLog {
    pub validation_sessions: usize,
    pub validation_lists: usize,
    pub display: f64,
    pub interacted_first: f64,
    pub epochs: Vec<EpochScore>,
    /// Index into `epochs` of the θ0 kept.
    pub chosen_epoch: usize,
    /// Every candidate evaluated (the adaptation grid, then `rank_without_events`), with its MRR.
    pub grid: Vec<(ServeSettings, f64)>,
    pub chosen: ServeSettings,
    pub chosen_mrr: f64,
}

impl SelectionLog {
    /// Whether the chosen model beats interacted-first on validation.
    pub fn beats_interacted_first(&self) -> bool {
        self.chosen_mrr > self.interacted_first
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "validation_sessions": self.validation_sessions,
            "validation_lists": self.validation_lists,
            "display_mrr": self.display,
            "interacted_first_mrr": self.interacted_first,
            "epochs": self.epochs.iter().map(|e| serde_json::json!({
                "epoch": e.epoch, "iteration": e.iteration, "mrr": e.mrr, "mrr_no_adapt": e.mrr_no_adapt,
            })).collect::<Vec<_>>(),
            "chosen_epoch": self.epochs.get(self.chosen_epoch).map(|e| e.epoch),
            "grid": self.grid.iter().map(|(c, mrr)| {
                let mut v = c.to_json();
                v["mrr"] = serde_json::json!(mrr);
                v
            }).collect::<Vec<_>>(),
            "chosen": self.chosen.to_json(),
            "chosen_mrr": self.chosen_mrr,
            "beats_interacted_first": self.beats_interacted_first(),
        })
    }
}

/// A trained model with its serve-time settings written in, and what selection saw.
pub struct Selected {
    pub trained: Trained,
    pub selection: Option<SelectionLog>,
}

/// Iterations after which epoch `e` (1-based) ends, up to `iterations` (the last one always).
fn epoch_ends(tasks: usize, batch: usize, iterations: usize) -> Vec<(f32, usize)> {
    let per_epoch = tasks as f64 / batch.max(1) as f64;
    if per_epoch <= 0.0 {
        return vec![(0.0, iterations)];
    }
    let mut ends = Vec::new();
    let mut e = 1usize;
    while ((e as f64 * per_epoch).ceil() as usize) < iterations {
        ends.push((e as f32, (e as f64 * per_epoch).ceil() as usize));
        e += 1;
    }
    ends.push(((iterations as f64 / per_epoch.max(f64::MIN_POSITIVE)) as f32, iterations));
    ends
}

/// Meta-trains one algorithm and, with a validation part, selects the epoch and the serve-time
/// settings on it (see the [module documentation](self)); without one, the model is served with
/// the training settings. `on_epoch` sees each epoch's validation score as it comes.
pub fn train_selected(
    setup: &Setup,
    opts: &TrainOptions,
    mut progress: impl FnMut(Progress),
    mut on_epoch: impl FnMut(&EpochScore),
) -> Result<Selected> {
    let Some(validation) = &setup.validation else {
        let mut trained = train(&setup.prep, opts, progress)?;
        let (theta, alpha) = (std::mem::take(&mut trained.model.theta), std::mem::take(&mut trained.model.alpha));
        trained.model = served_model(setup.prep.arch, &setup.serving, opts, theta, alpha)?;
        return Ok(Selected { trained, selection: None });
    };
    let prep = &setup.prep;
    if prep.tasks.is_empty() {
        return Err(Error::InvalidInput {
            reason: "the fitting part has no training task (no engaged result list after an event)".into(),
        });
    }
    let ends = epoch_ends(prep.tasks.len(), opts.batch, iterations(prep, opts));
    let mut epochs: Vec<EpochScore> = Vec::with_capacity(ends.len());
    let mut kept: Option<(usize, Vec<f32>, Vec<f32>)> = None;
    let mut failure: Option<Error> = None;
    let mut trained = train_observed(prep, opts, |p, theta, alpha| {
        progress(p);
        let Some(&(epoch, _)) = ends.iter().find(|(_, it)| *it == p.iteration) else { return };
        if failure.is_some() {
            return;
        }
        let model = opts.selection.unselected(opts).apply(&model_of(prep, opts, theta.to_vec(), alpha.to_vec()));
        let methods = Method::model_with_and_without_adaptation("epoch", &model);
        match evaluate(&validation.data, &methods) {
            Ok(o) => {
                let (mrr, mrr_no_adapt) = (metrics(&o[0].1).mrr, metrics(&o[1].1).mrr);
                let score = EpochScore { epoch, iteration: p.iteration, mrr, mrr_no_adapt };
                on_epoch(&score);
                let better = kept.as_ref().is_none_or(|(k, _, _)| score.mrr > epochs[*k].mrr);
                epochs.push(score);
                if !opts.selection.choose_epoch || better {
                    kept = Some((epochs.len() - 1, theta.to_vec(), alpha.to_vec()));
                }
            }
            Err(e) => failure = Some(e),
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let (chosen_epoch, theta, alpha) = kept
        .ok_or_else(|| Error::InvalidInput { reason: "training ended before its first epoch was evaluated".into() })?;
    trained.model.theta = theta;
    trained.model.alpha = alpha;

    // The adaptation grid (with the training settings as the reference), then
    // rank_without_events for its choice.
    let mut grid = opts.selection.grid();
    let reference = opts.selection.unselected(opts);
    let reference_at = match grid.iter().position(|c| *c == reference) {
        Some(k) => k,
        None => {
            grid.push(reference);
            grid.len() - 1
        }
    };
    let models: Vec<Model> = grid.iter().map(|c| c.apply(&trained.model)).collect();
    let mut results = validation.scores(&models)?;
    let adapt_at = choose(&results, |k| grid[k].simplicity(), reference_at);
    let adapt_choice = grid[adapt_at];
    let others: Vec<ServeSettings> = opts
        .selection
        .rank_without_events
        .iter()
        .filter(|&&r| r != adapt_choice.rank_without_events)
        .map(|&r| ServeSettings { rank_without_events: r, ..adapt_choice })
        .collect();
    if !others.is_empty() {
        let models: Vec<Model> = others.iter().map(|c| c.apply(&trained.model)).collect();
        results.extend(validation.scores(&models)?);
        grid.extend(others);
    }
    let chosen_at = choose(&results, |k| grid[k].simplicity(), adapt_at);
    let scored: Vec<(ServeSettings, f64)> = grid.iter().copied().zip(results.iter().map(|r| r.mrr)).collect();
    let (chosen, chosen_mrr) = scored[chosen_at];
    trained.model = chosen.apply(&trained.model);
    // The served model carries the table learned on every training session.
    trained.model.items = Some(setup.serving.table().clone());
    trained.model.validate()?;
    let selection = SelectionLog {
        validation_sessions: validation.data.n_sessions(),
        validation_lists: validation.lists,
        display: validation.display,
        interacted_first: validation.interacted_first,
        epochs,
        chosen_epoch,
        grid: scored,
        chosen,
        chosen_mrr,
    };
    Ok(Selected { trained, selection: Some(selection) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_end_on_iteration_boundaries() {
        // 100 tasks, batch 32: 3.125 iterations per epoch; 2.5 epochs = 8 iterations.
        let ends = epoch_ends(100, 32, 8);
        assert_eq!(ends.iter().map(|e| e.1).collect::<Vec<_>>(), vec![4, 7, 8]);
        assert_eq!((ends[0].0, ends[1].0), (1.0, 2.0));
        assert!((ends[2].0 - 2.56).abs() < 1e-6);
        assert_eq!(epoch_ends(64, 32, 20).len(), 10);
    }
}
