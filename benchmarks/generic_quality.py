"""Generic-path quality at a fixed wall-clock budget: distil, then one step from unseen inits in gymnasium's env.

For each env: `distill(default_config(env, time_limit=...))` (overrides with `--set key=value`), then
`evaluate(batch, inits=--inits, episodes=--episodes)` with seeds the distiller never used. Prints one markdown
row per env (and the JSON of each run with `--json`).

    cd benchmarks && PYTHONPATH=.. python generic_quality.py Acrobot-v1 Pendulum-v1 --time-limit 600
    cd benchmarks && PYTHONPATH=.. python generic_quality.py Pendulum-v1 --time-limit 600 --set gamma=0.9
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from distillhub.distill import default_config, distill, parse_settings
from distillhub.evaluate import evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("envs", nargs="+")
    p.add_argument("--time-limit", type=float, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--set", nargs="*", default=[], help="config overrides, e.g. gamma=0.9 samples=32")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(2)
    overrides = parse_settings(a.set)
    rows = []
    for env_id in a.envs:
        cfg = default_config(env_id, time_limit=a.time_limit, seed=a.seed, max_steps=10**12, **overrides)
        start = time.monotonic()
        batch = distill(cfg)
        wall = time.monotonic() - start
        r = evaluate(batch, inits=a.inits, episodes=a.episodes, seed=1000 + a.seed)
        t = batch.extra["training"]
        row = {
            "env": env_id, "overrides": overrides, "samples": batch.num_samples, "wall_s": round(wall, 1),
            "env_steps": t["env_steps"], "stop": t["stop_reason"], "mean": round(r.mean, 1), "worst": round(r.min, 1),
            "history": t["eval_history"][-5:],
        }  # fmt: skip
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
    print(f"\n| env | overrides | samples | wall (s) | env steps | stop | one-step mean ({a.inits} unseen inits) | worst init |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        sets = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "defaults"
        print(f"| {r['env']} | {sets} | {r['samples']} | {r['wall_s']} | {r['env_steps']:,} | {r['stop']} | {r['mean']} | {r['worst']} |")


if __name__ == "__main__":
    main()
