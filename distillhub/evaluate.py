"""Evaluate a batch: K fresh inits, one step each, E greedy episodes each in the real env."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch

from distillhub.batch import Batch
from distillhub.envs import env_info, make_env
from distillhub.errors import DistillhubError
from distillhub.policy import EVAL_SEED_OFFSET, policy_from_batch
from distillhub.references import PPO_REFERENCE, RANDOM_REFERENCE, normalized_score, percent_of_reference

MAX_INITS = 10_000
MAX_EPISODES = 1_000


@dataclass
class EvalResult:
    """Returns of a batch over fresh inits.

    Attributes:
        per_init: Mean episode return of each init.
        episodes: Episodes per init.
        architecture / init: The learner that was taught.
        threshold: The env's "solved" return, if known.
        reference: PPO reference return, if known.
    """

    env_id: str
    per_init: list[float]
    episodes: int
    architecture: str
    seed: int
    init: str = ""
    threshold: float | None = None
    reference: float | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_init))

    @property
    def std(self) -> float:
        return float(np.std(self.per_init))

    @property
    def min(self) -> float:
        return float(np.min(self.per_init))

    @property
    def max(self) -> float:
        return float(np.max(self.per_init))

    @property
    def solved_fraction(self) -> float | None:
        if self.threshold is None:
            return None
        return float(np.mean([r >= self.threshold for r in self.per_init]))

    @property
    def percent_of_reference(self) -> float | None:
        return percent_of_reference(self.env_id, self.mean)

    @property
    def normalized_score(self) -> float | None:
        """(mean − random) / (PPO reference − random): 0 = uniform random policy, 1 = PPO."""
        return normalized_score(self.env_id, self.mean)

    def summary(self) -> dict:
        """JSON-able summary (stored in the batch header and the card)."""
        out = {
            "inits": len(self.per_init),
            "episodes_per_init": self.episodes,
            "architecture": self.architecture,
            "init": self.init,
            "mean": round(self.mean, 3),
            "std": round(self.std, 3),
            "min": round(self.min, 3),
            "max": round(self.max, 3),
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
            out["solved_fraction"] = round(self.solved_fraction, 3)
        if self.reference is not None:
            out["ppo_reference"] = self.reference
            pct = self.percent_of_reference
            out["percent_of_reference"] = None if pct is None else round(pct, 1)
        rnd = RANDOM_REFERENCE.get(self.env_id)
        if rnd is not None:
            out["random_reference"] = rnd[0]
        score = self.normalized_score
        if score is not None:
            out["normalized_score"] = round(score, 3)
        return out

    def to_json(self) -> dict:
        return asdict(self)


def init_seed(seed: int, i: int) -> int:
    """The seed of fresh init ``i`` in an evaluation with ``seed`` (never one the distiller draws)."""
    return EVAL_SEED_OFFSET + 10_000 * seed + i


def first_episode_returns(
    envs: list[gym.Env],
    act: Callable[..., Sequence],
    seed: int,
    max_steps: int | None,
    *,
    indexed: bool = False,
) -> np.ndarray:
    """The return of each env's first episode after ``reset(seed=seed + j)``, all acting at once.

    Only the envs still in their first episode are stepped, so a run costs the episodes' own
    lengths, not ``len(envs)`` times the longest one (Acrobot-v1, 100 episodes: ~85 steps each,
    against 500 for every env when one episode runs to the time limit).

    Args:
        envs: The envs, one per episode.
        act: Maps a stack of observations to a sequence of env actions (e.g. :meth:`Policy.act`).
        seed: Env ``j`` resets with ``seed + j``, as a gymnasium vector env seeds its envs.
        max_steps: Episodes still running after this many steps are cut there (``None``: 100,000).
        indexed: Call ``act(observations, rows)`` instead, ``rows`` the indices of the envs whose
            observations these are (for policies that differ per env, like a population's).

    Returns:
        One return per env.
    """
    obs = [env.reset(seed=seed + j)[0] for j, env in enumerate(envs)]
    totals = np.zeros(len(envs))
    active = list(range(len(envs)))
    for _ in range(max_steps or 100_000):
        if not active:
            break
        stack = np.stack([obs[j] for j in active])
        actions = act(stack, active) if indexed else act(stack)
        still = []
        for j, action in zip(active, actions, strict=True):
            obs[j], reward, terminated, truncated, _ = envs[j].step(action)
            totals[j] += float(reward)
            if not (terminated or truncated):
                still.append(j)
        active = still
    return totals


def evaluate(
    batch: Batch,
    inits: int = 20,
    episodes: int = 5,
    arch: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    init: str | None = None,
    allow_import: bool = False,
) -> EvalResult:
    """Greedy returns in the real gymnasium env for ``inits`` fresh inits of the learner.

    Init ``i`` is drawn with seed ``1_000_000 + 10_000 * seed + i``; the distiller never
    seeds an init generator in that range, so these inits are unseen in training.

    Args:
        batch: The batch to evaluate.
        inits: Number of fresh learner inits.
        episodes: Episodes per init (envs seeded ``10_000 * seed + episodes * i + j``).
        arch: Teach another architecture than the recorded one.
        seed: Selects both the inits and the env seeds.
        device: Where the policies run.
        init: Another init scheme than the recorded one.
        allow_import: Let a ``module:EnvId`` env id import its module.
    """
    if not (1 <= inits <= MAX_INITS and 1 <= episodes <= MAX_EPISODES):
        raise DistillhubError(
            f"--inits must be 1 to {MAX_INITS} and --episodes 1 to {MAX_EPISODES}, got {inits} and {episodes}"
        )
    info = env_info(batch.env_id, batch.env_kwargs, allow_import=allow_import)
    if info.obs_shape != batch.obs_shape or info.n_outputs != batch.n_outputs:
        raise DistillhubError(
            f"batch shapes {list(batch.obs_shape)} -> {batch.n_outputs} do not fit {batch.env_id} "
            f"({list(info.obs_shape)} -> {info.n_outputs}); check env_id/env_kwargs"
        )
    env_id, env_kwargs = batch.env_id, batch.env_kwargs
    # one env per episode, made once and re-seeded for every init (making an Atari or MuJoCo env costs more than
    # resetting it)
    envs = [make_env(env_id, env_kwargs, allow_import=allow_import) for _ in range(episodes)]
    per_init = []
    try:
        for i in range(inits):
            policy = policy_from_batch(
                batch, arch=arch, init=init, seed=init_seed(seed, i), device=device,
                allow_import=allow_import,
            )  # fmt: skip
            returns = first_episode_returns(envs, policy.act, 10_000 * seed + episodes * i, info.max_episode_steps)
            per_init.append(float(returns.mean()))
    finally:
        for env in envs:
            env.close()
    ref = PPO_REFERENCE.get(env_id)
    return EvalResult(
        env_id=env_id,
        per_init=per_init,
        episodes=episodes,
        architecture=arch or batch.architecture,
        init=init or batch.init,
        seed=seed,
        threshold=info.reward_threshold,
        reference=ref[0] if ref else None,
    )


def evaluate_learners(
    batch: Batch,
    learners: list,
    inits: int = 10,
    episodes: int = 2,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    allow_import: bool = False,
    progress=None,
) -> dict[str, EvalResult]:
    """:func:`evaluate` for every learner of a list (see :mod:`distillhub.population`).

    Args:
        batch: The batch to evaluate.
        learners: :class:`~distillhub.population.Learner` entries (arch and init).
        inits / episodes / seed / device / allow_import: As for :func:`evaluate`, per learner.
        progress: Called with each learner's label before it is evaluated.

    Returns:
        Learner label -> its result, in the order given.
    """
    out = {}
    for learner in learners:
        if progress is not None:
            progress(learner.label)
        out[learner.label] = evaluate(
            batch, inits, episodes, arch=learner.arch, init=learner.init, seed=seed, device=device,
            allow_import=allow_import,
        )  # fmt: skip
    return out
