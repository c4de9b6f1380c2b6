//! Model selection on validation data: which epoch's θ0 to keep and which serve-time settings to
//! write into the model.
//!
//! With [`Selection::validation`] > 0, the latest sessions of the training split (by start time)
//! are held back ([`hold_out`]). One meta-training run on the rest evaluates θ0 on the validation
//! sessions after every epoch through the served [`crate::Reranker`] (with the training inner loop,
//! and without adaptation) and keeps the best epoch's θ0 and α. With that θ0, a grid of serve-time
//! settings ([`ServeSettings`]: inner steps, scope, α multiplier, proximal pull) is evaluated on
//! validation; `rank_without_events` is decided after it, for the choice of the grid (it only
//! changes lists seen before any event, where no adaptation runs). The highest validation MRR
//! wins only if its gain over the reference is more than one standard error (sessions as the
//! unit, [`Scored::gain_over`]); otherwise the reference stays ([`choose`]). The reference of the
//! grid is the training settings (the inner loop θ0 was meta-trained for), that of
//! `rank_without_events` the grid's choice. A grid of 60 candidates on a few hundred sessions has
//! a best that wins partly by chance: on trivago the unguarded best (k = 10, α × 2, ranking before
//! events) lost on the test part to the training settings. Ties (within 1e-12) go to the simpler
//! setting ([`ServeSettings::simplicity`]: fewer steps, head before all, α multiplier nearest 1,
//! less proximal pull, the host's order before the first event). The choice is written into the
//! model.
//!
//! The shipped model is the one trained without the validation part: the serve-time settings were
//! chosen for exactly that θ0, a retrained θ0 would need its own (and a second training run). The
//! item features shipped with it are learned on the whole training split: they are counts with no
//! fitted parameters, and the model was trained on out-of-fold tables, never on the table it is
//! served with. Validation itself uses features learned on the fitting part only, so nothing of
//! the validation sessions leaks into what they are evaluated with.

use super::data::Dataset;
use super::eval::{evaluate, Method};
use super::pipeline::TrainOptions;
use super::report::metrics;
use crate::adapt::{InnerLoop, Scope};
use crate::error::{Error, Result};
use crate::model_file::Model;

mod run;
pub use run::{setup, setup_observed, train_selected, EpochScore, Selected, SelectionLog, Setup};

/// The serve-time settings a model is written with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServeSettings {
    pub steps: u32,
    pub scope: Scope,
    /// Multiplies every learned step size α.
    pub alpha_scale: f32,
    pub prox: f32,
    pub rank_without_events: bool,
}

impl ServeSettings {
    /// `model` served with these settings: inner steps, scope and proximal pull set, α scaled.
    pub fn apply(&self, model: &Model) -> Model {
        let mut m = model.clone();
        m.inner.steps = self.steps;
        m.inner.scope = self.scope;
        m.inner.prox = self.prox;
        m.rank_without_events = self.rank_without_events;
        if self.alpha_scale != 1.0 {
            for a in &mut m.alpha {
                *a *= self.alpha_scale;
            }
        }
        m
    }

    /// Orders settings from simplest to most complex, for breaking ties: fewer inner steps, head
    /// before all, α multiplier nearer 1 (then smaller), less proximal pull, the host's order before
    /// the first event.
    pub fn simplicity(&self) -> (u32, u8, f32, f32, f32, bool) {
        let scope = match self.scope {
            Scope::Head => 0,
            Scope::All => 1,
        };
        (self.steps, scope, self.alpha_scale.ln().abs(), self.alpha_scale, self.prox, self.rank_without_events)
    }

    #[cfg(test)]
    fn simpler_than(&self, other: &ServeSettings) -> bool {
        self.simplicity().partial_cmp(&other.simplicity()) == Some(std::cmp::Ordering::Less)
    }

    pub fn describe(&self) -> String {
        format!(
            "k = {}, scope {}, α × {}, prox {}, rank without events {}",
            self.steps,
            self.scope.as_str(),
            self.alpha_scale,
            self.prox,
            if self.rank_without_events { "on" } else { "off" }
        )
    }

    fn to_json(self) -> serde_json::Value {
        // f32 values as written (0.1, not 0.10000000149011612).
        let short = |v: f32| v.to_string().parse::<f64>().unwrap_or(f64::from(v));
        serde_json::json!({
            "steps": self.steps,
            "scope": self.scope.as_str(),
            "alpha_scale": short(self.alpha_scale),
            "prox": short(self.prox),
            "rank_without_events": self.rank_without_events,
        })
    }
}

/// Model selection on validation data: the held-back fraction and the candidates of every
/// setting. A setting with one candidate is fixed (the command line fixes a setting given
/// explicitly); see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Fraction of the training sessions, the latest by start time, held back (0: no selection;
    /// the model is trained on every session and served with the training settings).
    pub validation: f64,
    pub steps: Vec<u32>,
    pub scopes: Vec<Scope>,
    pub alpha_scales: Vec<f32>,
    pub prox: Vec<f32>,
    pub rank_without_events: Vec<bool>,
    /// Keep the best epoch's θ0 and α (false: the last epoch's).
    pub choose_epoch: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            validation: 0.1,
            steps: vec![0, 1, 3, 5, 10],
            scopes: vec![Scope::Head, Scope::All],
            alpha_scales: vec![0.5, 1.0, 2.0],
            prox: vec![0.0, 0.1, 1.0],
            rank_without_events: vec![false, true],
            choose_epoch: true,
        }
    }
}

impl Selection {
    pub fn validate(&self) -> Result<()> {
        if !(self.validation.is_finite() && (0.0..1.0).contains(&self.validation)) {
            return Err(Error::config("validation", format!("must be in [0, 1), got {}", self.validation)));
        }
        if self.steps.is_empty()
            || self.scopes.is_empty()
            || self.alpha_scales.is_empty()
            || self.prox.is_empty()
            || self.rank_without_events.is_empty()
        {
            return Err(Error::config("selection", "every setting needs at least one candidate"));
        }
        if let Some(a) = self.alpha_scales.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
            return Err(Error::config("alpha_scale", format!("must be finite and > 0, got {a}")));
        }
        for &steps in &self.steps {
            InnerLoop { steps, ..InnerLoop::default() }.validate()?;
        }
        for &prox in &self.prox {
            InnerLoop { prox, ..InnerLoop::default() }.validate()?;
        }
        Ok(())
    }

    /// The serve-time candidates of the adaptation grid (every combination; with 0 steps, scope,
    /// α and prox do not matter and only their simplest candidates are kept), simplest first, all
    /// with the simplest `rank_without_events` candidate.
    pub fn grid(&self) -> Vec<ServeSettings> {
        let rwe = self.rank_without_events.iter().copied().min().unwrap_or(false);
        let mut out: Vec<ServeSettings> = Vec::new();
        for &steps in &self.steps {
            for &scope in &self.scopes {
                for &alpha_scale in &self.alpha_scales {
                    for &prox in &self.prox {
                        out.push(ServeSettings { steps, scope, alpha_scale, prox, rank_without_events: rwe });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.simplicity().partial_cmp(&b.simplicity()).unwrap_or(std::cmp::Ordering::Equal));
        // With no steps, the rest is irrelevant: keep the first (simplest) of those.
        let mut seen_zero = false;
        out.retain(|c| c.steps > 0 || !std::mem::replace(&mut seen_zero, true));
        out.dedup();
        out
    }

    /// The settings without validation: each one's only candidate, or else the training value.
    pub(super) fn unselected(&self, opts: &TrainOptions) -> ServeSettings {
        let one = |v: &[f32], default: f32| if v.len() == 1 { v[0] } else { default };
        ServeSettings {
            steps: if self.steps.len() == 1 { self.steps[0] } else { opts.steps },
            scope: if self.scopes.len() == 1 { self.scopes[0] } else { opts.scope() },
            alpha_scale: one(&self.alpha_scales, 1.0),
            prox: one(&self.prox, opts.prox),
            rank_without_events: if self.rank_without_events.len() == 1 {
                self.rank_without_events[0]
            } else {
                opts.rank_without_events
            },
        }
    }
}

/// The latest `fraction` of `train`'s sessions by start time, held back for validation:
/// (fitting part, validation part). Disjoint; every fitting session starts before every
/// validation session ([`Dataset::split_by_time`]).
pub fn hold_out(train: &Dataset, fraction: f64) -> (Dataset, Dataset) {
    train.split_by_time(1.0 - fraction)
}

/// The validation part and the baselines' MRR on it.
pub struct Validation {
    pub data: Dataset,
    pub lists: usize,
    pub display: f64,
    pub interacted_first: f64,
}

impl Validation {
    fn new(data: Dataset) -> Result<Validation> {
        let baselines = evaluate(&data, &[Method::display(), Method::interacted_first()])?;
        let lists = baselines[0].1.len();
        if lists == 0 {
            return Err(Error::InvalidInput {
                reason: format!(
                    "the validation part ({} sessions) has no engaged result list to select on; \
                     hold back more sessions or disable selection (validation 0)",
                    data.n_sessions()
                ),
            });
        }
        Ok(Validation {
            lists,
            display: metrics(&baselines[0].1).mrr,
            interacted_first: metrics(&baselines[1].1).mrr,
            data,
        })
    }

    /// Validation MRR of each model, as served.
    pub fn mrr(&self, models: &[Model]) -> Result<Vec<f64>> {
        Ok(self.scores(models)?.into_iter().map(|s| s.mrr).collect())
    }

    /// Validation MRR of each model, as served, with its reciprocal ranks summed per session
    /// (paired across models: the same sessions in the same order).
    pub fn scores(&self, models: &[Model]) -> Result<Vec<Scored>> {
        let methods: Vec<Method> =
            models.iter().enumerate().map(|(k, m)| Method::model(format!("candidate {k}"), m, None)).collect();
        let n_sessions = self.data.n_sessions();
        Ok(evaluate(&self.data, &methods)?
            .iter()
            .map(|(_, outcomes)| {
                let mut per_session = vec![0.0; n_sessions];
                for o in outcomes {
                    per_session[o.session] += 1.0 / o.rank as f64;
                }
                Scored { mrr: metrics(outcomes).mrr, per_session, lists: outcomes.len() }
            })
            .collect())
    }
}

/// One candidate's validation score.
#[derive(Clone, Debug)]
pub struct Scored {
    pub mrr: f64,
    /// Σ 1/rank over each session's lists.
    pub per_session: Vec<f64>,
    pub lists: usize,
}

impl Scored {
    /// The MRR gain of `self` over `other` on the same lists, and its standard error with
    /// sessions as the unit (n · sample variance of the per-session differences, over lists²).
    pub fn gain_over(&self, other: &Scored) -> (f64, f64) {
        let d: Vec<f64> = self.per_session.iter().zip(&other.per_session).map(|(a, b)| a - b).collect();
        let n = d.len() as f64;
        let lists = self.lists.max(1) as f64;
        let mean_d = d.iter().sum::<f64>() / n.max(1.0);
        let var = if n > 1.0 { d.iter().map(|v| (v - mean_d).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        (d.iter().sum::<f64>() / lists, (n * var).sqrt() / lists)
    }
}

/// The candidate to serve: the best by MRR, unless its gain over `reference` (the settings θ0 was
/// trained with) is within one standard error, in which case `reference` stays. A grid of 60
/// candidates on a few hundred sessions has a best that wins partly by chance; this keeps the
/// training settings unless the evidence is clear.
pub fn choose(
    scored: &[Scored],
    simplicity: impl Fn(usize) -> (u32, u8, f32, f32, f32, bool),
    reference: usize,
) -> usize {
    let mut best = reference;
    for k in 0..scored.len() {
        let (a, b) = (scored[k].mrr, scored[best].mrr);
        if a > b + 1e-12 || ((a - b).abs() <= 1e-12 && simplicity(k) < simplicity(best)) {
            best = k;
        }
    }
    let (gain, se) = scored[best].gain_over(&scored[reference]);
    if gain > se {
        best
    } else {
        reference
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Arch;

    fn scored(per_session: &[f64]) -> Scored {
        let lists = per_session.len();
        Scored { mrr: per_session.iter().sum::<f64>() / lists as f64, per_session: per_session.to_vec(), lists }
    }

    #[test]
    fn a_candidate_replaces_the_reference_only_when_it_wins_by_more_than_a_standard_error() {
        let simplicity = |k: usize| (k as u32, 0, 0.0, 0.0, 0.0, false);
        let reference = scored(&[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        // Better on one session and worse on another: a higher mean, but within noise.
        let noisy = scored(&[1.0, 0.2, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(choose(&[reference.clone(), noisy.clone()], simplicity, 0), 0);
        // Better on every session: clearly better.
        let clear = scored(&[0.6, 0.6, 0.7, 0.6, 0.6, 0.6]);
        assert_eq!(choose(&[reference.clone(), noisy, clear.clone()], simplicity, 0), 2);
        let (gain, se) = clear.gain_over(&reference);
        assert!((gain - 0.6166666666666667 + 0.5).abs() < 1e-12 && se > 0.0 && se < gain);
        // The same scores as the reference: the reference stays.
        assert_eq!(choose(&[reference.clone(), reference.clone()], simplicity, 0), 0);
    }

    #[test]
    fn grid_is_every_combination_simplest_first_with_one_candidate_without_steps() {
        let sel = Selection::default();
        let grid = sel.grid();
        assert_eq!(grid.len(), 1 + 4 * 2 * 3 * 3);
        assert_eq!(
            grid[0],
            ServeSettings { steps: 0, scope: Scope::Head, alpha_scale: 1.0, prox: 0.0, rank_without_events: false }
        );
        assert!(grid.windows(2).all(|w| w[0].simpler_than(&w[1])), "strictly simplest first");
        assert!(grid.iter().all(|c| !c.rank_without_events));
        // Among α multipliers, 1 is the simplest, then 0.5 (as far from 1 as 2, and smaller).
        let alphas: Vec<f32> = grid[1..4].iter().map(|c| c.alpha_scale).collect();
        assert_eq!((grid[1].steps, grid[1].scope), (1, Scope::Head));
        assert_eq!(alphas, vec![1.0, 1.0, 1.0]);
        assert_eq!(grid[4].alpha_scale, 0.5);
        assert_eq!(grid[7].alpha_scale, 2.0);
        let fixed = Selection { steps: vec![3], scopes: vec![Scope::All], ..Selection::default() };
        assert_eq!(fixed.grid().len(), 9);
    }

    #[test]
    fn serve_settings_are_written_into_the_model() {
        let arch = Arch::new(4, 8).expect("arch");
        let n = arch.n_params();
        let model = Model {
            arch,
            theta: vec![0.1; n],
            alpha: (0..n).map(|i| i as f32 * 1e-3).collect(),
            inner: InnerLoop::default(),
            max_move: None,
            rank_without_events: false,
            algorithm: "meta-sgd".into(),
            feature_names: (0..4).map(|i| format!("f{i}")).collect(),
            items: None,
        };
        let s = ServeSettings { steps: 3, scope: Scope::All, alpha_scale: 2.0, prox: 1.0, rank_without_events: true };
        let served = Model::from_bytes(&s.apply(&model).to_bytes().expect("valid")).expect("reads back");
        assert_eq!((served.inner.steps, served.inner.scope, served.inner.prox), (3, Scope::All, 1.0));
        assert!(served.rank_without_events);
        assert!(served.alpha.iter().zip(&model.alpha).all(|(a, b)| *a == 2.0 * b));
        assert_eq!(served.theta, model.theta);
    }

    #[test]
    fn selection_settings_are_validated() {
        let bad = |sel: Selection| TrainOptions { selection: sel, ..TrainOptions::default() }.validate().is_err();
        assert!(bad(Selection { validation: 1.0, ..Selection::default() }));
        assert!(bad(Selection { validation: -0.1, ..Selection::default() }));
        assert!(bad(Selection { steps: vec![], ..Selection::default() }));
        assert!(bad(Selection { alpha_scales: vec![0.0], ..Selection::default() }));
        assert!(bad(Selection { prox: vec![f32::NAN], ..Selection::default() }));
        assert!(bad(Selection { steps: vec![1_000], ..Selection::default() }));
        assert!(TrainOptions::default().validate().is_ok());
    }
}
