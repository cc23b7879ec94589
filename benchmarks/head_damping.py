"""The head step's ridge: the same batches stepped at several dampings, judged on the held-out learners.

A `head` batch records the damping it was distilled with (`inner_step_settings`); this re-steps each batch's
held-out learners at other dampings too, so the rule's effect is seen on a fixed batch, apart from what the
distillation made of it. Fresh inits with seeds never used in training, greedy episodes in gymnasium's env; an init
reaches the threshold when the mean of its episodes does (as Gym's thresholds are averages). Prints one table.

    cd benchmarks && PYTHONPATH=.. python head_damping.py /tmp/acro-1e-3 /tmp/acro-0.03 --dampings 0.001 0.03 \
        --inits 20 --episodes 5
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from distillhub.batch import load_folder
from distillhub.evaluate import evaluate_learners
from distillhub.onestep import rule_settings
from distillhub.population import HELD_OUT_VECTOR


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("batches", nargs="+", help="folders made by `distillhub distill` with --inner-step head")
    p.add_argument("--dampings", nargs="+", type=float, default=[1e-3, 3e-2])
    p.add_argument("--inits", type=int, default=20)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(2)
    fams = [lr.label for lr in HELD_OUT_VECTOR]
    print("| batch (distilled at) | stepped at | " + " | ".join(f"`{f}`" for f in fams) + " | all |")
    print("|---|---|" + "---|" * (len(fams) + 1))
    for folder in a.batches:
        batch = load_folder(folder)
        if batch.inner_step != "head":
            raise SystemExit(f"{folder}: a '{batch.inner_step}' batch; this compares head-step dampings")
        own = rule_settings("head", batch.step_settings)["damping"]
        for damping in a.dampings:
            stepped = dataclasses.replace(batch, step_settings={"damping": damping})
            res = evaluate_learners(stepped, list(HELD_OUT_VECTOR), inits=a.inits, episodes=a.episodes, seed=a.seed)
            solved = [round(v.solved_fraction * len(v.per_init)) for v in res.values()]
            cells = [f"{v.mean:.0f} / {v.min:.0f} / {s}" for v, s in zip(res.values(), solved, strict=True)]
            total = sum(len(v.per_init) for v in res.values())
            print(f"| {folder} ({own:g}) | {damping:g} | " + " | ".join(cells) + f" | **{100 * sum(solved) / total:.1f} %** |",
                  flush=True)  # fmt: skip
    print(f"\n(per learner: mean / worst init / inits reaching the threshold, of {a.inits}; {a.episodes} episodes each)")


if __name__ == "__main__":
    main()
