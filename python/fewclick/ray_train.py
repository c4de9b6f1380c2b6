"""Data-parallel meta-training on Ray: ``python -m fewclick.ray_train --shards DIR --out model.fcm``.

Workers are Ray actors, each holding a contiguous run of the log's shards (the files of ``DIR`` in
name order). The rows never leave them: a worker loads its shards, counts their item statistics,
builds their tasks, and computes meta-gradients. The driver holds only counts, θ0, α and the
optimiser state.

One run, in order:

1. Each worker loads its shards and reports their session counts; the driver gives each worker the
   index of its first session in the whole log.
2. Item features: with ``--item-table`` every worker reads that table; otherwise each worker counts
   its sessions' item statistics by residue class (``ItemStats.by_residue``), the driver merges them
   (exact integer counts: the same whatever the number of workers) and sends the merged classes
   back, and each worker makes the out-of-fold tables from them. The serving table is made from all
   classes, on the driver.
3. Each worker builds its tasks; the whole log's task order is the workers' tasks in shard order,
   exactly the order ``fewclick train`` builds them in.
4. For each phase (joint pre-training, then the algorithm), each meta-step: the driver draws the
   batch (``BatchPlan``, ``fewclick train``'s own sampler), sends θ0 and α to the workers with tasks
   in it, each returns the f64 sum of its tasks' meta-gradients, and the driver merges the sums in
   worker order and applies the Adam update (``ModelState.apply``).
5. The driver writes the ``.fcm`` and the training log beside it, as ``fewclick train`` does.

The model is ``fewclick train --format F --sessions DIR --validation 0`` with the same settings and
seed (θ0 within 1e-5: the sums are f64), whatever the number of workers. A worker that dies is
replaced (same shards, same setup) and its part of the step recomputed, which changes nothing.
``--checkpoint-dir`` keeps the state every ``--checkpoint-every`` steps; ``--resume`` continues from
it to the same model.
"""

import argparse
import json
import os
import sys
import time

import ray

import fewclick as fc

CHECKPOINT = "checkpoint.json"
STATE = "state.bin"
# Worker deaths tolerated in one run before the driver gives up.
MAX_REPLACEMENTS = 16


@ray.remote(num_cpus=1, max_restarts=0)
class ShardWorker:
    """One worker: its shards' sessions, tables and tasks. Its methods are called by the driver."""

    def __init__(self, paths, fmt, settings, threads):
        # rayon reads this once, at the first parallel call in the process.
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        self.settings = fc.Settings(**settings)
        self.data = fc.Dataset.load_shards(paths, fmt)
        self.tasks = None
        # Seconds spent computing meta-gradients (the rest of a step is the driver and Ray).
        self.busy = 0.0

    def pid(self):
        return os.getpid()

    def sessions(self):
        return self.data.n_sessions

    def item_stats(self, first_session, folds):
        return [p.to_bytes() for p in fc.ItemStats.by_residue(self.data, first_session, folds)]

    def build(self, first_session, table):
        kind, value = table
        if kind == "file":
            tables = [fc.ItemFeatures.load_json(value)]
        else:
            tables = fc.ItemFeatures.out_of_fold([fc.ItemStats.from_bytes(b) for b in value])
        self.tasks = fc.build_tasks(self.data, tables, self.settings, first_session)
        return len(self.tasks)

    def gradient(self, params, phase, indices):
        t = time.perf_counter()
        out = fc.meta_gradient(params, self.tasks, phase, self.settings, indices).to_bytes()
        self.busy += time.perf_counter() - t
        return out

    def busy_seconds(self):
        return self.busy


def settings_kwargs(args):
    """The fc.Settings keyword arguments given on the command line (the rest take train's defaults)."""
    names = ["algorithm", "hidden", "steps", "scope", "inner_loss", "prox", "clip", "alpha", "meta_lr", "alpha_lr",
             "batch", "epochs", "pretrain_epochs", "seed", "folds", "rank_without_events"]
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def split_contiguous(items, parts):
    """``items`` in ``parts`` contiguous runs as even as can be (none empty)."""
    parts = max(1, min(parts, len(items)))
    q, r = divmod(len(items), parts)
    out, at = [], 0
    for k in range(parts):
        n = q + (1 if k < r else 0)
        out.append(items[at:at + n])
        at += n
    return out


class Driver:
    """The driver's side of one run: the workers, their setup, and replacing a dead one."""

    def __init__(self, shards, fmt, settings, workers, item_table, threads, log):
        self.fmt, self.settings_kw, self.threads, self.log = fmt, settings, threads, log
        self.settings = fc.Settings(**settings)
        self.groups = split_contiguous(shards, workers)
        self.workers = [self._spawn(g) for g in self.groups]
        self.replacements = 0
        counts = self._all("sessions")
        self.first_session = [sum(counts[:k]) for k in range(len(counts))]
        self.sessions = sum(counts)
        if item_table:
            self.table = ("file", os.path.abspath(item_table))
            self.serving = fc.ItemFeatures.load_json(item_table)
        else:
            folds = self.settings.folds
            parts = self._all("item_stats", lambda k: (self.first_session[k], folds))
            merged = [fc.ItemStats.merged([fc.ItemStats.from_bytes(p[r]) for p in parts]) for r in range(folds)]
            self.table = ("stats", [m.to_bytes() for m in merged])
            self.serving = fc.ItemFeatures.from_stats(fc.ItemStats.merged(merged))
        n_tasks = self._all("build", lambda k: (self.first_session[k], self.table))
        self.task_offsets = [sum(n_tasks[:k]) for k in range(len(n_tasks) + 1)]
        self.n_tasks = self.task_offsets[-1]
        if self.n_tasks == 0:
            raise fc.FewclickError("the shards hold no training task (no engaged result list after an event)")

    def _spawn(self, paths):
        return ShardWorker.remote(paths, self.fmt, self.settings_kw, self.threads)

    def _replace(self, k, error):
        """A new worker for run ``k``, set up as the dead one was."""
        self.replacements += 1
        if self.replacements > MAX_REPLACEMENTS:
            raise RuntimeError(f"{self.replacements} workers lost; giving up") from error
        self.log(f"worker {k} lost ({type(error).__name__}); replacing it and recomputing its part of the step")
        w = self._spawn(self.groups[k])
        if hasattr(self, "task_offsets"):
            ray.get(w.build.remote(self.first_session[k], self.table))
        self.workers[k] = w

    def _all(self, method, args=lambda k: ()):
        """``method`` on every worker, in parallel; results in worker order; dead workers replaced."""
        refs = [getattr(w, method).remote(*args(k)) for k, w in enumerate(self.workers)]
        out = []
        for k, ref in enumerate(refs):
            while True:
                try:
                    out.append(ray.get(ref))
                    break
                except ray.exceptions.RayActorError as e:
                    self._replace(k, e)
                    ref = getattr(self.workers[k], method).remote(*args(k))
        return out

    def busy_seconds(self):
        return self._all("busy_seconds")

    def gradient(self, state, phase, batch):
        """The batch's summed meta-gradient: each worker's share in batch order, merged in worker order."""
        params = ray.put(state.params())
        shares = [[] for _ in self.workers]
        for g in batch:
            k = next(k for k in range(len(self.workers)) if g < self.task_offsets[k + 1])
            shares[k].append(g - self.task_offsets[k])
        busy = [k for k in range(len(self.workers)) if shares[k]]
        refs = {k: self.workers[k].gradient.remote(params, phase, shares[k]) for k in busy}
        total = fc.Gradient.zeros(state.n_params)
        for k in busy:
            while True:
                try:
                    part = ray.get(refs[k])
                    break
                except ray.exceptions.RayActorError as e:
                    self._replace(k, e)
                    refs[k] = self.workers[k].gradient.remote(params, phase, shares[k])
            total.merge(fc.Gradient.from_bytes(part))
        return total


def train_log_path(out):
    """Where the training log goes: beside the model, as `fewclick train` puts it (model.fcm ->
    model.train-log.json)."""
    return os.path.splitext(out)[0] + ".train-log.json"


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def train(shards_dir, out, *, fmt="parquet", settings=None, workers=2, item_table=None, checkpoint_dir=None,
          checkpoint_every=50, resume=False, threads=1, on_step=None, log=None, progress_every=10.0):
    """Meta-trains on the shards in ``shards_dir`` with ``workers`` Ray actors and writes the model to
    ``out`` and the training log beside it (``train_log_path``). ``settings`` are fc.Settings keyword
    arguments. ``on_step(step, driver)`` is called after every meta-step (tests); a progress line with
    the rate and the time left goes to ``log`` every ``progress_every`` seconds. Returns the
    training log as a dict. Ray must be initialised (``ray.init``) by the caller."""
    settings = dict(settings or {})
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.time()
    shards = [str(p) for p in fc.shard_files(shards_dir, fmt)]
    s = fc.Settings(**settings)
    log(f"seed {s.seed}; {len(shards)} shards over {min(workers, len(shards))} workers")
    driver = Driver(shards, fmt, settings, workers, item_table, threads, log)
    log(f"{driver.sessions} sessions, {driver.n_tasks} training tasks, {driver.serving.n_items} items in the table; "
        f"set up in {time.time() - started:.1f} s")
    fingerprint = {"shards": [os.path.basename(p) for p in shards], "settings": repr(s), "item_table": item_table}

    phases = s.phases()
    state = fc.ModelState.initial(s, driver.serving.dim)
    phase_at, step_at, query_loss, iterations = 0, 0, [], 0
    if resume:
        if not checkpoint_dir or not os.path.exists(os.path.join(checkpoint_dir, CHECKPOINT)):
            raise fc.FewclickError(f"--resume: no checkpoint in {checkpoint_dir}")
        with open(os.path.join(checkpoint_dir, CHECKPOINT)) as f:
            cp = json.load(f)
        if cp["fingerprint"] != fingerprint:
            raise fc.FewclickError("--resume: the checkpoint was made with other shards or settings")
        with open(os.path.join(checkpoint_dir, STATE), "rb") as f:
            state = fc.ModelState.from_bytes(f.read(), s, driver.serving.dim)
        phase_at, step_at, query_loss = cp["phase"], cp["step"], [tuple(x) for x in cp["query_loss"]]
        log(f"resumed from {checkpoint_dir}: phase {phases[phase_at]}, step {step_at}")
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)

    train_started = time.time()
    done = 0
    for p in range(phase_at, len(phases)):
        phase = phases[p]
        total = s.iterations(phase, driver.n_tasks)
        plan = fc.BatchPlan(s, phase, driver.n_tasks)
        first = step_at if p == phase_at else 0
        if p > phase_at:
            state = state.next_phase(s)
        for _ in range(first):
            plan.next_batch()
        phase_started, last_report = time.time(), time.time()
        for it in range(first, total):
            grad = driver.gradient(state, phase, plan.next_batch())
            state.apply(grad, phase, s)
            done += 1
            if phase == phases[-1]:
                query_loss.append((it + 1, grad.mean_loss))
            if checkpoint_dir and (it + 1) % checkpoint_every == 0 and it + 1 < total:
                _checkpoint(checkpoint_dir, state, p, it + 1, query_loss, fingerprint)
            if on_step:
                on_step(done, driver)
            now = time.time()
            if now - last_report >= progress_every:
                rate = (it + 1 - first) / (now - phase_started)
                log(f"{phase}: {it + 1}/{total} meta-steps, {rate:.0f} steps/s, query loss {grad.mean_loss:.4f}, "
                    f"about {(total - it - 1) / rate:.0f} s left")
                last_report = now
        if phase == phases[-1]:
            iterations = total
        if checkpoint_dir and p + 1 < len(phases):
            # The next phase starts from this θ0 with fresh optimisers: checkpoint that start.
            _checkpoint(checkpoint_dir, state.next_phase(s), p + 1, 0, query_loss, fingerprint)
        log(f"{phase}: {total} meta-steps")
    seconds = time.time() - train_started

    busy = driver.busy_seconds()
    size, integrity = fc.write_model(state, driver.serving, s, out)
    report = {
        "algorithm": s.algorithm,
        "seed": s.seed,
        "sessions": shards_dir,
        "split": None,
        "tasks": driver.n_tasks,
        "iterations": iterations,
        "seconds": seconds,
        "options": repr(s),
        "selection": None,
        "query_loss": [[i, l] for i, l in query_loss],
        "workers": len(driver.workers),
        "workers_replaced": driver.replacements,
        "meta_steps_per_second": done / seconds if seconds > 0 else None,
        # Per worker: seconds computing meta-gradients (a replaced worker's count starts again).
        "worker_busy_seconds": busy,
    }
    log_path = train_log_path(out)
    with open(log_path, "w") as f:
        json.dump(report, f, indent=2)
    log(f"wrote {out} ({size} bytes, {len(state.theta)} parameters, {driver.serving.n_items} items in its table; "
        f"integrity {integrity}) and {log_path}; trained in {seconds:.1f} s")
    return report


def _checkpoint(directory, state, phase, step, query_loss, fingerprint):
    """The state after ``step`` steps of phase ``phase``, written so that a crash mid-write leaves the
    previous checkpoint whole (state first, then the JSON that points at it)."""
    _write_atomic(os.path.join(directory, STATE), state.to_bytes())
    cp = {"phase": phase, "step": step, "query_loss": query_loss, "fingerprint": fingerprint}
    _write_atomic(os.path.join(directory, CHECKPOINT), json.dumps(cp).encode())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fewclick.ray_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", required=True, help="directory of the log's shards (read in name order)")
    ap.add_argument("--out", required=True, help="the model file to write (.fcm)")
    ap.add_argument("--format", default="parquet", choices=["parquet", "jsonl", "csv", "trivago"])
    ap.add_argument("--workers", type=int, default=2, help="Ray actors, each holding a contiguous run of shards")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (each actor reserves 1 CPU)")
    ap.add_argument("--item-table", default=None, help="a fixed item table (JSON) instead of learned statistics")
    ap.add_argument("--checkpoint-dir", default=None)
    ap.add_argument("--checkpoint-every", type=int, default=50, help="meta-steps between checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir's checkpoint")
    ap.add_argument("--algorithm", default=None)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--scope", default=None)
    ap.add_argument("--loss", dest="inner_loss", default=None)
    ap.add_argument("--prox", type=float, default=None)
    ap.add_argument("--clip", type=float, default=None)
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--meta-lr", type=float, default=None)
    ap.add_argument("--alpha-lr", type=float, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=None)
    ap.add_argument("--pretrain-epochs", type=float, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--folds", type=int, default=None)
    ap.add_argument("--rank-without-events", type=lambda v: v.lower() in ("1", "true", "yes"), default=None)
    args = ap.parse_args(argv)
    if args.address:
        # An existing cluster: its resources are its own (ray.init refuses num_cpus and the like).
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, num_cpus=max(args.workers, os.cpu_count() or 1))
    try:
        train(args.shards, args.out, fmt=args.format, settings=settings_kwargs(args), workers=args.workers,
              item_table=args.item_table, checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
              resume=args.resume, threads=args.threads)
    except fc.FewclickError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
