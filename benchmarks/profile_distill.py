"""Where a distillation's time goes: wall time per part of the meta-PPO loop, for any env.

Runs `--iterations` meta-iterations of the env's default config (overrides with `--set KEY=VALUE ...`) with a timer around
every part of the loop, and prints one markdown table: seconds, share of the training time and microseconds
per env step. Parts: the vectorised env's step, the one step of the population for the rollout, the
population's forward pass, action sampling, the critic's values, GAE, the PPO update (the one step again with
a graph, forward, backward), the two optimiser steps, the held-out evaluations (everything they call); "rest" is the loop itself
(buffer writes, reward scaling, bookkeeping). Timers synchronise CUDA when it is used.

    cd benchmarks && PYTHONPATH=.. python profile_distill.py CartPole-v1 --iterations 30
    cd benchmarks && PYTHONPATH=.. python profile_distill.py Pendulum-v1 --set num_envs=16 rollout_steps=256 update_epochs=10 num_minibatches=8
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import torch

from distillhub.distill import Distiller, default_config, parse_settings
from distillhub.envs import family_of

# the module itself (the package's `distill` name is the function)
distill_module = sys.modules["distillhub.distill"]

TOTALS: dict[str, float] = defaultdict(float)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


_STACK: list[float] = []  # time spent in nested timed calls, per open call
_PHASES: list[str] = []  # the update and the evaluation: parts called inside them are reported apart
PHASES = ("_backward_minibatch", "_record_eval")


def timed(name: str, fn):
    """Wrap ``fn`` so its self time (minus nested timed calls) adds to ``TOTALS``, keyed by the
    phase it runs in (``_backward_minibatch>_step_population`` is the one step re-taken with a graph)."""

    def wrapper(*args, **kwargs):
        key = f"{_PHASES[-1]}>{name}" if _PHASES and name not in PHASES else name
        _sync()
        start = time.perf_counter()
        _STACK.append(0.0)
        if name in PHASES:
            _PHASES.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            _sync()
            if name in PHASES:
                _PHASES.pop()
            elapsed = time.perf_counter() - start
            nested = _STACK.pop()
            TOTALS[key] += elapsed - nested
            if _STACK:
                _STACK[-1] += elapsed

    return wrapper


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--vectorization", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", nargs="*", default=[], help="config fields as KEY=VALUE, e.g. num_envs=64 update_epochs=4")
    a = p.parse_args()
    torch.set_num_threads(2)
    # one learner, as the README's profile (CartPole-v1's default is the zoo since session 17: --set learners=zoo)
    overrides = {"early_stop": False, "seed": 0, "learners": "single", **parse_settings(a.set)}
    if family_of(a.env) == "mujoco":
        overrides.setdefault("encoder_layers", 0)  # the MuJoCo loop the README profiles (no teacher's encoder)
    cfg = default_config(a.env, vectorization=a.vectorization, device=a.device, **overrides)
    if cfg.x_init == "teacher" and "x_init" not in overrides:
        cfg.x_init = "states"  # the loop is profiled, not a teacher phase (which would take the whole budget)
    cfg.max_steps = 10**12
    d = Distiller(cfg)
    # module-level helpers the loop calls by name, and the Distiller's own parts
    for name in ("sample_actions", "compute_gae"):
        setattr(distill_module, name, timed(name, getattr(distill_module, name)))
    for name in ("_step_population", "_forward_population", "_values", "_backward_minibatch", "_record_eval"):
        setattr(d, name, timed(name, getattr(d, name)))
    d.env.step = timed("env.step", d.env.step)
    d.meta_opt.step = timed("optimiser steps", d.meta_opt.step)
    d.critic_opt.step = timed("optimiser steps", d.critic_opt.step)

    steps_per_iter = cfg.num_envs * cfg.rollout_steps
    warmup = 2  # first-call costs (allocation, envpool threads) are not the steady state
    iterations = {"n": 0}

    def callback(stats):
        iterations["n"] += 1
        if iterations["n"] == warmup:
            TOTALS.clear()
            iterations["start"] = time.perf_counter()
        if iterations["n"] >= warmup + a.iterations:
            raise StopIteration

    try:
        d.run(callback)
    except StopIteration:
        pass
    wall = time.perf_counter() - iterations["start"]
    d.close()
    steps = a.iterations * steps_per_iter
    labels = {
        "env.step": "env step (vectorised)",
        "_step_population": "rollout: one step (no graph)",
        "_forward_population": "rollout: population forward",
        "sample_actions": "rollout: action sampling",
        "_values": "critic values (rollout, truncation bootstrap)",
        "compute_gae": "GAE",
        "_backward_minibatch>_step_population": "update: one step with a graph, per minibatch",
        "_backward_minibatch>_forward_population": "update: population forward",
        "_backward_minibatch": "update: losses, backward, gradient all-reduce",
        "optimiser steps": "update: optimiser steps (batch + critic)",
        "_record_eval": "held-out evaluations (all of it)",
    }
    for key in list(TOTALS):
        if key.startswith("_record_eval>"):
            TOTALS["_record_eval"] += TOTALS.pop(key)
    print(f"{a.env}: {a.iterations} meta-iterations x {steps_per_iter:,} env steps, population {cfg.population}, "
          f"{cfg.num_envs} envs x {cfg.rollout_steps} steps, {cfg.update_epochs} epochs x {cfg.num_minibatches} "
          f"minibatches, {cfg.vectorization}, {cfg.device}: {steps / wall:,.0f} env steps/s")  # fmt: skip
    print()
    print("| part | seconds | share | µs per env step |")
    print("|---|---|---|---|")
    accounted = 0.0
    for key in [k for k in TOTALS if k not in labels]:
        labels[key] = key
    for key, label in labels.items():
        sec = TOTALS.get(key, 0.0)
        accounted += sec
        print(f"| {label} | {sec:.2f} | {100 * sec / wall:.0f} % | {1e6 * sec / steps:.2f} |")
    rest = wall - accounted
    print(f"| rest (loop, buffers, reward scaling) | {rest:.2f} | {100 * rest / wall:.0f} % | {1e6 * rest / steps:.2f} |")
    print(f"| **total** | **{wall:.2f}** | 100 % | **{1e6 * wall / steps:.2f}** |")


if __name__ == "__main__":
    main()
