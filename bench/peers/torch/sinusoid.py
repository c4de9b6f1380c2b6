"""The torch.func peer of `fewclick sinusoid`: the MAML paper's sinusoid regression under the same
protocol, so that the two sides' test errors can be read side by side on one machine.

Protocol (as `fewclick::train::sinusoid::Protocol::default`): amplitude uniform in [0.1, 5], phase
in [0, pi], inputs in [-5, 5]; a 1-40-40-1 ReLU network with PyTorch's default initialisation
(nn.Linear: weights and biases uniform in +-1/sqrt(fan_in)); 10 support and 10 query points per
training task; one inner SGD step of 0.01; a meta-batch of 25 tasks drawn afresh every iteration
(one vmap over it); Adam at 1e-3 on the mean query loss. Test: 600 held-out tasks with 10 support
and 100 query points, MSE after 0, 1 and 10 inner steps of 0.01, mean and median over the tasks.

The task streams are torch's own generator, seeded from --seed: the same distribution as
fewclick's, not the same draws. Second order (maml) differentiates through the inner step;
first order (fomaml) takes the query gradient at the adapted weights.

JSON rows on stdout, one per (algorithm, seed); progress on stderr. Not a test: CI does not run it.
"""

import argparse
import json
import math
import sys
import time

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

AMP = (0.1, 5.0)
PHASE = (0.0, math.pi)
X = (-5.0, 5.0)


def sample_tasks(gen, n_tasks, n_support, n_query):
    amp = torch.empty(n_tasks, 1).uniform_(*AMP, generator=gen)
    phase = torch.empty(n_tasks, 1).uniform_(*PHASE, generator=gen)
    x = torch.empty(n_tasks, n_support + n_query).uniform_(*X, generator=gen)
    y = amp * torch.sin(x - phase)
    x, y = x.unsqueeze(-1), y.unsqueeze(-1)
    return x[:, :n_support], y[:, :n_support], x[:, n_support:], y[:, n_support:]


def make_net(hidden):
    layers, n_in = [], 1
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, 1))
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--algorithms", default="maml,fomaml")
    ap.add_argument("--seed", type=int, default=1, help="first seed; SEED, SEED+1, ... are run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--test-tasks", type=int, default=600)
    ap.add_argument("--test-query", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    algorithms = [s.strip() for s in a.algorithms.split(",") if s.strip()]
    for alg in algorithms:
        if alg not in ("maml", "fomaml"):
            sys.exit(f"unknown algorithm {alg!r}: this peer runs maml and fomaml")
    if min(a.seeds, a.iterations, a.test_tasks, a.test_query, a.threads) < 1:
        sys.exit("--seeds, --iterations, --test-tasks, --test-query and --threads must be at least 1")
    torch.set_num_threads(a.threads)

    shots, query, batch, inner_lr, meta_lr, eval_steps = 10, 10, 25, 0.01, 1e-3, (0, 1, 10)
    hidden = (40, 40)

    for alg in algorithms:
        for seed in range(a.seed, a.seed + a.seeds):
            torch.manual_seed(seed)  # the initialisation
            net = make_net(hidden)
            params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
            opt = torch.optim.Adam(params.values(), lr=meta_lr)

            def loss_fn(p, x, y):
                return ((functional_call(net, p, (x,)) - y) ** 2).mean()

            def adapt(p, x, y, steps):
                for _ in range(steps):
                    g = grad(loss_fn)(p, x, y)
                    p = {k: p[k] - inner_lr * g[k] for k in p}
                return p

            def task_loss(p, xs, ys, xq, yq):
                return loss_fn(adapt(p, xs, ys, 1), xq, yq)

            def meta_loss(p, xs, ys, xq, yq):
                return vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(p, xs, ys, xq, yq).mean()

            def fo_task_grad(p, xs, ys, xq, yq):
                phi = {k: v.detach() for k, v in adapt(p, xs, ys, 1).items()}
                return grad(loss_fn)(phi, xq, yq)

            train_gen = torch.Generator().manual_seed(1_000_003 * seed + 1)
            test_gen = torch.Generator().manual_seed(1_000_003 * seed + 2)
            started = time.perf_counter()
            for it in range(a.iterations):
                xs, ys, xq, yq = sample_tasks(train_gen, batch, shots, query)
                opt.zero_grad(set_to_none=True)
                if alg == "maml":
                    meta_loss(params, xs, ys, xq, yq).backward()
                else:
                    detached = {k: v.detach() for k, v in params.items()}
                    g = vmap(fo_task_grad, in_dims=(None, 0, 0, 0, 0))(detached, xs, ys, xq, yq)
                    for k, v in params.items():
                        v.grad = g[k].mean(0)
                opt.step()
                if (it + 1) % 1000 == 0:
                    print(f"{alg} seed {seed}: {it + 1}/{a.iterations} ({time.perf_counter() - started:.0f} s)",
                          file=sys.stderr, flush=True)
            seconds = time.perf_counter() - started

            xs, ys, xq, yq = sample_tasks(test_gen, a.test_tasks, shots, a.test_query)
            theta = {k: v.detach() for k, v in params.items()}
            mse, median = [], []
            for steps in eval_steps:
                def test_one(xs1, ys1, xq1, yq1, steps=steps):
                    return loss_fn(adapt(theta, xs1, ys1, steps), xq1, yq1)
                per_task = vmap(test_one)(xs, ys, xq, yq)
                mse.append(per_task.double().mean().item())
                median.append(per_task.median().item())
            row = {"side": "torch.func", "torch": torch.__version__, "algorithm": alg, "seed": seed,
                   "iterations": a.iterations, "eval_steps": list(eval_steps), "mse": mse, "median": median,
                   "seconds": round(seconds, 1)}
            print(json.dumps(row), flush=True)
            print(f"{alg} seed {seed}: MSE after {list(eval_steps)} steps "
                  f"{' / '.join(f'{v:.3f}' for v in mse)} (medians {' / '.join(f'{v:.3f}' for v in median)}; "
                  f"{seconds:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
