"""MuJoCo v5: distilled batches (each env's defaults, plus --set overrides) vs. PPO from the same rollout code, same env steps.

    python mujoco_envs.py vector                       # sync vs async steps/s (Hopper, 16 envs)
    python mujoco_envs.py pendulum --runs 3             # InvertedPendulum-v5 acceptance
    python mujoco_envs.py table --time-limit 300 Hopper-v5 HalfCheetah-v5 Swimmer-v5 Reacher-v5
    python mujoco_envs.py ppo Ant-v5 --steps 1000000 --clips 0 10   # our PPO with CleanRL's obs/reward clip or not
    python mujoco_envs.py starts --time-limit 240 Walker2d-v5 --set x_init=teacher teacher_fraction=0.5
                                                        # defaults vs the overrides, same budget and seed
    python mujoco_envs.py starts --time-limit 240 --only-set --head-samples Hopper-v5 \
        --set x_init=teacher teacher_fraction=0.5 inner_step=head arch=mlp:64-64-64:tanh
                                                        # the overrides alone; as many samples as the head step takes

Run from this folder with PYTHONPATH=.. (or an installed distillhub). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from ppo_baseline import evaluate_module, train_ppo

from distillhub.config import head_batch_samples
from distillhub.distill import Distiller, default_config, parse_settings
from distillhub.envs import env_info, make_vector_env
from distillhub.evaluate import evaluate
from distillhub.references import PPO_REFERENCE


def vector(env_id: str = "Hopper-v5", num_envs: int = 16, steps: int = 300) -> None:
    """Raw env steps/s of gymnasium's sync and async vector envs, and of a short distillation."""
    info = env_info(env_id)
    print(f"\n{env_id}, {num_envs} envs, random actions ({steps} vector steps), then 5 meta-iterations:\n")
    print("| vectorization | env steps/s (random actions) | distillation steps/s (incl. meta-gradients) |")
    print("|---|---|---|")
    for mode in ("sync", "async"):
        env = make_vector_env(info, num_envs, vectorization=mode)
        env.reset()
        actions = torch.zeros(num_envs, info.n_outputs)
        t0 = time.monotonic()
        for _ in range(steps):
            env.step(actions.uniform_(-1, 1))
        raw = steps * num_envs / (time.monotonic() - t0)
        env.close()
        cfg = default_config(env_id, vectorization=mode, num_envs=num_envs, early_stop=False, eval_every=1000)
        cfg.max_steps = 5 * cfg.num_envs * cfg.rollout_steps
        d = Distiller(cfg)
        d.run()
        d.close()
        print(f"| {mode} | {raw:,.0f} | {d.global_step / d.elapsed:,.0f} |", flush=True)


def pendulum(runs: int, time_limit: float) -> None:
    """InvertedPendulum-v5, 64 samples: wall time to the env's threshold, eval over 10 fresh inits."""
    print("\n| run (seed) | distill wall (s) | env steps | stop | eval mean (10 unseen inits) | worst init |")
    print("|---|---|---|---|---|---|")
    walls, means = [], []
    for seed in range(runs):
        t0 = time.monotonic()
        d = Distiller(default_config("InvertedPendulum-v5", samples=64, seed=seed, time_limit=time_limit,
                                     max_steps=50_000_000))  # fmt: skip
        batch = d.run()
        wall = time.monotonic() - t0
        d.close()
        r = evaluate(batch, inits=10, episodes=1, seed=1)
        walls.append(wall)
        means.append(r.mean)
        print(f"| {seed} | {wall:.0f} | {d.global_step:,} | {d.stop_reason} | {r.mean:.1f} | {r.min:.0f} |", flush=True)
    print(f"| median | {statistics.median(walls):.0f} | | | {statistics.median(means):.1f} | |")


def distil_and_evaluate(env_id: str, time_limit: float, overrides: dict):
    """A distillation of ``time_limit`` seconds with the env's defaults (64 samples for most MuJoCo envs) and
    ``overrides``; returns (the distiller, its wall seconds, the one-step result over 10 unseen inits x 1 greedy
    episode)."""
    t0 = time.monotonic()
    d = Distiller(default_config(env_id, time_limit=time_limit, max_steps=50_000_000, **overrides))
    batch = d.run()
    wall = time.monotonic() - t0
    d.close()
    return d, wall, evaluate(batch, inits=10, episodes=1, seed=1)


# our PPO as the table runs it: CleanRL's MuJoCo settings (2,048-step rollouts in 32 minibatches, 10 epochs, 3e-4 annealed)
TABLE_PPO = dict(num_envs=16, rollout_steps=128, epochs=10, minibatches=32, lr=3e-4, anneal_lr=True)


def table(env_ids: list[str], time_limit: float, overrides: dict | None = None) -> None:
    """Distil each env for ``time_limit`` seconds, then PPO for the same env steps."""
    print(
        f"\nDistillation: {time_limit:.0f} s each, each env's default samples; PPO: same env steps, same rollout code.\n"
    )
    print(
        "| env | distill env steps | distill wall (s) | one-step mean (10 unseen inits) | worst init | "
        "PPO wall (s) | PPO mean (10 eps) | one-step / PPO | % of CleanRL reference | teacher env steps / training return |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for env_id in env_ids:
        d, dwall, r = distil_and_evaluate(env_id, time_limit, overrides or {})
        policy, _, pwall = train_ppo(env_id, max_steps=d.global_step, **TABLE_PPO)
        ppo = evaluate_module(policy, env_id, episodes=10)
        ratio = r.mean / ppo if ppo > 0 else ppo / r.mean
        ref = PPO_REFERENCE[env_id][0]
        pct = r.percent_of_reference
        t = d.teacher_summary
        teacher = "–" if t is None else f"{t['env_steps']:,} / {t['train_return']}"
        print(
            f"| {env_id} | {d.global_step:,} | {dwall:.0f} | {r.mean:.1f} | {r.min:.1f} | {pwall:.0f} | {ppo:.1f} | "
            f"{ratio:.2f} | {'n/a' if pct is None else f'{pct:.0f} %'} (ref {ref}) | {teacher} |",
            flush=True,
        )


def ppo_clips(env_ids: list[str], steps: int, clips: list[float]) -> None:
    """Our PPO (the table's settings) for ``steps`` env steps with normalised observations and scaled rewards
    clipped to ±c (CleanRL's and SB3's 10) or not (0: as the distiller and the table's PPO), same seed."""
    print(f"\nOur PPO, {steps:,} env steps, the table's settings, seed 0; c = clip of normalised obs and scaled rewards.\n")
    print("| env | clip | PPO wall (s) | PPO mean (10 greedy eps) | % of CleanRL reference |")
    print("|---|---|---|---|---|")
    for env_id in env_ids:
        for c in clips:
            policy, _, wall = train_ppo(env_id, max_steps=steps, obs_clip=c or None, reward_clip=c or None, **TABLE_PPO)
            ret = evaluate_module(policy, env_id, episodes=10)
            ref = PPO_REFERENCE[env_id][0]
            print(f"| {env_id} | {c or 'none'} | {wall:.0f} | {ret:.1f} | {100 * ret / ref:.0f} % (ref {ref}) |", flush=True)


def starts(
    env_ids: list[str], time_limit: float, overrides: dict, only_set: bool = False, head_samples: bool = False
) -> None:
    """Per env, the MuJoCo defaults and the defaults with ``overrides``, same budget and seed, side by side
    (``only_set``: the overrides alone). ``head_samples``: the overrides take the generic continuous recipe's
    samples (``config.head_batch_samples``)."""
    label = " ".join(f"{k}={v}" for k, v in overrides.items()) + (" samples=head-max" if head_samples else "")
    print(
        f"\nDistillation: {time_limit:.0f} s each, samples in the config column, seed 0 unless set; {'' if only_set else 'defaults vs '}`{label}`.\n"
    )
    print(
        "| env | config | env steps | distill wall (s) | teacher env steps / training return | "
        "one-step mean (10 unseen inits) | worst init | % of CleanRL reference |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for env_id in env_ids:
        variant = dict(overrides)
        if head_samples:
            variant["samples"] = head_batch_samples(env_info(env_id))
        for name, extra in ([] if only_set else [("defaults", {})]) + [(label, variant)]:
            d, dwall, r = distil_and_evaluate(env_id, time_limit, extra)
            t = d.teacher_summary
            teacher = "–" if t is None else f"{t['env_steps']:,} / {t['train_return']}"
            pct = r.percent_of_reference
            print(
                f"| {env_id} | {name}, {d.cfg.samples} samples | {d.global_step:,} | {dwall:.0f} | {teacher} | {r.mean:.1f} | {r.min:.1f} | "
                f"{'n/a' if pct is None else f'{pct:.0f} %'} (ref {PPO_REFERENCE[env_id][0]}) |",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["vector", "pendulum", "table", "starts", "ppo"])
    p.add_argument("envs", nargs="*", default=["Hopper-v5", "HalfCheetah-v5", "Swimmer-v5", "Reacher-v5"])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--time-limit", type=float, default=600.0)
    p.add_argument("--set", nargs="*", default=[], help="config overrides for table, e.g. x_init=teacher")
    p.add_argument("--steps", type=int, default=1_000_000, help="ppo: env steps per run")
    p.add_argument("--clips", nargs="*", type=float, default=[0, 10], help="ppo: clips to compare (0: none)")
    p.add_argument("--only-set", action="store_true", help="starts: the overrides alone, not the defaults too")
    p.add_argument(
        "--head-samples", action="store_true", help="starts: the overrides take the head step's most samples"
    )
    args = p.parse_intermixed_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.what == "vector":
        vector()
    elif args.what == "pendulum":
        pendulum(args.runs, args.time_limit)
    elif args.what == "ppo":
        ppo_clips(args.envs, args.steps, args.clips)
    elif args.what == "starts":
        starts(args.envs, args.time_limit, parse_settings(args.set), args.only_set, args.head_samples)
    else:
        table(args.envs, args.time_limit, parse_settings(args.set))


if __name__ == "__main__":
    main()
