"""Which one-step rule lets a batch teach learners it was not made for? A probe without meta-learning.

Builds CartPole-v1 batches by hand from a linear policy that balances the pole (push right when w·obs > 0,
w = [0.1, 0.5, 1, 0.5]): two samples ±s·w with opposite logits ±c, optionally the origin and ±s·u for three
directions u orthogonal to w with zero logits ("plane": the decision boundary pinned by 9 samples). Every learner
of the held-out set and of the zoo takes the one step with each rule from `--inits` fresh inits; one greedy
episode each in gymnasium's env. Prints the fraction of inits >= 475 per learner and rule.

    cd benchmarks && PYTHONPATH=.. python step_rules.py --variants pair plane --rules sgd-ls gn
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from distillhub.batch import Batch
from distillhub.evaluate import evaluate
from distillhub.population import HELD_OUT_VECTOR, ZOO_VECTOR

W = torch.tensor([0.1, 0.5, 1.0, 0.5])


def hand_batch(variant: str, scale: float, logit: float, rule: str) -> Batch:
    w = W / W.norm()
    x, y = [scale * w, -scale * w], [[-logit, logit], [logit, -logit]]
    if variant == "plane":
        basis, _ = torch.linalg.qr(torch.cat([w[:, None], torch.randn(4, 3, generator=torch.Generator().manual_seed(0))], 1))
        x.append(torch.zeros(4))
        y.append([0.0, 0.0])
        for j in range(1, 4):
            x += [scale * basis[:, j], -scale * basis[:, j]]
            y += [[0.0, 0.0], [0.0, 0.0]]
    return Batch(
        observations=torch.stack(x), targets=torch.tensor(y), learning_rate=1.0, env_id="CartPole-v1", inner_step=rule
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["pair", "plane"])
    p.add_argument("--rules", nargs="+", default=["sgd-ls", "gn"])
    p.add_argument("--scale", type=float, default=0.2)
    p.add_argument("--logit", type=float, default=1.0)
    p.add_argument("--inits", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(2)
    gym.logger.min_level = 40
    learners = list(HELD_OUT_VECTOR) + list(ZOO_VECTOR)
    table = {}
    for variant in a.variants:
        for rule in a.rules:
            batch = hand_batch(variant, a.scale, a.logit, rule)
            col = f"{variant} ({batch.num_samples}) {rule}"
            table[col] = {
                ln.label: float(np.mean([r >= 475 for r in evaluate(batch, inits=a.inits, episodes=1, seed=1, arch=ln.arch, init=ln.init).per_init]))
                for ln in learners
            }  # fmt: skip
            print(col, f"all learners {np.mean(list(table[col].values())):.2f}", flush=True)
    cols = list(table)
    print(f"\nInits >= 475 out of {a.inits} per learner (s={a.scale}, logits ±{a.logit}):\n")
    print("| learner | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for ln in learners:
        print(f"| `{ln.label}` | " + " | ".join(f"{table[c][ln.label]:.1f}" for c in cols) + " |")
    print("| **all** | " + " | ".join(f"**{np.mean(list(table[c].values())):.2f}**" for c in cols) + " |")


if __name__ == "__main__":
    main()
