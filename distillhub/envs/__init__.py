"""Environments: which implementation runs an env id, and what its spaces look like.

* ``CartPole-v1`` and ``distillhub/CartPoleND-v0`` roll out in :class:`TorchCartPole`
  (torch-batched) during distillation and in gymnasium for evaluation.
* ALE ids (``ALE/Pong-v5`` …) get the standard Atari preprocessing (:mod:`.atari`).
* MinAtar ids (``MinAtar/Breakout-v1`` …) get channels-first ``uint8`` frames (:mod:`.minatar`).
* Any other gymnasium env with a ``Box`` observation and a ``Discrete`` or 1-D ``Box``
  action space runs through gymnasium's vector API (:class:`GymVectorEnv`).
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from distillhub.envs.atari import make_ale_vector_env, make_atari_env, register_ale
from distillhub.envs.cartpole import CartPoleNDEnv, TorchCartPole
from distillhub.envs.envpool_vector import EnvPoolVectorEnv, envpool_available
from distillhub.envs.gym_vector import GymVectorEnv
from distillhub.envs.minatar import make_minatar_env, register_minatar
from distillhub.errors import DistillhubError

ND_CARTPOLE_ID = "distillhub/CartPoleND-v0"

# Without a display MuJoCo's default GLFW renderer cannot start; EGL renders off-screen (replays).
# Read when mujoco is first imported, so it is set here, before any env is made.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

if ND_CARTPOLE_ID not in gym.registry:
    gym.register(
        id=ND_CARTPOLE_ID,
        entry_point="distillhub.envs.cartpole:CartPoleNDEnv",
        max_episode_steps=500,
        reward_threshold=475.0,
        kwargs={"n_dims": 2},
    )

__all__ = [
    "ND_CARTPOLE_ID",
    "CartPoleNDEnv",
    "EnvInfo",
    "EnvPoolVectorEnv",
    "GymVectorEnv",
    "TorchCartPole",
    "env_info",
    "make_env",
    "make_vector_env",
    "parse_env_kwargs",
    "split_env_id",
]


@dataclass(frozen=True)
class EnvInfo:
    """What the distiller and the loader need to know about an env.

    Attributes:
        env_id: Gymnasium id.
        env_kwargs: Keyword arguments for ``gymnasium.make``.
        family: ``cartpole``, ``mujoco``, ``atari``, ``minatar`` or ``generic``.
        obs_shape: Shape of one (preprocessed) observation.
        action_space: ``discrete`` or ``continuous``.
        n_outputs: Logits (discrete) or action dimensions (continuous).
        action_low / action_high: Bounds of continuous actions, else ``None``.
        reward_threshold: The env's "solved" return, if gymnasium knows one.
        max_episode_steps: Time limit, if any.
        obs_scale: Pixel observations (``uint8`` Box): the learner sees ``obs / obs_scale``.
        spec_json: gymnasium's ``EnvSpec.to_json()`` of the made env (max_episode_steps and
            wrappers included), if it is serialisable.
    """

    env_id: str
    env_kwargs: dict
    family: str
    obs_shape: tuple[int, ...]
    action_space: str
    n_outputs: int
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    reward_threshold: float | None = None
    max_episode_steps: int | None = None
    obs_scale: float | None = None
    spec_json: str | None = None


def parse_env_kwargs(text: str | None) -> dict:
    """Parse ``--env-kwargs`` JSON into a dict, with a one-line error otherwise."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise DistillhubError(f"--env-kwargs is not valid JSON ({e.msg}); example: '{{\"n_dims\": 3}}'") from None
    if not isinstance(value, dict):
        raise DistillhubError("--env-kwargs must be a JSON object, e.g. '{\"n_dims\": 3}'")
    return value


def split_env_id(env_id: str) -> tuple[str | None, str]:
    """``"module:EnvId"`` -> ``("module", "EnvId")``; a plain id -> ``(None, id)``.

    Gymnasium's ``module:EnvId`` form names a module whose import registers the env.
    """
    module, sep, name = env_id.partition(":")
    return (module, name) if sep else (None, env_id)


def import_env_module(env_id: str, allow_import: bool) -> str:
    """Import the module a ``module:EnvId`` id names (only with ``allow_import``); return the bare id.

    A batch's env id is data: importing the module it names would run that module's code, so
    it needs the user's explicit opt-in. Ids the user types for ``distill`` are opted in.

    Raises:
        DistillhubError: The id names a module and ``allow_import`` is false, or the import fails.
    """
    module, name = split_env_id(env_id)
    if module is None:
        return env_id
    if not module or not all(part.isidentifier() for part in module.split(".")) or not name:
        raise DistillhubError(f"'{env_id}' is not a valid env id; use EnvId or module:EnvId")
    if not allow_import:
        raise DistillhubError(
            f"env id '{env_id}' would import the Python module '{module}' (its code would run); "
            f"if you trust it, pass --allow-import (Python: allow_import=True)"
        )
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise DistillhubError(f"cannot import module '{module}' for env '{name}' ({e}); pip install it first") from None
    return name


def family_of(env_id: str) -> str:
    """Classify an env id into the family whose defaults and wrappers it gets."""
    env_id = split_env_id(env_id)[1]
    if env_id in ("CartPole-v1", ND_CARTPOLE_ID):
        return "cartpole"
    if env_id.startswith("ALE/"):
        register_ale()
        return "atari"
    if env_id.startswith("MinAtar/"):
        register_minatar()
        return "minatar"
    spec = gym.registry.get(env_id)
    entry = str(getattr(spec, "entry_point", "")) if spec else ""
    if "mujoco" in entry:
        return "mujoco"
    return "generic"


def check_env_kwargs(env_kwargs) -> dict:
    """A JSON object whose generic keys are sane (checked before any env is made)."""
    if not isinstance(env_kwargs, dict):
        raise DistillhubError(f"env_kwargs must be a JSON object, got {type(env_kwargs).__name__}")
    steps = env_kwargs.get("max_episode_steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise DistillhubError(f"max_episode_steps must be a positive integer, got {steps!r}")
    return dict(env_kwargs)


def make_env(
    env_id: str,
    env_kwargs: dict | None = None,
    *,
    training: bool = False,
    allow_import: bool = False,
    render_mode: str | None = None,
) -> gym.Env:
    """Build one gymnasium env with the wrappers its family needs.

    Args:
        env_id: Gymnasium id, e.g. ``CartPole-v1`` or ``distillhub/CartPoleND-v0``, or
            ``module:EnvId`` (the module is imported first, only with ``allow_import``).
        env_kwargs: Extra ``gymnasium.make`` arguments.
        training: Atari only: end episodes on life loss.
        allow_import: Allow a ``module:`` prefix to import its module.
        render_mode: gymnasium's ``render_mode`` (``rgb_array`` for replays).

    Raises:
        DistillhubError: Unknown id, missing dependency, bad kwargs, or a module prefix
            without ``allow_import``.
    """
    env_kwargs = check_env_kwargs(env_kwargs or {})
    env_id = import_env_module(env_id, allow_import)
    family = family_of(env_id)
    if render_mode is not None:
        env_kwargs["render_mode"] = render_mode
    try:
        if family == "atari":
            return make_atari_env(env_id, env_kwargs, training=training)
        if family == "minatar":
            return make_minatar_env(env_id, env_kwargs)
        return gym.make(env_id, **env_kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise DistillhubError(f"{env_id} needs a missing dependency: {str(e).splitlines()[0]}") from None
    except (gym.error.NameNotFound, gym.error.NamespaceNotFound, gym.error.VersionNotFound) as e:
        raise DistillhubError(
            f"unknown env id '{env_id}' ({e}); use a registered gymnasium id such as CartPole-v1"
        ) from None
    except gym.error.Error as e:
        raise DistillhubError(f"cannot make {env_id}: {e}") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise DistillhubError(f"cannot make {env_id} with env kwargs {json.dumps(env_kwargs)}: {e}") from None
    except DistillhubError:
        raise
    except Exception as e:  # an env's constructor may raise anything for bad kwargs
        first = str(e).splitlines()[0] if str(e) else ""
        raise DistillhubError(
            f"cannot make {env_id} with env kwargs {json.dumps(env_kwargs)}: {type(e).__name__}: {first}"
            + _mujoco_gl_hint(e)
        ) from None


def _mujoco_gl_hint(e: Exception) -> str:
    """MUJOCO_GL=egl/osmesa (often set on GPU images) makes `import mujoco` fail where that OpenGL library
    is missing, with an AttributeError from PyOpenGL; say which variable to change."""
    backend = os.environ.get("MUJOCO_GL")
    if backend and isinstance(e, AttributeError) and "gl" in str(e).lower():
        return f" (MUJOCO_GL={backend} is set but that OpenGL backend cannot load here: unset MUJOCO_GL or set MUJOCO_GL=glfw)"
    return ""


def check_spaces(env_id: str, obs_space: gym.Space, act_space: gym.Space) -> None:
    """Refuse spaces the learners cannot handle, with a one-line reason."""
    if not isinstance(obs_space, gym.spaces.Box):
        raise DistillhubError(
            f"{env_id} has a {type(obs_space).__name__} observation space; distillhub needs a Box "
            "(flatten it with gymnasium.wrappers.FlattenObservation and register the wrapped env)"
        )
    if isinstance(act_space, gym.spaces.Discrete):
        return
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return
    raise DistillhubError(
        f"{env_id} has a {type(act_space).__name__} action space; distillhub supports Discrete and 1-D Box actions"
    )


def env_info(env_id: str, env_kwargs: dict | None = None, *, allow_import: bool = False) -> EnvInfo:
    """Make the env once and describe its spaces (checks they are supported).

    ``allow_import``: see :func:`make_env`; ``env_id`` is kept as given (with its prefix).
    """
    env_kwargs = check_env_kwargs(env_kwargs or {})
    env = make_env(env_id, env_kwargs, allow_import=allow_import)
    try:
        obs_space, act_space = env.observation_space, env.action_space
        check_spaces(env_id, obs_space, act_space)
        spec = env.spec
        common = dict(
            env_id=env_id,
            env_kwargs=env_kwargs,
            family=family_of(env_id),
            obs_shape=tuple(int(d) for d in obs_space.shape),
            reward_threshold=getattr(spec, "reward_threshold", None),
            max_episode_steps=_time_limit(env),
            obs_scale=float(obs_space.high.max()) if obs_space.dtype == np.uint8 else None,
            spec_json=_spec_json(spec),
        )
        if isinstance(act_space, gym.spaces.Discrete):
            return EnvInfo(action_space="discrete", n_outputs=int(act_space.n), **common)
        return EnvInfo(
            action_space="continuous",
            n_outputs=int(act_space.shape[0]),
            action_low=tuple(float(v) for v in np.asarray(act_space.low)),
            action_high=tuple(float(v) for v in np.asarray(act_space.high)),
            **common,
        )
    finally:
        env.close()


def _spec_json(spec) -> str | None:
    try:
        return spec.to_json() if spec is not None else None
    except Exception:  # an entry point that is a class or a kwarg that is not JSON cannot be serialised
        return None


def versions(env_id: str) -> dict[str, str]:
    """Versions of the packages a batch of ``env_id`` was made with (provenance for the card)."""
    from importlib.metadata import PackageNotFoundError, version

    from distillhub import __version__

    names = ["torch", "gymnasium"]
    family = family_of(env_id)
    names += {"mujoco": ["mujoco"], "atari": ["ale-py"]}.get(family, [])
    out = {"distillhub": __version__}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _time_limit(env: gym.Env) -> int | None:
    """The step cap of the outermost TimeLimit (the spec's, or one added by a wrapper)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return int(env._max_episode_steps)
        env = env.env
    return None


def make_vector_env(
    info: EnvInfo,
    num_envs: int,
    *,
    device: str | torch.device = "cpu",
    seed: int = 0,
    vectorization: str = "sync",
    training: bool = True,
    env_threads: int | None = None,
) -> TorchCartPole | GymVectorEnv | EnvPoolVectorEnv:
    """The fastest vectorised implementation available for ``info.env_id``.

    ``vectorization``: ``sync`` or ``async`` (gymnasium), ``ale`` (ale-py's native vector env,
    Atari only) or ``envpool`` (MuJoCo and classic control ids envpool knows). ``training``:
    Atari's life-loss episodes and clipped rewards. ``env_threads``: envpool's worker threads.
    """
    if vectorization == "ale" and info.family != "atari":
        raise DistillhubError(f"vectorization 'ale' is for ALE/... ids only, not {info.env_id}; use sync or async")
    if vectorization == "envpool":
        if info.family in ("atari", "minatar") or not envpool_available(info.env_id):
            raise DistillhubError(
                f"envpool does not run {info.env_id} here (pip install envpool; MuJoCo and classic-control ids only); "
                "use --vectorization sync"
            )
        return EnvPoolVectorEnv(info.env_id, info.env_kwargs, num_envs, device=device, seed=seed, num_threads=env_threads)
    if info.family == "cartpole":
        n_dims = 1 if split_env_id(info.env_id)[1] == "CartPole-v1" else int(info.env_kwargs.get("n_dims", 2))
        return TorchCartPole(num_envs, n_dims=n_dims, device=device, seed=seed)
    env_id, env_kwargs = info.env_id, info.env_kwargs
    if vectorization == "ale":
        envs = make_ale_vector_env(env_id, env_kwargs, num_envs, training=training)
        return GymVectorEnv(None, num_envs, device=device, seed=seed, envs=envs)

    def env_fn() -> gym.Env:
        # info exists, so the env was made once already: a module prefix was opted into
        return make_env(env_id, env_kwargs, training=training, allow_import=True)

    return GymVectorEnv(env_fn, num_envs, device=device, seed=seed, vectorization=vectorization)
