"""What one inner step costs per learner family and rule, with and without the meta-gradient.

For each family of a learner set (`zoo` by default), `--inits` fresh inits take the step on a random batch of
`--samples` observations (`--obs-dim` features, `--outputs` outputs) with `distillhub.onestep.step_population`:
  - "step": the step alone, no graph (what evaluation and `load_policy` pay per init),
  - "meta": the step with gradients into x, y and lr, then the backward pass of a loss on the stepped learners'
    outputs (what the distiller pays per meta-iteration).
`--whole-batch` also times `gn`/`fit` with the Jacobian of the whole batch's outputs (N x K backward passes through
all N samples: distillhub before the Jacobian was built a sample at a time), side by side in the same run.

    cd benchmarks && PYTHONPATH=.. python step_cost.py --rules head fit --samples 256 --obs-dim 8 --whole-batch
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

import torch
from torch.func import functional_call, jacrev

import distillhub.onestep as onestep
from distillhub.learners import build_learner, fresh_params, population_forward
from distillhub.population import parse_learners


def whole_batch_gauss_newton(module, params, x, y, frozen, damping=onestep.GN_DAMPING):
    """The damped Gauss-Newton direction from the Jacobian of the whole batch's outputs."""

    def forward(p):
        return functional_call(module, {**frozen, **p}, (x,))

    out = forward(params)
    jac = jacrev(forward)(params)
    rows = torch.cat([jac[k].reshape(out.numel(), -1) for k in params], dim=1)
    weights = onestep._damped_solve(rows @ rows.T, (out - y).reshape(-1, 1), damping)
    flat = (rows.T @ weights).squeeze(1).split([p.numel() for p in params.values()])
    return {k: g.view_as(params[k]) for k, g in zip(params, flat, strict=True)}


@contextmanager
def jacobian(kind: str):
    """``kind`` "sample": the library's; "whole": the whole-batch Jacobian above."""
    library = onestep._gauss_newton_grads
    if kind == "whole":
        onestep._gauss_newton_grads = whole_batch_gauss_newton
    try:
        yield
    finally:
        onestep._gauss_newton_grads = library


def time_step(learner, rule: str, args, meta: bool, repeats: int) -> float:
    """Median seconds of one population step (and its meta-gradient) for ``args.inits`` inits."""
    net = build_learner(learner.arch, (args.obs_dim,), args.outputs)
    gen = torch.Generator().manual_seed(0)
    params = fresh_params(net, learner.init, gen, args.inits)
    x = torch.randn(args.samples, args.obs_dim, generator=gen, requires_grad=meta)
    y = torch.randn(args.samples, args.outputs, generator=gen, requires_grad=meta)
    lr = torch.tensor(1.0, requires_grad=meta)
    probe = torch.randn(args.inits, 64, args.obs_dim, generator=gen)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        with torch.set_grad_enabled(meta):
            stepped = onestep.step_population(net, params, x, y, lr, rule=rule)
            if meta:
                population_forward(net, stepped, probe).square().mean().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--learners", default="zoo")
    p.add_argument("--rules", nargs="+", default=["head", "fit"])
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--obs-dim", type=int, default=8)
    p.add_argument("--outputs", type=int, default=2)
    p.add_argument("--inits", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--whole-batch", action="store_true", help="also time gn/fit with the whole-batch Jacobian")
    p.add_argument("--no-meta", action="store_true", help="time the step alone only")
    args = p.parse_args()
    torch.set_num_threads(2)
    learners = parse_learners(args.learners, False)
    columns = []
    for rule in args.rules:
        kinds = ["sample", "whole"] if args.whole_batch and rule in ("gn", "fit") else ["sample"]
        for kind in kinds:
            for meta in [False] if args.no_meta else [False, True]:
                columns.append((rule, kind, meta))
    label = {"sample": "", "whole": " (whole-batch J)"}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.inits} inits per family, "
          f"{args.samples} samples x {args.obs_dim} features -> {args.outputs} outputs; median of {args.repeats}\n")  # fmt: skip
    print("| learner | " + " | ".join(f"{r}{label[k]}, {'meta' if m else 'step'} (s)" for r, k, m in columns) + " |")
    print("|---|" + "---|" * len(columns))
    totals = [0.0] * len(columns)
    for learner in learners:
        cells = []
        for i, (rule, kind, meta) in enumerate(columns):
            with jacobian(kind):
                # the whole-batch Jacobian of a Transformer takes minutes: one repeat of it
                t = time_step(learner, rule, args, meta, 1 if kind == "whole" else args.repeats)
            totals[i] += t
            cells.append(f"{t:.3f}")
        print(f"| `{learner.arch}@{learner.init}` | " + " | ".join(cells) + " |", flush=True)
    print("| **all** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")


if __name__ == "__main__":
    main()
