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


def percent_of_reference(env_id: str, value: float) -> float | None:
    """``value`` as % of the PPO reference (negative references: reference/value)."""
    ref = PPO_REFERENCE.get(env_id)
    if ref is None:
        return None
    r = ref[0]
    if r < 0:
        return 100.0 * r / value if value < 0 else None
    return 100.0 * value / r
