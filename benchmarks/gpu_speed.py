"""Whole-distillation throughput (env steps/s, held-out evaluations included) per env, device and vectorisation.

One process runs each row for `--time` seconds (Hopper rows 1.5x) with the env's defaults and early stopping off;
prints a Markdown table. Made for a lent GPU machine, where `--device cuda` rows sit next to the same machine's CPU.

    cd benchmarks && PYTHONPATH=.. python gpu_speed.py --time 12
"""

from __future__ import annotations

import argparse
import os

import torch

from distillhub.distill import Distiller, default_config

ROWS = [
    ("CartPole-v1", "cuda", {"learners": "single"}),  # the one-learner loop these rows have always timed
    ("CartPole-v1", "cuda", {"learners": "single", "num_envs": 4096}),
    ("CartPole-v1", "cpu", {"learners": "single"}),
    ("Hopper-v5", "cuda", {"vectorization": "sync", "encoder_layers": 0, "x_init": "random"}),  # the meta-PPO loop, no teacher phase
    ("Hopper-v5", "cuda", {"vectorization": "async", "encoder_layers": 0, "x_init": "random"}),
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--time", type=float, default=12.0)
    p.add_argument("--device", default=None, help="replace every row's device (a dry run on a CPU machine)")
    args = p.parse_args()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"torch {torch.__version__}, {gpu}, {os.cpu_count()} CPU cores\n")
    print("| env | device | envs | vectorization | wall (s) | env steps | env steps/s |")
    print("|---|---|---|---|---|---|---|")
    for env_id, device, overrides in ROWS:
        seconds = args.time * (1.5 if env_id.startswith("Hopper") else 1.0)
        cfg = default_config(
            env_id, device=args.device or device, time_limit=seconds, early_stop=False, seed=0, **overrides
        )
        d = Distiller(cfg)
        d.run()
        d.close()
        print(
            f"| {env_id} | {d.device} | {cfg.num_envs} | {cfg.vectorization} | {d.elapsed:.1f} | "
            f"{d.global_step:,} | {d.global_step / d.elapsed:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
