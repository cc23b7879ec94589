"""Adapter from gymnasium's vector API to the torch-first interface the distiller uses."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch


class TensorVectorEnv:
    """What the gymnasium and envpool adapters share: numpy in from the envs, tensors out to the distiller,
    continuous actions clipped to their bounds, and the returns of finished episodes."""

    envs = None

    def _setup(self, num_envs: int, device: str | torch.device, action_space) -> None:
        self.num_envs = num_envs
        self.device = torch.device(device)
        self._returns = np.zeros(num_envs)
        self._low = getattr(action_space, "low", None)
        self._high = getattr(action_space, "high", None)
        self.final_obs: torch.Tensor | None = None

    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device)

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        """Actions as the envs take them: numpy, continuous ones clipped to the action bounds."""
        a = actions.detach().cpu().numpy()
        return np.clip(a, self._low, self._high) if self._low is not None else a

    def _package(self, obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray):
        """``(obs, reward, terminated, truncated, finished_returns)`` as tensors; ``obs`` already reset where done."""
        self._returns += reward
        done = terminated | truncated
        finished = torch.as_tensor(self._returns[done].copy(), dtype=torch.float32)
        self._returns[done] = 0
        return (
            self._tensor(obs),
            torch.as_tensor(reward, dtype=torch.float32, device=self.device),
            torch.as_tensor(terminated, device=self.device),
            torch.as_tensor(truncated, device=self.device),
            finished,
        )

    def close(self) -> None:
        self.envs.close()


class GymVectorEnv(TensorVectorEnv):
    """Steps ``num_envs`` gymnasium envs (sync or async) and speaks tensors.

    Same interface as :class:`~distillhub.envs.cartpole.TorchCartPole`: ``reset()``
    returns a float tensor of observations, ``step(actions)`` returns
    ``(obs, reward, terminated, truncated, finished_returns)`` with same-step autoreset.
    Continuous actions are clipped to the action bounds before they reach the env.

    Args:
        env_fn: Zero-argument callable that builds one env.
        num_envs: Number of envs.
        device: Where the returned tensors live.
        seed: Seed for the first reset (env i gets ``seed + i``).
        vectorization: ``"sync"`` (one process) or ``"async"`` (one process per env).
        envs: A ready gymnasium vector env with same-step autoreset to wrap instead
            (``env_fn`` and ``vectorization`` are then ignored).
    """

    def __init__(
        self,
        env_fn: Callable[[], gym.Env] | None,
        num_envs: int,
        device: str | torch.device = "cpu",
        seed: int = 0,
        vectorization: str = "sync",
        envs: gym.vector.VectorEnv | None = None,
    ):
        if envs is None:
            cls = {"sync": gym.vector.SyncVectorEnv, "async": gym.vector.AsyncVectorEnv}[vectorization]
            envs = cls([env_fn] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.envs = envs
        self.seed = seed
        self.single_observation_space = self.envs.single_observation_space
        self.single_action_space = self.envs.single_action_space
        self._setup(num_envs, device, self.single_action_space)

    def reset(self) -> torch.Tensor:
        obs, _ = self.envs.reset(seed=self.seed)
        self._returns[:] = 0
        return self._tensor(obs)

    def step(self, actions: torch.Tensor):
        obs, reward, terminated, truncated, info = self.envs.step(self.env_actions(actions))
        # where an episode was cut by its time limit, the observation it ended in (autoreset has
        # already replaced it) so the distiller can bootstrap the cut episode's value
        self.final_obs = None
        cut = truncated & ~terminated
        if cut.any() and "final_obs" in info:
            final = np.array(obs, copy=True)
            for i in np.flatnonzero(cut & info.get("_final_obs", cut)):
                final[i] = info["final_obs"][i]
            self.final_obs = self._tensor(final)
        return self._package(obs, reward, terminated, truncated)
