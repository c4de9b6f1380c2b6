"""fewclick's meta-trainer from Python.

The functions and classes here are the Rust code of the ``fewclick`` command line, compiled into
the extension module ``fewclick._native``: a model trained from Python is the one ``fewclick
train`` would write from the same sessions and settings.

- Loading: :meth:`Dataset.load` (a file or a directory of shards), :func:`load_shard` (one Parquet
  shard), :func:`load_frame` (a pyarrow Table or a pandas DataFrame in the Parquet format's
  columns).
- Item features: :class:`ItemStats` (counts that merge exactly across shards) and
  :class:`ItemFeatures` (the table made from them, or read from JSON).
- Tasks: :func:`build_tasks`.
- One step of meta-training: :func:`meta_gradient` (the summed meta-gradient, loss and task count
  of some tasks) and :meth:`ModelState.apply` (the outer Adam update); :class:`BatchPlan` says
  which tasks make each meta-batch.
- :func:`evaluate`, :func:`write_model`, :func:`read_model`.

``python -m fewclick.ray_train`` runs data-parallel meta-training on a Ray cluster.
"""

from ._native import (
    BatchPlan,
    Dataset,
    FewclickError,
    Gradient,
    ItemFeatures,
    ItemStats,
    ModelState,
    Settings,
    TaskSet,
    build_tasks,
    evaluate,
    meta_gradient,
    read_model,
    shard_files,
    write_model,
)

__all__ = [
    "BatchPlan",
    "Dataset",
    "FewclickError",
    "Gradient",
    "ItemFeatures",
    "ItemStats",
    "ModelState",
    "Settings",
    "TaskSet",
    "build_tasks",
    "evaluate",
    "load_frame",
    "load_shard",
    "meta_gradient",
    "read_model",
    "shard_files",
    "write_model",
]

COLUMNS = ("session", "user", "timestamp", "type", "item", "items", "prices", "clicked", "click_type", "dwell_ms")


def load_shard(path):
    """One Parquet shard of a log."""
    return Dataset.load(str(path), "parquet")


def _missing(v):
    """None, a NaN (pandas' missing number), pandas' NA or NaT."""
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    return type(v).__name__ in ("NAType", "NaTType")


def _cell(name, v):
    if _missing(v):
        return None
    if name in ("items", "prices"):
        if isinstance(v, str):
            v = v.split("|")
        v = v.tolist() if hasattr(v, "tolist") else list(v)
        return [float(x) for x in v] if name == "prices" else [str(x) for x in v]
    if name in ("timestamp", "dwell_ms"):
        if hasattr(v, "timestamp") and callable(v.timestamp):
            return float(v.timestamp())  # a datetime: seconds since the epoch
        return float(v)
    return str(v)


def load_frame(frame):
    """The sessions of a pyarrow ``Table`` or a pandas ``DataFrame`` whose columns are the Parquet
    format's (``session``, ``timestamp``, ``type`` required; ``user``, ``item``, ``items``,
    ``prices``, ``clicked``, ``click_type``, ``dwell_ms`` optional; others ignored). ``items`` and
    ``prices`` are lists per row, or ``|``-joined strings as in CSV."""
    if hasattr(frame, "to_pydict"):  # pyarrow.Table
        raw = frame.to_pydict()
    elif hasattr(frame, "to_dict") and hasattr(frame, "columns"):  # pandas.DataFrame
        raw = {c: frame[c].tolist() for c in frame.columns}
    else:
        raise TypeError(f"load_frame takes a pyarrow Table or a pandas DataFrame, not {type(frame).__name__}")
    columns = {name: [_cell(name, v) for v in raw[name]] for name in COLUMNS if name in raw}
    return Dataset.from_columns(columns)
