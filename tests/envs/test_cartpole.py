import gymnasium as gym
import numpy as np
import pytest
import torch

from distillhub.envs import ND_CARTPOLE_ID, TorchCartPole
from distillhub.envs.cartpole import THETA_THRESHOLD


def _rollout_gym(env, actions):
    out = []
    for a in actions:
        obs, r, term, trunc, _ = env.step(int(a))
        out.append((obs, r, term, env.state.copy()))
        if term:
            break
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_cartpole_matches_gymnasium_step_for_step(seed):
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=seed)
    tenv = TorchCartPole(1, n_dims=1, dtype=torch.float64)
    tenv.reset()
    tenv.state[0, 0] = torch.from_numpy(np.array(env.state))
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, size=200)
    ref = _rollout_gym(env, actions)
    assert ref[-1][2], "the random policy should end the episode"
    for a, (obs, r, term, state) in zip(actions, ref, strict=False):
        tobs, tr, tterm, ttrunc, _ = tenv.step(torch.tensor([a]))
        if term:
            assert bool(tterm[0])
            break
        assert not bool(tterm[0]) and not bool(ttrunc[0])
        np.testing.assert_array_equal(tobs[0].numpy(), obs)  # float64 state: bit for bit
        assert float(tr[0]) == r == 1.0
        # the internal state, not only the float32 observation
        np.testing.assert_array_equal(tenv.state[0, 0].numpy(), state)


def test_float32_torch_cartpole_stays_close_to_gymnasium():
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=5)
    tenv = TorchCartPole(1, dtype=torch.float32)
    tenv.reset()
    tenv.state[0, 0] = torch.from_numpy(np.array(env.state)).float()
    for a in [0, 1] * 20:
        obs, _, term, _, _ = env.step(a)
        tobs, _, tterm, _, _ = tenv.step(torch.tensor([a]))
        assert bool(tterm[0]) == term
        if term:
            break
        np.testing.assert_allclose(tobs[0].numpy(), obs, atol=1e-5)


def test_nd_cartpole_registered_with_gymnasium_spaces():
    env = gym.make(ND_CARTPOLE_ID, n_dims=3)
    assert env.observation_space.shape == (12,)
    assert env.action_space == gym.spaces.Discrete(6)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (12,) and np.all(np.abs(obs) <= 0.05)
    assert env.spec.max_episode_steps == 500


def test_nd_cartpole_action_pushes_only_its_dimension():
    env = gym.make(ND_CARTPOLE_ID, n_dims=3).unwrapped
    env.reset(seed=0)
    env.state[:] = 0.0
    obs, *_ = env.step(3)  # a // 2 = 1 (second cart), a % 2 = 1 (push right)
    obs = obs.reshape(3, 4)
    assert obs[1, 1] > 0  # x_dot of cart 1 grows
    assert obs[0, 1] == 0 and obs[2, 1] == 0  # the others get no force
    obs, *_ = env.step(4)  # third cart, push left
    assert obs.reshape(3, 4)[2, 1] < 0


def test_nd_cartpole_terminates_when_any_pole_falls():
    env = gym.make(ND_CARTPOLE_ID, n_dims=2).unwrapped
    env.reset(seed=0)
    env.state[:] = 0.0
    env.state[1, 2] = THETA_THRESHOLD + 0.01  # second pole already past 12 degrees
    _, _, terminated, _, _ = env.step(0)
    assert terminated


def test_torch_nd_matches_numpy_nd():
    env = gym.make(ND_CARTPOLE_ID, n_dims=3).unwrapped
    env.reset(seed=1)
    tenv = TorchCartPole(1, n_dims=3, dtype=torch.float64)
    tenv.reset()
    tenv.state[0] = torch.from_numpy(env.state.copy())
    for a in [0, 5, 2, 3, 1, 4] * 5:
        obs, _, term, _, _ = env.step(a)
        tobs, _, tterm, _, _ = tenv.step(torch.tensor([a]))
        assert bool(tterm[0]) == term
        if term:
            break
        np.testing.assert_array_equal(tobs[0].numpy(), obs)


def test_torch_cartpole_autoresets_and_truncates():
    tenv = TorchCartPole(4, max_episode_steps=5)
    tenv.reset()
    tenv.state.zero_()
    for _ in range(4):
        _, _, term, trunc, finished = tenv.step(torch.tensor([0, 1, 0, 1]))
        assert not trunc.any() and finished.numel() == 0
    obs, _, term, trunc, finished = tenv.step(torch.tensor([0, 1, 0, 1]))
    assert trunc.all() and not term.any()
    assert finished.tolist() == [5.0] * 4
    assert bool((obs.abs() <= 0.05).all())  # fresh starts after the reset
