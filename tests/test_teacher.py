"""x_init="teacher": a PPO teacher trained on part of the budget starts the batch (distillhub.teacher)."""

from itertools import pairwise

import pytest
import torch

from distillhub.card import render_card
from distillhub.distill import Distiller, default_config
from distillhub.errors import DistillhubError
from distillhub.evaluate import evaluate
from distillhub.learners import build_learner, reinit_
from distillhub.onestep import one_step

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
    # the hand-off batch is held out and kept unless meta-PPO does better
    assert [h["step"] for h in d.selection.history] == [8 * ROLLOUT] and d.selection.best["step"] == 8 * ROLLOUT
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
    card = render_card(batch)
    assert "started from a PPO teacher (`x_init=teacher`): 16,384 of those env steps" in card
    assert "That batch was held out before any meta-gradient and kept unless meta-PPO did better" in card


def test_the_teacher_hands_its_conv_layers_to_a_persistent_encoder():
    """MinAtar with --encoder-layers 1: the encoder starts as the teacher's trained conv, and x as its frames."""
    cfg = default_config("MinAtar/Breakout-v1", x_init="teacher", teacher_fraction=0.5, max_steps=2 * 32 * 128)
    cfg.encoder_layers, cfg.eval_inits = 1, 1
    d = Distiller(cfg)
    template = build_learner(cfg.arch, d.info.obs_shape, d.info.n_outputs)
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
        (dict(x_init="teacher", teacher_minibatches=0), "teacher_minibatches must be at least 1"),
        (dict(x_init="teacher", teacher_minibatches=3), r"divide rollout_steps \* num_envs \(16384\), got 3"),
        (dict(x_init="teacher", teacher_stop="early"), "teacher_stop must be held-out, train, none"),
        (dict(x_init="teacher", teacher_checks_from=1.5), "teacher_checks_from must be from 0 to 1, got 1.5"),
    ],
)
def test_bad_teacher_settings_are_one_line_errors(overrides, message):
    with pytest.raises(DistillhubError, match=message):
        Distiller(default_config("CartPole-v1", **overrides))


@pytest.mark.parametrize("anneal", [True, False])
def test_the_teachers_learning_rate_decays_unless_told_not_to(monkeypatch, anneal):
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    cfg = default_config(
        "CartPole-v1", learners="single", x_init="teacher", teacher_lr=1e-3, teacher_fraction=0.75, max_steps=4 * ROLLOUT,
        anneal_teacher_lr=anneal, eval_inits=1,
    )  # fmt: skip
    Distiller(cfg)  # trains the teacher (3 rollouts x 4 epochs x 4 minibatches), nothing else
    assert len(seen) == 3 * 16
    if anneal:  # linear in the teacher's steps: 1, 2/3, 1/3 of teacher_lr for each rollout's updates
        assert seen[0] == pytest.approx(1e-3) and seen[16] == pytest.approx(1e-3 * 2 / 3)
        assert seen[-1] == pytest.approx(1e-3 / 3)
    else:
        assert seen == [pytest.approx(1e-3)] * len(seen)


@pytest.mark.parametrize(
    "stop, samples", [("held-out", 2), ("held-out", 1), ("train", 2), ("none", 2)], ids=["held-out", "held-out-fails", "train", "none"]
)
def test_when_the_teacher_stops_before_its_share_is_spent(stop, samples):
    """A target of 40 (a uniformly random policy keeps the pole up ~22 steps) is met in training after a few
    rollouts. "train" stops there; "held-out" also asks the held-out check of the batch the teacher would hand off,
    at most every eval_every rollouts, and trains on while that batch does not teach the worst held-out init to 40
    (one sample cannot: every init acts the same on every state); "none" trains on the whole share."""
    cfg = default_config(
        "CartPole-v1", learners="single", x_init="teacher", teacher_lr=2.5e-3, teacher_fraction=0.75,
        max_steps=12 * ROLLOUT, target_return=40.0, teacher_stop=stop, samples=samples, eval_inits=2, eval_every=2,
    )  # fmt: skip
    d = Distiller(cfg)
    teacher, steps = d.teacher_summary, [h["step"] for h in d.selection.history]
    assert teacher["train_return"] >= 40, teacher
    if stop == "none" or samples == 1:
        assert teacher["env_steps"] == 9 * ROLLOUT and steps[-1] == 9 * ROLLOUT  # the whole share, then the hand-off
    else:
        assert teacher["env_steps"] < 9 * ROLLOUT and steps == [teacher["env_steps"]]  # the hand-off, held out once
    if stop == "held-out":
        checks = steps if samples == 2 else steps[:-1]
        assert len(checks) >= (1 if samples == 2 else 2) and all(b - a == 2 * ROLLOUT for a, b in pairwise(checks))
        passed = [h["min"] >= 40 for h in d.selection.history]
        assert passed == ([True] if samples == 2 else [False] * len(steps))
        # the card says what happened
        batch = d.best_batch()
        batch.extra["training"] = d.training_summary()
        card = render_card(batch)
        assert "That batch was held out before any meta-gradient" in card
        early = f"did not pass the held-out check ({len(checks)} times), so it trained on"
        assert (early in card) == (samples == 1), card


def test_the_teachers_batch_is_held_out_as_it_trains_and_the_run_keeps_the_best():
    """teacher_checks_from=0.5: from half of its share on, the batch the teacher would hand off is held out every
    eval_every rollouts; the run keeps the best held-out batch (a PPO policy's greedy return swings between updates)
    and the card says which."""
    cfg = default_config(
        "CartPole-v1", learners="single", x_init="teacher", teacher_lr=2.5e-3, teacher_fraction=0.75, max_steps=8 * ROLLOUT,
        teacher_stop="none", teacher_checks_from=0.5, eval_inits=2, eval_every=1,
    )  # fmt: skip
    d = Distiller(cfg)  # the teacher: 6 rollouts, checked before its 4th, 5th and 6th, then the hand-off
    history = d.selection.history
    assert [h["step"] for h in history] == [3 * ROLLOUT, 4 * ROLLOUT, 5 * ROLLOUT, 6 * ROLLOUT]
    assert d.teacher_summary["checks_from"] == 3 * ROLLOUT and d.teacher_summary["env_steps"] == 6 * ROLLOUT
    best = max(reversed(history), key=lambda h: (h["min"], h["mean"]))  # ties go to the later batch
    assert d.selection.best["step"] == best["step"]
    # the kept batch is the one that was held out then: the same check gives the same numbers
    kept = d.selection.best["snapshot"]
    with torch.no_grad():
        d.x.copy_(kept["x"])
        d.y.copy_(kept["y"])
        d.log_lr.copy_(kept["log_lr"])
    again = d.quick_eval()
    assert (float(again.min()), float(again.mean())) == pytest.approx((best["min"], best["mean"]))
    batch = d.best_batch()
    batch.extra["training"] = d.training_summary()
    card = render_card(batch)
    assert "From env step 49,152 on, the batch it would have handed over was held out as it trained (4 checks, the last at the hand-off)" in card
    assert f"the run kept the best batch held out: the teacher's from env step {best['step']:,} (meta-PPO did not beat it)" in card
    assert "did not pass the held-out check" not in card  # no stop at the target was asked for


def test_teacher_minibatches_sets_the_teachers_updates_per_rollout(monkeypatch):
    sizes = []
    forward = torch.nn.Sequential.forward

    def spy(self, x):
        if torch.is_grad_enabled() and x.requires_grad is False and x.dim() == 2 and self[-1].out_features == 2:
            sizes.append(len(x))  # the actor's forward in a PPO minibatch
        return forward(self, x)

    monkeypatch.setattr(torch.nn.Sequential, "forward", spy)
    cfg = default_config(
        "CartPole-v1", x_init="teacher", teacher_fraction=0.75, max_steps=4 * ROLLOUT, eval_inits=1,
        teacher_minibatches=64,
    )  # fmt: skip
    Distiller(cfg)  # trains the teacher (3 rollouts x 4 epochs x 64 minibatches), nothing else
    assert sizes == [ROLLOUT // 64] * (3 * 4 * 64)  # the meta-PPO minibatches (num_minibatches 4) are untouched


def capture_teachers(monkeypatch) -> list:
    """What every ``train_teacher`` call of the distiller returns (a ``Teacher``), in order."""
    import sys

    distill_module = sys.modules["distillhub.distill"]  # the package attribute is the function
    train_teacher, teachers = distill_module.train_teacher, []

    def keep(*args):
        teachers.append(train_teacher(*args))
        return teachers[-1]

    monkeypatch.setattr(distill_module, "train_teacher", keep)
    return teachers


def test_the_teachers_whole_torso_as_encoder_makes_one_step_give_the_teachers_policy(monkeypatch):
    """--encoder-layers 2 on cnn:small (conv and dense): every fresh init's one step re-fits only the output layer
    on the teacher's own features, so with more samples than features it acts as the teacher does on frames that
    are not in the batch; the encoder steps at its own rate."""
    teachers = capture_teachers(monkeypatch)
    cfg = default_config(
        "MinAtar/Breakout-v1", x_init="teacher", teacher_fraction=0.5, teacher_lr=5e-4, samples=256,
        max_steps=2 * 32 * 128, encoder_layers=2, encoder_lr=5e-4, eval_inits=1,
    )  # fmt: skip
    d = Distiller(cfg)
    actor, pool = teachers[0].actor, teachers[0].pool
    assert set(d.encoder) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert torch.equal(d.encoder["3.weight"].detach(), actor[3].weight.detach())
    assert [g["lr"] for g in d.meta_opt.param_groups] == [cfg.meta_lr, 5e-4]
    assert {id(p) for p in d.meta_opt.param_groups[1]["params"]} == {id(p) for p in d.encoder.values()}

    batch = d.current_batch()
    frames = pool[-512:].float()  # the teacher's latest frames, most of them not in the batch
    with torch.no_grad():
        want = actor(frames)
        for seed in (1, 2):
            learner = build_learner(cfg.arch, d.info.obs_shape, d.info.n_outputs)
            reinit_(learner, cfg.init, torch.Generator().manual_seed(seed))
            learner.load_state_dict(batch.encoder, strict=False)
            for name, p in learner.named_parameters():
                p.requires_grad_(name not in batch.encoder)
            with torch.enable_grad():
                got = one_step(learner, batch)(frames)
            spread = (want - want.mean(dim=1, keepdim=True)).norm()
            assert (got - want).norm() < 0.05 * spread
            assert (got.argmax(1) == want.argmax(1)).float().mean() > 0.95


def test_hopper_defaults_give_every_fresh_init_the_teachers_policy(monkeypatch):
    """MuJoCo's encoder recipe end to end (real Hopper-v5): the default run's batch carries the teacher's two hidden
    layers, and two fresh inits loaded from it act as the teacher does on states outside the batch."""
    from distillhub.batch import normalize
    from distillhub.loader import load_policy

    teachers = capture_teachers(monkeypatch)
    d = Distiller(default_config("Hopper-v5", max_steps=2 * 16 * 128, eval_inits=1, eval_episodes=1))
    actor, pool = teachers[0].actor, teachers[0].pool
    batch = d.current_batch()
    assert (batch.num_samples, sorted(batch.encoder)) == (128, ["0.bias", "0.weight", "2.bias", "2.weight"])
    states = pool[-1024:]  # the teacher's latest states (most not in the batch), raw
    with torch.no_grad():
        want = actor(normalize(states, batch.obs_mean, batch.obs_std)).clamp(-1, 1).numpy()
    for seed in (1, 2):
        got = load_policy(batch, seed=seed).act(states.numpy())
        assert abs(got - want).max() < 0.02


def test_an_encoder_deeper_than_the_torso_is_a_one_line_error():
    cfg = default_config("MinAtar/Breakout-v1", encoder_layers=3)
    with pytest.raises(DistillhubError, match="exceeds the 2 layers of cnn:small below its output layer"):
        Distiller(cfg)
