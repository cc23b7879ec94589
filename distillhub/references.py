"""Reference returns that evaluation reports a percentage of."""

from __future__ import annotations

# env id -> (return, where it comes from)
PPO_REFERENCE: dict[str, tuple[float, str]] = {
    # Cart-poles: PPO reaches the 500-step cap, so the cap is the reference.
    "CartPole-v1": (500.0, "episode cap; PPO solves CartPole-v1"),
    "distillhub/CartPoleND-v0": (500.0, "episode cap; see benchmarks/ndcartpole.py for our PPO"),
    # CleanRL ppo_continuous_action on v4 envs (CleanRL benchmark report, MuJoCo v4):
    # 1M steps for the first six, 8M steps for the rest.
    "HalfCheetah-v5": (1443.0, "CleanRL PPO, HalfCheetah-v4, 1M steps"),
    "Walker2d-v5": (2288.0, "CleanRL PPO, Walker2d-v4, 1M steps"),
    "Hopper-v5": (2383.0, "CleanRL PPO, Hopper-v4, 1M steps"),
    "InvertedPendulum-v5": (963.0, "CleanRL PPO, InvertedPendulum-v4, 1M steps"),
    "Humanoid-v5": (716.0, "CleanRL PPO, Humanoid-v4, 1M steps"),
    "Pusher-v5": (-40.4, "CleanRL PPO, Pusher-v4, 1M steps"),
    "Ant-v5": (1824.0, "CleanRL PPO, Ant-v4, 8M steps"),
    "InvertedDoublePendulum-v5": (5626.0, "CleanRL PPO, InvertedDoublePendulum-v4, 8M steps"),
    "Reacher-v5": (-4.65, "CleanRL PPO, Reacher-v4, 8M steps"),
    "Swimmer-v5": (125.0, "CleanRL PPO, Swimmer-v4, 8M steps"),
    "HumanoidStandup-v5": (109326.0, "CleanRL PPO, HumanoidStandup-v4, 8M steps"),
    # Atari (CleanRL ppo_atari, 10M frames)
    "ALE/Pong-v5": (20.4, "CleanRL PPO Atari"),
    "ALE/Breakout-v5": (415.0, "CleanRL PPO Atari"),
    "ALE/SpaceInvaders-v5": (1189.0, "CleanRL PPO Atari"),
}


# env id -> (return of a uniform random policy, where it comes from); measured in the evaluator's env
# (whole games for Atari) by `benchmarks/random_reference.py --episodes 10`.
RANDOM_REFERENCE = {
    "CartPole-v1": (25.60, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "HalfCheetah-v5": (-233.68, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Walker2d-v5": (5.73, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Hopper-v5": (31.09, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "InvertedPendulum-v5": (5.10, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Humanoid-v5": (90.08, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Pusher-v5": (-150.68, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Ant-v5": (-17.19, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "InvertedDoublePendulum-v5": (45.39, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Reacher-v5": (-41.83, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "Swimmer-v5": (-2.31, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "HumanoidStandup-v5": (33291.03, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "ALE/Pong-v5": (-20.80, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "ALE/Breakout-v5": (1.60, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
    "ALE/SpaceInvaders-v5": (122.50, "uniform random policy, 10 episodes, benchmarks/random_reference.py"),
}


def normalized_score(env_id: str, value: float) -> float | None:
    """``(value − random) / (PPO reference − random)``: 0 is a random policy, 1 is PPO.

    Unlike a plain ratio it stays meaningful for negative returns (Pong, Reacher, Pusher).
    ``None`` when the env lacks either reference.
    """
    ref, rnd = PPO_REFERENCE.get(env_id), RANDOM_REFERENCE.get(env_id)
    if ref is None or rnd is None or ref[0] == rnd[0]:
        return None
    return (value - rnd[0]) / (ref[0] - rnd[0])


def percent_of_reference(env_id: str, value: float) -> float | None:
    """``value`` as % of the PPO reference (negative references: reference/value)."""
    ref = PPO_REFERENCE.get(env_id)
    if ref is None:
        return None
    r = ref[0]
    if r < 0:
        return 100.0 * r / value if value < 0 else None
    return 100.0 * value / r
