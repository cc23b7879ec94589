"""The evaluator's episode loop against gymnasium's own vector env, on real Acrobot-v1 envs."""

import gymnasium as gym
import numpy as np

from distillhub.envs import make_env
from distillhub.evaluate import first_episode_returns


def pump(obs: np.ndarray) -> np.ndarray:
    """Torque with the second link's angular velocity: swings Acrobot-v1 up in ~100 steps."""
    return np.where(obs[:, 5] > 0, 2, 0)


class CountSteps(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        return super().step(action)


def vector_reference(act, episodes: int, seed: int) -> np.ndarray:
    """First-episode returns the way the evaluator used to take them: a SyncVectorEnv stepping every env."""
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make("Acrobot-v1")] * episodes, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    obs, _ = envs.reset(seed=seed)
    running, first = np.zeros(episodes), np.full(episodes, np.nan)
    while np.isnan(first).any():
        obs, reward, terminated, truncated, _ = envs.step(act(obs))
        running += reward
        done = terminated | truncated
        first[done & np.isnan(first)] = running[done & np.isnan(first)]
        running[done] = 0
    envs.close()
    return first


def test_first_episode_returns_match_a_gymnasium_vector_env_and_step_only_running_episodes():
    envs = [CountSteps(make_env("Acrobot-v1", {})) for _ in range(6)]
    returns = first_episode_returns(envs, pump, seed=40, max_steps=500)
    np.testing.assert_array_equal(returns, vector_reference(pump, 6, seed=40))
    assert (returns > -500).all() and len(set(returns.tolist())) > 1  # real swing-ups of different lengths
    # each env took exactly its own episode's steps (Acrobot-v1 pays -1 per step until the last)
    assert [env.steps for env in envs] == [int(-r) + 1 for r in returns]
    # re-seeding the same envs gives the same episodes: the evaluator reuses them across inits
    np.testing.assert_array_equal(first_episode_returns(envs, pump, seed=40, max_steps=500), returns)


def test_episodes_still_running_are_cut_at_the_step_cap():
    envs = [make_env("Acrobot-v1", {}) for _ in range(3)]
    no_torque = lambda obs: np.ones(len(obs), dtype=np.int64)  # noqa: E731 - hangs at the bottom
    np.testing.assert_array_equal(first_episode_returns(envs, no_torque, seed=0, max_steps=50), [-50.0] * 3)
