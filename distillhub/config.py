"""The distiller's configuration: :class:`DistillConfig`, each env family's defaults, ``--set`` parsing
and the checks a configuration must pass before any work.

What a run is asked to do lives here; how the meta-PPO loop does it lives in :mod:`distillhub.distill`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch

from distillhub.batch import (
    EXACT_FIT_RULES,
    MAX_ELEMENTS,
    MAX_GN_ROWS,
    MAX_SAMPLES,
    SCALE_FREE_RULES,
    check_step_rule,
    check_step_setting,
)
from distillhub.distributed import requested_world
from distillhub.envs import EnvInfo
from distillhub.errors import DistillhubError
from distillhub.learners import DEFAULT_CNN, DEFAULT_INIT, DEFAULT_MLP, build_learner, check_init, torso_layers
from distillhub.onestep import rule_settings
from distillhub.population import Learner, parse_learners


@dataclass
class DistillConfig:
    """Everything that defines a distillation run. See :func:`default_config` for the
    per-family defaults; every field can be overridden."""

    env_id: str = "CartPole-v1"
    env_kwargs: dict = field(default_factory=dict)
    samples: int = 2
    # the learner distribution (see distillhub.population): "single" (arch@init alone), "zoo", or arch@init,...
    learners: str = "single"
    arch: str = DEFAULT_MLP
    init: str = DEFAULT_INIT
    # the one step: "sgd" (the paper's), "sgd-ls" (scaled by the learner's own line search) or
    # "gn" (one damped Gauss-Newton step: every learner fits the batch to first order) or
    # "head" (that step on the output layer alone: every learner fits the batch exactly), "fit" (rounds of a
    # Gauss-Newton step on every parameter and the head step) or "auto" (head, and fit for a learner whose
    # output layer alone cannot fit the batch)
    inner_step: str = "sgd"
    # the head step's ridge damping (the `head` rule's, and the re-fit's in each `fit` or `auto` round), relative to the
    # mean diagonal of each learner's kernel; None: the rule's constant (onestep.HEAD_DAMPING), except where
    # default_config gives a distribution's head step its env's DISTRIBUTION_HEAD_DAMPING. The batch records it
    head_damping: float | None = None
    seed: int = 0
    device: str = "auto"
    # budget (whichever comes first; both count the whole run across resumes)
    max_steps: int = 3_000_000
    time_limit: float | None = None
    # stop early once the worst of `eval_inits` held-out inits reaches `target_return`
    # in `patience` evaluations in a row (None: the env's reward threshold, if any)
    target_return: float | None = None
    early_stop: bool = True
    patience: int = 3
    # meta-PPO
    population: int = 8
    num_envs: int = 512
    rollout_steps: int = 32
    update_epochs: int = 4
    num_minibatches: int = 4
    meta_lr: float = 3e-3
    # decay the batch's learning rate linearly to 0 over the budget (steps or time, whichever is nearer)
    anneal_meta_lr: bool = False
    critic_lr: float = 1e-3
    critic_arch: str = DEFAULT_MLP
    gamma: float = 0.99
    gae_lambda: float = 0.95
    # add γ·V(final observation) to the reward where the time limit cut an episode (not for the
    # torch cart-poles, whose benchmarks predate it)
    bootstrap_truncated: bool = True
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    # the batch at the start
    x_init_std: float = 1.0
    # "random" (x ~ N(0, x_init_std²) in the learner's input space), "states" (observations a
    # random policy visits in the first steps: the batch starts where the env's states are) or
    # "teacher" (a PPO policy trained on the first `teacher_fraction` of the budget: x on the states
    # it visits, y its outputs there, its log-std, the critic it trained; see distillhub.teacher)
    x_init: str = "random"
    teacher_fraction: float = 0.25
    teacher_lr: float = 3e-4
    anneal_teacher_lr: bool = True  # decay teacher_lr linearly to 0 over the teacher's budget
    # when the teacher stops before its share of the budget is spent (the rest goes to meta-PPO), once its last 100
    # training episodes average the run's target and: "held-out" (its hand-off batch also teaches the held-out
    # check's worst init to the target; checked at most every eval_every rollouts), "train" (no more), "none" (never)
    teacher_stop: str = "held-out"
    # the teacher's PPO minibatches per epoch (None: num_minibatches). More minibatches = more updates per env
    # step: slower per second, more sample-efficient (CleanRL's MuJoCo PPO: 64 samples per minibatch)
    teacher_minibatches: int | None = None
    # from this share of the teacher's budget on, its hand-off batch is held out every eval_every rollouts and
    # the selection keeps the best (1.0: only the final hand-off). A PPO policy's greedy return swings from one
    # update to the next; the checks let the batch be the teacher at its best, not wherever its budget ended
    teacher_checks_from: float = 1.0
    init_lr: float = 0.1
    learn_lr: bool = True  # False: the step size stays init_lr (the batch alone is learned)
    init_log_std: float = -0.5
    # the log-std's own Adam rate (None: meta_lr). At meta_lr 3e-3 it falls from -0.5 to -4 on Pendulum-v1
    # within a few million steps and exploration dies; PPO itself moves it at 3e-4
    log_std_lr: float | None = None
    # normalisation
    obs_norm: bool = False
    reward_norm: bool = False
    # rollouts, evaluation, checkpoints
    vectorization: str = "sync"
    env_threads: int | None = None  # envpool's worker threads (None: one per available core)
    eval_every: int = 10
    eval_inits: int = 32
    eval_episodes: int = 2
    checkpoint_every: float = 120.0
    # weight layers of the learner's torso (conv, then dense; never the output layer) kept as a persistent
    # encoder published with the batch, and their own Adam rate (None: meta_lr)
    encoder_layers: int = 0
    encoder_lr: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> DistillConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# fields with a CLI option of their own (or none that makes sense to set by hand)
_NOT_SETTABLE = ("env_id", "env_kwargs")


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` strings (the CLI's ``--set``) as config overrides, typed by the
    :class:`DistillConfig` field they name.

    Raises:
        DistillhubError: Unknown field, a value of the wrong type, or a field given twice.
    """
    types = {f.name: str(f.type) for f in fields(DistillConfig) if f.name not in _NOT_SETTABLE}
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise DistillhubError(
                f"--set takes KEY=VALUE with KEY a config field ({', '.join(sorted(types))}); got '{item}'"
            )
        if key in out:
            raise DistillhubError(f"--set {key} is given twice")
        kind, text = types[key], text.strip()
        try:
            if "None" in kind and text.lower() in ("none", "null"):
                value = None
            elif kind.startswith("bool"):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = text.lower() in ("true", "1", "yes")
            elif kind.startswith("int"):
                value = int(text)
            elif kind.startswith("float"):
                value = float(text)
            else:
                value = text
        except ValueError:
            raise DistillhubError(f"--set {key}: '{text}' is not a {kind.split(' ')[0]}") from None
        out[key] = value
    return out


FAMILY_DEFAULTS: dict[str, dict] = {
    "cartpole": {},
    "generic": dict(num_envs=64, rollout_steps=128, population=4, eval_inits=8, eval_every=10),
    "mujoco": dict(
        samples=64,
        population=4,
        num_envs=16,
        rollout_steps=256,
        update_epochs=10,
        num_minibatches=8,
        meta_lr=3e-3,
        critic_lr=3e-4,
        obs_norm=True,
        reward_norm=True,
        init_lr=0.1,
        eval_inits=4,
        eval_episodes=1,
        eval_every=10,
        max_steps=1_000_000,
        ent_coef=0.0,
        # the log-std at PPO's rate, not the batch's 3e-3: Hopper-v5, 30 min, 10 unseen inits 997.7 -> 2106.4
        # mean (at 3e-3 the log-std fell to -3.8 and the held-out curve fell from its 0.7M-step peak)
        log_std_lr=3e-4,
    ),
    # MinAtar: a PPO teacher on the first 90 % of the budget, its whole torso (conv and dense layer) kept as the
    # persistent encoder, and 512 of its frames labelled with its logits: every fresh init's head step re-fits the
    # output layer on the teacher's features, so one step gives the teacher's policy (the hand-off batch is held
    # out first; meta-PPO keeps a batch only if it does better). 15 min of this CPU, one step over 10 unseen
    # inits vs our PPO at equal env steps (benchmarks/minatar_games.py): SpaceInvaders 260.1 vs 276.5 (0.94),
    # Breakout 5.4 vs 6.6 (0.82, seed 0) and 12.0 vs 5.0 (2.40, seed 1); the session-9 defaults (64 samples
    # from visited frames, no encoder): 5.8 vs 405.3 (0.01) and 2.7 vs 6.3 (0.43). Conv-only encoder (the
    # paper's Atari form) with 512 samples, 5 min: SpaceInvaders 10.6.
    "minatar": dict(
        samples=512,
        inner_step="head",
        arch="cnn:small",
        critic_arch="cnn:small",
        x_init="teacher",
        teacher_fraction=0.9,
        teacher_lr=5e-4,
        # the teacher as our PPO baseline runs: constant rate, no entropy bonus (seed 0, teacher training return
        # at 5 min: Asterix 5.63 -> 6.39, Freeway 37.48 -> 45.35, Seaquest 3.51 -> 4.37; at 15 min: SpaceInvaders
        # 172.7 -> 234.1, one step 260.1 -> 372.3; Breakout 5.9 -> 5.4, one step 5.4 -> 5.0)
        anneal_teacher_lr=False,
        encoder_layers=2,
        encoder_lr=5e-4,
        population=4,
        num_envs=32,
        rollout_steps=128,
        update_epochs=4,
        num_minibatches=4,
        meta_lr=3e-3,
        critic_lr=1e-3,
        ent_coef=0.0,
        # the in-run checks: 4 held-out inits x 4 episodes, not 8 x 1. Every init shares the teacher's torso and
        # acts alike, so the worst of 8 single episodes was episode noise: it kept a Space Invaders batch of
        # mean 52.9 over the hand-off's 149.6 (session 21, seed 0, one step 65.3 = 0.50 of PPO); with 4 x 4 the
        # hand-off (114.3 / 53.3) was kept and the one step was 142.2 = 0.98 (session 24; seeds 1, 2: 0.80, 0.81,
        # each keeping its hand-off)
        eval_inits=4,
        eval_episodes=4,
        eval_every=10,
        max_steps=5_000_000,
        x_init_std=0.5,
    ),
    "atari": dict(
        samples=4,
        arch=DEFAULT_CNN,
        critic_arch=DEFAULT_CNN,
        population=2,
        num_envs=8,
        rollout_steps=128,
        update_epochs=4,
        num_minibatches=4,
        meta_lr=1e-3,
        critic_lr=2.5e-4,
        ent_coef=0.01,
        init_lr=0.1,
        eval_inits=2,
        eval_episodes=1,
        eval_every=20,
        max_steps=10_000_000,
        x_init_std=0.5,
        vectorization="ale",
    ),
}


# Generic continuous-action envs get MuJoCo's care (observation normalisation, reward scaling) but, as their
# envs are cheap, 64 envs x 64 steps and 4 x 4 PPO minibatches instead of 16 x 256 and 10 x 8 (3.8x the env
# steps/s on Pendulum-v1). The one step is the head step (x from visited states, lr 1) on 256 samples of a
# 3-layer tanh learner whose log-std moves at PPO's 3e-4: Pendulum-v1 in 5 min -181 over 10 unseen inits, where
# 16 samples with the sgd step stayed at -844 (same log-std rate; -962 in 10 min without) and the head step
# without the log-std rate at -815 (its log-std fell to -4 and exploration died); benchmarks/results_generic_quality.md.
# The batch starts from a PPO teacher trained on half the budget, on 1,024 of its states (at most 4,096 output
# rows): Pendulum-v1, 5 min, seeds 0-2: -181/-318/-313 from visited states with 256 samples, -169/-161/-281 from a
# teacher with 256 (seed 2: one init of 10 at -864), -187/-179/-170 with 1,024 (worst init -339).
# The recipe "clone a PPO teacher into a large head-step batch" (at most 4,096 output rows: fewer samples for
# envs with many actions), shared by generic continuous envs and the MuJoCo envs where it paid.
TEACHER_HEAD = {
    "samples": 1024,
    "x_init": "teacher",
    "teacher_fraction": 0.5,
    "inner_step": "head",
    "arch": "mlp:64-64-64:tanh",
}
GENERIC_CONTINUOUS = {
    **FAMILY_DEFAULTS["mujoco"],
    **TEACHER_HEAD,
    "num_envs": 64,
    "rollout_steps": 64,
    "update_epochs": 4,
    "num_minibatches": 4,
}


# MuJoCo envs whose batch for a learner distribution (the single-learner default is MUJOCO_ENCODER_RECIPE, below;
# these sets were its predecessors) starts from a PPO teacher trained on half the budget (``x_init=teacher``). 240 s of
# this CPU, 64 samples, 10 unseen inits, seed 0 (benchmarks/mujoco_envs.py starts): Hopper-v5 1141 -> 2257
# (and 2422 in a second run), HalfCheetah-v5 1748 -> 2723, Swimmer-v5 22.1 -> 37.9, InvertedDoublePendulum-v5
# 659 -> 9360. Not where it did not pay: Walker2d-v5 2206 -> 1465, Ant-v5 989 -> 1001 (its teacher had not
# learned in 120 s), Reacher-v5 -6.5 -> -7.5.
MUJOCO_TEACHER_ENVS = {"Hopper-v5", "HalfCheetah-v5", "Swimmer-v5", "InvertedDoublePendulum-v5"}

# MuJoCo envs whose distribution batches take TEACHER_HEAD (MuJoCo's rollout and PPO settings otherwise). 240 s, 10 unseen inits
# (benchmarks/mujoco_envs.py starts --only-set --head-samples): Reacher-v5 -6.5 (N(0, 1), 64 samples, sgd; a
# teacher start with those: -7.5) -> -4.4 (seed 0) and -5.9 (seed 1); HumanoidStandup-v5 71806 (N(0, 1); teacher
# start, 64 sgd: 71516) -> 84709 (seed 0) and 78334 (seed 1), worst init 43775 -> 62755 and 59896. Not adopted: Walker2d-v5 2206 -> 2683
# (seed 0, 512 samples) but 1433, worst init 84 (seed 1); Hopper-v5 2257 -> 666, HalfCheetah-v5 2723 -> 1294,
# Ant-v5 989 -> 40, Swimmer-v5 37.9 -> 14.9, Humanoid-v5 393 -> 321, Pusher-v5 even (the head batch clones the teacher at its states; the meta-gradient,
# at several times the cost per env step, moves it little in the other half of the budget).
MUJOCO_TEACHER_HEAD_ENVS = {"Reacher-v5", "HumanoidStandup-v5"}


# MuJoCo envs that clone a PPO teacher through its torso (MinAtar's recipe; the paper's persistent encoder): the
# teacher trains as our PPO baseline does (16 envs x 128 steps, 10 epochs x 32 minibatches of 64, lr 3e-4 annealed;
# the distiller's 8 minibatches make 8x fewer updates per env step, and with 256-step rollouts and 64 minibatches
# of 64 it still learned less: Walker2d-v5, 120 s, seeds 0/1, training return 579/808 -> 1991/967) on the first
# 90 % of the budget; its two hidden layers become the encoder published
# with the batch, and 128 of its states labelled with its action means are the samples. A fresh init's head step
# re-fits the output layer on the teacher's 64 features exactly (more samples than features), so every init acts
# as the teacher does. 180 s per env, seed 0, one step over 10 unseen inits / our PPO at the same env steps
# (benchmarks/mujoco_envs.py table, README): Hopper 3412 / 3243, Walker2d 3929 / 4415, HalfCheetah 4691 / 1700,
# Ant 392 / 382, Swimmer 56.3 / 62.6, Reacher -3.7 / -4.4, InvertedDoublePendulum 9355 / 9360, Pusher -28.0 / -43.2,
# Humanoid 602 / 619, HumanoidStandup 144118 / 112153 (0.89-2.76 of our PPO; the earlier defaults at 240 s: 2257,
# 2206, 2723, 989, 37.9, -4.4, 9360, -28.8, 393, 72592). InvertedPendulum-v5 keeps its 64-sample default, which
# reaches its target and stops within a minute. Single-learner runs only: a distribution (`--learners`) keeps the
# env's other defaults, since the encoder is one learner's; so does `--encoder-layers 0` (the defaults before it).
MUJOCO_ENCODER_RECIPE = {
    "x_init": "teacher",
    "teacher_fraction": 0.9,
    "rollout_steps": 128,  # and teacher_minibatches of ~64 samples (32 here): ppo_minibatches, set in default_config
    "inner_step": "head",
    "encoder_layers": 2,
    "samples": 128,
    "arch": DEFAULT_MLP,
}
MUJOCO_ENCODER_ENVS = {
    "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5", "Swimmer-v5", "Reacher-v5", "InvertedDoublePendulum-v5",
    "Pusher-v5", "Humanoid-v5", "HumanoidStandup-v5",
}  # fmt: skip


# Atari samples per game, as in the paper (Pong and Space Invaders 4, Ms. Pac-Man 6,
# Centipede 10); other games get the family default (4).
ATARI_SAMPLES = {"Pong": 4, "SpaceInvaders": 4, "MsPacman": 6, "Centipede": 10}

# MinAtar teacher minibatch size per game (samples; other games: the family's 4 minibatches). Breakout's teacher takes
# minibatches of 256 frames (16 per 32 x 128 rollout), not 4 of 1,024: 4x the updates per env step. 15 min of this
# CPU, one step over 10 unseen inits x 10 episodes: seed 0 8.87, seed 1 25.17, against 5.42 / 6.08 with 4
# (benchmarks/results_minatar.txt, session 21); seeds 0-4: median 14.10, 1.05 of our PPO on the same 16 minibatches
# (worst seed 0.52; session 23, with the 8 x 1 checks of then). Space Invaders too since session 24, once the in-run
# checks stopped picking batches by one episode's noise (the family's eval_inits / eval_episodes): seeds 0-2 0.98 /
# 0.80 / 0.81 of that PPO, median 0.81 (the 4-minibatch teacher: 0.60 on seed 1; 3.04 of PPO on 4 minibatches).
MINATAR_TEACHER_MINIBATCH = {"Breakout": 256, "SpaceInvaders": 256}


NO_STEP_LIMIT = 10**15

# when a teacher stops early (DistillConfig.teacher_stop)
TEACHER_STOPS = ("held-out", "train", "none")


def ppo_minibatches(rollout: int, size: int = 64) -> int:
    """The most minibatches of at least ``size`` samples (PPO's 64 by default; one if the rollout is smaller) that
    divide a rollout of ``rollout`` samples evenly (16 envs x 128 steps: 32)."""
    return max(m for m in range(1, max(1, rollout // size) + 1) if rollout % m == 0)


def head_batch_samples(info: EnvInfo) -> int:
    """``TEACHER_HEAD``'s samples within the head step's bound of ``MAX_GN_ROWS`` output rows for this env's
    action size (Walker2d-v5, 6 actions: 682)."""
    return min(TEACHER_HEAD["samples"], MAX_GN_ROWS // info.n_outputs)


# The head step's ridge for a batch distilled across a learner distribution, where it differs from the rule's 1e-3.
# Each learner interpolates the batch with its own random-feature kernel; a ridge leaves the kernel's smallest
# eigendirections (that learner's own random features) unfitted. Measured per env (256 samples, 10 minutes, held-out
# learners, benchmarks/results_learners.md): Acrobot-v1 +2 to +4.5 points of held-out inits at 0.03 on each of four
# batches (seeds 0-2 at 0.03: 95.5 / 94.5 / 94.0 %, against 90 % at 1e-3); CartPole-v1 99 % either way;
# InvertedPendulum-v5 99.5 % -> 97 %; CartPoleND-v0 (N=2) 87-89 % -> 81 % (the held-out Transformer needs the exact
# fit to balance two poles: 90 % -> 30 %)
DISTRIBUTION_HEAD_DAMPING = {"Acrobot-v1": 3e-2}
# Episodes per held-out init in a distribution run's own checks (which select the batch and stop the run), where the
# family's default is too few. Acrobot-v1's checks give each of the zoo's 11 learners one init; a policy at -83 that
# now and then takes one long swing-up fails a 2-episode mean when that episode is among the two, so its early stop
# waited on luck. With 10 episodes (benchmarks/results_learners.md, session 22, seeds 0-4): every run stops early,
# after a median 0.36M env steps (64 s here) against 3.0M (474 s; three of five ran to the budget), and the batches
# are as good: held-out inits reaching -100 on 100-episode means 97.0-100 % (median 99.5 %), against 97.5-100 %
# (median 99.5 %)
DISTRIBUTION_CHECK_EPISODES = {"Acrobot-v1": 10}

# A learner distribution over vector observations takes the head step on 256 samples where the env's default rule
# is an SGD step and the user names neither: the recipe every held-out table in the README was measured with
# (CartPole-v1 99 %, InvertedPendulum-v5 98 %, Acrobot-v1 94.5 % median of held-out inits; `sgd` on a `zoo` batch:
# 16-60 %). Each learner's SGD step scale differs ~100x across the zoo; the head step fits every learner exactly.
# Pixel distributions keep their family's rule (not measured under it).
DISTRIBUTION_SAMPLES = 256
# Where a distribution's batch starts from a PPO teacher (the states it visits, labelled with its outputs) rather
# than a random policy's states (the head step's usual start). The teacher stops as soon as its training episodes
# average the env's threshold (teacher_stop="train": ~330k env steps, ~4 s on CartPole-v1; ~120-220k, 2-4 s on
# Acrobot-v1), at most a third of the budget; every learner's head step then follows it and meta-PPO goes on from
# there. Not "held-out", the single-learner default: where the hand-off fails the held-out check it is the weakest
# learner families that fail, which more teacher training does not teach and meta-PPO does. Measured on held-out learners
# (benchmarks/results_learners.md), five seeds each:
# - CartPole-v1: 95-99 % of held-out inits (median 97-99 %) in 17-101 s, against 96-99 % in 104-229 s from states.
# - Acrobot-v1: 94.5-98.5 % (median 96.0 %) in 12-189 s (median 63 s), against 94.0-95.5 % (median 94.5 %) in 600 s
#   from N(0, 1), the start before it (which had beaten states: 91 % against 89 % with 64 samples).
DISTRIBUTION_START: dict[str, dict] = {
    "Acrobot-v1": dict(x_init="teacher", teacher_fraction=1 / 3, teacher_lr=1e-3, teacher_stop="train"),
    "CartPole-v1": dict(x_init="teacher", teacher_fraction=1 / 3, teacher_lr=1e-3, teacher_stop="train"),
}
# the teacher's PPO minibatch size where a distribution starts from a teacher (32 minibatches of CartPole-v1's
# 512 x 32 rollout, of Acrobot-v1's 64 x 128), kept whatever --num-envs and --rollout-steps the user chose
DISTRIBUTION_TEACHER_MINIBATCH = {"CartPole-v1": 512, "Acrobot-v1": 256}


# Where a plain `distillhub distill` distils for a learner distribution, not one learner: CartPole-v1 (the default
# env). From its PPO teacher the `zoo` batch takes 17-101 s (median 20 s of ten runs, seeds 0-4) and 95-99 % of
# held-out inits solve after one step, against 9-24 s and 7-41 % for the paper's 2-sample single-learner batch
# (`--learners single`; benchmarks/results_learners.md).
DEFAULT_LEARNERS = {"CartPole-v1": "zoo"}


def default_learners(env_id: str, overrides: dict) -> str:
    """The learner distribution a run distils for: ``overrides["learners"]``, else one learner where ``--arch`` or
    ``--init`` names it, else the env's :data:`DEFAULT_LEARNERS` entry, else ``single``."""
    if overrides.get("learners"):
        return overrides["learners"]
    if overrides.get("arch") or overrides.get("init"):
        return "single"
    return DEFAULT_LEARNERS.get(env_id, "single")


def default_config(env_id: str, env_kwargs: dict | None = None, **overrides) -> DistillConfig:
    """A config with the defaults of ``env_id``'s family (and game), then ``overrides`` applied.

    The learners are :func:`default_learners`'s: on CartPole-v1 a plain call distils for the ``zoo``
    (``learners="single"`` gives the paper's 2-sample batch for one learner). Overrides whose value is
    ``None`` are ignored, so CLI options can be passed as they are. A ``time_limit`` without
    ``max_steps`` lifts the family's default step budget: the time is the budget.
    """
    from distillhub.envs import env_info, envpool_available, family_of

    family = family_of(env_id)
    values = dict(FAMILY_DEFAULTS[family])
    head_recipe = family == "mujoco" and env_id in MUJOCO_TEACHER_HEAD_ENVS
    info = env_info(env_id, env_kwargs, allow_import=True) if family == "generic" or head_recipe else None
    if family == "generic" and info.action_space == "continuous":
        values = dict(GENERIC_CONTINUOUS, samples=head_batch_samples(info))
    if family == "mujoco" and env_id in MUJOCO_TEACHER_ENVS:
        values.update(x_init="teacher", teacher_fraction=0.5)
    if head_recipe:
        values.update(TEACHER_HEAD, samples=head_batch_samples(info))
    # one learner, however it is written (`single`, or one arch@init entry), gets a single learner's defaults
    values["learners"] = default_learners(env_id, overrides)
    learners = parse_learners(values["learners"], False, overrides.get("arch"), overrides.get("init"))
    one_learner = len(learners) == 1
    encoder_recipe = (
        family == "mujoco" and env_id in MUJOCO_ENCODER_ENVS and one_learner
        and overrides.get("encoder_layers") != 0  # no encoder asked for: the env's batch without one
        and requested_world() <= 1  # the teacher trains in one process
    )  # fmt: skip
    encoder_depth = MUJOCO_ENCODER_RECIPE["encoder_layers"]
    if encoder_recipe and overrides.get("encoder_layers") is None:
        learner = learners[0]
        if learner.arch != DEFAULT_MLP:
            # the user's own learner: an encoder of at most its hidden layers (none: the env's batch without one)
            info = info or env_info(env_id, env_kwargs, allow_import=True)
            encoder_depth = min(encoder_depth, len(torso_layers(build_learner(learner.arch, info.obs_shape, info.n_outputs))))
            encoder_recipe = encoder_depth > 0
    if encoder_recipe:
        values.update(MUJOCO_ENCODER_RECIPE, encoder_layers=encoder_depth)
    if (
        family not in ("atari", "minatar") and overrides.get("inner_step") is None
        and values.get("inner_step", DistillConfig.inner_step) not in EXACT_FIT_RULES
        and not one_learner
    ):  # fmt: skip
        values["inner_step"] = "auto"
        if overrides.get("samples") is None:
            n_out = (info or env_info(env_id, env_kwargs, allow_import=True)).n_outputs
            values["samples"] = min(DISTRIBUTION_SAMPLES, MAX_GN_ROWS // n_out)
    rule = overrides.get("inner_step") or values.get("inner_step", DistillConfig.inner_step)
    distribution_start = not one_learner and rule in EXACT_FIT_RULES and env_id in DISTRIBUTION_START and "x_init" not in values
    if distribution_start:
        values.update(DISTRIBUTION_START[env_id])  # a start of the env's own, as a family's is
    family_x_init = "x_init" in values
    if family in ("mujoco", "generic") and not (env_kwargs or {}) and envpool_available(env_id):
        values["vectorization"] = "envpool"  # the fastest backend where it has the env
    game = env_id.split("/", 1)[1].split("-")[0] if family in ("atari", "minatar") else None  # ALE/Pong-v5: Pong
    if family == "atari":
        values["samples"] = ATARI_SAMPLES.get(game, values["samples"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    # a recipe's teacher trains on PPO-sized minibatches whatever --num-envs and --rollout-steps the user chose
    teacher_minibatch = (
        DISTRIBUTION_TEACHER_MINIBATCH[env_id] if distribution_start and values["x_init"] == "teacher"
        else 64 if encoder_recipe  # CleanRL's MuJoCo PPO
        else MINATAR_TEACHER_MINIBATCH.get(game) if family == "minatar"
        else None
    )  # fmt: skip
    if teacher_minibatch is not None and overrides.get("teacher_minibatches") is None:
        rollout = values.get("num_envs", DistillConfig.num_envs) * values.get("rollout_steps", DistillConfig.rollout_steps)
        values["teacher_minibatches"] = ppo_minibatches(rollout, teacher_minibatch)
    if overrides.get("time_limit") is not None and overrides.get("max_steps") is None:
        values["max_steps"] = NO_STEP_LIMIT  # a time budget alone is the budget: the family's step default would cut it
    if values.get("inner_step") in SCALE_FREE_RULES and overrides.get("init_lr") is None:
        values["init_lr"] = 1.0  # a multiplier of the learner's own step, not an SGD step size
    if values.get("inner_step") in EXACT_FIT_RULES:
        if overrides.get("learn_lr") is None:
            # the head step fits the batch exactly at lr 1; a learned lr > 1 extrapolates past the fit and
            # amplifies each learner's own init (measured: held-out CartPole 68 % with it, 78 % without)
            values["learn_lr"] = False
        if overrides.get("x_init") is None and not family_x_init:
            # every learner interpolates the batch with its own kernel, so the batch must sit where the
            # states are (measured: held-out CartPole 95 % from N(0, 1), 99 % from visited states)
            values["x_init"] = "states"
    if values.get("inner_step") in ("head", "auto") and not one_learner:
        if overrides.get("head_damping") is None and env_id in DISTRIBUTION_HEAD_DAMPING:
            values["head_damping"] = DISTRIBUTION_HEAD_DAMPING[env_id]
    if not one_learner and overrides.get("eval_episodes") is None and env_id in DISTRIBUTION_CHECK_EPISODES:
        values["eval_episodes"] = DISTRIBUTION_CHECK_EPISODES[env_id]
    if values.get("x_init") == "teacher" and overrides.get("x_init") is None and requested_world() > 1:
        # the teacher trains in one process: under torchrun a family's teacher start gives way to the start
        # the family would have without it (asked for explicitly, it is a one-line error instead)
        values["x_init"] = "states" if values.get("inner_step") in EXACT_FIT_RULES else DistillConfig.x_init
    return DistillConfig(env_id=env_id, env_kwargs=dict(env_kwargs or {}), **values)


def target_return(cfg: DistillConfig, info: EnvInfo) -> float | None:
    """The return a run stops at (and its teacher): ``cfg.target_return``, else the env's reward threshold."""
    return cfg.target_return if cfg.target_return is not None else info.reward_threshold


def step_settings(cfg: DistillConfig) -> dict[str, float | int]:
    """The constants of ``cfg``'s one-step rule as its batch records them (:func:`~distillhub.onestep.rule_settings`),
    with ``cfg.head_damping`` where it is set."""
    key = {"head": "damping", "fit": "head_damping", "auto": "head_damping"}.get(cfg.inner_step)
    return rule_settings(cfg.inner_step, {key: cfg.head_damping} if key and cfg.head_damping is not None else None)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DistillhubError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise DistillhubError(f"unknown device '{name}'; use auto, cpu or cuda")
    return torch.device(name)


MAX_ENVS = 65_536


def validate_config(cfg: DistillConfig) -> None:
    """One-line errors for configurations that cannot run."""
    if not 1 <= cfg.samples <= MAX_SAMPLES:
        raise DistillhubError(f"--samples must be from 1 to {MAX_SAMPLES:,}, got {cfg.samples}")
    if not 1 <= cfg.num_envs <= MAX_ENVS:
        raise DistillhubError(f"--num-envs must be from 1 to {MAX_ENVS:,}, got {cfg.num_envs}")
    if not 1 <= cfg.rollout_steps <= 100_000:
        raise DistillhubError(f"--rollout-steps must be from 1 to 100,000, got {cfg.rollout_steps}")
    if cfg.eval_inits < 1 or cfg.eval_episodes < 1 or cfg.eval_every < 1 or cfg.patience < 1:
        raise DistillhubError("eval_inits, eval_episodes, eval_every and patience must be at least 1")
    for name in ("meta_lr", "critic_lr", "init_lr", "x_init_std", "max_grad_norm"):
        value = getattr(cfg, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise DistillhubError(f"{name} must be a positive finite number, got {value}")
    if cfg.update_epochs < 1 or cfg.num_minibatches < 1:
        raise DistillhubError("update_epochs and num_minibatches must be at least 1")
    if not (0 < cfg.gamma <= 1 and 0 <= cfg.gae_lambda <= 1):
        raise DistillhubError(f"gamma must be in (0, 1] and gae_lambda in [0, 1], got {cfg.gamma} and {cfg.gae_lambda}")
    if not (math.isfinite(cfg.clip_coef) and cfg.clip_coef > 0 and math.isfinite(cfg.ent_coef) and cfg.ent_coef >= 0):
        raise DistillhubError(
            f"clip_coef must be positive and ent_coef non-negative, got {cfg.clip_coef} and {cfg.ent_coef}"
        )
    if cfg.log_std_lr is not None and not (math.isfinite(cfg.log_std_lr) and cfg.log_std_lr > 0):
        raise DistillhubError(f"log_std_lr must be a positive number (or unset), got {cfg.log_std_lr}")
    if cfg.encoder_lr is not None and not (math.isfinite(cfg.encoder_lr) and cfg.encoder_lr > 0):
        raise DistillhubError(f"encoder_lr must be a positive number (or unset), got {cfg.encoder_lr}")
    if not math.isfinite(cfg.init_log_std) or abs(cfg.init_log_std) > 20:
        raise DistillhubError(f"init_log_std must be a finite number in [-20, 20], got {cfg.init_log_std}")
    if not 0 <= cfg.encoder_layers <= 16:
        raise DistillhubError(f"encoder_layers must be from 0 to 16, got {cfg.encoder_layers}")
    if cfg.population < 1 or cfg.num_envs % cfg.population:
        raise DistillhubError(f"num_envs ({cfg.num_envs}) must be a positive multiple of population ({cfg.population})")
    if (cfg.num_envs // cfg.population * cfg.rollout_steps) % cfg.num_minibatches:
        raise DistillhubError("rollout_steps * num_envs / population must be divisible by num_minibatches")
    if cfg.teacher_minibatches is not None and not (
        cfg.teacher_minibatches >= 1 and (cfg.num_envs * cfg.rollout_steps) % cfg.teacher_minibatches == 0
    ):
        raise DistillhubError(
            f"teacher_minibatches must be at least 1 and divide rollout_steps * num_envs "
            f"({cfg.rollout_steps * cfg.num_envs}), got {cfg.teacher_minibatches}"
        )
    if cfg.max_steps < 1:
        raise DistillhubError(f"--max-steps must be positive, got {cfg.max_steps}")
    if cfg.time_limit is not None and cfg.time_limit <= 0:
        raise DistillhubError(f"--time-limit must be positive, got {cfg.time_limit}")
    if cfg.x_init not in ("random", "states", "teacher"):
        raise DistillhubError(f"x_init must be random, states or teacher, got '{cfg.x_init}'")
    if cfg.teacher_stop not in TEACHER_STOPS:
        raise DistillhubError(f"teacher_stop must be {', '.join(TEACHER_STOPS)}, got '{cfg.teacher_stop}'")
    if not (math.isfinite(cfg.teacher_fraction) and 0 < cfg.teacher_fraction < 1):
        raise DistillhubError(f"teacher_fraction must be between 0 and 1, got {cfg.teacher_fraction}")
    if not 0 <= cfg.teacher_checks_from <= 1:
        raise DistillhubError(f"teacher_checks_from must be from 0 to 1, got {cfg.teacher_checks_from}")
    if not (math.isfinite(cfg.teacher_lr) and cfg.teacher_lr > 0):
        raise DistillhubError(f"teacher_lr must be a positive finite number, got {cfg.teacher_lr}")
    if cfg.vectorization not in ("sync", "async", "ale", "envpool"):
        raise DistillhubError(f"vectorization must be sync, async, envpool or ale (Atari), got '{cfg.vectorization}'")
    if cfg.env_threads is not None and not 1 <= cfg.env_threads <= 1024:
        raise DistillhubError(f"--env-threads must be from 1 to 1024, got {cfg.env_threads}")
    if cfg.head_damping is not None:
        if cfg.inner_step not in EXACT_FIT_RULES:
            raise DistillhubError(
                f"head_damping sets the head step of the head, fit and auto rules; --inner-step is '{cfg.inner_step}'"
            )
        check_step_setting("damping", cfg.head_damping, "head_damping")  # the header's own bounds
    check_init(cfg.init)
    check_step_rule(cfg.inner_step)
    parse_learners(cfg.learners, False, cfg.arch, cfg.init)


def check_fits(cfg: DistillConfig, info: EnvInfo) -> list[Learner]:
    """What must hold for ``cfg`` on this env before any work (the CLI asks before it touches ``--out``):
    the batch's size, the step rule's bound, the learner spec.

    Returns:
        The learners of ``cfg``'s distribution.
    """
    obs_shape, n_out = info.obs_shape, info.n_outputs
    if cfg.samples * math.prod(obs_shape) > MAX_ELEMENTS:
        raise DistillhubError(
            f"--samples {cfg.samples} of shape {list(obs_shape)} exceed {MAX_ELEMENTS:,} numbers; use fewer samples"
        )
    check_step_rule(cfg.inner_step, cfg.samples * n_out)
    learners = parse_learners(cfg.learners, len(obs_shape) > 1, cfg.arch, cfg.init)
    if cfg.encoder_layers and len(learners) > 1:
        raise DistillhubError(
            f"--encoder-layers {cfg.encoder_layers} needs a single learner (the encoder is shared); drop --learners "
            "or pass --encoder-layers 0"
        )
    return learners
