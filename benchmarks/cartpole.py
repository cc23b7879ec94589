"""CartPole-v1 acceptance benchmark: wall time, worst/mean return over 20 unseen inits, other widths,
throughput. Prints a Markdown table.

    cd benchmarks && PYTHONPATH=.. python cartpole.py   # 3 seeds x {2, 16} samples (~5 min on 2 cores)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from distillhub.distill import Distiller, default_config
from distillhub.evaluate import evaluate


def run(samples: int, seed: int, **overrides):
    t0 = time.monotonic()
    d = Distiller(default_config("CartPole-v1", learners="single", samples=samples, seed=seed, **overrides))
    batch = d.run()
    wall = time.monotonic() - t0
    d.close()
    return batch, wall, d.global_step, d.global_step / d.elapsed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        "| samples | seed | distill wall (s) | env steps | steps/s | eval mean (20 unseen inits) | worst init | inits ≥ 475 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    widths = {}
    for samples in (2, 16):
        walls = []
        for seed in range(args.seeds):
            batch, wall, steps, sps = run(samples, seed)
            walls.append(wall)
            r = evaluate(batch, inits=20, episodes=1, seed=1)
            solved = sum(v >= 475 for v in r.per_init)
            print(
                f"| {samples} | {seed} | {wall:.1f} | {steps:,} | {sps:,.0f} | {r.mean:.1f} | {r.min:.0f} | {solved}/20 |",
                flush=True,
            )
            if seed == 0:
                widths[samples] = {
                    a: evaluate(batch, inits=20, episodes=1, seed=1, arch=a)
                    for a in ("mlp:32-32:tanh", "mlp:64-64:tanh", "mlp:256-256:tanh")
                }
        print(f"| {samples} | median | {statistics.median(walls):.1f} | | | | | |", flush=True)
    print("\nOther learner widths than distilled with (mlp:64-64:tanh), seed-0 batch, 20 unseen inits:\n")
    print("| samples | learner | mean | worst init |")
    print("|---|---|---|---|")
    for samples, res in widths.items():
        for arch, r in res.items():
            print(f"| {samples} | {arch} | {r.mean:.1f} | {r.min:.0f} |")
    print("\nThroughput: 20 meta-iterations without early stop, per num_envs (default 512):\n")
    print("| num_envs | env steps | steps/s incl. meta-gradients and evals |")
    print("|---|---|---|")
    for n in (256, 512, 1024):
        cfg = default_config("CartPole-v1", learners="single", num_envs=n, early_stop=False, max_steps=20 * n * 32)
        d = Distiller(cfg)
        d.run()
        print(f"| {n} | {d.global_step:,} | {d.global_step / d.elapsed:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
