"""Meta-steps per second of python -m fewclick.ray_train with 1 and 2 local workers, beside
`fewclick train` in one process on the same shards and settings (issue 14's scaling table).

    bash scripts/bench-ray.sh [--sessions 3000] [--algorithm fomaml] [--epochs 1]

Prints one JSON row per configuration and a Markdown table. The log is the demo store's simulated
shoppers (`fewclick simulate`, seed 7) in 4 Parquet shards. A benchmark, not a test: CI does not
run it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import ray

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python", "tests"))
import shards  # noqa: E402

from fewclick import ray_train  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "fewclick"))
    ap.add_argument("--sessions", type=int, default=3000)
    ap.add_argument("--algorithm", default="fomaml")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    settings = {"algorithm": args.algorithm, "epochs": args.epochs, "pretrain_epochs": 0.0, "batch": args.batch, "seed": 1}
    tmp = tempfile.mkdtemp(prefix="fewclick-ray-bench-")
    jsonl = shards.simulate(args.cli, args.sessions, os.path.join(tmp, "sim"))
    shard_dir = os.path.join(tmp, "shards")
    shards.shard(jsonl, shard_dir, 4)
    results = []

    t = time.time()
    out = subprocess.run([args.cli, "train", "--format", "parquet", "--sessions", shard_dir, "--validation", "0",
                          "--algorithm", args.algorithm, "--epochs", str(args.epochs), "--pretrain-epochs", "0",
                          "--batch", str(args.batch), "--seed", "1", "--out", os.path.join(tmp, "cli.fcm")],
                         capture_output=True, text=True, check=True)
    wall = time.time() - t
    with open(ray_train.train_log_path(os.path.join(tmp, "cli.fcm"))) as f:
        logged = json.load(f)
    results.append({"run": "fewclick train (1 process, 2 threads)", "workers": 0, "tasks": logged["tasks"],
                    "steps": logged["iterations"], "train_seconds": logged["seconds"], "wall_seconds": wall,
                    "steps_per_second": logged["iterations"] / logged["seconds"]})
    print(json.dumps(results[-1]), flush=True)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    for workers in (1, 2):
        t = time.time()
        r = ray_train.train(shard_dir, os.path.join(tmp, f"ray{workers}.fcm"), settings=settings, workers=workers,
                            log=lambda m: None)
        results.append({"run": f"ray_train, {workers} worker{'s' if workers > 1 else ''} (1 thread each)",
                        "workers": workers, "tasks": r["tasks"], "steps": r["iterations"], "train_seconds": r["seconds"],
                        "wall_seconds": time.time() - t, "steps_per_second": r["meta_steps_per_second"],
                        "worker_busy_seconds": r["worker_busy_seconds"]})
        print(json.dumps(results[-1]), flush=True)
    ray.shutdown()

    print()
    print(f"{args.sessions} simulated sessions in 4 Parquet shards, {args.algorithm}, batch {args.batch}, "
          f"{args.epochs} epoch(s), no pre-training; this machine: {os.cpu_count()} CPUs")
    print("| run | tasks | meta-steps | training s | wall s (with setup) | meta-steps/s | busiest worker computing s "
          "| the rest per step ms (driver, Ray) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        busy = max(r.get("worker_busy_seconds") or [0.0])
        rest = 1000.0 * (r["train_seconds"] - busy) / r["steps"] if r["workers"] else 0.0
        print(f"| {r['run']} | {r['tasks']} | {r['steps']} | {r['train_seconds']:.2f} | {r['wall_seconds']:.2f} | "
              f"{r['steps_per_second']:.1f} | {busy:.2f} | {rest:.2f} |")
    one = next((r for r in results if r["workers"] == 1), None)
    if one:
        busy = max(one["worker_busy_seconds"])
        print(f"per-task meta-gradient on one worker thread: {1000.0 * busy / (one['steps'] * args.batch):.3f} ms")


if __name__ == "__main__":
    main()
