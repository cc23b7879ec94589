"""Can one step from a fresh init express a good policy for this env at all? A probe without meta-learning.

Trains a PPO teacher on the distiller's rollout code (`ppo_baseline.py`, `--teacher-time` seconds), records the
states it visits (20 % uniform random actions, so recoveries are seen), and builds behaviour-cloning batches by
hand: N of those states labelled with the teacher's action means. Every learner in `--learners` takes the `head`
step (lr 1) on each batch from `--inits` fresh inits; greedy episodes in gymnasium's env. Prints the one-step
mean and worst init per (N, learner): where even cloning a good teacher fails, the learner's one-step features are
the limit, not the meta-gradient. Continuous-action envs.

    cd benchmarks && PYTHONPATH=.. python bc_probe.py Pendulum-v1 --samples 256 1024 4096 \
        --learners mlp:64-64:tanh@orthogonal:0.01 mlp:64-64:relu@orthogonal:0.01 mlp:64-64-64:tanh@orthogonal:0.01
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch
from ppo_baseline import evaluate_module, train_ppo

from distillhub.batch import Batch
from distillhub.evaluate import evaluate


def visited_states(policy, env_id: str, episodes: int, seed: int = 0) -> torch.Tensor:
    """States of ``episodes`` teacher episodes with 20 % uniform random actions."""
    env, rng, out = gym.make(env_id), np.random.default_rng(seed), []
    low, high = env.action_space.low, env.action_space.high
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            out.append(obs)
            with torch.no_grad():
                action = policy(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            if rng.random() < 0.2:
                action = rng.uniform(low, high)
            obs, _, term, trunc, _ = env.step(np.clip(action, low, high).astype(np.float32))
            done = term or trunc
    env.close()
    return torch.as_tensor(np.array(out), dtype=torch.float32)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("env")
    p.add_argument("--teacher-time", type=float, default=150.0)
    p.add_argument("--episodes", type=int, default=40, help="teacher episodes whose states are drawn from")
    p.add_argument("--samples", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--learners", nargs="+", default=["mlp:64-64:tanh@orthogonal:0.01"])
    p.add_argument("--inits", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(2)
    teacher, steps, wall = train_ppo(
        args.env, time_limit=args.teacher_time, max_steps=10**12, seed=0, num_envs=16, rollout_steps=256, epochs=10,
        minibatches=8, lr=3e-4, anneal_lr=True,
    )  # fmt: skip
    score = evaluate_module(teacher, args.env, episodes=10, seed=5)
    states = visited_states(teacher, args.env, args.episodes)
    print(f"\n{args.env}: PPO teacher {score:.1f} (greedy, 10 episodes) after {steps:,} env steps / {wall:.0f} s; "
          f"{len(states):,} visited states; head step, lr 1, {args.inits} fresh inits, 1 greedy episode each\n")  # fmt: skip
    print("| samples | learner | one-step mean | worst init |")
    print("|---|---|---|---|")
    mean, std = teacher.obs_mean, teacher.obs_std
    for n in args.samples:
        pick = torch.randperm(len(states), generator=torch.Generator().manual_seed(n))[:n]
        x = states[pick]
        with torch.no_grad():
            y = teacher(x)
        for spec in args.learners:
            arch, init = spec.split("@")
            batch = Batch(
                observations=x, targets=y, learning_rate=1.0, env_id=args.env, action_space="continuous",
                architecture=arch, init=init, inner_step="head", log_std=torch.full((y.shape[1],), -1.0),
                obs_mean=None if mean is None else mean.float(), obs_std=None if std is None else std.float(),
            )  # fmt: skip
            r = evaluate(batch, inits=args.inits, episodes=1, seed=1)
            print(f"| {n} | `{spec}` | {r.mean:.1f} | {r.min:.1f} |", flush=True)


if __name__ == "__main__":
    main()
