"""Any-learner benchmark: single-learner vs `zoo` distillation, judged on learners no run trained on.

For each env: distil once per `--runs` entry, `DISTRIBUTION:RULE[:SAMPLES]` (e.g. the default single learner with
the paper's step, `single:sgd`, and `zoo:head:64`), same seed and budget, each stopping early on its own target,
then evaluate every batch on the held-out learner set (`distillhub.population.HELD_OUT_VECTOR`: other
widths, depths 0-5, every activation and init scheme, a LayerNorm-residual MLP, a Transformer of another
size) with K fresh inits each, one step, greedy episodes in gymnasium's env. Prints one markdown table.
``--solve-episodes 100`` also judges every init by its mean over 100 episodes, as gymnasium's thresholds are defined
(Acrobot-v1: a good policy's rare long swing-up moves a 5-episode mean across -100).

    cd benchmarks && PYTHONPATH=.. python learners.py --envs CartPole-v1 --runs single:sgd zoo:head:64 --time-limit 240
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from distillhub.batch import save_folder
from distillhub.card import render_card
from distillhub.distill import default_config, distill, parse_settings
from distillhub.envs import env_info
from distillhub.evaluate import evaluate_learners
from distillhub.population import HELD_OUT_VECTOR

ENV_KWARGS = {"distillhub/CartPoleND-v0": {"n_dims": 2}}
SAMPLES = {"distillhub/CartPoleND-v0": 3}


def run(
    env_id: str, spec: str, seed: int, time_limit: float, inits: int, episodes: int, settings: dict,
    max_steps: int | None = None, save: str | None = None, solve_episodes: int | None = None,
):
    learners, inner_step, *rest = spec.split(":")
    samples = int(rest[0]) if rest else SAMPLES.get(env_id)
    kwargs = ENV_KWARGS.get(env_id, {})
    cfg = default_config(
        env_id, kwargs, learners=learners, seed=seed, time_limit=time_limit or None, max_steps=max_steps, samples=samples,
        inner_step=inner_step, **settings,
    )
    torch.set_num_threads(2)
    start = time.monotonic()
    batch = distill(cfg)
    wall = time.monotonic() - start
    if save:
        folder = Path(save) / f"{env_id.replace('/', '_')}-{spec.replace(':', '-')}-s{seed}"
        save_folder(batch, folder, render_card(batch, folder=folder))
    t = batch.extra["training"]
    torch.set_num_threads(1)  # one observation batch per env step: small forwards, faster on one thread
    results = evaluate_learners(batch, list(HELD_OUT_VECTOR), inits=inits, episodes=episodes, seed=1)
    threshold = env_info(env_id, kwargs).reward_threshold
    per_init = [r for res in results.values() for r in res.per_init]
    solved = None if threshold is None else sum(r >= threshold for r in per_init) / len(per_init)
    solved_long = None
    if solve_episodes and threshold is not None:
        # the same inits judged by their mean over more episodes: gymnasium's thresholds are 100-episode averages
        long = evaluate_learners(batch, list(HELD_OUT_VECTOR), inits=inits, episodes=solve_episodes, seed=1)
        solved_long = {k: v.solved_fraction for k, v in long.items()}
    return {
        "env": env_id,
        "learners": learners,
        "inner_step": inner_step,
        "samples": batch.num_samples,
        "wall_s": round(wall, 1),
        "env_steps": t["env_steps"],
        "stop": t["stop_reason"],
        "held_out_mean": round(sum(per_init) / len(per_init), 1),
        "held_out_worst": round(min(per_init), 1),
        "held_out_solved": solved,
        "solve_episodes": solve_episodes,
        "held_out_solved_long": None if solved_long is None else sum(solved_long.values()) / len(solved_long),
        "families_solved_long": solved_long,
        "families": {k: {"mean": round(v.mean, 1), "min": round(v.min, 1), "solved": v.solved_fraction} for k, v in results.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    p.add_argument("--runs", nargs="+", default=["single:sgd", "zoo:head:64"], help="DISTRIBUTION:RULE[:SAMPLES] each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=240, help="seconds per run (0: none, the CLI's default)")
    p.add_argument("--max-steps", type=int, default=None, help="a step budget too (the CLI's default: the env's)")
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--solve-episodes", type=int, default=None,
                   help="also judge each init by its mean over this many episodes (gymnasium's thresholds: 100)")
    p.add_argument("--set", nargs="*", default=[], help="config fields for every run, e.g. eval_inits=4")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--save", default=None, help="also save every batch in a folder under this one")
    a = p.parse_args()
    rows = []
    for env_id in a.envs:
        for spec in a.runs:
            rows.append(run(env_id, spec, a.seed, a.time_limit, a.inits, a.episodes, parse_settings(a.set), a.max_steps, a.save,
                            a.solve_episodes))
            print(json.dumps(rows[-1]), flush=True)
    print()
    long = f" inits ≥ threshold over {a.solve_episodes} episodes |" if a.solve_episodes else ""
    print("| env | distilled for | rule | N | wall (s) | env steps | stop | held-out mean | worst init | inits ≥ threshold |" + long)
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if long else ""))
    for r in rows:
        solved = "-" if r["held_out_solved"] is None else f"{100 * r['held_out_solved']:.1f} %"
        extra = "" if not long else " - |" if r["held_out_solved_long"] is None else f" {100 * r['held_out_solved_long']:.1f} % |"
        print(f"| {r['env']} | {r['learners']} | {r['inner_step']} | {r['samples']} | {r['wall_s']} | {r['env_steps']:,} | {r['stop']} | "
              f"{r['held_out_mean']} | {r['held_out_worst']} | {solved} |{extra}")  # fmt: skip
    print()
    fams = list(rows[0]["families"])
    print("| env | distilled for | " + " | ".join(f"`{f}`" for f in fams) + " |")
    print("|---|---|" + "---|" * len(fams))
    for r in rows:
        cells = [f"{r['families'][f]['mean']:.0f} / {r['families'][f]['min']:.0f}" for f in fams]
        print(f"| {r['env']} | {r['learners']} {r['inner_step']} | " + " | ".join(cells) + " |")
    print("\n(per family: mean / worst init)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
