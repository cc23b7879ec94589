"""Atari (ALE) envs with the standard DQN preprocessing.

One observation is a stack of the last 4 frames, each 84x84 grayscale ``uint8``, the
max of the last two raw frames of a 4-frame skip; episodes start with up to 30 no-ops,
and games with a FIRE action get FIRE pressed after every reset and lost life (otherwise
a policy that never fires stalls Breakout until the frame cap). For training only, a lost
life ends the episode and rewards are clipped to their sign; evaluation plays whole games
with raw scores.

Two vectorised implementations, with the same observations:

* ``sync`` / ``async``: gymnasium's ``AtariPreprocessing`` + ``FrameStackObservation`` on
  ``gymnasium.make(id, frameskip=1)`` in a Sync/AsyncVectorEnv;
* ``ale``: ale-py's native ``AtariVectorEnv`` (C++ threads, same preprocessing).

``env_kwargs`` go to ``gymnasium.make`` except ``max_episode_steps``, which caps an
episode in agent steps (after the frame skip); CI uses it to keep episodes short.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit, TransformReward

from distillhub.errors import DistillhubError

FRAME_STACK = 4
SCREEN_SIZE = 84
FRAME_SKIP = 4
NOOP_MAX = 30


def register_ale() -> None:
    """Register the ``ALE/...`` ids with gymnasium (idempotent)."""
    try:
        import ale_py
    except ImportError:
        raise DistillhubError("Atari envs need ale-py; install it with: pip install ale-py") from None
    gym.register_envs(ale_py)


class FireReset(gym.Wrapper):
    """Press FIRE after every reset and every lost life, for games that wait for it.

    Without it a policy that never fires stalls Breakout until the frame cap.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.env.reset(seed=seed, options=options)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(options=options)
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        if lives < self._lives and not (terminated or truncated):
            obs, extra, terminated, truncated, info = self.env.step(1)
            reward += extra
        self._lives = lives
        return obs, reward, terminated, truncated, info


def _split_kwargs(env_id: str, env_kwargs: dict | None) -> tuple[dict, int | None]:
    kwargs = dict(env_kwargs or {})
    max_steps = kwargs.pop("max_episode_steps", None)
    for key in ("frameskip", "obs_type"):
        if key in kwargs:
            raise DistillhubError(
                f"{env_id}: '{key}' is fixed by distillhub's Atari preprocessing; remove it from --env-kwargs"
            )
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise DistillhubError(f"max_episode_steps must be a positive integer, got {max_steps!r}")
    return kwargs, max_steps


def make_atari_env(env_id: str, env_kwargs: dict | None = None, *, training: bool = False) -> gym.Env:
    """One preprocessed ALE env: observations ``uint8`` [4, 84, 84].

    Args:
        env_id: An ``ALE/<Game>-v5`` id.
        env_kwargs: ``gymnasium.make`` arguments, plus ``max_episode_steps`` (agent steps).
        training: End episodes on life loss and clip rewards to their sign.
    """
    register_ale()
    kwargs, max_steps = _split_kwargs(env_id, env_kwargs)
    env = gym.make(env_id, frameskip=1, **kwargs)
    env = AtariPreprocessing(
        env,
        noop_max=NOOP_MAX,
        frame_skip=FRAME_SKIP,
        screen_size=SCREEN_SIZE,
        terminal_on_life_loss=training,
        grayscale_obs=True,
        scale_obs=False,
    )
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    if training:
        env = TransformReward(env, lambda r: float(np.sign(r)))
    env = FrameStackObservation(env, FRAME_STACK)
    if max_steps is not None:
        env = TimeLimit(env, max_steps)
    return env


def make_ale_vector_env(env_id: str, env_kwargs: dict | None, num_envs: int, *, training: bool = True):
    """ale-py's native vector env with the same preprocessing as :func:`make_atari_env`.

    Returns a gymnasium ``VectorEnv`` with same-step autoreset.
    """
    register_ale()
    from ale_py.vector_env import AtariVectorEnv

    kwargs, max_steps = _split_kwargs(env_id, env_kwargs)
    spec = gym.spec(env_id)
    merged = {**spec.kwargs, **kwargs}
    return AtariVectorEnv(
        game=merged["game"],
        num_envs=num_envs,
        repeat_action_probability=float(merged.get("repeat_action_probability", 0.25)),
        full_action_space=bool(merged.get("full_action_space", False)),
        max_num_frames_per_episode=(
            FRAME_SKIP * max_steps if max_steps else int(merged.get("max_num_frames_per_episode", 108_000))
        ),
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        img_height=SCREEN_SIZE,
        img_width=SCREEN_SIZE,
        grayscale=True,
        stack_num=FRAME_STACK,
        frameskip=FRAME_SKIP,
        maxpool=True,
        noop_max=NOOP_MAX,
        episodic_life=training,
        reward_clipping=training,
        use_fire_reset=True,
    )
