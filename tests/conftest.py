"""Shared fixtures: a real env with a Dict observation space, a small distilled batch."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch


class DictObsEnv(gym.Env):
    """A real gymnasium env whose Dict observation space distillhub must refuse."""

    observation_space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"a": np.zeros(2, np.float32)}, {}

    def step(self, action):
        return {"a": np.zeros(2, np.float32)}, 0.0, True, False, {}


if "tests/DictObs-v0" not in gym.registry:
    gym.register("tests/DictObs-v0", entry_point=DictObsEnv, max_episode_steps=10)


@pytest.fixture(scope="session")
def cartpole_batch(tmp_path_factory):
    """A short real distillation of CartPole-v1 (2 samples), written to a folder."""
    from distillhub.batch import save_folder
    from distillhub.card import render_card
    from distillhub.distill import default_config, distill

    torch.manual_seed(0)
    cfg = default_config("CartPole-v1", max_steps=8192 * 4, seed=3, eval_every=2, eval_inits=4)
    batch = distill(cfg)
    folder = tmp_path_factory.mktemp("batch") / "cartpole"
    save_folder(batch, folder, render_card(batch))
    return folder
