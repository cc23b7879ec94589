"""x_init="teacher": a PPO teacher trained on part of the budget starts the batch (distillhub.teacher)."""

import pytest
import torch

from distillhub.card import render_card
from distillhub.distill import Distiller, default_config
from distillhub.errors import DistillhubError
from distillhub.evaluate import evaluate
from distillhub.learners import build_learner

ROLLOUT = 512 * 32  # CartPole's default envs x rollout steps


def test_the_teacher_learns_and_the_batch_starts_from_what_it_does():
    cfg = default_config(
        "CartPole-v1", samples=64, inner_step="head", x_init="teacher", teacher_lr=2.5e-3, teacher_fraction=0.8,
        max_steps=10 * ROLLOUT, eval_inits=2,
    )  # fmt: skip
    d = Distiller(cfg)
    # its steps count against the run's budget: 80 % of it, in whole rollouts
    assert d.global_step == 8 * ROLLOUT and d.elapsed > 0
    # PPO learned: a uniformly random policy keeps the pole up for ~22 steps
    assert d.teacher_summary["env_steps"] == 8 * ROLLOUT and d.teacher_summary["train_return"] > 50
    fresh = build_learner(cfg.critic_arch, (4,), 1)
    assert not torch.equal(d.critic[0].weight, fresh[0].weight)  # the critic it hands over is trained
    batch = d.current_batch()
    x = batch.observations
    assert len(torch.unique(x, dim=0)) == 64 and x[:, 2].abs().max() < 0.21  # visited states, inside the box
    # before any meta-gradient the batch already teaches a fresh learner what the teacher does
    assert evaluate(batch, inits=3, episodes=1, seed=1).mean > 150
    # and meta-PPO carries on from there
    assert d.run().inner_step == "head" and d.global_step == 10 * ROLLOUT


def test_a_resumed_run_does_not_train_its_teacher_again(tmp_path):
    cfg = default_config(
        "CartPole-v1", x_init="teacher", teacher_lr=2.5e-3, teacher_fraction=0.5, max_steps=2 * ROLLOUT,
        eval_every=1, eval_inits=2,
    )  # fmt: skip
    d = Distiller(cfg, tmp_path)
    d.run()
    r = Distiller(cfg, tmp_path, resume=True)
    assert r.global_step == d.global_step == 2 * ROLLOUT and torch.equal(r.x, d.x) and torch.equal(r.y, d.y)
    assert r.teacher_summary == d.teacher_summary and r.teacher_summary["env_steps"] == ROLLOUT
    batch = r.best_batch()
    batch.extra["training"] = r.training_summary()
    assert "started from a PPO teacher (`x_init=teacher`): 16384 of those env steps" in render_card(batch)


def test_the_teacher_hands_its_conv_layers_to_a_persistent_encoder():
    """MinAtar with --encoder-layers 1: the encoder starts as the teacher's trained conv, and x as its frames."""
    cfg = default_config("MinAtar/Breakout-v1", x_init="teacher", teacher_fraction=0.5, max_steps=2 * 32 * 128)
    cfg.encoder_layers, cfg.eval_inits = 1, 1
    d = Distiller(cfg)
    template = build_learner(cfg.arch, d.info.obs_shape, d.info.n_outputs)
    from distillhub.learners import reinit_

    reinit_(template, cfg.init, torch.Generator().manual_seed(cfg.seed + 2))  # what the encoder starts as otherwise
    assert set(d.encoder) == {"0.weight", "0.bias"}
    assert not torch.equal(d.encoder["0.weight"].detach(), template[0].weight.detach())
    frames = d.current_batch().observations
    assert set(torch.unique(frames).tolist()) <= {0.0, 1.0}  # real MinAtar frames (channels of 0/1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(x_init="teacher", teacher_fraction=1.0), "teacher_fraction must be between 0 and 1"),
        (dict(x_init="teacher", teacher_lr=-1.0), "teacher_lr must be a positive finite number"),
        (dict(x_init="mentor"), "x_init must be random, states or teacher"),
    ],
)
def test_bad_teacher_settings_are_one_line_errors(overrides, message):
    with pytest.raises(DistillhubError, match=message):
        Distiller(default_config("CartPole-v1", **overrides))
