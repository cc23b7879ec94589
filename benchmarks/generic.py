"""Generic-path speed: distillation env steps/s vs the raw gymnasium vector env's step rate, same envs.

Raw rate: the same `num_envs` in a gymnasium SyncVectorEnv (same-step autoreset), uniform random actions, no
learner. Distillation rate, two ways, with the env family's defaults over `--iterations` meta-iterations:
"whole run" = env steps / wall time of `distill()` (setup, first-call warm-up, held-out evaluations included);
"steady" = env steps / training time from the end of the first meta-iteration on (rollouts, meta-gradients and
held-out evaluations included). Measured in one process, one after the other.

    cd benchmarks && PYTHONPATH=.. python generic.py Pendulum-v1 Acrobot-v1 MountainCarContinuous-v0
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from distillhub.distill import default_config, distill


def _step_rate(envs, actions: list, num_envs: int, steps: int) -> float:
    """Env steps/s of ``steps`` vectorised steps cycling through ``actions``; closes ``envs``."""
    start = time.monotonic()
    for t in range(steps):
        envs.step(actions[t % len(actions)])
    rate = steps * num_envs / (time.monotonic() - start)
    envs.close()
    return rate


def raw_rate(env_id: str, num_envs: int, steps: int) -> float:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    return _step_rate(envs, [envs.action_space.sample() for _ in range(64)], num_envs, steps)


def raw_envpool_rate(env_id: str, num_envs: int, steps: int) -> float | None:
    """The same envs in envpool (threads = cores), uniform random actions, no learner."""
    from distillhub.envs.envpool_vector import default_threads, envpool_available

    if not envpool_available(env_id):
        return None
    import envpool
    import numpy as np

    envs = envpool.make_gymnasium(env_id, num_envs=num_envs, num_threads=default_threads(), seed=0)
    envs.reset()
    space = envs.action_space
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        actions = [rng.integers(0, space.n, num_envs) for _ in range(64)]
    else:
        actions = [rng.uniform(space.low, space.high, (num_envs, *space.shape)).astype(np.float32) for _ in range(64)]
    return _step_rate(envs, actions, num_envs, steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("envs", nargs="+")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--vectorization", default=None, help="sync, async or envpool (default: the config's)")
    a = p.parse_args()
    torch.set_num_threads(2)
    print("| env | envs | backend | raw gymnasium vector env steps/s | raw envpool steps/s | distillation, whole run | ratio | "
          "distillation, steady | ratio to gymnasium raw | ratio to envpool raw |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for env_id in a.envs:
        cfg = default_config(env_id, vectorization=a.vectorization)
        raw = raw_rate(env_id, cfg.num_envs, 2000)
        pool = raw_envpool_rate(env_id, cfg.num_envs, 2000)
        cfg.max_steps, cfg.early_stop = cfg.num_envs * cfg.rollout_steps * a.iterations, False
        marks = []
        start = time.monotonic()
        batch = distill(cfg, callback=marks.append)
        whole = batch.extra["training"]["env_steps"] / (time.monotonic() - start)
        first, last = marks[0], marks[-1]
        steady = (last.global_step - first.global_step) / (last.elapsed - first.elapsed)
        pool_text = "-" if pool is None else f"{pool:,.0f}"
        pool_ratio = "-" if pool is None else f"{steady / pool:.2f}"
        print(f"| {env_id} | {cfg.num_envs} | {cfg.vectorization} | {raw:,.0f} | {pool_text} | {whole:,.0f} | {whole / raw:.2f} | "
              f"{steady:,.0f} | {steady / raw:.2f} | {pool_ratio} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
