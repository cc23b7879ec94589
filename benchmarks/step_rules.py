"""Which one-step rule lets a batch teach learners it was not made for? A probe without meta-learning.

Builds CartPole-v1 batches by hand from a linear policy that balances the pole (push right when w·obs > 0,
w = [0.1, 0.5, 1, 0.5]): two samples ±s·w with opposite logits ±c, optionally the origin and ±s·u for three
directions u orthogonal to w with zero logits ("plane": the decision boundary pinned by 9 samples), or N states
the policy visits with 20 % random actions, labelled with its choice ("states": behaviour cloning in one step).
Every learner of the held-out set and of the zoo takes the one step with each rule from `--inits` fresh inits;
one greedy episode each in gymnasium's env. Prints the fraction of inits >= 475 per learner and rule.

    cd benchmarks && PYTHONPATH=.. python step_rules.py --variants pair plane --rules sgd-ls gn
    cd benchmarks && PYTHONPATH=.. python step_rules.py --variants states --samples 16 64 256 --rules head gn sgd-ls
    cd benchmarks && PYTHONPATH=.. python step_rules.py --variants states --rules head \
        --learners mlp:32-32-32-32-32:relu@kaiming,mlp:256-256-256-256-256:relu@kaiming

`--learners` (an arch@init list, as `distillhub distill --learners` takes it) replaces the held-out set and the zoo.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from distillhub.batch import Batch
from distillhub.evaluate import evaluate
from distillhub.population import HELD_OUT_VECTOR, ZOO_VECTOR, parse_learners

W = torch.tensor([0.1, 0.5, 1.0, 0.5])


def visited_states(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` states the linear policy visits with 20 % random actions (so some recoveries are seen)."""
    env, rng, out = gym.make("CartPole-v1"), np.random.default_rng(seed), []
    obs, _ = env.reset(seed=seed)
    while len(out) < 20 * n:
        out.append(obs)
        a = int(rng.integers(2)) if rng.random() < 0.2 else int(W @ torch.as_tensor(obs) > 0)
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            obs, _ = env.reset()
    picks = rng.choice(len(out), size=n, replace=False)
    return torch.as_tensor(np.stack([out[i] for i in picks]), dtype=torch.float32)


def hand_batch(variant: str, scale: float, logit: float, rule: str, samples: int = 64) -> Batch:
    w = W / W.norm()
    if variant == "states":
        # Behaviour cloning in one step: real visited states, logits of the linear policy's choice.
        x = visited_states(samples)
        side = torch.tanh((x @ w) / 0.05)
        return Batch(
            observations=x, targets=torch.stack([-logit * side, logit * side], 1), learning_rate=1.0,
            env_id="CartPole-v1", inner_step=rule,
        )  # fmt: skip
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
    p.add_argument("--rules", nargs="+", default=["sgd-ls", "gn", "head"])
    p.add_argument("--scale", type=float, default=0.2)
    p.add_argument("--logit", type=float, default=1.0)
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--samples", type=int, nargs="+", default=[64], help="batch sizes of the states variant")
    p.add_argument("--learners", default=None, help="arch@init list instead of the held-out set and the zoo")
    a = p.parse_args()
    torch.set_num_threads(2)
    gym.logger.min_level = 40
    learners = parse_learners(a.learners, image=False) if a.learners else list(HELD_OUT_VECTOR) + list(ZOO_VECTOR)
    table = {}
    runs = [(v, n) for v in a.variants for n in (a.samples if v == "states" else [0])]
    for variant, n in runs:
        for rule in a.rules:
            batch = hand_batch(variant, a.scale, a.logit, rule, n)
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
