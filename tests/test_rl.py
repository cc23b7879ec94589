"""The RL pieces the distiller and the PPO baseline share (distillhub.rl)."""

from __future__ import annotations

import torch

from distillhub.rl import RewardScaler


def _rollout(T=40, E=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, E, generator=g) * 3 - 1
    dones = (torch.rand(T, E, generator=g) < 0.1).float()
    return rewards, dones


def test_scaling_a_rollout_equals_scaling_step_by_step():
    rewards, dones = _rollout()
    stepwise, whole = RewardScaler(6, 0.99), RewardScaler(6, 0.99)
    one_by_one = torch.stack([stepwise(r, d.bool()) for r, d in zip(rewards, dones, strict=True)])
    at_once = whole.scale_rollout(rewards, dones)
    assert torch.equal(one_by_one, at_once)
    # the running state carries over to the next rollout identically
    assert torch.equal(stepwise.ret, whole.ret) and torch.equal(stepwise.rms.var, whole.rms.var)
    more, more_dones = _rollout(seed=1)
    assert torch.equal(
        torch.stack([stepwise(r, d.bool()) for r, d in zip(more, more_dones, strict=True)]),
        whole.scale_rollout(more, more_dones),
    )
    # scaled rewards have roughly unit-scale discounted returns, not the raw scale
    assert 0.05 < float(at_once.std()) / float(rewards.std()) < 1.0
