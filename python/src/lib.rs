//! `fewclick._native`: the trainer's Rust code for Python (the package `fewclick` re-exports it;
//! types in `fewclick/_native.pyi`). Nothing here computes anything of its own: every function
//! hands its arguments to the same `fewclick::train` code that `fewclick train` runs, so a model
//! trained from Python is the CLI's model.
//!
//! What crosses a process boundary (a Ray worker's result, a checkpoint) goes as `bytes` in the
//! documented forms of [`fewclick::train::outer`] and [`fewclick::train::item_stats`]; the handles
//! (`Dataset`, `TaskSet`, `ItemFeatures`) stay in the process that made them.

use fewclick::train::data::{self, Columns, Format};
use fewclick::train::eval::{evaluate as eval_methods, Method};
use fewclick::train::export::integrity;
use fewclick::train::item_stats::ItemStats as CoreStats;
use fewclick::train::items::ItemFeatures as CoreFeatures;
use fewclick::train::meta::Algorithm;
use fewclick::train::pipeline::{served_model, Phase, TrainOptions};
use fewclick::train::report::metrics;
use fewclick::train::tasks::{build_shard_tasks, RankTask};
use fewclick::{Arch, LossKind, Model, Scope};
mod outer;

use outer::{meta_gradient, BatchPlan, Gradient, ModelState};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

create_exception!(_native, FewclickError, PyValueError, "Bad input to fewclick: the message says what and where.");

pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    FewclickError::new_err(e.to_string())
}

/// The settings of a training run: `fewclick train`'s flags, with its defaults for any left out.
/// No validation selection (the model is served with the training settings, as `train
/// --validation 0` does).
#[pyclass(frozen, module = "fewclick._native")]
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) opts: TrainOptions,
}

#[pymethods]
impl Settings {
    #[new]
    #[pyo3(signature = (*, algorithm=None, hidden=None, steps=None, scope=None, inner_loss=None, prox=None, clip=None,
        alpha=None, meta_lr=None, alpha_lr=None, batch=None, epochs=None, pretrain_epochs=None, seed=None, folds=None,
        rank_without_events=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        algorithm: Option<&str>,
        hidden: Option<usize>,
        steps: Option<u32>,
        scope: Option<&str>,
        inner_loss: Option<&str>,
        prox: Option<f32>,
        clip: Option<f32>,
        alpha: Option<f32>,
        meta_lr: Option<f32>,
        alpha_lr: Option<f32>,
        batch: Option<usize>,
        epochs: Option<f32>,
        pretrain_epochs: Option<f32>,
        seed: Option<u64>,
        folds: Option<usize>,
        rank_without_events: Option<bool>,
    ) -> PyResult<Settings> {
        let mut o = TrainOptions::default();
        o.selection.validation = 0.0;
        if let Some(a) = algorithm {
            o.algorithm = Algorithm::parse(a).map_err(err)?;
        }
        if let Some(s) = scope {
            o.scope = Some(Scope::parse(s).map_err(err)?);
        }
        if let Some(l) = inner_loss {
            o.inner_loss = match l {
                "pairwise" => LossKind::Pairwise,
                "listwise" => LossKind::Listwise,
                other => return Err(err(format!("inner_loss must be pairwise or listwise, got {other:?}"))),
            };
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = $f { o.$f = v; } )* };
        }
        set!(
            hidden,
            steps,
            prox,
            clip,
            alpha,
            meta_lr,
            alpha_lr,
            batch,
            epochs,
            pretrain_epochs,
            seed,
            folds,
            rank_without_events
        );
        o.validate().map_err(err)?;
        Ok(Settings { opts: o })
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        self.opts.algorithm.name()
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.opts.seed
    }
    #[getter]
    fn batch(&self) -> usize {
        self.opts.batch
    }
    #[getter]
    fn folds(&self) -> usize {
        self.opts.folds
    }
    #[getter]
    fn hidden(&self) -> usize {
        self.opts.hidden
    }

    /// The phases this run goes through, in order: `["pretrain", "meta"]` or `["meta"]`.
    fn phases(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if self.opts.pretrains() {
            p.push(Phase::Pretrain.name());
        }
        p.push(Phase::Meta.name());
        p
    }

    /// Meta-iterations of `phase` over a pool of `n_tasks` tasks.
    fn iterations(&self, phase: &str, n_tasks: usize) -> PyResult<usize> {
        let arch = Arch::new(1, self.opts.hidden).map_err(err)?;
        Ok(self.opts.phase_config(Phase::parse(phase).map_err(err)?, &arch, n_tasks).iterations)
    }

    /// The options as `fewclick train` writes them into its training log.
    fn __repr__(&self) -> String {
        format!("{:?}", self.opts)
    }
}

/// A session log in memory.
#[pyclass(frozen, module = "fewclick._native")]
struct Dataset {
    ds: data::Dataset,
}

#[pymethods]
impl Dataset {
    /// Loads a file (or a directory of shards) in `format`: `parquet`, `jsonl`, `csv` or `trivago`.
    #[staticmethod]
    #[pyo3(signature = (path, format="parquet"))]
    fn load(py: Python<'_>, path: PathBuf, format: &str) -> PyResult<Dataset> {
        let format = Format::parse(format).map_err(err)?;
        let ds = py.detach(|| data::load(format, &path)).map_err(err)?;
        Ok(Dataset { ds })
    }

    /// The shards at `paths`, each loaded on its own, their sessions concatenated in the order given
    /// (what loading their directory gives when `paths` are all its shards in name order).
    #[staticmethod]
    #[pyo3(signature = (paths, format="parquet"))]
    fn load_shards(py: Python<'_>, paths: Vec<PathBuf>, format: &str) -> PyResult<Dataset> {
        let format = Format::parse(format).map_err(err)?;
        let ds = py.detach(|| data::load_shards(format, &paths)).map_err(err)?;
        Ok(Dataset { ds })
    }

    /// The sessions of a dict of columns (the Parquet format's names, one list per column, `None`
    /// for a missing value; `items` a list of ids and `prices` a list of numbers per row).
    #[staticmethod]
    fn from_columns(columns: &Bound<'_, PyDict>) -> PyResult<Dataset> {
        fn col<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Vec<Option<T>>> {
            match d.get_item(key)? {
                None => Ok(Vec::new()),
                Some(v) => v.extract().map_err(|e| err(format!("column {key}: {e}"))),
            }
        }
        let cols = Columns {
            session: col(columns, "session")?,
            user: col(columns, "user")?,
            timestamp: col(columns, "timestamp")?,
            kind: col(columns, "type")?,
            item: col(columns, "item")?,
            items: col(columns, "items")?,
            prices: col(columns, "prices")?,
            clicked: col(columns, "clicked")?,
            click_type: col(columns, "click_type")?,
            dwell_ms: col(columns, "dwell_ms")?,
        };
        Ok(Dataset { ds: data::load_columns(cols).map_err(err)? })
    }

    #[getter]
    fn n_sessions(&self) -> usize {
        self.ds.n_sessions()
    }
    #[getter]
    fn n_displays(&self) -> usize {
        self.ds.n_displays()
    }
    #[getter]
    fn n_events(&self) -> usize {
        self.ds.n_events()
    }
    fn __len__(&self) -> usize {
        self.ds.n_sessions()
    }
    fn __repr__(&self) -> String {
        format!("Dataset({})", data::describe(&self.ds))
    }
}

/// Item counts that merge exactly across shards (see `fewclick::train::item_stats`).
#[pyclass(frozen, module = "fewclick._native")]
struct ItemStats {
    stats: CoreStats,
}

#[pymethods]
impl ItemStats {
    /// The counts of every session of `dataset`.
    #[staticmethod]
    fn count(dataset: &Dataset) -> ItemStats {
        ItemStats { stats: CoreStats::count(&dataset.ds) }
    }

    /// The counts by residue class: part `r` counts the sessions whose index in the whole log
    /// (`first_session` + index in `dataset`) is `r` modulo `folds`.
    #[staticmethod]
    fn by_residue(dataset: &Dataset, first_session: usize, folds: usize) -> Vec<ItemStats> {
        CoreStats::by_residue(&dataset.ds, first_session, folds).into_iter().map(|stats| ItemStats { stats }).collect()
    }

    /// The merge of `parts` (any order: the same counts).
    #[staticmethod]
    fn merged(parts: Vec<PyRef<'_, ItemStats>>) -> ItemStats {
        ItemStats { stats: CoreStats::merged(parts.iter().map(|p| &p.stats)) }
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<ItemStats> {
        Ok(ItemStats { stats: CoreStats::from_bytes(data).map_err(err)? })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.stats.to_bytes())
    }

    #[getter]
    fn n_items(&self) -> usize {
        self.stats.n_items()
    }
}

/// An item-feature table (learned from counts, or the JSON file `fewclick train --item-table`
/// reads).
#[pyclass(frozen, module = "fewclick._native")]
#[derive(Clone)]
struct ItemFeatures {
    features: CoreFeatures,
}

#[pymethods]
impl ItemFeatures {
    /// The table of counted statistics (what `fewclick train` learns from the same sessions).
    #[staticmethod]
    fn from_stats(stats: &ItemStats) -> PyResult<ItemFeatures> {
        Ok(ItemFeatures { features: CoreFeatures::from_stats(&stats.stats).map_err(err)? })
    }

    /// Out-of-fold tables from the counts of each residue class: table `f` from all but class `f`.
    #[staticmethod]
    fn out_of_fold(by_residue: Vec<PyRef<'_, ItemStats>>) -> PyResult<Vec<ItemFeatures>> {
        let parts: Vec<CoreStats> = by_residue.iter().map(|p| p.stats.clone()).collect();
        let tables = CoreFeatures::out_of_fold(&parts).map_err(err)?;
        Ok(tables.into_iter().map(|features| ItemFeatures { features }).collect())
    }

    #[staticmethod]
    fn load_json(path: PathBuf) -> PyResult<ItemFeatures> {
        Ok(ItemFeatures { features: CoreFeatures::load_json(&path).map_err(err)? })
    }

    fn save_json(&self, path: PathBuf) -> PyResult<()> {
        self.features.save_json(&path).map_err(err)
    }

    #[getter]
    fn dim(&self) -> usize {
        self.features.dim()
    }
    #[getter]
    fn n_items(&self) -> usize {
        self.features.n_items()
    }
    #[getter]
    fn names(&self) -> Vec<String> {
        self.features.names.clone()
    }
    /// An item's feature vector (the default vector for an unknown id).
    fn vector(&self, id: &str) -> Vec<f32> {
        self.features.vector(id)
    }
}

/// The ranking tasks of a shard, in session order.
#[pyclass(frozen, module = "fewclick._native")]
pub(crate) struct TaskSet {
    pub(crate) tasks: Vec<RankTask>,
    pub(crate) arch: Arch,
}

#[pymethods]
impl TaskSet {
    fn __len__(&self) -> usize {
        self.tasks.len()
    }
    #[getter]
    fn n_params(&self) -> usize {
        self.arch.n_params()
    }
}

/// The shards of a log in directory `directory`, in name order, as `Dataset.load` reads them:
/// its `*.parquet` (Parquet), `*.jsonl` (JSONL) or `*.csv` (CSV, trivago) files.
#[pyfunction]
#[pyo3(signature = (directory, format="parquet"))]
fn shard_files(directory: PathBuf, format: &str) -> PyResult<Vec<PathBuf>> {
    data::shard_files(Format::parse(format).map_err(err)?, &directory).map_err(err)
}

/// The tasks of `dataset`, a shard whose first session is session `first_session` of the whole
/// log: session i is featurised with `tables[(first_session + i) % len(tables)]` (pass the
/// out-of-fold tables, or one fixed table).
#[pyfunction]
#[pyo3(signature = (dataset, tables, settings, first_session=0))]
fn build_tasks(
    py: Python<'_>,
    dataset: &Dataset,
    tables: Vec<PyRef<'_, ItemFeatures>>,
    settings: &Settings,
    first_session: usize,
) -> PyResult<TaskSet> {
    let tables: Vec<CoreFeatures> = tables.iter().map(|t| t.features.clone()).collect();
    let Some(first) = tables.first() else { return Err(err("build_tasks needs at least one item table")) };
    if tables.iter().any(|t| t.dim() != first.dim()) {
        return Err(err("the item tables differ in width"));
    }
    let arch = Arch::new(first.dim(), settings.opts.hidden).map_err(err)?;
    let o = &settings.opts;
    let ds = &dataset.ds;
    let tasks = py.detach(|| build_shard_tasks(ds, first_session, &tables, arch, o.inner_loss, o.rank_without_events));
    Ok(TaskSet { tasks, arch })
}

/// Writes the model of `state` with `features`' table and the settings to `path` (the `.fcm`
/// format `fewclick train` writes); returns its size in bytes and its integrity string.
#[pyfunction]
fn write_model(
    state: &ModelState,
    features: &ItemFeatures,
    settings: &Settings,
    path: PathBuf,
) -> PyResult<(usize, String)> {
    if features.features.dim() != state.arch.item_dim {
        return Err(err(format!(
            "a table of {} features for a model of {}",
            features.features.dim(),
            state.arch.item_dim
        )));
    }
    let (theta, alpha) = state.state.clone().into_parts();
    let model = served_model(state.arch, &features.features, &settings.opts, theta, alpha).map_err(err)?;
    let bytes = model.to_bytes().map_err(err)?;
    std::fs::write(&path, &bytes).map_err(|e| err(format!("cannot write {}: {e}", path.display())))?;
    Ok((bytes.len(), integrity(&bytes)))
}

fn read(path: &PathBuf) -> PyResult<(Model, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    Ok((Model::from_bytes(&bytes).map_err(err)?, bytes))
}

/// A model file's parameters and settings: a dict with `theta`, `alpha`, `algorithm`,
/// `n_params`, `items` and `integrity`.
#[pyfunction]
fn read_model<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let (m, bytes) = read(&path)?;
    let d = PyDict::new(py);
    d.set_item("theta", m.theta.clone())?;
    d.set_item("alpha", m.alpha.clone())?;
    d.set_item("algorithm", m.algorithm.clone())?;
    d.set_item("n_params", m.arch.n_params())?;
    d.set_item("items", m.items.as_ref().map_or(0, |t| t.len()))?;
    d.set_item("integrity", integrity(&bytes))?;
    Ok(d)
}

/// MRR on `dataset` of the host's order (`display`), interacted-first, and the model at `path`
/// with and without adaptation; `lists` is how many result lists were scored.
#[pyfunction]
fn evaluate<'py>(py: Python<'py>, path: PathBuf, dataset: &Dataset) -> PyResult<Bound<'py, PyDict>> {
    let (model, _) = read(&path)?;
    let mut methods = vec![Method::display(), Method::interacted_first()];
    methods.extend(Method::model_with_and_without_adaptation("model", &model));
    let ds = &dataset.ds;
    let outcomes = py.detach(|| eval_methods(ds, &methods)).map_err(err)?;
    let d = PyDict::new(py);
    let keys = ["display", "interacted_first", "model", "model_without_adaptation"];
    for (key, (_, o)) in keys.iter().zip(&outcomes) {
        d.set_item(*key, metrics(o).mrr)?;
    }
    d.set_item("lists", outcomes.first().map_or(0, |(_, o)| o.len()))?;
    Ok(d)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FewclickError", m.py().get_type::<FewclickError>())?;
    m.add_class::<Settings>()?;
    m.add_class::<Dataset>()?;
    m.add_class::<ItemStats>()?;
    m.add_class::<ItemFeatures>()?;
    m.add_class::<TaskSet>()?;
    m.add_class::<Gradient>()?;
    m.add_class::<ModelState>()?;
    m.add_class::<BatchPlan>()?;
    m.add_function(wrap_pyfunction!(shard_files, m)?)?;
    m.add_function(wrap_pyfunction!(build_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(meta_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(write_model, m)?)?;
    m.add_function(wrap_pyfunction!(read_model, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    Ok(())
}
