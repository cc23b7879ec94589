"""Probe for the next step rule: a batch's held-out learners under the head step vs rounds of
(damped Gauss-Newton step on every parameter, then the exact head step on the moved features).

The head step leaves the hidden layers at their init, and a narrow deep ReLU stack's random features cannot
express a CartPoleND-v0 policy whatever the batch (``results_learners.md``). One damped Gauss-Newton step on
every parameter moves them but overshoots off the batch; following it with the head step re-fits the output
layer exactly on the moved features. ``R`` rounds of both is a fit of the batch in all parameters.

    cd benchmarks && PYTHONPATH=.. python fit_rounds.py /tmp/nd2-zoo --learners held-out --variants head 1gn0.1 3gn0.1

A variant ``RgnD`` is ``R`` rounds with Levenberg-Marquardt damping ``D`` (relative to the tangent kernel's mean
diagonal, as ``onestep.GN_DAMPING``). Each learner: ``--inits`` fresh inits (seeds 1000+), one greedy episode
each in gymnasium's env; a batch without observation statistics is assumed (the learner sees raw observations).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.func import functional_call

from distillhub import onestep
from distillhub.envs import make_env
from distillhub.learners import build_learner, reinit_
from distillhub.loader import load_batch
from distillhub.population import parse_learners


def fit(module, params, x, y, variant: str) -> dict[str, torch.Tensor]:
    """θ after the variant's rule on the batch (x, y)."""
    if variant == "head":
        return onestep.step_params(module, params, x, y, 1.0, rule="head")
    rounds, damping = variant.split("gn")
    return onestep._fit(module, params, x, y, 1.0, {}, int(rounds or 1), float(damping))


def greedy_return(env, module, params, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        with torch.no_grad():
            out = functional_call(module, params, (torch.as_tensor(obs, dtype=torch.float32)[None],))
        obs, reward, terminated, truncated, _ = env.step(int(out.argmax(-1)))
        total, done = total + float(reward), terminated or truncated
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("batch", help="a batch folder (discrete actions, no observation statistics)")
    p.add_argument("--learners", default="held-out")
    p.add_argument("--variants", nargs="+", default=["head", "1gn0.1", "3gn0.1"])
    p.add_argument("--inits", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(2)
    batch = load_batch(a.batch)
    if batch.obs_mean is not None:
        raise SystemExit("this probe feeds raw observations; the batch records observation statistics")
    env = make_env(batch.env_id, batch.env_kwargs)
    x, y = batch.observations.float(), batch.targets.float()
    threshold = env.spec.reward_threshold if env.spec and env.spec.reward_threshold else 475.0
    print(f"{batch.env_id} {batch.env_kwargs}, {len(x)} samples, threshold {threshold}\n")
    print("| learner | rule | mean | worst init | inits >= threshold | seconds |")
    print("|---|---|---|---|---|---|")
    for learner in parse_learners(a.learners, False, batch.architecture, batch.init):
        for variant in a.variants:
            t0, returns = time.monotonic(), []
            for i in range(a.inits):
                module = build_learner(learner.arch, tuple(x.shape[1:]), y.shape[1])
                reinit_(module, learner.init, torch.Generator().manual_seed(1000 + i))
                params = fit(module, {k: v.detach() for k, v in module.named_parameters()}, x, y, variant)
                returns.append(greedy_return(env, module, params, seed=100 + i))
            solved = np.mean([r >= threshold for r in returns])
            print(f"| `{learner.arch}@{learner.init}` | {variant} | {np.mean(returns):.1f} | {min(returns):.0f} | "
                  f"{solved:.0%} | {time.monotonic() - t0:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
