#!/usr/bin/env python3
"""The torch.func peer of `fewclick bench-train` (issue 12): the same job, timed the same way.

The job: a 48-64-32-1 ReLU scorer (nn.Linear, PyTorch's default initialisation: 5,249
parameters); a task is 25 support candidates (5 positive) and 25 query candidates (1 positive),
positives first, with the pairwise logistic loss (mean over every (positive, negative) pair of
softplus(-(s_pos - s_neg))); a meta-step is 5 inner SGD steps of 0.1 on each of 32 tasks, one
`vmap` over the meta-batch, then Adam at 1e-3 (torch.optim.Adam, the defaults otherwise).

  maml      second order: torch.func.grad of the query loss through the inner steps, whose own
            torch.func.grad calls are differentiated (the create_graph semantics of nested grad)
  fomaml    the inner steps are not differentiated: the query gradient at the adapted weights
  reptile   SGD on the task (support + query loss, as fewclick's Reptile), then Adam with
            theta0 - theta_adapted as the gradient (the interpolation step)
  meta-sgd  second order, with a learned step size per parameter (Adam 1e-3, clamped to [0, 2])
  anil      second order; the inner loop adapts only the last layer, on the body's features of the
            support rows computed once (the body does not change within the inner loop)
  joint     the query loss at theta0, no inner loop

Tasks are synthetic, drawn as fewclick draws them (a shared taste plus a task's own, standard
normal rows, the best-scoring rows positive) but from torch's generator, so not the same numbers.
All tasks of a run are generated before the timing starts (and timed apart). JSON rows on stdout,
one per algorithm, with the keys of fewclick's; a table on stderr.
"""

import argparse
import json
import sys
import time
import warnings

# torch warns once when numpy is missing; nothing here uses numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call, grad, grad_and_value, vmap  # noqa: E402

INPUTS, HIDDEN = 48, (64, 32)
SUPPORT_ROWS, SUPPORT_POSITIVES = 25, 5
QUERY_ROWS, QUERY_POSITIVES = 25, 1
META_BATCH, INNER_STEPS, INNER_LR, META_LR = 32, 5, 0.1, 1e-3
HEAD = ("4.weight", "4.bias")
ALL = ["maml", "fomaml", "reptile", "meta-sgd", "anil", "joint"]


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(INPUTS, HIDDEN[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN[1], 1),
    )


def pairwise(scores, n_pos):
    """Mean over (positive, negative) pairs of softplus(-(s_pos - s_neg)); positives come first."""
    pos, neg = scores[:n_pos], scores[n_pos:]
    return F.softplus(neg[None, :] - pos[:, None]).mean()


def sample_tasks(gen, shared, n):
    """`n` tasks: support rows (n, 25, 48) and query rows (n, 25, 48), the best under each task's
    preference (shared + its own) first."""
    pref = shared[None, :] + torch.randn(n, INPUTS, generator=gen)

    def rows(m):
        x = torch.randn(n, m, INPUTS, generator=gen)
        order = (x @ pref[:, :, None]).squeeze(-1).argsort(dim=1, descending=True)
        return torch.gather(x, 1, order[:, :, None].expand(-1, -1, INPUTS))

    return rows(SUPPORT_ROWS), rows(QUERY_ROWS)


class Job:
    """The per-task functions of every algorithm, over one model's parameter dict."""

    def __init__(self, model):
        self.model = model
        self.body = model[:4]

    def loss(self, p, x, n_pos):
        return pairwise(functional_call(self.model, p, (x,)).squeeze(-1), n_pos)

    def support_loss(self, p, xs):
        return self.loss(p, xs, SUPPORT_POSITIVES)

    def query_loss(self, p, xq):
        return self.loss(p, xq, QUERY_POSITIVES)

    def adapt(self, p, xs, alpha):
        """INNER_STEPS SGD steps on the support loss; `alpha` a dict like `p` (a step per
        parameter) or a float. Differentiable when called under an outer grad."""
        for _ in range(INNER_STEPS):
            g = grad(self.support_loss)(p, xs)
            if isinstance(alpha, dict):
                p = {k: p[k] - alpha[k] * g[k] for k in p}
            else:
                p = {k: p[k] - alpha * g[k] for k in p}
        return p

    def maml(self, p, xs, xq):
        return self.query_loss(self.adapt(p, xs, INNER_LR), xq)

    def meta_sgd(self, p, alpha, xs, xq):
        return self.query_loss(self.adapt(p, xs, alpha), xq)

    def anil(self, p, xs, xq):
        body = {k: v for k, v in p.items() if k not in HEAD}
        hs = functional_call(self.body, body, (xs,))

        def head_loss(head, h, n_pos):
            return pairwise(F.linear(h, head[0], head[1]).squeeze(-1), n_pos)

        head = (p[HEAD[0]], p[HEAD[1]])
        for _ in range(INNER_STEPS):
            gw, gb = grad(head_loss)(head, hs, SUPPORT_POSITIVES)
            head = (head[0] - INNER_LR * gw, head[1] - INNER_LR * gb)
        return head_loss(head, functional_call(self.body, body, (xq,)), QUERY_POSITIVES)

    def fomaml(self, p, xs, xq):
        """Not differentiated through: the adapted weights' query gradient and loss."""
        phi = self.adapt(p, xs, INNER_LR)
        return grad_and_value(self.query_loss)(phi, xq)

    def reptile(self, p, xs, xq):
        """theta0 - theta_adapted after SGD on the whole task, and the query loss there."""

        def both(q):
            return self.support_loss(q, xs) + self.query_loss(q, xq)

        phi = p
        for _ in range(INNER_STEPS):
            g = grad(both)(phi)
            phi = {k: phi[k] - INNER_LR * g[k] for k in phi}
        return {k: p[k] - phi[k] for k in p}, self.query_loss(phi, xq)

    def joint(self, p, xs, xq):
        return grad_and_value(self.query_loss)(p, xq)


def run(algorithm, warmup, steps, seed):
    """Times `steps` meta-steps after `warmup` untimed ones; returns (seconds, generation seconds,
    the last step's mean query loss)."""
    torch.manual_seed(seed)
    model = make_model()
    job = Job(model)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    alpha = {k: torch.full_like(v, INNER_LR) for k, v in params.items()}
    opt = torch.optim.Adam(list(params.values()), lr=META_LR)
    opt_alpha = torch.optim.Adam(list(alpha.values()), lr=META_LR)

    # One vmap over the meta-batch: θ0 (and α) shared, the task's rows batched.
    if algorithm == "maml":
        per_task = vmap(grad_and_value(job.maml), in_dims=(None, 0, 0))
    elif algorithm == "anil":
        per_task = vmap(grad_and_value(job.anil), in_dims=(None, 0, 0))
    elif algorithm == "meta-sgd":
        per_task = vmap(grad_and_value(job.meta_sgd, argnums=(0, 1)), in_dims=(None, None, 0, 0))
    else:
        per_task = vmap(getattr(job, algorithm), in_dims=(None, 0, 0))

    started = time.perf_counter()
    gen = torch.Generator().manual_seed(seed + 1)
    shared = torch.randn(INPUTS, generator=gen)
    batches = [sample_tasks(gen, shared, META_BATCH) for _ in range(warmup + steps)]
    generation = time.perf_counter() - started

    def meta_step(xs, xq):
        if algorithm == "meta-sgd":
            (g, ga), losses = per_task(params, alpha, xs, xq)
            for k, a in alpha.items():
                a.grad = ga[k].mean(0)
            opt_alpha.step()
            with torch.no_grad():
                for a in alpha.values():
                    a.clamp_(0.0, 2.0)
        else:
            g, losses = per_task(params, xs, xq)
        for k, p in params.items():
            p.grad = g[k].mean(0)
        opt.step()
        return losses.mean().item()

    loss = float("nan")
    for xs, xq in batches[:warmup]:
        loss = meta_step(xs, xq)
    t0 = time.perf_counter()
    for xs, xq in batches[warmup:]:
        loss = meta_step(xs, xq)
    return time.perf_counter() - t0, generation, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--algorithms", default="maml,fomaml,reptile,meta-sgd,anil")
    ap.add_argument("--steps", type=int, default=300, help="timed meta-steps per algorithm")
    ap.add_argument("--warmup", type=int, default=3, help="untimed meta-steps before them")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    algorithms = [s.strip() for s in a.algorithms.split(",")]
    for s in algorithms:
        if s not in ALL:
            sys.exit(f"error: unknown algorithm {s!r}; expected one of {', '.join(ALL)}")
    if a.steps < 1 or a.threads < 1:
        sys.exit("error: --steps and --threads must be at least 1")
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    n_params = sum(p.numel() for p in make_model().parameters())
    print(
        f"bench-train (torch {torch.__version__}, torch.func): seed {a.seed}, {torch.get_num_threads()} threads, "
        f"{a.warmup} warm-up + {a.steps} timed meta-steps of {META_BATCH} tasks x {INNER_STEPS} inner steps "
        f"({n_params} parameters); task generation is done first and not timed",
        file=sys.stderr,
    )
    rows = []
    for alg in algorithms:
        seconds, generation, loss = run(alg, a.warmup, a.steps, a.seed)
        rate = a.steps / seconds
        row = {
            "side": "torch.func",
            "algorithm": alg,
            "meta_steps_per_s": rate,
            "steps": a.steps,
            "warmup": a.warmup,
            "threads": a.threads,
            "params": n_params,
            "meta_batch": META_BATCH,
            "inner_steps": INNER_STEPS,
            "seed": a.seed,
            "query_loss": loss,
        }
        print(json.dumps(row), flush=True)
        print(f"{alg}: {rate:.2f} meta-steps/s ({seconds:.1f} s; tasks generated in {generation:.2f} s)", file=sys.stderr)
        rows.append((alg, rate, loss))
    print("\n| algorithm | meta-steps/s | ms per meta-step | query loss (last step) |", file=sys.stderr)
    print("|---|---|---|---|", file=sys.stderr)
    for alg, rate, loss in rows:
        print(f"| {alg} | {rate:.2f} | {1e3 / rate:.1f} | {loss:.4f} |", file=sys.stderr)


if __name__ == "__main__":
    main()
