"""RL pieces shared by the distiller and the PPO baseline: action sampling, GAE, PPO loss,
running statistics. Plain functions on tensors; the loops that use them read top to bottom.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def sample_actions(
    out: torch.Tensor, log_std: torch.Tensor | None, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample actions from logits (discrete) or means + log-std (continuous).

    Uses ``generator`` only, so a run is reproducible from its seed.

    Returns:
        (actions, log-probabilities)
    """
    if log_std is None:
        # Gumbel-max: argmax(logits + Gumbel noise) ~ Categorical(logits).
        u = torch.rand(out.shape, generator=generator, device=out.device).clamp_(1e-12, 1.0)
        actions = torch.argmax(out - torch.log(-torch.log(u)), dim=-1)
    else:
        noise = torch.randn(out.shape, generator=generator, device=out.device)
        actions = out + noise * log_std.exp()
    logp, _ = log_prob_entropy(out, log_std, actions)
    return actions, logp


def log_prob_entropy(
    out: torch.Tensor, log_std: torch.Tensor | None, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of ``actions`` and the entropy of the policy, per row."""
    if log_std is None:
        logp_all = torch.log_softmax(out, dim=-1)
        logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
        return logp, entropy
    log_std = log_std.expand_as(out)
    z = (actions - out) / log_std.exp()
    logp = (-0.5 * z**2 - log_std - 0.5 * LOG_2PI).sum(-1)
    entropy = (log_std + 0.5 + 0.5 * LOG_2PI).sum(-1)
    return logp, entropy


def greedy_actions(out: torch.Tensor, continuous: bool) -> torch.Tensor:
    """The deterministic action: argmax of logits, or the mean."""
    return out if continuous else out.argmax(dim=-1)


@torch.no_grad()
def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates over a [T, E] rollout.

    ``dones[t]`` marks that the episode ended at step t (the next observation is a reset).

    Returns:
        (advantages, returns), both [T, E].
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nv = next_value if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * nv * nonterminal - values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        advantages[t] = last
    return advantages, advantages + values


def ppo_clip_loss(
    new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (to minimise) and the fraction of clipped samples."""
    ratio = (new_logp - old_logp).exp()
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    return loss, clipfrac


def moment_sums(x: torch.Tensor) -> torch.Tensor:
    """[sum, sum of squares, count] of samples ``x`` [B, *shape] (float64): what ranks add up."""
    x = x.double()
    return torch.stack([x.sum(0), (x * x).sum(0), torch.full_like(x[0], float(x.shape[0]))])


class RunningMeanStd:
    """Running mean and variance (parallel algorithm), e.g. for observation normalisation."""

    def __init__(self, shape: tuple[int, ...] = (), device: str | torch.device = "cpu"):
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = torch.tensor(1e-4, dtype=torch.float64, device=device)

    def update(self, x: torch.Tensor, ranks=None) -> None:
        """Fold a batch of samples in; with ``ranks`` (data-parallel runs) the batch is every rank's samples."""
        x = x.double().reshape(-1, *self.mean.shape)
        if ranks is not None and ranks.world > 1:
            self.update_from_sums(ranks.sum(moment_sums(x)))
        else:
            self.fold(x.mean(0), x.var(0, unbiased=False), x.shape[0])

    def update_from_sums(self, sums: torch.Tensor) -> None:
        """Fold in a batch given by :func:`moment_sums` (summed over ranks)."""
        n = float(sums[2].reshape(-1)[0])
        batch_mean = sums[0] / n
        self.fold(batch_mean, (sums[1] / n - batch_mean**2).clamp_min(0), n)

    def fold(self, batch_mean: torch.Tensor, batch_var: torch.Tensor, n: float) -> None:
        """Fold in a batch of ``n`` samples with the given mean and (biased) variance."""
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    def std(self, eps: float = 1e-8) -> torch.Tensor:
        return (self.var + eps).sqrt()

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.var": self.var, f"{prefix}.count": self.count}

    def load_state_dict(self, sd: dict[str, torch.Tensor], prefix: str) -> None:
        dev = self.mean.device
        self.mean, self.var, self.count = (sd[f"{prefix}.{k}"].to(dev) for k in ("mean", "var", "count"))


class RewardScaler:
    """Divides rewards by the running std of the discounted return (as gymnasium's
    NormalizeReward does), so the critic sees rewards of unit scale."""

    def __init__(self, num_envs: int, gamma: float, device: str | torch.device = "cpu", ranks=None):
        self.rms = RunningMeanStd((), device)
        self.ret = torch.zeros(num_envs, dtype=torch.float64, device=device)
        self.gamma = gamma
        self.ranks = ranks  # data-parallel runs: the statistics of every rank's returns

    def __call__(self, reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """Scale one step's rewards [E] (``done`` [E] bool ends the envs' running returns)."""
        return self.scale_rollout(reward[None], done[None])[0]

    def scale_rollout(self, rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
        """Scale a rollout's rewards [T, E] exactly as T single-step calls would, with one
        all-reduce for the whole rollout in data-parallel runs instead of one per step."""
        returns = torch.empty(rewards.shape, dtype=torch.float64, device=rewards.device)
        for t in range(rewards.shape[0]):
            self.ret = self.ret * self.gamma + rewards[t].double()
            returns[t] = self.ret
            self.ret = torch.where(dones[t].bool(), torch.zeros_like(self.ret), self.ret)
        sums = None
        if self.ranks is not None and self.ranks.world > 1:
            sums = self.ranks.sum(moment_sums(returns.T)).T  # [T, 3]: each step's returns over every rank's envs
        scaled = torch.empty_like(rewards, dtype=torch.float32)
        for t in range(rewards.shape[0]):
            if sums is None:
                self.rms.update(returns[t])
            else:
                self.rms.update_from_sums(sums[t])
            scaled[t] = (rewards[t] / self.rms.std().float()).float()
        return scaled
