"""Synthetic Parquet shards for the tests and the scaling benchmark: the demo store's simulated
shoppers (``fewclick simulate``), cut by ``fewclick.shards``."""

import json
import os
import subprocess

from fewclick.shards import write_shards


def simulate(cli, sessions, out_dir, seed=7):
    """Runs ``fewclick simulate``; returns the JSONL log's path."""
    subprocess.run([cli, "simulate", "--sessions", str(sessions), "--seed", str(seed), "--out-dir", out_dir],
                   check=True, capture_output=True)
    return os.path.join(out_dir, "sessions.jsonl")


def shard(jsonl, directory, shards):
    """``jsonl`` in ``shards`` Parquet shards of whole sessions (two row groups each at most)."""
    with open(jsonl) as f:
        sessions = len({json.loads(line)["session"] for line in f if line.strip()})
    rows = sum(1 for _ in open(jsonl))
    per = -(-sessions // shards)
    return write_shards(jsonl, directory, per, row_group_rows=max(1, -(-rows // (2 * shards))))
