"""Atari: the preprocessing contract, both vectorised paths, and a tiny end-to-end run per game."""

import json

import datasets
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from distillhub.batch import load_folder
from distillhub.envs import env_info, make_env, make_vector_env
from distillhub.errors import DistillhubError
from distillhub.loader import load_policy
from distillhub_cli.app import app

runner = CliRunner()


def test_preprocessed_observation_is_four_84x84_uint8_frames():
    env = make_env("ALE/Pong-v5")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    info = env_info("ALE/Pong-v5")
    assert info.family == "atari" and info.obs_shape == (4, 84, 84)
    assert info.action_space == "discrete" and info.n_outputs == 6 and info.obs_scale == 255.0
    env.close()


def test_max_episode_steps_counts_agent_steps():
    env = make_env("ALE/Pong-v5", {"max_episode_steps": 20})
    env.reset(seed=0)
    ends = [env.step(0)[2:4] for _ in range(20)]
    assert ends[-1] == (False, True)  # truncated at step 20, not terminated
    assert not any(any(e) for e in ends[:-1])
    assert env_info("ALE/Pong-v5", {"max_episode_steps": 20}).max_episode_steps == 20


def test_breakout_never_stalls_when_the_policy_never_fires():
    # NOOP only: FIRE is pressed after reset and after each lost life, so the game ends
    env = make_env("ALE/Breakout-v5")
    env.reset(seed=0)
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated) and steps < 5000:
        *_, terminated, truncated, _ = env.step(0)
        steps += 1
    assert terminated, "Breakout did not end: the ball was never launched"
    assert steps < 2000
    env.close()


def test_training_env_ends_on_life_loss_and_clips_rewards():
    env = make_env("ALE/Breakout-v5", training=True)
    env.reset(seed=0)
    lives = env.unwrapped.ale.lives()
    rewards = []
    for _ in range(2000):
        _, reward, terminated, truncated, _ = env.step(int(np.random.default_rng(0).integers(4)))
        rewards.append(reward)
        if terminated:
            break
    assert terminated and env.unwrapped.ale.lives() == lives - 1  # one life, not the whole game
    assert set(rewards) <= {0.0, 1.0}


@pytest.mark.parametrize("vectorization", ["sync", "ale"])
def test_vector_paths_give_uint8_frames_and_same_step_autoreset(vectorization):
    info = env_info("ALE/Pong-v5", {"max_episode_steps": 10})
    env = make_vector_env(info, 2, vectorization=vectorization, training=False)
    obs = env.reset()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == torch.uint8
    for _ in range(10):
        obs, reward, terminated, truncated, finished = env.step(torch.zeros(2, dtype=torch.long))
    assert bool(truncated.all()) and len(finished) == 2
    env.close()


def test_fixed_preprocessing_kwargs_are_refused():
    with pytest.raises(DistillhubError, match="'frameskip' is fixed"):
        make_env("ALE/Pong-v5", {"frameskip": 2})
    with pytest.raises(DistillhubError, match="vectorization 'ale' is for ALE"):
        make_vector_env(env_info("CartPole-v1"), 2, vectorization="ale")


@pytest.mark.parametrize("game,n_actions", [("Pong", 6), ("Breakout", 4)])
def test_tiny_distillation_saves_loads_and_evaluates(tmp_path, game, n_actions):
    out = tmp_path / game
    kwargs = json.dumps({"max_episode_steps": 40})
    r = runner.invoke(
        app,
        ["distill", "--env", f"ALE/{game}-v5", "--env-kwargs", kwargs, "--samples", "4", "--out", str(out),
         "--num-envs", "4", "--population", "2", "--rollout-steps", "16", "--max-steps", "128",
         "--eval-inits", "2", "--eval-episodes", "1", "--quiet", "--device", "cpu"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    batch = load_folder(out)
    assert batch.architecture == "cnn:nature" and batch.observations.shape == (4, 4, 84, 84)
    assert batch.targets.shape == (4, n_actions)
    # pixels: the learner sees obs / 255, recorded in the batch
    assert float(batch.obs_mean.sum()) == 0.0 and float(batch.obs_std.max()) == 255.0
    assert batch.extra["training"]["env_steps"] == 128
    # the pictures a pixel batch ships: a replay of whole-game frames and the synthetic frames themselves
    assert (out / "replay.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a") and (out / "replay.mp4").stat().st_size > 0
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    card = (out / "README.md").read_text()
    assert "](replay.gif)" in card and "](samples.png)" in card
    ds = datasets.load_dataset(str(out), split="train")
    rows = ds.with_format("numpy")[:]
    assert rows["observation"].shape == (4, 4, 84, 84) and rows["observation"].dtype == np.float32
    assert np.array_equal(rows["observation"], batch.observations.numpy())
    assert ds[0]["preview"].size == (4 * 84, 84)  # the Hub viewer shows the frame stack as an image
    policy = load_policy(out, seed=3)
    frame = np.zeros((4, 84, 84), dtype=np.uint8)
    assert 0 <= policy.act(frame) < n_actions
    r = runner.invoke(app, ["eval", str(out), "--inits", "2", "--episodes", "1", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["inits"] == 2 and summary["architecture"] == "cnn:nature"


def test_encoder_layers_publish_a_persistent_encoder(tmp_path):
    out = tmp_path / "enc"
    kwargs = json.dumps({"max_episode_steps": 20})
    r = runner.invoke(
        app,
        ["distill", "--env", "ALE/Pong-v5", "--env-kwargs", kwargs, "--samples", "4", "--out", str(out),
         "--num-envs", "2", "--population", "2", "--rollout-steps", "8", "--max-steps", "32",
         "--encoder-layers", "2", "--eval-inits", "0", "--quiet", "--device", "cpu", "--no-video"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    batch = load_folder(out)
    assert sorted(batch.encoder) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    # two policies from different inits share the published encoder, differ elsewhere
    a, b = load_policy(out, seed=1), load_policy(out, seed=2)
    sa, sb = a.learner.state_dict(), b.learner.state_dict()
    assert torch.equal(sa["0.weight"], batch.encoder["0.weight"]) and torch.equal(sa["2.weight"], sb["2.weight"])
    assert not torch.equal(sa["4.weight"], sb["4.weight"])
    size = sum(t.numel() for t in batch.encoder.values())
    assert f"`encoder.0.weight`, `encoder.2.bias`, `encoder.2.weight`, {size:,} numbers) are published" in (
        out / "README.md"
    ).read_text()


def test_per_game_defaults_follow_the_paper():
    from distillhub.distill import default_config

    assert default_config("ALE/Pong-v5").samples == 4
    assert default_config("ALE/SpaceInvaders-v5").samples == 4
    assert default_config("ALE/MsPacman-v5").samples == 6
    assert default_config("ALE/Centipede-v5").samples == 10
    cfg = default_config("ALE/Breakout-v5", samples=7)
    assert cfg.samples == 7 and cfg.arch == "cnn:nature" and cfg.vectorization == "ale"
