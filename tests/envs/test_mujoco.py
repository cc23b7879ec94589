"""All 11 Gymnasium MuJoCo v5 envs distill, save, load and evaluate end to end (tiny budget),
and MuJoCo-specific bad input gets a one-line error."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from distillhub.batch import load_folder
from distillhub.config import MUJOCO_ENCODER_ENVS, MUJOCO_TEACHER_HEAD_ENVS
from distillhub.distill import MUJOCO_TEACHER_ENVS, default_config
from distillhub.envs import env_info
from distillhub.errors import DistillhubError
from distillhub.loader import load_policy
from distillhub.references import PPO_REFERENCE
from distillhub_cli.app import app

runner = CliRunner()

MUJOCO_V5 = [
    "Ant-v5", "HalfCheetah-v5", "Hopper-v5", "Humanoid-v5", "HumanoidStandup-v5", "InvertedDoublePendulum-v5",
    "InvertedPendulum-v5", "Pusher-v5", "Reacher-v5", "Swimmer-v5", "Walker2d-v5",
]  # fmt: skip


@pytest.mark.parametrize("env_id", MUJOCO_V5)
def test_mujoco_env_distills_saves_loads_and_evaluates(tmp_path, env_id):
    out = tmp_path / env_id
    r = runner.invoke(
        app,
        ["distill", "--env", env_id, "--env-kwargs", json.dumps({"max_episode_steps": 30}), "--samples", "16",
         "--out", str(out), "--num-envs", "2", "--population", "2", "--rollout-steps", "16", "--max-steps", "64",
         "--eval-inits", "2", "--eval-episodes", "1", "--quiet", "--device", "cpu", "--no-video"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    info = env_info(env_id)
    batch = load_folder(out)
    assert batch.action_space == "continuous" and batch.architecture == default_config(env_id).arch
    assert batch.observations.shape == (16, *info.obs_shape) and batch.targets.shape == (16, info.n_outputs)
    assert batch.log_std.shape == (info.n_outputs,)
    # running observation statistics were frozen into the batch
    assert batch.obs_mean.shape == info.obs_shape and bool((batch.obs_std > 0).all())
    assert batch.extra["training"]["env_steps"] == 64
    if env_id in MUJOCO_ENCODER_ENVS:  # a PPO teacher on 90 % of the 64 steps (two whole rollouts), its torso kept
        assert batch.extra["training"]["teacher"]["env_steps"] == 64
        assert batch.inner_step == "head" and sorted(batch.encoder) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    elif env_id in MUJOCO_TEACHER_ENVS | MUJOCO_TEACHER_HEAD_ENVS:  # a PPO teacher on half the 64 steps (one rollout)
        assert batch.extra["training"]["teacher"]["env_steps"] == 32
        assert batch.inner_step == ("head" if env_id in MUJOCO_TEACHER_HEAD_ENVS else "sgd")
    else:
        assert batch.extra["training"]["teacher"] is None
    policy = load_policy(out, seed=5)
    action = policy.act(np.full(info.obs_shape, 1e6, dtype=np.float32))
    assert action.shape == (info.n_outputs,)
    assert np.all(action >= np.array(info.action_low)) and np.all(action <= np.array(info.action_high))
    r = runner.invoke(app, ["eval", str(out), "--inits", "2", "--episodes", "1", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["inits"] == 2
    assert summary["ppo_reference"] == PPO_REFERENCE[env_id][0]


def test_every_v5_env_is_in_the_mujoco_family_with_a_reference():
    from distillhub.envs import family_of

    for env_id in MUJOCO_V5:
        assert family_of(env_id) == "mujoco"
        assert env_id in PPO_REFERENCE


def test_missing_dependency_is_one_line(monkeypatch):
    def broken(*args, **kwargs):
        raise gym.error.DependencyNotInstalled('MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`')

    monkeypatch.setattr(gym, "make", broken)
    r = runner.invoke(app, ["distill", "--env", "Hopper-v5", "--out", "unused", "--quiet"])
    assert r.exit_code == 1
    assert r.output.strip().startswith("Error: Hopper-v5 needs a missing dependency")
    assert 'pip install "gymnasium[mujoco]"' in r.output and "Traceback" not in r.output


def test_non_box_action_space_is_refused():
    with pytest.raises(DistillhubError, match="MultiDiscrete action space"):
        env_info("tests/MultiDiscreteAct-v0")
    r = runner.invoke(app, ["distill", "--env", "tests/MultiDiscreteAct-v0", "--out", "unused", "--quiet"])
    assert r.exit_code == 1 and "distillhub supports Discrete and 1-D Box actions" in r.output


def test_sync_and_async_rollouts_agree():
    from distillhub.envs import make_vector_env

    info = env_info("Hopper-v5")
    outs = []
    for mode in ("sync", "async"):
        env = make_vector_env(info, 2, seed=3, vectorization=mode)
        obs = [env.reset()]
        for _ in range(5):
            obs.append(env.step(torch.full((2, 3), 0.3))[0])
        env.close()
        outs.append(torch.stack(obs))
    assert torch.equal(outs[0], outs[1])


def test_a_mujoco_gl_backend_that_cannot_load_gets_a_one_line_hint(tmp_path):
    """GPU images often set MUJOCO_GL=egl; where that OpenGL library is missing `import mujoco` fails inside
    PyOpenGL with an AttributeError. The CLI names the variable to change and writes nothing."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MUJOCO_GL": "osmesa"}
    probe = subprocess.run([sys.executable, "-c", "import mujoco"], env=env, capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip("OSMesa loads on this machine, so MUJOCO_GL=osmesa does not fail here")
    assert "AttributeError" in probe.stderr
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "distillhub", "distill", "--env", "Hopper-v5", "--max-steps", "10", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 1
    assert "MUJOCO_GL=osmesa is set" in res.stderr and "set MUJOCO_GL=glfw" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()
