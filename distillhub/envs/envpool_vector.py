"""envpool as a rollout backend: C++ thread-pool vector envs with distillhub's same-step autoreset.

envpool resets a finished env on its *next* step (that step's action is ignored and it returns the
reset observation with reward 0). The distiller expects gymnasium's same-step autoreset, so after a
step where some envs finished, :class:`EnvPoolVectorEnv` steps just those envs once more
(``env_id=`` subset) to get their reset observations in the same call. Evaluation never uses envpool:
a published batch is judged in gymnasium's env (tests check both agree on MuJoCo physics).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from distillhub.envs.gym_vector import TensorVectorEnv
from distillhub.errors import DistillhubError


def envpool_available(env_id: str) -> bool:
    """envpool is installed and knows ``env_id``."""
    try:
        import envpool
    except ImportError:
        return False
    return env_id in envpool.list_all_envs()


def default_threads() -> int:
    """One thread per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class EnvPoolVectorEnv(TensorVectorEnv):
    """``num_envs`` envpool envs behind the interface of :class:`~distillhub.envs.gym_vector.GymVectorEnv`.

    Args:
        env_id: An id envpool knows (``envpool.list_all_envs()``), e.g. ``Hopper-v5``.
        env_kwargs: Passed to ``envpool.make_gymnasium`` (e.g. ``max_episode_steps``).
        num_envs: Number of envs.
        device: Where the returned tensors live.
        seed: envpool's seed (env i is seeded from it).
        num_threads: Worker threads (default: the cores available).
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict,
        num_envs: int,
        device: str | torch.device = "cpu",
        seed: int = 0,
        num_threads: int | None = None,
    ):
        import envpool

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # envpool builds float64 Box spaces that gymnasium warns about
                self.envs = envpool.make_gymnasium(
                    env_id, num_envs=num_envs, num_threads=num_threads or default_threads(), seed=seed, **env_kwargs
                )
                # envpool builds these on every access
                self.single_observation_space = self.envs.observation_space
                self.single_action_space = self.envs.action_space
        except (TypeError, ValueError, RuntimeError) as e:
            raise DistillhubError(f"envpool cannot make {env_id} with {env_kwargs}: {e}") from None
        self._setup(num_envs, device, self.single_action_space)
        self._ids = np.arange(num_envs)

    def reset(self) -> torch.Tensor:
        obs, info = self.envs.reset()
        self._returns[:] = 0
        return self._tensor(self._ordered(obs, info))

    @staticmethod
    def _ordered(values: np.ndarray, info: dict) -> np.ndarray:
        """Rows in env-id order (envpool answers in the order the envs finished)."""
        order = np.argsort(info["env_id"])
        return values[order]

    def step(self, actions: torch.Tensor):
        a = self.env_actions(actions)
        obs, reward, terminated, truncated, info = self.envs.step(a, env_id=self._ids)
        obs, reward, terminated, truncated = (self._ordered(v, info) for v in (obs, reward, terminated, truncated))
        done = terminated | truncated
        self.final_obs = None
        if done.any():
            ids = np.flatnonzero(done)
            cut = truncated & ~terminated
            if cut.any():
                self.final_obs = self._tensor(np.array(obs, copy=True))
            # the finished envs' reset step: the action is ignored, the observation is the new episode's
            reset_obs, _, _, _, reset_info = self.envs.step(np.zeros_like(a[ids]), env_id=ids)
            obs = np.array(obs, copy=True)
            obs[np.sort(reset_info["env_id"])] = self._ordered(reset_obs, reset_info)
        return self._package(obs, reward, terminated, truncated)
