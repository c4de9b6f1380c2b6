"""Synthetic Parquet shards for the tests: the demo store's simulated shoppers (``fewclick
simulate``), cut into shards of whole sessions and written with pyarrow."""

import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["session", "user", "timestamp", "type", "item", "items", "prices", "clicked", "click_type", "dwell_ms"]


def simulate(cli, sessions, out_dir, seed=7):
    """Runs ``fewclick simulate``; returns the JSONL log's rows (dicts) in file order."""
    subprocess.run([cli, "simulate", "--sessions", str(sessions), "--seed", str(seed), "--out-dir", out_dir],
                   check=True, capture_output=True)
    with open(os.path.join(out_dir, "sessions.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_shards(rows, directory, shards):
    """Writes ``rows`` as ``shards`` Parquet files of whole sessions (part-000.parquet, ...), each in
    two row groups; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    sessions = []
    for r in rows:
        if not sessions or sessions[-1][0] != r["session"]:
            sessions.append((r["session"], []))
        sessions[-1][1].append(r)
    per = -(-len(sessions) // shards)
    paths = []
    for k in range(shards):
        part = [r for _, rs in sessions[k * per:(k + 1) * per] for r in rs]
        table = pa.table({c: [r.get(c) for r in part] for c in COLUMNS}, schema=pa.schema([
            ("session", pa.string()), ("user", pa.string()), ("timestamp", pa.float64()), ("type", pa.string()),
            ("item", pa.string()), ("items", pa.list_(pa.string())), ("prices", pa.list_(pa.float64())),
            ("clicked", pa.string()), ("click_type", pa.string()), ("dwell_ms", pa.float64()),
        ]))
        path = os.path.join(directory, f"part-{k:03d}.parquet")
        pq.write_table(table, path, row_group_size=max(1, len(part) // 2))
        paths.append(path)
    return paths
