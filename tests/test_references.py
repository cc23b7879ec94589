from distillhub.evaluate import EvalResult
from distillhub.references import PPO_REFERENCE, RANDOM_REFERENCE, normalized_score


def test_normalized_score_is_zero_at_random_and_one_at_ppo_also_for_negative_returns():
    for env_id in ("ALE/Pong-v5", "Reacher-v5", "Hopper-v5"):
        rnd, ref = RANDOM_REFERENCE[env_id][0], PPO_REFERENCE[env_id][0]
        assert abs(normalized_score(env_id, rnd)) < 1e-9
        assert abs(normalized_score(env_id, ref) - 1) < 1e-9
    # a 4-sample Pong batch that loses 21-0 is slightly below random, not "-102.9 % of PPO"
    assert -0.01 < normalized_score("ALE/Pong-v5", -21.0) < 0
    assert normalized_score("Reacher-v5", -7.6) > normalized_score("Reacher-v5", -11.7) > 0
    assert normalized_score("NoSuchEnv-v0", 1.0) is None


def test_eval_summary_carries_the_normalised_score():
    r = EvalResult(env_id="ALE/Pong-v5", per_init=[-21.0, -19.0], episodes=1, architecture="cnn:nature", seed=0,
                   reference=20.4)  # fmt: skip
    s = r.summary()
    assert s["random_reference"] == RANDOM_REFERENCE["ALE/Pong-v5"][0]
    assert s["normalized_score"] == round((-20.0 + 20.8) / (20.4 + 20.8), 3)
