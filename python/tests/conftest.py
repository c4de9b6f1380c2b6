"""Shared fixtures: the CLI binary, a simulated log cut into Parquet shards, a local Ray cluster."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import shards as shard_util  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED = 7


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("FEWCLICK_CLI", os.path.join(ROOT, "target", "release", "fewclick"))
    assert os.path.exists(path), f"{path}: build it first (cargo build --release --bin fewclick)"
    return path


@pytest.fixture(scope="session")
def log(cli, tmp_path_factory):
    """400 simulated sessions (seed 7, printed), as JSONL rows and as 3 Parquet shards."""
    d = tmp_path_factory.mktemp("log")
    print(f"simulated log: 400 sessions, seed {SEED}")
    jsonl = shard_util.simulate(cli, 400, str(d / "sim"), seed=SEED)
    paths = shard_util.shard(jsonl, str(d / "shards"), 3)
    assert len(paths) == 3
    return {"dir": str(d / "shards"), "paths": paths, "jsonl": jsonl, "item_table": str(d / "sim" / "item-table.json")}


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
