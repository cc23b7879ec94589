"""Meta-PPO: learn a batch (x, y, lr) such that one SGD step from a fresh init is a good policy.

Every meta-iteration:

1. draw ``population`` fresh learner inits θ0 (never reused);
2. take the one step on the batch, θ1 = θ0 − lr·∇mse(f_θ0(x), y), for each init at once
   (:func:`~distillhub.onestep.step_population`);
3. roll out the post-step learners, each in its own slice of the vectorised envs;
4. compute GAE advantages with a persistent critic (not part of the batch);
5. minimise PPO's clipped surrogate of the post-step learners for a few epochs; each
   minibatch re-takes the one step, so the gradient flows through it into x, y, lr
   (and the continuous policy's log-std, and a persistent encoder if there is one).

A new population each iteration makes the batch work for inits it never saw.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from distillhub.batch import Batch, normalize
from distillhub.checkpoint import checkpoint_path, load_checkpoint, restore_run_state, run_state, save_checkpoint
from distillhub.config import (  # noqa: F401  (re-exported: distillhub.distill is where users find them)
    ATARI_SAMPLES,
    FAMILY_DEFAULTS,
    GENERIC_CONTINUOUS,
    MAX_ENVS,
    MUJOCO_TEACHER_ENVS,
    NO_STEP_LIMIT,
    DistillConfig,
    check_fits,
    default_config,
    parse_settings,
    resolve_device,
    step_settings,
    target_return,
    validate_config,
)
from distillhub.distributed import Ranks, from_env, local_device, normalize_advantages
from distillhub.envs import EnvInfo, env_info, make_vector_env, versions
from distillhub.envs.gym_vector import GymVectorEnv
from distillhub.errors import DistillhubError
from distillhub.evaluate import first_episode_returns
from distillhub.learners import build_learner, reinit_, torso_layers
from distillhub.onestep import training_rule
from distillhub.population import Draw, Population, describe
from distillhub.rl import (
    RewardScaler,
    RunningMeanStd,
    greedy_actions,
    log_prob_entropy,
    ppo_clip_loss,
    sample_actions,
)
from distillhub.rollout import Rollout
from distillhub.rollout import collect as collect_rollout
from distillhub.selection import Selection
from distillhub.teacher import train_teacher


@dataclass
class IterationStats:
    """What one meta-iteration reports (shown by the progress bar)."""

    iteration: int
    global_step: int
    elapsed: float
    steps_per_second: float
    learning_rate: float
    train_return: float | None
    eval_mean: float | None
    eval_min: float | None
    pg_loss: float
    value_loss: float



class Distiller:
    """A meta-PPO run; :meth:`run` trains and returns the batch.

    Args:
        config: The run's configuration.
        out_dir: Where checkpoints go (``<out_dir>/.distillhub/``); ``None`` disables them.
        resume: Continue from the checkpoint in ``out_dir``.
        ranks: This process's data-parallel rank (default: from torchrun's environment, or one process).
        info: ``config``'s env, if the caller has already made it (saves making it again).
    """

    def __init__(
        self,
        config: DistillConfig,
        out_dir: str | Path | None = None,
        resume: bool = False,
        ranks: Ranks | None = None,
        info: EnvInfo | None = None,
    ):
        validate_config(config)
        self.cfg = cfg = config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.device = local_device(resolve_device(cfg.device))
        # data-parallel (torchrun): this rank's share of the population and the envs
        self.ranks = ranks or from_env(self.device)
        K, r = self.ranks.world, self.ranks.rank
        # num_envs is a multiple of population (validated), so a split population splits the envs evenly too
        if cfg.population % K:
            raise DistillhubError(
                f"with {K} ranks, population ({cfg.population}) must split evenly; use a multiple of {K}"
            )
        self.local_population, self.local_envs = cfg.population // K, cfg.num_envs // K
        # the user named the env (its module may be imported); the CLI passes the one it already made
        self.info: EnvInfo = info or env_info(cfg.env_id, cfg.env_kwargs, allow_import=True)
        self.continuous = self.info.action_space == "continuous"
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 7919 * r)  # actions: per rank
        # minibatch order: the same on every rank (one process uses self.gen, as before)
        self.perm_gen = self.gen if K == 1 else torch.Generator(device=self.device).manual_seed(cfg.seed + 5)
        self.init_gen = torch.Generator().manual_seed(cfg.seed + 1)  # CPU: inits are drawn on CPU

        obs_shape, n_out = self.info.obs_shape, self.info.n_outputs
        self.learners = check_fits(cfg, self.info)
        # the persistent encoder (if any) starts from one init of the first learner
        template = build_learner(self.learners[0].arch, obs_shape, n_out)
        reinit_(template, self.learners[0].init, torch.Generator().manual_seed(cfg.seed + 2))
        self.encoder_names = self._encoder_names(template, cfg.encoder_layers)
        self.population = Population(self.learners, obs_shape, n_out, self.device, self.encoder_names)
        self.step_settings = step_settings(cfg)  # the rule's constants, recorded in the batch
        self.train_rule = training_rule(cfg.inner_step, self.step_settings)  # what the meta-gradient steps through

        # the learnable batch; x lives in the learner's input space (normalised if obs_norm)
        g = torch.Generator().manual_seed(cfg.seed + 3)
        x0 = torch.randn((cfg.samples, *obs_shape), generator=g) * cfg.x_init_std
        self.x = nn.Parameter(x0.to(self.device))
        self.y = nn.Parameter(torch.zeros(cfg.samples, n_out, device=self.device))
        self.log_lr = nn.Parameter(torch.tensor(math.log(cfg.init_lr), device=self.device))
        meta_params = [self.x, self.y] + ([self.log_lr] if cfg.learn_lr else [])
        self.log_lr.requires_grad_(cfg.learn_lr)
        self.log_std = None
        if self.continuous:
            self.log_std = nn.Parameter(torch.full((n_out,), cfg.init_log_std, device=self.device))
            meta_params.append(self.log_std)
        self.encoder = {
            n: nn.Parameter(p.detach().clone().to(self.device))
            for n, p in template.named_parameters()
            if n in self.encoder_names
        }
        meta_params += list(self.encoder.values())
        self.meta_params = meta_params
        # the log-std and the encoder may step at rates of their own (PPO's, not the batch's)
        own_rates = []  # (parameter, its Adam rate)
        if self.log_std is not None and cfg.log_std_lr is not None:
            own_rates.append((self.log_std, cfg.log_std_lr))
        if cfg.encoder_lr is not None:
            own_rates += [(p, cfg.encoder_lr) for p in self.encoder.values()]
        special = {id(p) for p, _ in own_rates}
        groups = [{"params": [p for p in meta_params if id(p) not in special]}]
        for rate in dict.fromkeys(r for _, r in own_rates):
            groups.append({"params": [p for p, r in own_rates if r == rate], "lr": rate})
        self.meta_opt = torch.optim.Adam(groups, lr=cfg.meta_lr, eps=1e-5)
        self._base_lrs = [group["lr"] for group in self.meta_opt.param_groups]  # what annealing scales

        self.critic = build_learner(cfg.critic_arch, obs_shape, 1)
        reinit_(self.critic, "orthogonal:1.0", torch.Generator().manual_seed(cfg.seed + 4))
        self.critic.to(self.device)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, eps=1e-5)

        self.obs_rms = RunningMeanStd(obs_shape, self.device) if cfg.obs_norm else None
        # pixels: the learner sees obs / 255 (fixed, made once rather than on every step)
        self._pixel_stats = (None, None)
        if self.info.obs_scale is not None:
            scale = torch.full((1,), self.info.obs_scale, device=self.device)
            self._pixel_stats = (torch.zeros(1, device=self.device), scale)
        self.env = make_vector_env(
            self.info, self.local_envs, device=self.device, seed=cfg.seed + 7919 * r, vectorization=cfg.vectorization,
            env_threads=cfg.env_threads,
        )  # fmt: skip
        self.reward_scaler = (
            RewardScaler(self.local_envs, cfg.gamma, self.device, self.ranks) if cfg.reward_norm else None
        )
        self._eval_env = None
        if cfg.x_init == "states" and not resume:
            self._init_x_from_states(g)

        self.iteration = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.target = target_return(cfg, self.info)
        self.selection = Selection(self.target, cfg.patience)  # the best batch by (worst init, mean)
        self.recent_returns: list[float] = []
        self.teacher_summary: dict | None = None  # x_init=teacher: its env steps, seconds and training return
        if cfg.x_init == "teacher" and not resume:
            self._init_from_teacher(g)
        if resume:
            self._load()

    # ------------------------------------------------------------------ helpers

    def _encoder_names(self, template: nn.Module, layers: int) -> set[str]:
        """Parameter names of the first ``layers`` weight layers (conv, then dense) of the learner's
        torso: a persistent encoder. The output layer is never part of it: the one step trains it."""
        if layers <= 0:
            return set()
        torso = torso_layers(template)
        if layers > len(torso):
            raise DistillhubError(
                f"--encoder-layers {layers} exceeds the {len(torso)} layers of {self.learners[0].arch} below its output layer; "
                "pass fewer (0: no encoder)"
            )
        return {f"{name}.{p}" for name in torso[:layers] for p in ("weight", "bias")}

    def _init_x_from_states(self, generator: torch.Generator, steps: int = 16) -> None:
        """x ← ``samples`` observations of a uniformly random policy's first ``steps`` steps in the
        training envs (rank 0's, so every rank starts from the same batch), as the learner sees them."""
        shape = (self.local_envs, self.info.n_outputs)
        if self.continuous:
            low, high = (torch.tensor(b, dtype=torch.float32, device=self.device) for b in (self.info.action_low, self.info.action_high))
        obs = self.env.reset()
        seen = [obs]
        for _ in range(steps - 1):
            if self.continuous:
                action = low + (high - low) * torch.rand(shape, generator=self.gen, device=self.device)
            else:
                action, _ = sample_actions(torch.zeros(shape, device=self.device), None, self.gen)  # equal logits: uniform
            obs, *_ = self.env.step(action)
            seen.append(obs)
        self._obs = obs  # the rollout continues from here
        if self.obs_rms is not None:  # real observations: the running statistics start from them
            self.obs_rms.update(torch.stack(seen), self.ranks)
        x0 = self._x_from_pool(torch.cat(seen).reshape(-1, *self.info.obs_shape), generator)
        with torch.no_grad():
            self.x.copy_(x0)
        self.ranks.broadcast_(self.x.data)

    def _x_from_pool(self, pool: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``samples`` of the raw observations ``pool`` [M, ...], as the learner sees them; repeated
        with a little noise where the pool has fewer."""
        n = self.cfg.samples
        picks = torch.randperm(len(pool), generator=generator)[:n].to(pool.device)
        x0 = self._prep_obs(pool[picks]).float().to(self.device)
        if len(x0) < n:
            extra = x0[torch.randint(len(x0), (n - len(x0),), generator=generator).to(x0.device)]
            x0 = torch.cat([x0, extra + 0.01 * torch.randn(extra.shape, generator=generator).to(x0.device)])
        return x0

    def _init_from_teacher(self, generator: torch.Generator) -> None:
        """The batch from a PPO teacher trained on ``teacher_fraction`` of the budget (:mod:`distillhub.teacher`):
        x ← ``samples`` states of its last rollouts, y ← its outputs there, the log-std and a persistent
        encoder its own (the critic is already the one it trained). The hand-off batch is held out
        (under ``teacher_stop="held-out"`` also whenever the teacher's training return is at the target, and
        the teacher stops once its batch teaches the worst held-out init to the target; from
        ``teacher_checks_from`` of the teacher's budget on, every ``eval_every`` rollouts), and the run keeps
        the best batch held out."""
        cfg = self.cfg
        if self.ranks.world > 1:
            raise DistillhubError("x_init=teacher trains its teacher in one process; run without torchrun or use x_init=states")
        steps = max(1, int(cfg.teacher_fraction * cfg.max_steps)) if cfg.max_steps < NO_STEP_LIMIT else NO_STEP_LIMIT
        seconds = cfg.teacher_fraction * cfg.time_limit if cfg.time_limit is not None else None

        def confirm(actor: nn.Module, log_std: nn.Parameter | None, pool: torch.Tensor) -> bool:
            self._hand_off(actor, log_std, pool, generator)
            worst, _ = self._record_eval()
            return self.target is not None and worst >= self.target

        teacher = train_teacher(self, steps, seconds, confirm)
        recent = self.recent_returns
        self.teacher_summary = {
            "env_steps": self.global_step,
            "wall_time_s": round(self.elapsed, 1),
            "train_return": round(sum(recent) / len(recent), 3) if recent else None,
            "checks_from": teacher.checks_from,
        }
        if not teacher.confirmed:  # a confirmed teacher's batch is in place and held out already
            self._hand_off(teacher.actor, teacher.log_std, teacher.pool, generator)
            # the hand-off batch is a candidate: meta-PPO keeps a batch only if it does better
            start = time.monotonic()
            self._record_eval()
            self.elapsed += time.monotonic() - start

    def _hand_off(self, actor: nn.Module, log_std: nn.Parameter | None, pool: torch.Tensor, generator) -> None:
        """The batch becomes the teacher's: x on states of ``pool``, y its outputs there, its log-std and encoder."""
        x0 = self._x_from_pool(pool, generator)
        with torch.no_grad():
            self.x.copy_(x0)
            self.y.copy_(actor(x0))
            if log_std is not None:
                self.log_std.copy_(log_std)
            teacher_params = dict(actor.named_parameters())
            for name, p in self.encoder.items():
                p.copy_(teacher_params[name])

    def _obs_stats(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self.obs_rms is not None:
            return self.obs_rms.mean.float(), self.obs_rms.std().float()
        return self._pixel_stats

    def _step_population(self, draw: Draw, rule: str | None = None, settings: dict | None = None) -> Draw:
        """The one step for every draw of the population, differentiable in the batch (the training rule unless
        ``rule`` is given)."""
        rule, settings = (rule, settings) if rule else self.train_rule
        return self.population.step(draw, self.x, self.y, self.log_lr.exp(), self.encoder, rule, settings)

    def _forward_population(self, draw: Draw, obs: torch.Tensor) -> torch.Tensor:
        """Outputs of each draw on its own observations: obs [P, B, ...] -> [P, B, n_out]."""
        return self.population.forward(draw, obs, self.encoder)

    def _values(self, obs: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Critic values of raw observations [B, ...] -> [B] (chunked: frames are big)."""
        return torch.cat([self.critic(self._prep_obs(o)).squeeze(-1) for o in obs.split(chunk)])

    def _prep_obs(self, obs: torch.Tensor) -> torch.Tensor:
        mean, std = self._obs_stats()
        return normalize(obs, mean, std)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def quick_eval(self) -> torch.Tensor:
        """Greedy return of the current batch for ``eval_inits`` fixed held-out inits.

        The inits come from their own generator (seed + 1000), never used in training.

        With a learner distribution every learner gets ``ceil(eval_inits / learners)`` inits, so the
        worst init is the worst of the worst learner.

        Returns:
            Mean return per init, shape [inits], learners in distribution order.
        """
        cfg = self.cfg
        per = -(-cfg.eval_inits // len(self.learners))  # every learner gets the same number of inits
        k, e = per * len(self.learners), cfg.eval_episodes
        draw = self.population.draw_each(per, torch.Generator().manual_seed(cfg.seed + 1000))
        theta = self._step_population(draw, cfg.inner_step, self.step_settings)  # the batch's own rule
        if self._eval_env is None:
            # the same env as `distillhub eval` (gymnasium's preprocessing for Atari, whole games)
            self._eval_env = make_vector_env(
                self.info,
                k * e,
                device=self.device,
                seed=cfg.seed + 1000,
                # evaluation runs gymnasium's own envs (what users have), never ale's or envpool's
                vectorization="sync" if cfg.vectorization in ("ale", "envpool") else cfg.vectorization,
                training=False,
            )
        env = self._eval_env
        limit = (self.info.max_episode_steps or 10_000) + 1
        shape = self.info.obs_shape
        if isinstance(env, GymVectorEnv) and isinstance(env.envs, gym.vector.SyncVectorEnv):
            # one gymnasium env per episode, stepped only while its episode runs: a check costs the
            # episodes' own lengths, not k * e times the longest one (as `distillhub eval`)
            grid: torch.Tensor | None = None  # every env's latest observation: the population acts on all

            def act(obs: np.ndarray, rows: list[int]) -> np.ndarray:
                nonlocal grid
                latest = torch.as_tensor(obs, device=self.device)
                if grid is None:
                    grid = latest.clone()  # the first call has every env, in order
                grid[rows] = latest
                out = self._forward_population(theta, self._prep_obs(grid).view(k, e, *shape))
                return env.env_actions(greedy_actions(out.reshape(k * e, -1), self.continuous)[rows])

            first = first_episode_returns(env.envs.envs, act, cfg.seed + 1000, limit, indexed=True)
            return torch.as_tensor(first, dtype=torch.float32).view(k, e).mean(1)
        # torch-batched cart-poles (stepping every env is one tensor op) and other vector envs: step them all
        if hasattr(env, "generator"):
            env.generator.manual_seed(cfg.seed + 1000)
        obs = env.reset()
        first = torch.full((k * e,), float("nan"))
        returns = torch.zeros(k * e)
        for _ in range(limit):
            out = self._forward_population(theta, self._prep_obs(obs).view(k, e, *shape))
            actions = greedy_actions(out.reshape(k * e, -1), self.continuous)
            obs, reward, terminated, truncated, _ = env.step(actions)
            returns += reward.cpu()
            done = (terminated | truncated).cpu() & first.isnan()
            first[done] = returns[done]
            returns[(terminated | truncated).cpu()] = 0
            if not bool(first.isnan().any()):
                break
        first = torch.where(first.isnan(), returns, first)
        return first.view(k, e).mean(1)

    # ------------------------------------------------------------------ the batch

    def current_batch(self) -> Batch:
        """The batch as it stands, in raw observation units."""
        return self._batch_from(self._snapshot())

    def _snapshot(self) -> dict[str, torch.Tensor]:
        snap = {
            "x": self.x.detach().clone(),
            "y": self.y.detach().clone(),
            "log_lr": self.log_lr.detach().clone(),
        }
        if self.log_std is not None:
            snap["log_std"] = self.log_std.detach().clone()
        mean, std = self._obs_stats()
        if mean is not None:
            snap["obs_mean"], snap["obs_std"] = mean.clone(), std.clone()
        snap.update({f"encoder.{k}": v.detach().clone() for k, v in self.encoder.items()})
        return snap

    def _batch_from(self, snap: dict[str, torch.Tensor]) -> Batch:
        mean, std = snap.get("obs_mean"), snap.get("obs_std")
        obs = snap["x"] if mean is None else snap["x"] * std + mean
        return Batch(
            observations=obs.cpu(),
            targets=snap["y"].cpu(),
            learning_rate=float(snap["log_lr"].exp()),
            env_id=self.cfg.env_id,
            env_kwargs=self.cfg.env_kwargs,
            action_space=self.info.action_space,
            architecture=self.learners[0].arch,
            init=self.learners[0].init,
            learners=describe(self.learners),
            inner_step=self.cfg.inner_step,
            step_settings=self.step_settings,
            obs_mean=None if mean is None else mean.cpu(),
            obs_std=None if std is None else std.cpu(),
            log_std=snap["log_std"].cpu() if "log_std" in snap else None,
            encoder={k[len("encoder.") :]: v.cpu() for k, v in snap.items() if k.startswith("encoder.")},
        )

    def best_batch(self) -> Batch:
        """The best batch seen by the periodic evaluation (the current one if none)."""
        best = self.selection.best
        return self._batch_from(best["snapshot"]) if best else self.current_batch()

    # ------------------------------------------------------------------ checkpoints

    def save(self) -> None:
        """Write a checkpoint that :meth:`__init__` with ``resume=True`` continues bit for bit."""
        if self.out_dir is not None and self.ranks.is_main:
            save_checkpoint(checkpoint_path(self.out_dir), *run_state(self))

    def _load(self) -> None:
        path = checkpoint_path(self.out_dir)
        if not path.is_file():
            raise DistillhubError(f"no checkpoint at {path}; run without --resume to start a new distillation")
        t, meta = load_checkpoint(path)
        try:
            restore_run_state(self, t, meta)
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as e:
            raise DistillhubError(
                f"checkpoint {path} does not fit this run ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                "start over with --overwrite"
            ) from None
        self.resumed_from = self.global_step

    # ------------------------------------------------------------------ the loop

    def _progress(self) -> float:
        """The spent fraction of the budget: env steps or training time, whichever is further along."""
        cfg = self.cfg
        done = self.global_step / cfg.max_steps if cfg.max_steps < NO_STEP_LIMIT else 0.0
        if cfg.time_limit is not None:
            done = max(done, self.elapsed / cfg.time_limit)
        return min(done, 1.0)

    def _done(self) -> str | None:
        cfg = self.cfg
        if self.global_step >= cfg.max_steps:
            return "max-steps"
        if cfg.time_limit is not None and self.elapsed >= cfg.time_limit:
            return "time-limit"
        if cfg.early_stop and self.selection.reached():
            return "target-reached"
        return None

    def _backward_minibatch(
        self,
        theta0: Draw,
        obs: torch.Tensor,
        actions: torch.Tensor,
        old_logp: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """PPO's clipped surrogate through the one step plus the critic's loss, back-propagated, with the
        gradients averaged across data-parallel ranks. Inputs are [P, B, ...] per init.

        Returns:
            (policy loss, value loss)
        """
        cfg = self.cfg
        theta1 = self._step_population(theta0)
        obs = self._prep_obs(obs)
        new_logp, entropy = log_prob_entropy(self._forward_population(theta1, obs), self.log_std, actions)
        pg_loss, _ = ppo_clip_loss(new_logp, old_logp, normalize_advantages(advantages, self.ranks), cfg.clip_coef)
        value = self.critic(obs.reshape(-1, *self.info.obs_shape)).squeeze(-1)
        v_loss = 0.5 * (value - returns.reshape(-1)).pow(2).mean()
        # batch and critic share no parameters: one backward serves both
        self.meta_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        (pg_loss - cfg.ent_coef * entropy.mean() + v_loss).backward()
        self.ranks.mean_grads([*self.meta_params, *self.critic.parameters()])
        return pg_loss, v_loss

    def _record_eval(self) -> tuple[float, float]:
        return self.selection.record(self.global_step, self.quick_eval(), self._snapshot)

    def run(self, callback=None) -> Batch:
        """Train until the budget is spent or the target is reached.

        Args:
            callback: Called with an :class:`IterationStats` after every meta-iteration.

        Returns:
            The best batch seen by the periodic held-out evaluation.

        Raises:
            KeyboardInterrupt: After writing a checkpoint, so ``--resume`` can continue.
        """
        cfg, info, device = self.cfg, self.info, self.device
        # this rank's share (everything, in a single-process run)
        P, E, T = self.local_population, self.local_envs, cfg.rollout_steps
        Ep = E // P
        first = self.ranks.rank * P
        shape = info.obs_shape
        # raw observations (uint8 frames stay uint8); normalised where they are used, with statistics
        # that only change after the update, so rollout and update agree
        buf = Rollout.empty(self, E)
        last_save = time.monotonic()
        try:
            while self._done() is None:
                t0 = time.monotonic()
                self.iteration += 1
                theta0 = self.population.draw(cfg.population, self.init_gen)
                if self.ranks.world > 1:
                    theta0 = theta0.slice(first, first + P)

                # --- roll out the post-step learners (no graph needed here), each in its own envs
                with torch.no_grad():
                    theta1 = self._step_population(theta0)
                advantages, returns = collect_rollout(
                    self,
                    buf,
                    lambda obs, theta=theta1: self._forward_population(theta, obs.view(P, Ep, *shape)).reshape(E, -1),
                    self.log_std,
                )

                # --- PPO through the one step; [T, E] -> [P, T*Ep] so each init keeps its own data
                def per_init(t: torch.Tensor) -> torch.Tensor:
                    t = t.view(T, P, Ep, *t.shape[2:]).transpose(0, 1)
                    return t.reshape(P, T * Ep, *t.shape[3:])

                b_obs, b_act, b_logp = per_init(buf.obs), per_init(buf.actions), per_init(buf.logp)
                b_adv, b_ret = per_init(advantages), per_init(returns)
                mb_size = T * Ep // cfg.num_minibatches
                if cfg.anneal_meta_lr:
                    for group, base in zip(self.meta_opt.param_groups, self._base_lrs, strict=True):
                        group["lr"] = base * (1.0 - self._progress())
                for _ in range(cfg.update_epochs):
                    perm = torch.randperm(T * Ep, generator=self.perm_gen, device=device)
                    for start in range(0, T * Ep, mb_size):
                        mb = perm[start : start + mb_size]
                        pg_loss, v_loss = self._backward_minibatch(
                            theta0, b_obs[:, mb], b_act[:, mb], b_logp[:, mb], b_adv[:, mb], b_ret[:, mb]
                        )
                        nn.utils.clip_grad_norm_(self.meta_params, cfg.max_grad_norm)
                        nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
                        self.meta_opt.step()
                        self.critic_opt.step()

                if not all(bool(torch.isfinite(p).all()) for p in self.meta_params):
                    raise DistillhubError(
                        f"the batch became non-finite at meta-iteration {self.iteration}; the best batch so far is "
                        "kept: lower --meta-lr or the init gain, or check the env's observations and rewards"
                    )
                if self.obs_rms is not None:
                    self.obs_rms.update(buf.obs, self.ranks)
                self.global_step += T * cfg.num_envs  # every rank's steps
                eval_min = eval_mean = None
                if self.iteration % cfg.eval_every == 0:
                    eval_min, eval_mean = self._record_eval()
                dt = self.ranks.max(time.monotonic() - t0)  # ranks must agree on the time budget
                self.elapsed += dt
                # the first checkpoint right after the first meta-iteration, then periodically
                if self.out_dir is not None and (
                    self.iteration == 1 or time.monotonic() - last_save >= cfg.checkpoint_every
                ):
                    self.save()
                    last_save = time.monotonic()
                if callback is not None:
                    recent = self.recent_returns
                    callback(
                        IterationStats(
                            iteration=self.iteration,
                            global_step=self.global_step,
                            elapsed=self.elapsed,
                            steps_per_second=T * cfg.num_envs / max(dt, 1e-9),
                            learning_rate=float(self.log_lr.detach().exp()),
                            train_return=sum(recent) / len(recent) if recent else None,
                            eval_mean=eval_mean,
                            eval_min=eval_min,
                            pg_loss=pg_loss.item(),
                            value_loss=v_loss.item(),
                        )
                    )
            history = self.selection.history
            if not history or history[-1]["step"] != self.global_step:
                self._record_eval()
        except KeyboardInterrupt:
            self.save()
            raise
        self.stop_reason = self._done() or "max-steps"
        self.save()
        return self.best_batch()

    def training_summary(self) -> dict:
        """What the card records about how the batch was made."""
        cfg, best = self.cfg, self.selection.best
        return {
            "env_steps": self.global_step,
            "meta_iterations": self.iteration,
            "wall_time_s": round(self.elapsed, 1),
            "seed": cfg.seed,
            "learners": describe(self.learners),
            "population": cfg.population,
            "num_envs": cfg.num_envs,
            "device": str(self.device),
            "selected_at_step": best["step"] if best else self.global_step,
            "held_out_eval_min": best["min"] if best else None,
            "held_out_eval_mean": best["mean"] if best else None,
            "stop_reason": getattr(self, "stop_reason", None),
            "teacher": self.teacher_summary,
            # provenance: the exact env (gymnasium's EnvSpec JSON) and the package versions
            "env_spec": json.loads(self.info.spec_json) if self.info.spec_json else None,
            "versions": versions(cfg.env_id),
            # held-out worst/mean return vs env steps (the learning curve)
            "eval_history": [
                {"step": h["step"], "min": round(h["min"], 3), "mean": round(h["mean"], 3)}
                for h in self.selection.history
            ],
        }

    def close(self) -> None:
        for env in (self.env, self._eval_env):
            if env is not None and hasattr(env, "close"):
                env.close()


def distill(config: DistillConfig, out_dir: str | Path | None = None, resume: bool = False, callback=None) -> Batch:
    """Run a distillation and return its batch (see :class:`Distiller`)."""
    d = Distiller(config, out_dir, resume)
    try:
        batch = d.run(callback)
        batch.extra["training"] = d.training_summary()
        return batch
    finally:
        d.close()
