"""Atari: rollout steps/s (sync vs async vs ale-py's native vector env) and a real distillation.

    cd benchmarks && PYTHONPATH=.. python atari_games.py vector                       # steps/s, 2 cores
    cd benchmarks && PYTHONPATH=.. python atari_games.py distill ALE/Breakout-v5 --time-limit 900

The distillation reports the return of one step from fresh inits vs. a uniformly random policy,
vs. one step on an untrained (random) batch, and vs. the CleanRL PPO reference. Prints Markdown.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from distillhub.distill import Distiller, default_config
from distillhub.envs import env_info, make_env, make_vector_env
from distillhub.evaluate import evaluate
from distillhub.references import PPO_REFERENCE


def vector(env_id: str, num_envs: int, steps: int) -> None:
    info = env_info(env_id)
    print(f"\n{env_id}: {num_envs} envs, random actions, {steps} vector steps (84x84x4 uint8 frames, frame-skip 4)\n")
    print("| vectorization | agent steps/s | frames/s |")
    print("|---|---|---|")
    for mode in ("sync", "async", "ale"):
        env = make_vector_env(info, num_envs, vectorization=mode)
        env.reset()
        g = torch.Generator().manual_seed(0)
        t0 = time.monotonic()
        for _ in range(steps):
            env.step(torch.randint(0, info.n_outputs, (num_envs,), generator=g))
        sps = steps * num_envs / (time.monotonic() - t0)
        env.close()
        print(f"| {mode} | {sps:,.0f} | {4 * sps:,.0f} |", flush=True)


def random_policy_return(env_id: str, episodes: int) -> float:
    returns = []
    for ep in range(episodes):
        env = make_env(env_id)
        env.reset(seed=ep)
        rng = np.random.default_rng(ep)
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
            total += r
            done = term or trunc
        returns.append(total)
        env.close()
    return float(np.mean(returns))


def distill(env_id: str, samples: int | None, time_limit: float, vectorization: str, inits: int) -> None:
    cfg = default_config(env_id, samples=samples, time_limit=time_limit, vectorization=vectorization)
    t0 = time.monotonic()
    d = Distiller(cfg)
    batch = d.run()
    wall = time.monotonic() - t0
    d.close()
    r = evaluate(batch, inits=inits, episodes=1, seed=1)
    untrained = d.current_batch()
    g = torch.Generator().manual_seed(0)
    untrained.observations = torch.rand(untrained.observations.shape, generator=g) * 255
    untrained.targets = torch.randn(untrained.targets.shape, generator=g)
    base = evaluate(untrained, inits=inits, episodes=1, seed=1)
    rand = random_policy_return(env_id, inits)
    ref = PPO_REFERENCE.get(env_id, (float("nan"),))[0]
    print(f"\n{env_id}, {cfg.samples} samples, {cfg.arch}, population {cfg.population}, {cfg.num_envs} envs "
          f"({vectorization}), {d.device}\n")  # fmt: skip
    print("| distill wall (s) | env steps | one-step mean (unseen inits) | worst | one step on a random batch | "
          "uniform random policy | PPO reference |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print(f"| {wall:.0f} | {d.global_step:,} | {r.mean:.1f} ({inits} inits) | {r.min:.1f} | {base.mean:.1f} | "
          f"{rand:.1f} | {ref} |")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["vector", "distill"])
    p.add_argument("env", nargs="?", default="ALE/Breakout-v5")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=900.0)
    p.add_argument("--vectorization", default="ale")
    p.add_argument("--inits", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what == "vector":
        vector(args.env, args.num_envs, args.steps)
    else:
        distill(args.env, args.samples, args.time_limit, args.vectorization, args.inits)


if __name__ == "__main__":
    main()
