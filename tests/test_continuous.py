"""The continuous-action path on a real MuJoCo env: learned log-std, frozen obs normalisation,
clipping at act time — distilled, saved, loaded and evaluated end to end (tiny budget)."""

import numpy as np
import torch

from distillhub.batch import load_folder, save_folder
from distillhub.card import render_card
from distillhub.distill import default_config, distill
from distillhub.evaluate import evaluate
from distillhub.loader import load_policy


def test_inverted_pendulum_distills_saves_loads_and_evaluates(tmp_path):
    cfg = default_config("InvertedPendulum-v5", samples=8, max_steps=2 * 16 * 256, eval_inits=2, eval_every=1)
    batch = distill(cfg)
    assert batch.action_space == "continuous"
    assert batch.observations.shape == (8, 4) and batch.targets.shape == (8, 1)
    assert batch.log_std.shape == (1,) and batch.obs_mean.shape == (4,) and bool((batch.obs_std > 0).all())
    save_folder(batch, tmp_path, render_card(batch))
    loaded = load_folder(tmp_path)
    assert torch.equal(loaded.obs_std, batch.obs_std) and torch.equal(loaded.log_std, batch.log_std)
    policy = load_policy(tmp_path, seed=0)
    action = policy.act(np.array([0.0, 0.1, 0.0, 0.0]))
    assert action.shape == (1,) and -3.0 <= float(action[0]) <= 3.0
    # a huge observation pushes the mean out of bounds: the action is clipped
    far = policy.act(np.array([0.0, 1e6, 0.0, 1e6]))
    assert -3.0 <= float(far[0]) <= 3.0
    result = evaluate(loaded, inits=2, episodes=1)
    assert len(result.per_init) == 2 and result.reference == 963.0
    assert result.percent_of_reference is not None
