"""The Python package: the same Rust code as the CLI, through the documented API."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fewclick as fc

SETTINGS = dict(epochs=1, pretrain_epochs=1, seed=3)


def test_loaders_agree_file_shards_arrow_and_pandas(log):
    whole = fc.Dataset.load(log["jsonl"], "jsonl")
    shards = fc.Dataset.load(log["dir"], "parquet")
    listed = fc.Dataset.load_shards(log["paths"], "parquet")
    table = pa.concat_tables([pq.read_table(p) for p in log["paths"]])
    arrow = fc.load_frame(table)
    frame = fc.load_frame(table.to_pandas())
    for ds in (shards, listed, arrow, frame):
        assert (ds.n_sessions, ds.n_displays, ds.n_events) == (whole.n_sessions, whole.n_displays, whole.n_events)
    # Same sessions in the same order: the same exact counts.
    counts = fc.ItemStats.count(whole).to_bytes()
    assert fc.ItemStats.count(shards).to_bytes() == counts
    assert fc.ItemStats.count(frame).to_bytes() == counts
    assert whole.n_sessions == 400


def test_bad_input_is_a_typed_error():
    with pytest.raises(fc.FewclickError, match="row 2"):
        fc.Dataset.from_columns({"session": ["a", "a"], "timestamp": [1.0, 2.0], "type": ["results", "teleport"],
                                 "items": [["x", "y"], None]})
    with pytest.raises(fc.FewclickError, match="no \\*.parquet shard"):
        fc.Dataset.load("/", "parquet")
    with pytest.raises(fc.FewclickError):
        fc.ItemStats.from_bytes(b"FCIS")
    with pytest.raises(fc.FewclickError):
        fc.Gradient.from_bytes(b"not a gradient")
    with pytest.raises(fc.FewclickError, match="algorithm"):
        fc.Settings(algorithm="sgd-of-the-gods")
    with pytest.raises(fc.FewclickError):
        fc.Settings(batch=0)
    with pytest.raises(TypeError):
        fc.load_frame([1, 2, 3])


def test_shard_counts_merge_to_the_whole_and_tables_match(log):
    parts = [fc.Dataset.load(p, "parquet") for p in log["paths"]]
    whole = fc.Dataset.load(log["dir"], "parquet")
    merged = fc.ItemStats.merged([fc.ItemStats.count(p) for p in reversed(parts)])
    a, b = fc.ItemFeatures.from_stats(merged), fc.ItemFeatures.from_stats(fc.ItemStats.count(whole))
    assert a.n_items == b.n_items > 100
    for item in ("sku-001", "sku-044", "never-seen"):
        assert a.vector(item) == b.vector(item)


def test_tasks_gradients_and_the_outer_update(log):
    s = fc.Settings(**SETTINGS)
    ds = fc.Dataset.load(log["dir"], "parquet")
    tables = fc.ItemFeatures.out_of_fold(fc.ItemStats.by_residue(ds, 0, s.folds))
    assert len(tables) == s.folds
    tasks = fc.build_tasks(ds, tables, s)
    assert len(tasks) > 1000
    state = fc.ModelState.initial(s, tables[0].dim)
    assert len(state.theta) == tasks.n_params
    batch = fc.BatchPlan(s, "meta", len(tasks)).next_batch()
    assert len(batch) == s.batch
    whole = fc.meta_gradient(state.params(), tasks, "meta", s, batch)
    assert whole.tasks == s.batch
    parts = fc.Gradient.zeros(tasks.n_params)
    for share in (batch[:5], batch[5:]):
        parts.merge(fc.meta_gradient(state.params(), tasks, "meta", s, share))
    for x, y in zip(whole.theta, parts.theta):
        assert abs(x - y) <= 1e-9 * (1 + abs(x))
    before = state.to_bytes()
    state.apply(whole, "meta", s)
    assert state.steps == 1 and state.to_bytes() != before
    again = fc.ModelState.from_bytes(state.to_bytes(), s, tables[0].dim)
    assert again.theta == state.theta and again.steps == 1
    with pytest.raises(fc.FewclickError, match="task 99999"):
        fc.meta_gradient(state.params(), tasks, "meta", s, [99999])
    with pytest.raises(fc.FewclickError, match="params of"):
        fc.meta_gradient(b"\0" * 8, tasks, "meta", s)
    with pytest.raises(fc.FewclickError, match="phase"):
        state.apply(whole, "warmup", s)
    # A refused update leaves the state as it was.
    with pytest.raises(fc.FewclickError):
        state.apply(fc.Gradient.zeros(3), "meta", s)
    assert state.to_bytes() == again.to_bytes()


def test_model_writer_reader_and_evaluation(log, tmp_path):
    s = fc.Settings(**SETTINGS)
    ds = fc.Dataset.load(log["dir"], "parquet")
    serving = fc.ItemFeatures.from_stats(fc.ItemStats.count(ds))
    state = fc.ModelState.initial(s, serving.dim)
    path = str(tmp_path / "m.fcm")
    size, integrity = fc.write_model(state, serving, s, path)
    m = fc.read_model(path)
    assert m["integrity"] == integrity and size > 1000
    assert m["theta"] == state.theta and m["algorithm"] == "fomaml" and m["items"] == serving.n_items
    r = fc.evaluate(path, ds)
    assert r["lists"] > 0
    for key in ("display", "interacted_first", "model", "model_without_adaptation"):
        assert 0.0 < r[key] <= 1.0
    with pytest.raises(fc.FewclickError):
        fc.read_model(str(tmp_path / "missing.fcm"))


def test_sharding_keeps_whole_sessions_and_refuses_interleaved_ones(log, tmp_path):
    from fewclick.shards import main, write_shards

    paths = write_shards(log["jsonl"], str(tmp_path / "s"), 150)
    assert [os.path.basename(p) for p in paths] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [fc.Dataset.load(p).n_sessions for p in paths] == [150, 150, 100]
    interleaved = tmp_path / "bad.jsonl"
    lines = open(log["jsonl"]).read().splitlines()
    first = lines[0]
    interleaved.write_text("\n".join(lines[:40] + [first]) + "\n")
    with pytest.raises(ValueError, match="comes back"):
        write_shards(str(interleaved), str(tmp_path / "t"), 10)
    assert main([str(interleaved), str(tmp_path / "u")]) == 2
