"""MinAtar end to end at a tiny budget: channels-first uint8 frames, cnn:small, the pixel path."""

import datasets
import numpy as np
import pytest
from typer.testing import CliRunner

from distillhub.batch import load_folder
from distillhub.envs import env_info, make_env
from distillhub.loader import load_policy
from distillhub_cli.app import app

runner = CliRunner()


@pytest.mark.parametrize("game,channels,actions", [("Breakout", 4, 3), ("SpaceInvaders", 6, 4), ("Asterix", 4, 5),
                                                    ("Freeway", 7, 3), ("Seaquest", 10, 6)])  # fmt: skip
def test_minatar_spaces(game, channels, actions):
    info = env_info(f"MinAtar/{game}-v1")
    assert info.family == "minatar" and info.obs_shape == (channels, 10, 10) and info.n_outputs == actions
    assert info.max_episode_steps == 10_000 and info.obs_scale == 1.0
    env = make_env(f"MinAtar/{game}-v1")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (channels, 10, 10) and set(np.unique(obs)) <= {0, 1}


@pytest.mark.parametrize("env_id", ["MinAtar/Breakout-v1", "minatar:MinAtar/SpaceInvaders-v1"])
def test_minatar_distills_saves_loads_and_evaluates(tmp_path, env_id):
    out = tmp_path / env_id.replace(":", "-").replace("/", "-")  # distinct names: datasets caches by folder name
    r = runner.invoke(
        app,
        ["distill", "--env", env_id, "--env-kwargs", '{"max_episode_steps": 50}', "--out", str(out),
         "--num-envs", "8", "--population", "2", "--rollout-steps", "16", "--max-steps", "1280",
         "--eval-inits", "2", "--eval-episodes", "1", "--quiet", "--no-video"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    batch = load_folder(out)
    # MinAtar defaults: a teacher on 90 % of the budget (9 rollouts of 128 steps, then 1 meta-iteration), its conv
    # and dense layers the persistent encoder, 512 of its frames (0/1 channels) for the head step
    assert batch.architecture == "cnn:small" and batch.observations.shape[0] == 512 and batch.inner_step == "head"
    assert batch.learning_rate == 1.0 and sorted(batch.encoder) == ["0.bias", "0.weight", "3.bias", "3.weight"]
    training = batch.extra["training"]
    assert training["teacher"]["env_steps"] == 1152 and training["env_steps"] == 1280
    assert [h["step"] for h in training["eval_history"]] == [1152, 1280]  # the hand-off batch, then the final one
    # x started on real frames (0/1 object channels), not N(0, 0.5²), and a few Adam steps moved it little
    x = batch.observations
    assert float((x - x.round()).abs().max()) < 0.2 and set(x.round().unique().tolist()) <= {0.0, 1.0}
    assert 0 < float(x.round().mean()) < 1
    assert batch.env_id == env_id
    rows = datasets.load_dataset(str(out), split="train")
    assert np.array_equal(rows.with_format("numpy")[:]["observation"], batch.observations.numpy())
    assert rows[0]["preview"].size[1] == 10  # channels side by side, 10 px high
    assert (out / "samples.png").is_file()
    allow = env_id.startswith("minatar:")
    policy = load_policy(out, seed=1, allow_import=allow)
    assert 0 <= policy.act(np.zeros(batch.obs_shape, np.uint8)) < batch.n_outputs
    args = ["eval", str(out), "--inits", "2", "--episodes", "1"] + (["--allow-import"] if allow else [])
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
