"""A PPO teacher that starts a distillation: ``x_init="teacher"``.

Plain PPO learns a policy from far fewer env steps than meta-PPO learns a batch (MinAtar
Space Invaders, equal steps: PPO 405, a batch from scratch 5.8). So a run can spend the first
``teacher_fraction`` of its budget training an ordinary policy in the distiller's own envs, then
start the batch from it: ``x`` on states that policy visits, ``y`` its outputs there (logits or
action means), the log-std its own, and the distiller's critic already trained. Meta-PPO then
teaches every fresh init to act like that and better. Every teacher env step and second counts
against the run's budget, so comparisons at equal env steps stay honest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from distillhub.distributed import normalize_advantages
from distillhub.learners import build_learner, reinit_
from distillhub.rl import log_prob_entropy, ppo_clip_loss
from distillhub.rollout import Rollout
from distillhub.rollout import collect as collect_rollout

if TYPE_CHECKING:  # the distiller imports this module; this only names its type
    from distillhub.distill import Distiller

# rollouts whose observations form the pool the batch's x is drawn from: the teacher's latest,
# most competent ones
POOL_ROLLOUTS = 4
# finished training episodes whose mean return must reach the run's target before the teacher stops early
TARGET_EPISODES = 100


class Teacher(NamedTuple):
    """What :func:`train_teacher` hands over."""

    actor: nn.Module
    log_std: nn.Parameter | None
    pool: torch.Tensor  # the raw observations of its last rollouts [M, *obs_shape]
    confirmed: bool  # the last ``confirm`` call was on this actor and said yes (its batch is in place)
    checks_from: int | None  # the run's env step of the first ``teacher_checks_from`` check (None: none ran)


def train_teacher(
    d: Distiller,
    max_steps: int,
    seconds: float | None,
    confirm: Callable[[nn.Module, nn.Parameter | None, torch.Tensor], bool] | None = None,
) -> Teacher:
    """Train a PPO policy in the distiller's envs, with its critic, normalisation and rollout settings.

    The actor has the first learner's architecture (``orthogonal:0.01`` init, as in PPO); the
    critic is the distiller's own, so meta-PPO starts with a trained one. The learning rate
    ``teacher_lr`` decays linearly to 0 over the teacher's budget (held constant with
    ``anneal_teacher_lr=False``). The teacher may stop early (``teacher_stop``; the rest of the
    budget goes to meta-PPO) once the mean return of its last ``TARGET_EPISODES`` training episodes
    reaches the run's target (``d.target``, the env's reward threshold unless ``target_return`` is
    set; also under ``early_stop=False``, which is the batch's stop): at once under ``"train"``;
    under ``"held-out"`` only when ``confirm`` (the distiller's held-out check of the batch the
    teacher would hand off) also says so, asked at most every ``eval_every`` rollouts; never under
    ``"none"``. From ``teacher_checks_from`` of its budget on, ``confirm`` is also asked every
    ``eval_every`` rollouts (its held-out record keeps the best hand-off). Env steps and wall time are
    added to ``d.global_step`` and ``d.elapsed``.

    Args:
        d: The distiller (not yet run).
        max_steps: The teacher's env steps (rounded up to whole rollouts).
        seconds: Its wall-time budget, if any (whichever comes first).
        confirm: Holds out the hand-off batch of (actor, log-std, state pool); says whether it teaches the
            worst held-out init to the target.

    Returns:
        The trained :class:`Teacher`.
    """
    cfg, info, device = d.cfg, d.info, d.device
    E, T, shape = d.local_envs, cfg.rollout_steps, info.obs_shape
    gen = torch.Generator().manual_seed(cfg.seed + 6)
    actor = build_learner(d.learners[0].arch, shape, info.n_outputs)
    reinit_(actor, "orthogonal:0.01", gen)
    actor.to(device)
    log_std = nn.Parameter(torch.zeros(info.n_outputs, device=device)) if d.continuous else None
    params = [*actor.parameters(), *d.critic.parameters(), *([log_std] if log_std is not None else [])]
    opt = torch.optim.Adam(params, lr=cfg.teacher_lr, eps=1e-5)

    buf = Rollout.empty(d, E)
    pool: list[torch.Tensor] = []
    start, steps, last_check, confirmed, checks_from = time.monotonic(), 0, None, False, None
    while steps < max_steps and (seconds is None or time.monotonic() - start < seconds):
        done = steps / max_steps if seconds is None else max(steps / max_steps, (time.monotonic() - start) / seconds)
        at_target = cfg.teacher_stop != "none" and _at_target(d)
        if at_target and cfg.teacher_stop == "train":
            break
        due = last_check is None or steps - last_check >= cfg.eval_every * T * E
        # a held-out check of the hand-off batch: to confirm a stop at the target, or from teacher_checks_from on
        periodic = done >= cfg.teacher_checks_from
        if confirm is not None and pool and due and (periodic or at_target and cfg.teacher_stop == "held-out"):
            if periodic and checks_from is None:
                checks_from = d.global_step
            last_check, confirmed = steps, confirm(actor, log_std, torch.cat(pool))
            if confirmed and at_target and cfg.teacher_stop == "held-out":
                break
            confirmed = False  # training goes on: the returned teacher is not the one just checked
        if cfg.anneal_teacher_lr:
            opt.param_groups[0]["lr"] = cfg.teacher_lr * (1.0 - min(done, 1.0))
        advantages, returns = collect_rollout(d, buf, actor, log_std)
        pool = (pool + [buf.obs.reshape(T * E, *shape).clone()])[-POOL_ROLLOUTS:]

        # --- PPO on the rollout (statistics fixed until after the update, as in the distiller)
        b_obs = d._prep_obs(buf.obs.reshape(T * E, *shape))
        b_act, b_logp = buf.actions.reshape(T * E, *buf.actions.shape[2:]), buf.logp.reshape(-1)
        b_adv, b_ret = advantages.reshape(-1), returns.reshape(-1)
        mb_size = T * E // (cfg.teacher_minibatches or cfg.num_minibatches)
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(T * E, generator=gen).to(device)
            for lo in range(0, T * E, mb_size):
                mb = perm[lo : lo + mb_size]
                new_logp, entropy = log_prob_entropy(actor(b_obs[mb]), log_std, b_act[mb])
                pg_loss, _ = ppo_clip_loss(
                    new_logp, b_logp[mb], normalize_advantages(b_adv[mb], d.ranks), cfg.clip_coef
                )
                v_loss = 0.5 * (d.critic(b_obs[mb]).squeeze(-1) - b_ret[mb]).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                (pg_loss - cfg.ent_coef * entropy.mean() + v_loss).backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                opt.step()
        if d.obs_rms is not None:
            d.obs_rms.update(buf.obs, d.ranks)
        steps += T * E
        d.global_step += T * E  # as it goes: a held-out check records the step it was made at
    d.elapsed += time.monotonic() - start
    return Teacher(actor, log_std, torch.cat(pool), confirmed, checks_from)


def _at_target(d: Distiller) -> bool:
    """The teacher's last ``TARGET_EPISODES`` training episodes average the run's target or more."""
    recent = d.recent_returns[-TARGET_EPISODES:]
    return d.target is not None and len(recent) >= TARGET_EPISODES and sum(recent) / len(recent) >= d.target
