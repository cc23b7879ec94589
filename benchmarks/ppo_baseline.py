"""Plain PPO built from distillhub's own rollout pieces (the peer the distiller is compared to).

Same vectorised envs (`make_vector_env`), action sampling, GAE and clipped surrogate
(`distillhub.rl`) as the distiller; the only difference is that PPO trains the policy's
weights directly instead of a batch that one SGD step turns into weights.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from distillhub.envs import env_info, make_vector_env
from distillhub.learners import build_learner, reinit_
from distillhub.rl import compute_gae, greedy_actions, log_prob_entropy, ppo_clip_loss, sample_actions


def train_ppo(env_id, env_kwargs=None, *, max_steps=1_000_000, time_limit=None, seed=0, num_envs=64,
              rollout_steps=64, epochs=4, minibatches=4, lr=2.5e-3, target=None, arch="mlp:64-64:tanh"):  # fmt: skip
    """Train a PPO policy; returns (policy module, env steps used, wall seconds)."""
    info = env_info(env_id, env_kwargs or {})
    gen = torch.Generator().manual_seed(seed)
    actor = build_learner(arch, info.obs_shape, info.n_outputs)
    reinit_(actor, "orthogonal:0.01", torch.Generator().manual_seed(seed))
    critic = build_learner(arch, info.obs_shape, 1)
    reinit_(critic, "orthogonal:1.0", torch.Generator().manual_seed(seed + 1))
    params = list(actor.parameters()) + list(critic.parameters())
    opt = torch.optim.Adam(params, lr=lr, eps=1e-5)
    env = make_vector_env(info, num_envs, seed=seed)
    obs = env.reset()
    T, E = rollout_steps, num_envs
    obs_buf = torch.zeros(T, E, *info.obs_shape)
    act_buf, logp_buf = torch.zeros(T, E, dtype=torch.long), torch.zeros(T, E)
    rew_buf, done_buf, val_buf = torch.zeros(T, E), torch.zeros(T, E), torch.zeros(T, E)
    steps, start, recent = 0, time.monotonic(), []
    while steps < max_steps and (time_limit is None or time.monotonic() - start < time_limit):
        with torch.no_grad():
            for t in range(T):
                obs_buf[t] = obs
                action, logp = sample_actions(actor(obs), None, gen)
                val_buf[t] = critic(obs).squeeze(-1)
                obs, reward, term, trunc, finished = env.step(action)
                act_buf[t], logp_buf[t], rew_buf[t], done_buf[t] = action, logp, reward, term | trunc
                recent = (recent + finished.tolist())[-50:]
            adv, ret = compute_gae(rew_buf, val_buf, done_buf, critic(obs).squeeze(-1), 0.99, 0.95)
        b_obs, b_act, b_logp = obs_buf.reshape(T * E, -1), act_buf.reshape(-1), logp_buf.reshape(-1)
        b_adv, b_ret = adv.reshape(-1), ret.reshape(-1)
        mb = T * E // minibatches
        for _ in range(epochs):
            perm = torch.randperm(T * E, generator=gen)
            for i in range(0, T * E, mb):
                idx = perm[i : i + mb]
                new_logp, _ = log_prob_entropy(actor(b_obs[idx]), None, b_act[idx])
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
    return actor, steps, time.monotonic() - start


def evaluate_module(module, env_id, env_kwargs=None, episodes=20, seed=0):
    """Greedy mean return of a policy module in the real gymnasium env."""
    from distillhub.envs import make_env

    returns = []
    for ep in range(episodes):
        env = make_env(env_id, env_kwargs or {})
        obs, _ = env.reset(seed=10_000 + seed * 1000 + ep)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                a = greedy_actions(module(torch.as_tensor(obs).float().unsqueeze(0)), False)
            obs, r, term, trunc, _ = env.step(int(a[0]))
            total += r
            done = term or trunc
        returns.append(total)
    return sum(returns) / len(returns)
