"""Where the auto rule's tolerance comes from: how much of a batch each learner family leaves unexplained after
the head step, next to how its fresh inits do under the head step and under ``auto``.

For every batch folder and every learner (``--learners``, default the held-out set), ``--inits`` fresh inits
(the evaluator's unseen seeds for ``--seed``) take the head step at the batch's own ridge; the table gives the
share of the targets' variance each leaves unexplained on the batch (``onestep.unexplained``, median and range
over the inits), then the greedy return and the share of inits at the env's threshold under ``head`` and under
``auto`` (``distillhub eval``'s procedure, ``--episodes`` per init).

    cd benchmarks && PYTHONPATH=.. python unexplained.py runs/nd2-zoo runs/cp-zoo --inits 10 --episodes 1
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from distillhub.batch import with_inner_step
from distillhub.evaluate import evaluate, init_seed
from distillhub.loader import load_batch
from distillhub.onestep import AUTO_TOLERANCE, unexplained
from distillhub.policy import policy_from_batch
from distillhub.population import parse_learners


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("batches", nargs="+", help="batch folders (head, fit or auto batches)")
    p.add_argument("--learners", default="held-out", help="zoo, held-out or arch@init,...")
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(2)
    print(f"auto's tolerance: {AUTO_TOLERANCE}; returns: mean / worst init / share of inits at the threshold\n")
    print("| batch | learner | unexplained after the head step, median [min, max] | head | auto |")
    print("|---|---|---|---|---|")
    for folder in a.batches:
        batch = load_batch(folder)
        head, auto = with_inner_step(batch, "head"), with_inner_step(batch, "auto")
        x, y = head.learner_inputs(), head.targets.float()
        for learner in parse_learners(a.learners, False, batch.architecture, batch.init):
            left = []
            for i in range(a.inits):
                policy = policy_from_batch(head, arch=learner.arch, init=learner.init, seed=init_seed(a.seed, i))
                with torch.no_grad():
                    left.append(float(unexplained(policy.learner(x), y)))
            cells = []
            for b in (head, auto):
                r = evaluate(b, a.inits, a.episodes, arch=learner.arch, init=learner.init, seed=a.seed)
                cells.append(f"{r.mean:.1f} / {r.min:.0f} / {r.solved_fraction:.0%}")
            print(f"| {folder} | `{learner.label}` | {np.median(left):.3f} [{min(left):.3f}, {max(left):.3f}] | "
                  f"{cells[0]} | {cells[1]} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
