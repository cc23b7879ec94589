"""envpool backend: same physics as gymnasium's env, same-step autoreset, and a distillation on it."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

from distillhub.distill import default_config, distill
from distillhub.envs import EnvPoolVectorEnv, env_info, make_vector_env

envpool = pytest.importorskip("envpool")


def test_hopper_physics_match_gymnasium_for_a_fixed_action_sequence():
    pool = envpool.make_gymnasium("Hopper-v5", num_envs=1, num_threads=1, seed=3)
    obs, info = pool.reset()
    env = gym.make("Hopper-v5")
    env.reset(seed=0)
    # envpool and gymnasium draw initial states from different RNGs: start gymnasium from envpool's state
    env.unwrapped.set_state(np.concatenate([[info["x_position"][0]], obs[0, :5]]), obs[0, 5:])
    rng = np.random.default_rng(0)
    for t in range(1000):
        a = rng.uniform(-1, 1, (1, 3))
        p_obs, p_rew, p_term, p_trunc, _ = pool.step(a, env_id=np.arange(1))
        g_obs, g_rew, g_term, g_trunc, _ = env.step(a[0])
        np.testing.assert_allclose(p_obs[0], g_obs, atol=1e-8)
        assert math.isclose(float(p_rew[0]), g_rew, rel_tol=1e-5, abs_tol=1e-5)  # envpool's rewards are float32
        assert bool(p_term[0]) == g_term and bool(p_trunc[0]) == g_trunc, t
        if g_term or g_trunc:
            break
    assert t > 5  # a real episode was compared


def test_pendulum_physics_match_gymnasium():
    pool = envpool.make_gymnasium("Pendulum-v1", num_envs=1, num_threads=1, seed=1)
    obs, _ = pool.reset()
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([math.atan2(obs[0, 1], obs[0, 0]), obs[0, 2]])
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.uniform(-2, 2, (1, 1))
        p_obs, p_rew, p_term, p_trunc, _ = pool.step(a, env_id=np.arange(1))
        g_obs, g_rew, g_term, g_trunc, _ = env.step(a[0])
        np.testing.assert_allclose(p_obs[0], g_obs, atol=1e-4)
        assert math.isclose(float(p_rew[0]), g_rew, rel_tol=1e-4, abs_tol=1e-4)
        assert bool(p_trunc[0]) == g_trunc and not p_term[0]
    assert g_trunc  # both cut the episode at the same 200-step limit


def test_same_step_autoreset_and_final_obs():
    env = EnvPoolVectorEnv("Hopper-v5", {"max_episode_steps": 20}, num_envs=3, seed=0)
    obs = env.reset()
    assert obs.shape == (3, 11)
    lengths, steps = [], np.zeros(3, int)
    for _ in range(45):
        prev = obs
        obs, reward, terminated, truncated, finished = env.step(torch.zeros(3, 3))
        steps += 1
        done = (terminated | truncated).numpy()
        if done.any():
            # the returned observation already starts the next episode: Hopper resets near height 1.25
            assert torch.allclose(obs[done, 0], torch.full((int(done.sum()),), 1.25, dtype=obs.dtype), atol=0.01)
            if truncated.any():
                assert env.final_obs is not None
                assert not torch.allclose(env.final_obs[truncated], obs[truncated])  # the cut episode's last state
            lengths += steps[done].tolist()
            steps[done] = 0
            assert len(finished) == int(done.sum())
        else:
            assert env.final_obs is None and not torch.equal(prev, obs)
    assert lengths and all(n <= 20 for n in lengths)
    env.close()


def test_mujoco_defaults_to_envpool_and_distills(tmp_path):
    cfg = default_config("Hopper-v5")
    assert cfg.vectorization == "envpool"
    assert default_config("Hopper-v5", {"max_episode_steps": 30}).vectorization == "sync"  # kwargs: gymnasium
    info = env_info("Hopper-v5")
    assert isinstance(make_vector_env(info, 2, vectorization="envpool"), EnvPoolVectorEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # envpool's float64 spaces must not leak gymnasium warnings
        batch = distill(default_config("Hopper-v5", samples=8, num_envs=4, population=2, rollout_steps=16,
                                       num_minibatches=2, max_steps=128, eval_inits=2))  # fmt: skip
    assert batch.extra["training"]["env_steps"] == 128 and batch.observations.shape == (8, 11)
