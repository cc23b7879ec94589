"""Plain PPO built from distillhub's own rollout pieces (the peer the distiller is compared to).

Same vectorised envs (`make_vector_env`), action sampling, GAE, clipped surrogate, running
observation normalisation and reward scaling (`distillhub.rl`) as the distiller; the only
difference is that PPO trains the policy's weights directly instead of a batch that one SGD
step turns into weights. Continuous actions use a state-independent learned log-std, like
the distilled policies.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from distillhub.batch import normalize
from distillhub.envs import env_info, make_env, make_vector_env
from distillhub.learners import build_learner, reinit_
from distillhub.rl import (
    RewardScaler,
    RunningMeanStd,
    compute_gae,
    greedy_actions,
    log_prob_entropy,
    ppo_clip_loss,
    sample_actions,
)


class PPOPolicy(nn.Module):
    """The trained actor with its frozen observation statistics."""

    def __init__(self, actor, obs_mean=None, obs_std=None, continuous=False, obs_clip=None):
        super().__init__()
        self.actor, self.obs_mean, self.obs_std, self.continuous = actor, obs_mean, obs_std, continuous
        self.obs_clip = obs_clip

    def forward(self, obs):
        o = normalize(obs, self.obs_mean, self.obs_std)
        return self.actor(o if self.obs_clip is None else o.clamp(-self.obs_clip, self.obs_clip))


def train_ppo(env_id, env_kwargs=None, *, max_steps=1_000_000, time_limit=None, seed=0, num_envs=64,
              rollout_steps=64, epochs=4, minibatches=4, lr=2.5e-3, target=None, arch="mlp:64-64:tanh",
              obs_norm=None, reward_norm=None, anneal_lr=False, obs_clip=None, reward_clip=None):  # fmt: skip
    """Train a PPO policy; returns (PPOPolicy, env steps used, wall seconds).

    ``obs_norm`` / ``reward_norm`` default to on for continuous actions (as for the distiller). ``obs_clip`` /
    ``reward_clip`` clip the normalised observations and scaled rewards to ±that (CleanRL's and SB3's 10); None:
    no clipping (as the distiller).
    """
    info = env_info(env_id, env_kwargs or {})
    continuous = info.action_space == "continuous"
    obs_norm = continuous if obs_norm is None else obs_norm
    reward_norm = continuous if reward_norm is None else reward_norm
    obs_clip = obs_clip if obs_norm else None  # only normalised observations are clipped
    gen = torch.Generator().manual_seed(seed)
    actor = build_learner(arch, info.obs_shape, info.n_outputs)
    reinit_(actor, "orthogonal:0.01", torch.Generator().manual_seed(seed))
    critic = build_learner(arch, info.obs_shape, 1)
    reinit_(critic, "orthogonal:1.0", torch.Generator().manual_seed(seed + 1))
    params = list(actor.parameters()) + list(critic.parameters())
    log_std = None
    if continuous:
        log_std = nn.Parameter(torch.zeros(info.n_outputs))
        params.append(log_std)
    opt = torch.optim.Adam(params, lr=lr, eps=1e-5)
    env = make_vector_env(info, num_envs, seed=seed)
    obs_rms = RunningMeanStd(info.obs_shape) if obs_norm else None
    scaler = RewardScaler(num_envs, 0.99) if reward_norm else None

    def prep(o):
        o = o.float() if obs_rms is None else normalize(o, obs_rms.mean.float(), obs_rms.std().float())
        return o if obs_clip is None else o.clamp(-obs_clip, obs_clip)

    obs = env.reset()
    T, E = rollout_steps, num_envs
    obs_buf = torch.zeros(T, E, *info.obs_shape)
    act_buf = torch.zeros(T, E, info.n_outputs) if continuous else torch.zeros(T, E, dtype=torch.long)
    logp_buf, rew_buf, done_buf, val_buf = (torch.zeros(T, E) for _ in range(4))
    steps, start, recent = 0, time.monotonic(), []
    while steps < max_steps and (time_limit is None or time.monotonic() - start < time_limit):
        if anneal_lr:
            opt.param_groups[0]["lr"] = lr * (1 - steps / max_steps)
        with torch.no_grad():
            for t in range(T):
                obs_buf[t] = prep(obs)
                action, logp = sample_actions(actor(obs_buf[t]), log_std, gen)
                val_buf[t] = critic(obs_buf[t]).squeeze(-1)
                raw = obs
                obs, reward, term, trunc, finished = env.step(action)
                if obs_rms is not None:
                    obs_rms.update(raw)
                if scaler is not None:
                    reward = scaler(reward, term | trunc)
                if reward_clip is not None:
                    reward = reward.clamp(-reward_clip, reward_clip)
                act_buf[t], logp_buf[t], rew_buf[t], done_buf[t] = action, logp, reward, term | trunc
                recent = (recent + finished.tolist())[-50:]
            adv, ret = compute_gae(rew_buf, val_buf, done_buf, critic(prep(obs)).squeeze(-1), 0.99, 0.95)
        b_obs, b_act, b_logp = (
            obs_buf.reshape(T * E, *info.obs_shape),
            act_buf.reshape(T * E, *act_buf.shape[2:]),
            logp_buf.reshape(-1),
        )
        b_adv, b_ret = adv.reshape(-1), ret.reshape(-1)
        mb = T * E // minibatches
        for _ in range(epochs):
            perm = torch.randperm(T * E, generator=gen)
            for i in range(0, T * E, mb):
                idx = perm[i : i + mb]
                new_logp, _ = log_prob_entropy(actor(b_obs[idx]), log_std, b_act[idx])
                a = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                pg, _ = ppo_clip_loss(new_logp, b_logp[idx], a, 0.2)
                v = 0.5 * (critic(b_obs[idx]).squeeze(-1) - b_ret[idx]).pow(2).mean()
                opt.zero_grad()
                (pg + v).backward()
                nn.utils.clip_grad_norm_(params, 0.5)
                opt.step()
        steps += T * E
        if target is not None and len(recent) >= 20 and min(recent[-20:]) >= target:
            break
    env.close()
    mean, std = (None, None) if obs_rms is None else (obs_rms.mean.float(), obs_rms.std().float())
    return PPOPolicy(actor, mean, std, continuous, obs_clip), steps, time.monotonic() - start


def evaluate_module(module, env_id, env_kwargs=None, episodes=20, seed=0):
    """Greedy mean return of a policy module (e.g. a PPOPolicy) in the real gymnasium env."""
    continuous = getattr(module, "continuous", False)
    returns = []
    for ep in range(episodes):
        env = make_env(env_id, env_kwargs or {})
        obs, _ = env.reset(seed=10_000 + seed * 1000 + ep)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                a = greedy_actions(module(torch.as_tensor(obs).float().unsqueeze(0)), continuous)[0]
            a = np.clip(a.numpy(), env.action_space.low, env.action_space.high) if continuous else int(a)
            obs, r, term, trunc, _ = env.step(a)
            total += r
            done = term or trunc
        env.close()
        returns.append(total)
    return sum(returns) / len(returns)
