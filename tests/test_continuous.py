"""The continuous-action path on a real MuJoCo env: learned log-std, frozen obs normalisation,
clipping at act time — distilled, saved, loaded and evaluated end to end (tiny budget)."""

import numpy as np
import pytest
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


def test_log_std_lr_gives_the_log_std_its_own_rate_and_resumes(tmp_path):
    """log_std_lr moves the policy's log-std at its own Adam rate (the batch keeps meta_lr); a run with it
    checkpoints and resumes, and annealing scales both rates."""
    from distillhub.distill import Distiller

    steps = 2 * 4 * 64
    base = dict(samples=8, max_steps=steps, eval_inits=2, eval_every=2, seed=3, num_envs=4, rollout_steps=64,
                update_epochs=2, num_minibatches=2)  # fmt: skip
    assert default_config("InvertedPendulum-v5").log_std_lr == 3e-4  # MuJoCo's default
    shared = default_config("InvertedPendulum-v5", **base)
    shared.log_std_lr = None  # one Adam rate for everything, as before log_std_lr
    d = Distiller(shared)
    slow = Distiller(default_config("InvertedPendulum-v5", log_std_lr=1e-7, **base), tmp_path)
    d.run()
    slow.run()
    init = torch.full((1,), -0.5)
    assert (d.log_std.detach() - init).abs().max() > 1e-3  # Adam at meta_lr: ~3e-3 per update
    assert (slow.log_std.detach() - init).abs().max() < 1e-4
    assert not torch.equal(slow.x.detach(), d.x.detach()) or not torch.equal(slow.y.detach(), d.y.detach())
    assert [g["lr"] for g in slow.meta_opt.param_groups] == [slow.cfg.meta_lr, 1e-7]
    cfg = default_config("InvertedPendulum-v5", log_std_lr=1e-7, **{**base, "max_steps": 2 * steps})
    r = Distiller(cfg, tmp_path, resume=True)
    assert torch.equal(r.log_std.detach(), slow.log_std.detach()) and r.global_step == steps
    r.run()
    assert r.global_step == 2 * steps
    annealed = Distiller(default_config("InvertedPendulum-v5", log_std_lr=1e-4, anneal_meta_lr=True, **base))
    annealed.run()
    lrs = [g["lr"] for g in annealed.meta_opt.param_groups]
    assert lrs[0] / annealed.cfg.meta_lr == pytest.approx(lrs[1] / 1e-4) and lrs[0] < annealed.cfg.meta_lr
