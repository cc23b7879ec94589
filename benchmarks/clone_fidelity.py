"""How much of a teacher's greedy return its hand-off batch keeps (x_init=teacher, the head step).

Trains a run's PPO teacher with the env's defaults on a step budget (`--max-steps`; the teacher's share as the run's
own), then measures, side by side on the same env seeds:

- the teacher itself, greedy, over `--episodes` episodes;
- batches built from that teacher the way the distiller hands one over (x: frames of its last rollouts, y: its
  outputs there, its torso the encoder) with each of `--samples`, the one step over `--inits` unseen inits x
  `--episodes` episodes, and how often a fresh init's greedy action agrees with the teacher's on frames of its last
  rollouts that are not in the batch.

    cd benchmarks && PYTHONPATH=.. python clone_fidelity.py MinAtar/SpaceInvaders-v1 --max-steps 1200000 --samples 512 2048
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch
from ppo_baseline import evaluate_module

from distillhub.batch import normalize
from distillhub.distill import Distiller, default_config, parse_settings
from distillhub.evaluate import evaluate
from distillhub.learners import build_learner, reinit_
from distillhub.onestep import one_step


class Prepped(torch.nn.Module):
    """The teacher on raw observations (the distiller feeds it normalised ones)."""

    def __init__(self, actor: torch.nn.Module, mean, std):
        super().__init__()
        self.actor, self.mean, self.std = actor, mean, std

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(normalize(obs, self.mean, self.std))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id")
    p.add_argument("--max-steps", type=int, default=1_200_000)
    p.add_argument("--samples", type=int, nargs="+", default=[512, 2048])
    p.add_argument("--inits", type=int, default=5)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], help="config overrides")
    a = p.parse_intermixed_args()
    torch.set_num_threads(2)
    distill_module = sys.modules["distillhub.distill"]
    teachers = []
    train_teacher = distill_module.train_teacher

    def keep(*args):
        teachers.append(train_teacher(*args))
        return teachers[-1]

    distill_module.train_teacher = keep
    start = time.monotonic()
    d = Distiller(default_config(a.env_id, max_steps=a.max_steps, seed=a.seed, **parse_settings(a.set)))
    teacher = teachers[0]
    mean, std = d._obs_stats()
    print(f"teacher: {d.teacher_summary['env_steps']:,} env steps, training return {d.teacher_summary['train_return']}, "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip
    actor = teacher.actor.eval()
    greedy = evaluate_module(Prepped(actor, mean, std), a.env_id, episodes=a.episodes, seed=1)
    print("| what | samples | greedy return | agreement with the teacher (unseen frames) |")
    print("|---|---|---|---|")
    print(f"| the teacher | – | {greedy:.2f} | 1.000 |", flush=True)
    template = d.current_batch()
    gen = torch.Generator().manual_seed(a.seed + 99)
    pool = teacher.pool
    for n in a.samples:
        picks = torch.randperm(len(pool), generator=gen)
        chosen, rest = pool[picks[:n]], pool[picks[n:]][:4096]
        with torch.no_grad():
            targets = actor(normalize(chosen.float(), mean, std))
            want = actor(normalize(rest.float(), mean, std)).argmax(1)
        batch = dataclasses.replace(template, observations=chosen.float().cpu(), targets=targets.cpu())
        agree = []
        for i in range(a.inits):
            learner = build_learner(batch.architecture, d.info.obs_shape, d.info.n_outputs)
            reinit_(learner, batch.init, torch.Generator().manual_seed(1_000_000 + i))
            learner.load_state_dict(batch.encoder, strict=False)
            for name, param in learner.named_parameters():
                param.requires_grad_(name not in batch.encoder)
            policy = one_step(learner, batch)
            with torch.no_grad():
                agree.append(float((policy(normalize(rest.float(), mean, std)).argmax(1) == want).float().mean()))
        result = evaluate(batch, inits=a.inits, episodes=a.episodes, seed=1)
        print(f"| one step on the hand-off batch | {n} | {result.mean:.2f} (worst init {result.min:.2f}) | "
              f"{sum(agree) / len(agree):.3f} (worst {min(agree):.3f}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
