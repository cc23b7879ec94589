"""Can one step from a fresh init express a good policy for this env at all? A probe without meta-learning.

Trains a PPO teacher on the distiller's rollout code (`ppo_baseline.py`, `--teacher-time` seconds), records the
states it visits (20 % uniform random actions, so recoveries are seen), and builds behaviour-cloning batches by
hand: N of those states labelled with the teacher's outputs (action means, or logits for discrete actions). Every
learner in `--learners` takes the `head` step (lr 1) on each batch from `--inits` fresh inits; greedy episodes in
the env distillhub evaluates in. Prints the one-step mean and worst init per (N, learner): where even cloning a good
teacher fails, the learner's one-step features are the limit, not the meta-gradient. Any env the distiller takes,
e.g. MinAtar with `--arch cnn:small --learners cnn:small@orthogonal:0.01 --ppo minatar`. With `--teacher-batch DIR`
the teacher is instead the policy one step on that batch gives `--teacher-learner` (e.g. a family it teaches well),
so the probe asks whether another family could follow it.

    cd benchmarks && PYTHONPATH=.. python bc_probe.py Pendulum-v1 --samples 256 1024 4096 \
        --learners mlp:64-64:tanh@orthogonal:0.01 mlp:64-64:relu@orthogonal:0.01 mlp:64-64-64:tanh@orthogonal:0.01
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from ppo_baseline import evaluate_module, train_ppo

from distillhub.batch import Batch
from distillhub.envs import env_info, make_env
from distillhub.evaluate import evaluate
from distillhub.loader import load_batch
from distillhub.policy import policy_from_batch

# PPO settings of the teacher: the MuJoCo-like continuous defaults, or minatar_games.py's
PPO = {
    "continuous": dict(num_envs=16, rollout_steps=256, epochs=10, minibatches=8, lr=3e-4, anneal_lr=True),
    "minatar": dict(num_envs=32, rollout_steps=128, epochs=4, minibatches=4, lr=5e-4, anneal_lr=False),
}


def visited_states(policy, env_id: str, episodes: int, seed: int = 0) -> torch.Tensor:
    """States of ``episodes`` teacher episodes with 20 % uniform random actions."""
    env, rng, out = make_env(env_id), np.random.default_rng(seed), []
    continuous = hasattr(env.action_space, "low")
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            out.append(obs)
            with torch.no_grad():
                out_ = policy(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            if continuous:
                low, high = env.action_space.low, env.action_space.high
                action = rng.uniform(low, high) if rng.random() < 0.2 else out_
                action = np.clip(action, low, high).astype(np.float32)
            else:
                action = int(rng.integers(env.action_space.n)) if rng.random() < 0.2 else int(out_.argmax())
            obs, _, term, trunc, _ = env.step(action)
            done = term or trunc
    env.close()
    return torch.as_tensor(np.array(out), dtype=torch.float32)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("env")
    p.add_argument("--teacher-time", type=float, default=150.0)
    p.add_argument("--episodes", type=int, default=40, help="teacher episodes whose states are drawn from")
    p.add_argument("--samples", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--learners", nargs="+", default=["mlp:64-64:tanh@orthogonal:0.01"])
    p.add_argument("--inits", type=int, default=10)
    p.add_argument("--arch", default="mlp:64-64:tanh", help="the teacher's architecture")
    p.add_argument("--ppo", choices=sorted(PPO), default="continuous", help="the teacher's PPO settings")
    p.add_argument(
        "--teacher-encoder", type=int, nargs="+", default=[0],
        help="also probe with the teacher's first K conv layers as the batch's persistent encoder (0: none)",
    )  # fmt: skip
    p.add_argument("--teacher-batch", default=None, help="a batch folder: its one-step policy is the teacher")
    p.add_argument("--teacher-learner", default="mlp:64-64:tanh@orthogonal:0.01", help="arch@init the batch teaches")
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.teacher_batch:
        source = load_batch(args.teacher_batch)
        arch, init = args.teacher_learner.split("@")
        teacher = policy_from_batch(source, arch=arch, init=init, seed=7)
        mean, std = source.obs_mean, source.obs_std  # the policy normalises inside; the batches carry the same stats
        what = f"one step of {args.teacher_learner} on {args.teacher_batch}"
    else:
        teacher, steps, wall = train_ppo(
            args.env, time_limit=args.teacher_time, max_steps=10**12, seed=0, arch=args.arch, **PPO[args.ppo]
        )
        mean, std = teacher.obs_mean, teacher.obs_std
        what = f"PPO after {steps:,} env steps / {wall:.0f} s"
    score = evaluate_module(teacher, args.env, episodes=10, seed=5)
    continuous = env_info(args.env).action_space == "continuous"
    states = visited_states(teacher, args.env, args.episodes)
    print(f"\n{args.env}: teacher {score:.1f} (greedy, 10 episodes), {what}; {len(states):,} visited states; "
          f"head step, lr 1, {args.inits} fresh inits, 1 greedy episode each\n")  # fmt: skip
    print("| samples | learner | teacher's conv layers as encoder | one-step mean | worst init |")
    print("|---|---|---|---|---|")
    for n in args.samples:
        pick = torch.randperm(len(states), generator=torch.Generator().manual_seed(n))[:n]
        x = states[pick]
        with torch.no_grad():
            y = teacher(x)
        for spec, k in [(spec, k) for spec in args.learners for k in args.teacher_encoder]:
            arch, init = spec.split("@")
            modules = dict(getattr(teacher, "actor", teacher).named_modules())
            convs = [name for name, m in modules.items() if isinstance(m, torch.nn.Conv2d)][:k]
            encoder = {f"{name}.{p}": getattr(modules[name], p).detach().clone() for name in convs for p in ("weight", "bias")}
            batch = Batch(
                observations=x, targets=y, learning_rate=1.0, env_id=args.env,
                action_space="continuous" if continuous else "discrete", architecture=arch, init=init,
                inner_step="head", log_std=torch.full((y.shape[1],), -1.0) if continuous else None, encoder=encoder,
                obs_mean=None if mean is None else mean.float(), obs_std=None if std is None else std.float(),
            )  # fmt: skip
            r = evaluate(batch, inits=args.inits, episodes=1, seed=1)
            print(f"| {n} | `{spec}` | {k} | {r.mean:.1f} | {r.min:.1f} |", flush=True)


if __name__ == "__main__":
    main()
