"""One rollout in the distiller's envs and its advantages: shared by meta-PPO and the PPO teacher.

Both roll a policy for ``rollout_steps`` steps from where the envs are, bootstrap episodes the
time limit cut with the critic, scale rewards once per rollout and compute GAE over the whole
rollout; they differ only in the policy (a population of post-step learners, or one actor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from distillhub.rl import compute_gae, sample_actions

if TYPE_CHECKING:  # the distiller imports this module; this only names its type
    from distillhub.distill import Distiller


@dataclass
class Rollout:
    """A rollout's buffers, ``[T, E, ...]``; observations raw (uint8 frames stay uint8)."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    rewards: torch.Tensor  # raw rewards
    boot: torch.Tensor  # γ·V(final obs) where the time limit cut an episode
    done: torch.Tensor

    @classmethod
    def empty(cls, d: Distiller, envs: int) -> Rollout:
        """Buffers for ``rollout_steps`` steps of ``envs`` of ``d``'s envs."""
        T, shape, device = d.cfg.rollout_steps, d.info.obs_shape, d.device
        if not hasattr(d, "_obs"):
            d._obs = d.env.reset()
        act_shape = (T, envs, d.info.n_outputs) if d.continuous else (T, envs)
        return cls(
            obs=torch.zeros((T, envs, *shape), dtype=d._obs.dtype, device=device),
            actions=torch.zeros(act_shape, device=device),
            **{k: torch.zeros((T, envs), device=device) for k in ("logp", "rewards", "boot", "done")},
        )


@torch.no_grad()
def collect(
    d: Distiller, buf: Rollout, policy: Callable[[torch.Tensor], torch.Tensor], log_std: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll ``policy`` out in ``d``'s envs, filling ``buf``; updates ``d._obs`` and ``d.recent_returns``.

    Args:
        d: The distiller whose envs, critic, normalisation and reward scaling are used.
        buf: Buffers from :meth:`Rollout.empty`.
        policy: Normalised observations ``[E, ...]`` -> outputs ``[E, n_outputs]``.
        log_std: The continuous policy's log-std (``None`` for discrete actions).

    Returns:
        (advantages, returns), each ``[T, E]``.
    """
    cfg = d.cfg
    T, E = buf.logp.shape
    for t in range(T):
        buf.obs[t] = d._obs
        action, logp = sample_actions(policy(d._prep_obs(d._obs)), log_std, d.gen)
        d._obs, reward, terminated, truncated, finished = d.env.step(action)
        buf.boot[t] = 0.0
        final_obs = getattr(d.env, "final_obs", None)
        if cfg.bootstrap_truncated and final_obs is not None:
            # an episode cut by the time limit did not end: bootstrap its value
            cut = truncated & ~terminated
            buf.boot[t, cut] = cfg.gamma * d._values(final_obs[cut])
        buf.actions[t], buf.logp[t], buf.rewards[t], buf.done[t] = action, logp, reward, terminated | truncated
        d.recent_returns = (d.recent_returns + finished.tolist())[-100:]
    # rewards scaled once per rollout (one all-reduce across ranks, not one per step)
    rewards = buf.rewards if d.reward_scaler is None else d.reward_scaler.scale_rollout(buf.rewards, buf.done)
    # the critic on the whole rollout at once: one call instead of one per step
    values = d._values(buf.obs.view(T * E, *buf.obs.shape[2:])).view(T, E)
    return compute_gae(rewards + buf.boot, values, buf.done, d._values(d._obs), cfg.gamma, cfg.gae_lambda)
