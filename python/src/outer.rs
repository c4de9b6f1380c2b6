//! One step of meta-training from Python: the meta-gradients of some tasks (`meta_gradient`,
//! summed in a `Gradient`), the outer update (`ModelState.apply`) and which tasks make each batch
//! (`BatchPlan`), over `fewclick::train::outer`.

use crate::{err, Settings, TaskSet};
use fewclick::train::outer::{BatchPlan as CorePlan, GradientSum, MetaState};
use fewclick::train::pipeline::{initial_theta, Phase};
use fewclick::train::tasks::RankTask;
use fewclick::Arch;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A sum of tasks' meta-gradients (f64), their query losses and their count.
#[pyclass(module = "fewclick._native")]
pub(crate) struct Gradient {
    sum: GradientSum,
}

#[pymethods]
impl Gradient {
    /// A sum of no tasks, for `n_params` parameters.
    #[staticmethod]
    fn zeros(n_params: usize) -> Gradient {
        Gradient { sum: GradientSum::zeros(n_params) }
    }
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Gradient> {
        Ok(Gradient { sum: GradientSum::from_bytes(data).map_err(err)? })
    }
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.sum.to_bytes())
    }
    /// Adds `other` to this sum.
    fn merge(&mut self, other: &Gradient) -> PyResult<()> {
        self.sum.merge(&other.sum).map_err(err)
    }
    #[getter]
    fn tasks(&self) -> usize {
        self.sum.tasks
    }
    #[getter]
    fn loss(&self) -> f64 {
        self.sum.loss
    }
    #[getter]
    fn mean_loss(&self) -> f32 {
        self.sum.mean_loss()
    }
    /// The summed gradient with respect to θ0.
    #[getter]
    fn theta(&self) -> Vec<f64> {
        self.sum.theta.clone()
    }
}

/// θ0, α and their Adam states during one phase of a run.
#[pyclass(module = "fewclick._native")]
#[derive(Clone)]
pub(crate) struct ModelState {
    pub(crate) state: MetaState,
    pub(crate) arch: Arch,
}

fn parse_phase(phase: &str) -> PyResult<Phase> {
    Phase::parse(phase).map_err(err)
}

#[pymethods]
impl ModelState {
    /// The start of a run: θ0 initialised from the settings' seed for items of `item_dim`
    /// features, α at the settings' step size.
    #[staticmethod]
    fn initial(settings: &Settings, item_dim: usize) -> PyResult<ModelState> {
        let arch = Arch::new(item_dim, settings.opts.hidden).map_err(err)?;
        Ok(ModelState { state: MetaState::new(initial_theta(&arch, settings.opts.seed), settings.opts.alpha), arch })
    }

    /// The start of the next phase: this θ0, α reset, fresh optimisers.
    fn next_phase(&self, settings: &Settings) -> ModelState {
        ModelState { state: MetaState::new(self.state.theta().to_vec(), settings.opts.alpha), arch: self.arch }
    }

    /// One outer update with the mean of `gradient`, as `phase` of the run makes it.
    fn apply(&mut self, gradient: &Gradient, phase: &str, settings: &Settings) -> PyResult<()> {
        let cfg = settings.opts.phase_config(parse_phase(phase)?, &self.arch, 0);
        self.state.apply(&gradient.sum, &cfg).map_err(err)
    }

    /// θ0 and α as little-endian f32 (θ0 first): what the workers need for a meta-gradient.
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut out = Vec::with_capacity(8 * self.state.theta().len());
        for v in self.state.theta().iter().chain(self.state.alpha()) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        PyBytes::new(py, &out)
    }

    /// The whole state (θ0, α, both Adam states), for checkpoints.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.state.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(data: &[u8], settings: &Settings, item_dim: usize) -> PyResult<ModelState> {
        let arch = Arch::new(item_dim, settings.opts.hidden).map_err(err)?;
        let state = MetaState::from_bytes(data).map_err(err)?;
        if state.theta().len() != arch.n_params() {
            return Err(err(format!(
                "a state of {} parameters for a model of {}",
                state.theta().len(),
                arch.n_params()
            )));
        }
        Ok(ModelState { state, arch })
    }

    #[getter]
    fn theta(&self) -> Vec<f32> {
        self.state.theta().to_vec()
    }
    #[getter]
    fn alpha(&self) -> Vec<f32> {
        self.state.alpha().to_vec()
    }
    #[getter]
    fn n_params(&self) -> usize {
        self.arch.n_params()
    }
    /// Outer updates applied in this phase.
    #[getter]
    fn steps(&self) -> usize {
        self.state.steps()
    }
}

/// The meta-gradients of tasks `indices` of `tasks` (all of them when omitted) at `params`
/// (`ModelState.params()`), summed in the order given: what `phase` of the run computes.
#[pyfunction]
#[pyo3(signature = (params, tasks, phase, settings, indices=None))]
pub(crate) fn meta_gradient(
    py: Python<'_>,
    params: &[u8],
    tasks: &TaskSet,
    phase: &str,
    settings: &Settings,
    indices: Option<Vec<usize>>,
) -> PyResult<Gradient> {
    let n = tasks.arch.n_params();
    if params.len() != 8 * n {
        return Err(err(format!("params of {} bytes for a model of {n} parameters ({} bytes)", params.len(), 8 * n)));
    }
    let values: Vec<f32> = params.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let (theta, alpha) = values.split_at(n);
    let indices = indices.unwrap_or_else(|| (0..tasks.tasks.len()).collect());
    if let Some(&bad) = indices.iter().find(|&&i| i >= tasks.tasks.len()) {
        return Err(err(format!("task {bad} of a set of {}", tasks.tasks.len())));
    }
    let cfg = settings.opts.phase_config(parse_phase(phase)?, &tasks.arch, tasks.tasks.len());
    let batch: Vec<&RankTask> = indices.iter().map(|&i| &tasks.tasks[i]).collect();
    let sum = py.detach(|| GradientSum::of(&batch, theta, alpha, &cfg));
    Ok(Gradient { sum })
}

/// Which tasks make each meta-batch of a phase over a pool of `n_tasks` (the order `fewclick
/// train` visits them in).
#[pyclass(module = "fewclick._native")]
pub(crate) struct BatchPlan {
    plan: CorePlan,
}

#[pymethods]
impl BatchPlan {
    #[new]
    fn new(settings: &Settings, phase: &str, n_tasks: usize) -> PyResult<BatchPlan> {
        let arch = Arch::new(1, settings.opts.hidden).map_err(err)?;
        let cfg = settings.opts.phase_config(parse_phase(phase)?, &arch, n_tasks);
        Ok(BatchPlan { plan: CorePlan::new(n_tasks, cfg.batch, cfg.seed) })
    }
    /// The pool indices of the next meta-batch.
    fn next_batch(&mut self) -> Vec<usize> {
        self.plan.next_batch()
    }
}
