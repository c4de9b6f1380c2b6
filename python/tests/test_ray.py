"""Data-parallel meta-training on a local Ray cluster (2 CPUs): the same model as `fewclick train`
with 1 and 2 workers, through a killed worker, and through a checkpoint and --resume."""

import json
import os
import signal
import subprocess

import pytest

import fewclick as fc
from fewclick import ray_train

# Small enough for a test, second order to cover the exact products: θ0 within 1e-5 (issue 14).
SETTINGS = {"algorithm": "maml", "epochs": 1.0, "pretrain_epochs": 1.0, "seed": 5, "steps": 2}
TOLERANCE = 1e-5


def cli_model(cli, log, out):
    subprocess.run([cli, "train", "--format", "parquet", "--sessions", log["dir"], "--validation", "0",
                    "--algorithm", "maml", "--epochs", "1", "--pretrain-epochs", "1", "--seed", "5", "--steps", "2",
                    "--out", out], check=True, capture_output=True)
    return fc.read_model(out)


def assert_same(a, b):
    assert len(a["theta"]) == len(b["theta"])
    dt = max(abs(x - y) for x, y in zip(a["theta"], b["theta"]))
    da = max(abs(x - y) for x, y in zip(a["alpha"], b["alpha"]))
    assert dt <= TOLERANCE and da <= TOLERANCE, f"max |Δθ0| {dt}, max |Δα| {da}"


@pytest.fixture(scope="module")
def reference(cli, log, tmp_path_factory):
    return cli_model(cli, log, str(tmp_path_factory.mktemp("cli") / "cli.fcm"))


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_gives_the_cli_model(ray_cluster, log, reference, tmp_path, workers):
    out = str(tmp_path / f"ray{workers}.fcm")
    report = ray_train.train(log["dir"], out, settings=SETTINGS, workers=workers)
    assert_same(fc.read_model(out), reference)
    assert report["workers"] == workers and report["workers_replaced"] == 0
    with open(ray_train.train_log_path(out)) as f:
        logged = json.load(f)
    for key in ("algorithm", "seed", "sessions", "tasks", "iterations", "seconds", "options", "query_loss"):
        assert key in logged, key
    assert logged["algorithm"] == "maml" and logged["iterations"] == len(logged["query_loss"]) > 0


def test_a_killed_worker_is_replaced_and_the_model_is_unchanged(ray_cluster, log, reference, tmp_path):
    killed = []

    def kill_worker_1(step, driver):
        if step == 20 and not killed:
            pid = ray_cluster.get(driver.workers[1].pid.remote())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = str(tmp_path / "killed.fcm")
    report = ray_train.train(log["dir"], out, settings=SETTINGS, workers=2, on_step=kill_worker_1)
    assert killed, "the test did not kill a worker"
    assert report["workers_replaced"] >= 1
    assert_same(fc.read_model(out), reference)


def test_a_run_resumed_from_its_checkpoint_gives_the_same_model(ray_cluster, log, reference, tmp_path):
    cp = str(tmp_path / "cp")

    class DriverCrash(Exception):
        pass

    def crash(step, driver):
        if step == 90:  # inside the second phase (the first has about 65 steps)
            raise DriverCrash()

    with pytest.raises(DriverCrash):
        ray_train.train(log["dir"], str(tmp_path / "never.fcm"), settings=SETTINGS, workers=2, checkpoint_dir=cp,
                        checkpoint_every=10, on_step=crash)
    with open(os.path.join(cp, "checkpoint.json")) as f:
        saved = json.load(f)
    assert (saved["phase"], saved["step"]) != (0, 0), saved
    out = str(tmp_path / "resumed.fcm")
    ray_train.train(log["dir"], out, settings=SETTINGS, workers=1, checkpoint_dir=cp, resume=True)
    assert_same(fc.read_model(out), reference)
    # Other settings cannot resume from it.
    with pytest.raises(fc.FewclickError, match="other shards or settings"):
        ray_train.train(log["dir"], out, settings={**SETTINGS, "seed": 6}, workers=1, checkpoint_dir=cp, resume=True)


def test_the_command_line(ray_cluster, log, tmp_path):
    # In a fresh process, as the README runs it (its own local cluster).
    out = str(tmp_path / "cli-run.fcm")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    r = subprocess.run([os.sys.executable, "-m", "fewclick.ray_train", "--shards", log["dir"], "--out", out,
                        "--workers", "2", "--epochs", "1", "--pretrain-epochs", "0", "--seed", "1"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "wrote" in r.stderr and os.path.exists(out) and os.path.exists(ray_train.train_log_path(out))
    # Joining the running cluster (the fixture's), as on an existing one.
    joined = subprocess.run([os.sys.executable, "-m", "fewclick.ray_train", "--shards", log["dir"], "--out", out,
                             "--address", "auto", "--workers", "1", "--epochs", "1", "--pretrain-epochs", "0"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert joined.returncode == 0, joined.stderr[-3000:]
    bad = subprocess.run([os.sys.executable, "-m", "fewclick.ray_train", "--shards", str(tmp_path), "--out", out],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "no *.parquet shard" in bad.stderr
