"""Shared fixtures: real envs with unsupported spaces, a small distilled batch, the local Hub."""

from __future__ import annotations

import os
import socket
import tempfile

# The Hub clients read these at import time: point them at the local test server
# (started by the `hub` fixture) before anything imports huggingface_hub or datasets.
with socket.socket() as _s:
    _s.bind(("127.0.0.1", 0))
    HUB_PORT = _s.getsockname()[1]
_HF_HOME = tempfile.mkdtemp(prefix="distillhub-test-hf-")
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_HUB_DISABLE_XET="1",
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_ETAG_TIMEOUT="5",
    HF_HUB_DOWNLOAD_TIMEOUT="10",
)
os.environ.pop("HF_TOKEN", None)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


class DictObsEnv(gym.Env):
    """A real gymnasium env whose Dict observation space distillhub must refuse."""

    observation_space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"a": np.zeros(2, np.float32)}, {}

    def step(self, action):
        return {"a": np.zeros(2, np.float32)}, 0.0, True, False, {}


class MultiDiscreteActionEnv(gym.Env):
    """A real gymnasium env with a MultiDiscrete action space (not supported)."""

    observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, True, False, {}


if "tests/MultiDiscreteAct-v0" not in gym.registry:
    gym.register("tests/MultiDiscreteAct-v0", entry_point=MultiDiscreteActionEnv, max_episode_steps=10)
if "tests/DictObs-v0" not in gym.registry:
    gym.register("tests/DictObs-v0", entry_point=DictObsEnv, max_episode_steps=10)


@pytest.fixture(scope="session")
def cartpole_batch(tmp_path_factory):
    """A short real distillation of CartPole-v1 (2 samples), written to a folder."""
    from distillhub.batch import save_folder
    from distillhub.card import render_card
    from distillhub.distill import default_config, distill

    torch.manual_seed(0)
    cfg = default_config("CartPole-v1", learners="single", max_steps=8192 * 4, seed=3, eval_every=2, eval_inits=4)
    batch = distill(cfg)
    folder = tmp_path_factory.mktemp("batch") / "cartpole"
    save_folder(batch, folder, render_card(batch))
    return folder


TOKENS = {"hf_test_alice_token_123": "alice", "hf_test_bob_token_456": "bob"}


@pytest.fixture(scope="session")
def hub():
    """A local Hub-API server on 127.0.0.1 that the real clients talk to over HTTP."""
    from tests.hub_server import HubServer

    with HubServer(HUB_PORT, TOKENS) as server:
        yield server
