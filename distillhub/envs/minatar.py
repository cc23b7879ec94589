"""MinAtar (``MinAtar/<Game>-v1``): 10×10 miniature Atari games with one channel per object type.

Observations come as ``(10, 10, C)`` booleans; distillhub turns them channels-first ``uint8``
``(C, 10, 10)`` with values 0/1, so they take the pixel path (frames stay ``uint8`` in rollout
buffers, the learner sees them as floats) and the CNN learners (``cnn:small``). MinAtar games have
no episode cap of their own: distillhub caps them at ``DEFAULT_MAX_STEPS`` agent steps unless
``env_kwargs`` sets ``max_episode_steps``.
"""

from __future__ import annotations

import logging

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import TimeLimit

from distillhub.errors import DistillhubError

DEFAULT_MAX_STEPS = 10_000


def register_minatar() -> None:
    """Register the ``MinAtar/...`` ids with gymnasium (idempotent)."""
    if "MinAtar/Breakout-v1" in gym.registry:
        return
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # minatar.gym logs a warning about an optional plotting package on import
    try:
        import minatar.gym
    except ImportError:
        raise DistillhubError("MinAtar envs need minatar; install it with: pip install minatar") from None
    finally:
        root.setLevel(level)
    minatar.gym.register_envs()


class ChannelsFirst(gym.ObservationWrapper):
    """``(H, W, C)`` booleans -> ``(C, H, W)`` ``uint8`` 0/1."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, (c, h, w), dtype=np.uint8)

    def observation(self, observation):
        return np.ascontiguousarray(np.moveaxis(np.asarray(observation, dtype=np.uint8), -1, 0))


def make_minatar_env(env_id: str, env_kwargs: dict | None = None) -> gym.Env:
    """One MinAtar env, channels first, with an episode cap.

    Args:
        env_id: A ``MinAtar/<Game>-v1`` id.
        env_kwargs: ``gymnasium.make`` arguments, plus ``max_episode_steps``.
    """
    register_minatar()
    kwargs = dict(env_kwargs or {})
    max_steps = kwargs.pop("max_episode_steps", DEFAULT_MAX_STEPS)
    env = gym.make(env_id, **kwargs)
    return TimeLimit(ChannelsFirst(env), max_steps)
