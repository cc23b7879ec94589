"""MinAtar: one-step return of a distilled batch vs our PPO at equal env steps vs a uniform-random policy.

For each game: `distill()` with the MinAtar defaults (a PPO teacher on 90 % of the time, its conv and dense layers the
persistent encoder, 512 of its frames, cnn:small, the head step; `--set KEY=VALUE` changes them) for `--time-limit`
seconds; the batch is evaluated over `--inits` unseen inits x `--episodes` greedy episodes; `ppo_baseline.train_ppo`
(same envs, cnn:small, 32 envs x 128 steps, lr 5e-4, 4 epochs of `--ppo-minibatches` minibatches: 4 is the teacher's
setting) trains for the same number of env steps and is evaluated greedily over `--ppo-episodes` episodes; the random
policy over 10 episodes. Episodes are capped at 10,000 agent steps (distillhub's MinAtar cap).

    cd benchmarks && PYTHONPATH=.. python minatar_games.py SpaceInvaders Breakout --time-limit 900 --out runs
    cd benchmarks && PYTHONPATH=.. python minatar_games.py Asterix --time-limit 300 --set encoder_layers=1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from ppo_baseline import evaluate_module, train_ppo
from random_reference import random_return

from distillhub.batch import save_folder
from distillhub.distill import default_config, distill, parse_settings
from distillhub.evaluate import evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("games", nargs="+", default=["Breakout"])
    p.add_argument("--time-limit", type=float, default=600)
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--episodes", type=int, default=1, help="greedy episodes per unseen init")
    p.add_argument("--ppo-episodes", type=int, default=10)
    p.add_argument("--ppo-minibatches", type=int, default=4, help="our PPO's minibatches per epoch (the teacher's 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], help="config overrides, e.g. x_init=teacher teacher_fraction=0.5")
    p.add_argument("--out", default=None, help="save each batch to OUT/<game> (with its held-out curve)")
    a = p.parse_intermixed_args()
    overrides = parse_settings(a.set)
    torch.set_num_threads(2)
    print(
        "| game | distill wall (s) | env steps (both) | teacher env steps / training return | one-step mean | worst init "
        "| PPO wall (s) | PPO mean | random | one step vs PPO |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for game in a.games:
        env_id = f"MinAtar/{game}-v1"
        start = time.monotonic()
        cfg = default_config(env_id, time_limit=a.time_limit, seed=a.seed, max_steps=10**9, **overrides)
        batch = distill(cfg)
        wall = time.monotonic() - start
        steps = batch.extra["training"]["env_steps"]
        result = evaluate(batch, inits=a.inits, episodes=a.episodes, seed=1)
        if a.out:
            save_folder(batch, Path(a.out) / game)
        t = batch.extra["training"]["teacher"]
        teacher = "–" if t is None else f"{t['env_steps']:,} / {t['train_return']}"
        policy, ppo_steps, ppo_wall = train_ppo(env_id, max_steps=steps, seed=a.seed, num_envs=32, rollout_steps=128,
                                                arch="cnn:small", lr=5e-4, minibatches=a.ppo_minibatches)  # fmt: skip
        ppo = evaluate_module(policy, env_id, episodes=a.ppo_episodes)
        rnd = random_return(env_id, 10)
        ratio = result.mean / ppo if ppo > 0 else float("nan")
        print(f"| {game} | {wall:.0f} | {steps:,} | {teacher} | {result.mean:.2f} | {result.min:.2f} | {ppo_wall:.0f} | {ppo:.2f} | "
              f"{rnd:.2f} | {ratio:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
