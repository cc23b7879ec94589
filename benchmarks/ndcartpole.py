"""N-D cart-pole: distilled N+1-sample batch vs. PPO built from the same rollout code.

python benchmarks/ndcartpole.py --dims 2 3
"""

from __future__ import annotations

import argparse
import time

import torch
from ppo_baseline import evaluate_module, train_ppo

from distillhub.distill import Distiller, default_config
from distillhub.envs import ND_CARTPOLE_ID
from distillhub.evaluate import evaluate


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dims", type=int, nargs="+", default=[2, 3])
    p.add_argument("--time-limit", type=float, default=300.0, help="per distillation and per PPO run")
    args = p.parse_args()
    torch.set_num_threads(2)
    print(
        "| N | samples | distill wall (s) | distill env steps | distilled mean (20 unseen inits) | worst init | PPO wall (s) | PPO env steps | PPO mean (20 eps) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.dims:
        kw = {"n_dims": n}
        t0 = time.monotonic()
        d = Distiller(
            default_config(ND_CARTPOLE_ID, kw, samples=n + 1, max_steps=20_000_000, time_limit=args.time_limit)
        )
        batch = d.run()
        dwall = time.monotonic() - t0
        r = evaluate(batch, inits=20, episodes=1, seed=1)
        actor, psteps, pwall = train_ppo(
            ND_CARTPOLE_ID, kw, max_steps=20_000_000, time_limit=args.time_limit, target=500
        )
        ppo_mean = evaluate_module(actor, ND_CARTPOLE_ID, kw)
        print(
            f"| {n} | {n + 1} | {dwall:.0f} | {d.global_step:,} | {r.mean:.1f} | {r.min:.0f} | {pwall:.0f} | {psteps:,} | "
            f"{ppo_mean:.1f} | {100 * r.mean / ppo_mean:.0f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
