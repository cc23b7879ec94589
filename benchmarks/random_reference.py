"""Measure the uniform-random-policy return of every env with a PPO reference (distillhub/references.py).

Episodes in the evaluator's env (`distillhub.make_env`, whole games for Atari), actions sampled uniformly from the
action space (seeded); prints the mean per env as the dict literal stored in `RANDOM_REFERENCE`.

    cd benchmarks && PYTHONPATH=.. python random_reference.py --episodes 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from distillhub.envs import make_env
from distillhub.references import PPO_REFERENCE


def random_return(env_id: str, episodes: int, seed: int = 0) -> float:
    env = make_env(env_id)
    env.action_space.seed(seed)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("envs", nargs="*", default=[e for e in PPO_REFERENCE if e != "distillhub/CartPoleND-v0"])
    a = p.parse_args()
    print("| env | uniform-random mean return | episodes | wall (s) |\n|---|---|---|---|")
    lines = []
    for env_id in a.envs:
        start = time.monotonic()
        value = random_return(env_id, a.episodes)
        print(f"| {env_id} | {value:.2f} | {a.episodes} | {time.monotonic() - start:.1f} |", flush=True)
        lines.append(f'    "{env_id}": ({value:.2f}, "uniform random policy, {a.episodes} episodes, benchmarks/random_reference.py"),')
    print("\nRANDOM_REFERENCE = {\n" + "\n".join(lines) + "\n}")


if __name__ == "__main__":
    main()
