"""The cart-pole family: gymnasium's CartPole physics, N independent poles at once.

Two implementations of one model:

* :class:`CartPoleNDEnv` is a plain gymnasium env (numpy, one env), registered as
  ``distillhub/CartPoleND-v0``. It is what ``distillhub eval`` runs.
* :class:`TorchCartPole` steps thousands of envs in a handful of tensor ops on CPU or
  CUDA. It is what the distiller rolls out in. With ``n_dims=1`` it is CartPole-v1.

Actions of the N-D env are ``Discrete(2N)``: ``a // 2`` picks the dimension that is
pushed and ``a % 2`` the direction (1 pushes right); the other carts get no force.
An episode terminates when any cart leaves ``|x| <= 2.4`` or any pole tilts past 12°.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_CART + MASS_POLE
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASS_POLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360
MAX_EPISODE_STEPS = 500


def _physics(x, x_dot, theta, theta_dot, force, lib):
    """One Euler step of gymnasium's cart-pole equations (works on numpy and torch)."""
    costheta = lib.cos(theta)
    sintheta = lib.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot**2 * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (LENGTH * (4.0 / 3.0 - MASS_POLE * costheta**2 / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    return (
        x + TAU * x_dot,
        x_dot + TAU * xacc,
        theta + TAU * theta_dot,
        theta_dot + TAU * thetaacc,
    )


MAX_N_DIMS = 256  # far beyond the paper (5); refuses absurd sizes before allocating


def _observation_bounds(n_dims: int) -> np.ndarray:
    high = np.array(
        [X_THRESHOLD * 2, np.finfo(np.float32).max, THETA_THRESHOLD * 2, np.finfo(np.float32).max],
        dtype=np.float32,
    )
    return np.tile(high, n_dims)


class CartPoleNDEnv(gym.Env):
    """N independent cart-poles with gymnasium's CartPole-v1 physics.

    Args:
        n_dims: Number of cart-poles. ``n_dims=1`` behaves like CartPole-v1.
        render_mode: Unused; accepted for gymnasium compatibility.
    """

    metadata = {"render_modes": []}

    def __init__(self, n_dims: int = 2, render_mode: str | None = None):
        if isinstance(n_dims, bool) or not isinstance(n_dims, (int, np.integer)) or not 1 <= n_dims <= MAX_N_DIMS:
            raise ValueError(f"n_dims must be an integer from 1 to {MAX_N_DIMS}, got {n_dims!r}")
        self.n_dims = int(n_dims)
        high = _observation_bounds(self.n_dims)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2 * self.n_dims)
        self.render_mode = render_mode
        self.state: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-0.05, 0.05, size=(self.n_dims, 4))
        return self.state.reshape(-1).astype(np.float32), {}

    def step(self, action):
        assert self.state is not None, "call reset() before step()"
        action = int(action)
        force = np.zeros(self.n_dims)
        force[action // 2] = FORCE_MAG if action % 2 == 1 else -FORCE_MAG
        x, x_dot, theta, theta_dot = (self.state[:, i] for i in range(4))
        self.state = np.stack(_physics(x, x_dot, theta, theta_dot, force, np), axis=1)
        x, theta = self.state[:, 0], self.state[:, 2]
        terminated = bool(np.any(np.abs(x) > X_THRESHOLD) or np.any(np.abs(theta) > THETA_THRESHOLD))
        return self.state.reshape(-1).astype(np.float32), 1.0, terminated, False, {}


class TorchCartPole:
    """A batch of N-D cart-poles stepped with tensor ops; auto-resets finished envs.

    ``step`` returns the observation after an auto-reset for envs whose episode just
    ended (gymnasium's "same-step" autoreset), plus ``terminated``/``truncated`` flags.

    Args:
        num_envs: Number of parallel envs.
        n_dims: Cart-poles per env (1 = CartPole-v1).
        device: Torch device.
        dtype: State dtype; float64 reproduces gymnasium bit for bit, float32 is faster.
        seed: Seed of the env's own generator (used for resets).
        max_episode_steps: Truncation limit.
    """

    def __init__(
        self,
        num_envs: int,
        n_dims: int = 1,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
        max_episode_steps: int = MAX_EPISODE_STEPS,
    ):
        self.num_envs = num_envs
        self.n_dims = n_dims
        self.device = torch.device(device)
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = gym.spaces.Box(
            -_observation_bounds(n_dims), _observation_bounds(n_dims), dtype=np.float32
        )
        self.single_action_space = gym.spaces.Discrete(2 * n_dims)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = torch.zeros(num_envs, n_dims, 4, device=self.device, dtype=dtype)
        self.elapsed = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(num_envs, device=self.device)
        self._arange = torch.arange(num_envs, device=self.device)

    def _random_state(self, n: int) -> torch.Tensor:
        u = torch.rand(n, self.n_dims, 4, generator=self.generator, device=self.device, dtype=self.dtype)
        return u * 0.1 - 0.05

    def observations(self) -> torch.Tensor:
        return self.state.reshape(self.num_envs, -1).float()

    def reset(self) -> torch.Tensor:
        self.state = self._random_state(self.num_envs)
        self.elapsed.zero_()
        self.episode_return.zero_()
        return self.observations()

    def step(self, actions: torch.Tensor):
        """Advance every env by one step.

        Returns:
            (obs, reward, terminated, truncated, finished_returns) where
            ``finished_returns`` holds the returns of the episodes that ended.
        """
        actions = actions.long()
        force = torch.zeros(self.num_envs, self.n_dims, device=self.device, dtype=self.dtype)
        sign = torch.where(actions % 2 == 1, FORCE_MAG, -FORCE_MAG).to(self.dtype)
        force[self._arange, actions // 2] = sign
        s = self.state
        self.state = torch.stack(_physics(s[..., 0], s[..., 1], s[..., 2], s[..., 3], force, torch), dim=-1)
        x, theta = self.state[..., 0], self.state[..., 2]
        terminated = ((x.abs() > X_THRESHOLD) | (theta.abs() > THETA_THRESHOLD)).any(dim=1)
        self.elapsed += 1
        truncated = (self.elapsed >= self.max_episode_steps) & ~terminated
        reward = torch.ones(self.num_envs, device=self.device)
        self.episode_return += reward
        done = terminated | truncated
        finished = self.episode_return[done].clone()
        if bool(done.any()):
            self.state[done] = self._random_state(int(done.sum()))
            self.elapsed[done] = 0
            self.episode_return[done] = 0
        return self.observations(), reward, terminated, truncated, finished

    def close(self) -> None:
        """Nothing to release (same interface as the gymnasium adapter)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue bit for bit (for checkpoints)."""
        return {
            "state": self.state,
            "elapsed": self.elapsed,
            "episode_return": self.episode_return,
            "rng": self.generator.get_state(),
        }

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.state = sd["state"].to(self.device, self.dtype)
        self.elapsed = sd["elapsed"].to(self.device)
        self.episode_return = sd["episode_return"].to(self.device)
        self.generator.set_state(sd["rng"].cpu())
