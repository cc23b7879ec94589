"""Rollout backends side by side: distillation env steps/s with gymnasium-sync vs envpool, same config, one run.

For each env: the family's default config (64 samples, population 4, 16 envs x 256 steps for MuJoCo) with
`--vectorization sync`, then with `--vectorization envpool` (threads = cores), `--iterations` meta-iterations each.
Steady state = env steps / training time from the end of the first meta-iteration on (rollouts, meta-gradients,
held-out evaluations included).

    cd benchmarks && PYTHONPATH=.. python backends.py Hopper-v5 Ant-v5 Humanoid-v5 --iterations 6
"""

from __future__ import annotations

import argparse

import torch

from distillhub.distill import default_config, distill


def steady_rate(env_id: str, vectorization: str, iterations: int) -> float:
    # the meta-PPO loop: no teacher phase, no encoder
    cfg = default_config(env_id, vectorization=vectorization, early_stop=False, encoder_layers=0, x_init="random")
    cfg.max_steps = cfg.num_envs * cfg.rollout_steps * iterations
    marks = []
    distill(cfg, callback=marks.append)
    first, last = marks[0], marks[-1]
    return (last.global_step - first.global_step) / (last.elapsed - first.elapsed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("envs", nargs="+")
    p.add_argument("--iterations", type=int, default=6)
    a = p.parse_args()
    torch.set_num_threads(2)
    print("| env | gymnasium sync steps/s | envpool steps/s | envpool / sync |\n|---|---|---|---|")
    for env_id in a.envs:
        sync = steady_rate(env_id, "sync", a.iterations)
        pool = steady_rate(env_id, "envpool", a.iterations)
        print(f"| {env_id} | {sync:,.0f} | {pool:,.0f} | {pool / sync:.2f} |", flush=True)


if __name__ == "__main__":
    main()
