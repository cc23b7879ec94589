"""Each family's defaults and the budget rules of :mod:`distillhub.config` (no distillation runs here)."""

import pytest

from distillhub.config import (
    MUJOCO_TEACHER_ENVS,
    MUJOCO_TEACHER_HEAD_ENVS,
    NO_STEP_LIMIT,
    DistillConfig,
    default_config,
    parse_settings,
)
from distillhub.errors import DistillhubError


def test_a_time_limit_alone_is_the_budget():
    """`--time-limit 1800` must not stop at the family's default step budget after 4 minutes."""
    assert default_config("Hopper-v5").max_steps == 1_000_000
    assert default_config("Hopper-v5", time_limit=1800).max_steps == NO_STEP_LIMIT
    assert default_config("Hopper-v5", time_limit=1800, max_steps=5000).max_steps == 5000


def test_mujoco_envs_where_a_teacher_paid_start_from_one_and_torchrun_falls_back(monkeypatch):
    """Hopper, HalfCheetah, Swimmer and InvertedDoublePendulum batches for a learner distribution start from a PPO
    teacher on half the budget (240 s: 1141 -> 2257, 1748 -> 2723, 22 -> 38, 659 -> 9360); Walker2d (where it cost)
    does not. Under torchrun the teacher (one process) gives way to the family's own start unless the user asked
    for it."""
    for env_id in MUJOCO_TEACHER_ENVS:
        zoo = default_config(env_id, learners="zoo")
        assert (zoo.x_init, zoo.teacher_fraction) == ("teacher", 0.5)
    zoo = "zoo"
    assert default_config("Humanoid-v5", learners=zoo).x_init == "states" == default_config("Ant-v5", learners=zoo).x_init
    assert default_config("Hopper-v5", x_init="random").x_init == "random"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert default_config("Hopper-v5").x_init == "random" and default_config("Pendulum-v1").x_init == "states"
    assert default_config("Hopper-v5", x_init="teacher").x_init == "teacher"


def test_set_overrides_are_typed_by_the_config_field_and_bad_ones_are_one_line_errors():
    assert parse_settings(["gamma=0.95", "update-epochs=10", "obs_norm=true", "log_std_lr=3e-4"]) == {
        "gamma": 0.95, "update_epochs": 10, "obs_norm": True, "log_std_lr": 3e-4,
    }  # fmt: skip
    for bad, words in [
        (["nope=1"], "config field"),
        (["gamma=0.9", "gamma=0.8"], "twice"),
        (["env_id=x"], "config field"),
    ]:
        with pytest.raises(DistillhubError, match=words):
            parse_settings(bad)


def test_acrobot_distributions_get_a_wider_head_ridge_and_the_batch_records_it():
    """``--env Acrobot-v1 --learners zoo --inner-step head`` damps the head step at 0.03 (held-out +2 to +4.5
    points); other envs and single learners keep the rule's 1e-3, ``head_damping`` overrides both, and a bad value
    is a one-line error."""
    from distillhub.config import DISTRIBUTION_HEAD_DAMPING, step_settings, validate_config
    from distillhub.onestep import HEAD_DAMPING

    zoo = default_config("Acrobot-v1", learners="zoo", inner_step="head")
    assert zoo.head_damping == DISTRIBUTION_HEAD_DAMPING["Acrobot-v1"] == 0.03 and step_settings(zoo) == {"damping": 0.03}
    assert default_config("Acrobot-v1", inner_step="head").head_damping is None  # a single learner is cloned exactly
    assert default_config("Acrobot-v1", learners="zoo", inner_step="fit").head_damping is None
    auto = default_config("Acrobot-v1", learners="zoo")  # the distribution's default rule: its head step takes the ridge
    assert auto.inner_step == "auto" and step_settings(auto)["head_damping"] == 0.03
    single = default_config("CartPole-v1", learners="zoo", inner_step="head")
    assert single.head_damping is None and step_settings(single) == {"damping": HEAD_DAMPING}
    assert step_settings(default_config("CartPole-v1", learners="zoo", inner_step="head", head_damping=0.1)) == {
        "damping": 0.1
    }
    fit = step_settings(default_config("CartPole-v1", learners="zoo", inner_step="fit", head_damping=0.01))
    assert fit["head_damping"] == 0.01 and fit["rounds"] >= 1
    assert default_config("Acrobot-v1", learners="zoo", inner_step="sgd").head_damping is None  # no ridge in sgd
    for cfg, words in [
        (DistillConfig(env_id="CartPole-v1", head_damping=0.1), "head, fit and auto rules"),
        (DistillConfig(env_id="CartPole-v1", inner_step="head", head_damping=0.0), "from 1e-08 to 10"),
        (DistillConfig(env_id="CartPole-v1", inner_step="head", head_damping=float("nan")), "from 1e-08 to 10"),
    ]:
        with pytest.raises(DistillhubError, match=words):
            validate_config(cfg)


def test_a_distribution_over_vector_observations_takes_the_head_step_on_256_samples_unless_named():
    """``--learners zoo`` alone gives the recipe the README's held-out tables were measured with (CartPole-v1 99 %
    of held-out inits; sgd on a zoo batch 16-60 %); a single learner, the user's rule or samples, and pixels keep
    their defaults."""
    from distillhub.config import DISTRIBUTION_SAMPLES, MAX_GN_ROWS

    for env_id in ("CartPole-v1", "distillhub/CartPoleND-v0", "Acrobot-v1", "InvertedPendulum-v5", "Hopper-v5"):
        zoo = default_config(env_id, learners="zoo")
        assert (zoo.inner_step, zoo.samples, zoo.learn_lr, zoo.init_lr) == ("auto", DISTRIBUTION_SAMPLES, False, 1.0)
    assert default_config("distillhub/CartPoleND-v0", learners="zoo").x_init == "states"  # where the states are
    assert default_config("CartPole-v1", learners="zoo").x_init == "teacher"  # where a PPO teacher's states are
    acrobot = default_config("Acrobot-v1", learners="zoo")  # from a PPO teacher: measured better than N(0, 1)
    assert (acrobot.x_init, acrobot.num_envs * acrobot.rollout_steps // acrobot.teacher_minibatches) == ("teacher", 256)
    assert default_config("Acrobot-v1", learners="zoo", x_init="states").x_init == "states"
    assert default_config("Hopper-v5", learners="zoo").x_init == "teacher"  # the family's start stays
    two = "mlp:16:relu@kaiming,mlp:8:tanh@xavier"
    assert default_config("CartPole-v1", learners=two).inner_step == "auto"
    # the user's rule and samples win; one learner (even with its own init) keeps the env's default
    assert (default_config("CartPole-v1", learners="zoo", inner_step="sgd").samples, default_config(
        "CartPole-v1", learners="zoo", samples=64).samples) == (2, 64)
    assert default_config("CartPole-v1", learners="mlp:32:relu@xavier").inner_step == "sgd"
    assert default_config("CartPole-v1", learners=f"{two.split(',')[0]},{two.split(',')[0]}").inner_step == "sgd"  # a repeat is one
    # the distribution's ridge is a distribution's: one learner on the head step keeps the rule's own
    assert default_config("Acrobot-v1", learners="mlp:32:relu@xavier", inner_step="head").head_damping is None
    assert default_config("Acrobot-v1", learners="zoo").head_damping is not None
    assert default_config("CartPole-v1", learners="single").inner_step == "sgd"
    assert default_config("ALE/Pong-v5", learners="zoo").inner_step == "sgd"  # pixels: not measured under head
    # many actions: the head step's output-row bound caps the samples (Humanoid-v5's 17 actions)
    hum = default_config("Humanoid-v5", learners="zoo")
    assert hum.samples == min(DISTRIBUTION_SAMPLES, MAX_GN_ROWS // 17) and hum.inner_step == "auto"
    with pytest.raises(DistillhubError, match="bad --learners entry"):
        default_config("CartPole-v1", learners="zoo,")


def test_the_distill_module_still_offers_the_config_names():
    """``distillhub.config`` holds the configuration; ``distillhub.distill`` re-exports it for existing code."""
    import sys

    module = sys.modules["distillhub.distill"]
    assert module.DistillConfig is DistillConfig and module.default_config is default_config


def test_reacher_and_standup_clone_a_teacher_into_the_largest_head_batch_their_action_size_allows(monkeypatch):
    """Reacher-v5 and HumanoidStandup-v5 batches for a learner distribution take the generic continuous recipe
    (240 s, two seeds each: -6.5 -> -4.4 and -5.9, 71806 -> 84709 and 78334): a teacher on half the budget, the head
    step of a 3-layer tanh learner, min(1,024, 4,096 rows / actions) samples."""
    assert MUJOCO_TEACHER_HEAD_ENVS == {"Reacher-v5", "HumanoidStandup-v5"}
    monkeypatch.setattr("distillhub.config.MUJOCO_ENCODER_ENVS", set())  # the single-learner default, tested apart
    reacher = default_config("Reacher-v5")
    assert reacher.samples == 1024 and default_config("HumanoidStandup-v5").samples == 4096 // 17
    assert default_config("Ant-v5", x_init="teacher", inner_step="head").samples == 64  # the family's defaults only
    assert default_config("HalfCheetah-v5", samples=None).samples == 64
    assert (reacher.x_init, reacher.teacher_fraction, reacher.inner_step, reacher.arch) == (
        "teacher", 0.5, "head", "mlp:64-64-64:tanh",
    )  # fmt: skip
    assert (reacher.learn_lr, reacher.init_lr, reacher.num_envs, reacher.update_epochs) == (False, 1.0, 16, 10)
    monkeypatch.setattr("distillhub.config.MUJOCO_TEACHER_HEAD_ENVS", {"Reacher-v5", "Walker2d-v5"})
    assert default_config("Walker2d-v5").samples == 4096 // 6  # 6 actions: the head step's row bound
    assert default_config("Reacher-v5", samples=64).samples == 64  # the user's choice wins
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert default_config("Reacher-v5").x_init == "states"  # the head step's own start under torchrun


def test_hopper_and_walker_clone_a_ppo_teacher_through_its_torso_unless_a_distribution_is_asked_for():
    """MUJOCO_ENCODER_ENVS take MUJOCO_ENCODER_RECIPE (Hopper-v5, 120 s: 3457 vs our PPO 1561 at equal env steps):
    the teacher as our PPO baseline trains, on 90 % of the budget, its torso as the encoder, 128 of its states."""
    from distillhub.config import MUJOCO_ENCODER_ENVS

    others = {"Ant", "HalfCheetah", "Hopper", "Humanoid", "HumanoidStandup", "InvertedDoublePendulum", "Pusher", "Reacher"}
    assert MUJOCO_ENCODER_ENVS == {f"{e}-v5" for e in others | {"Swimmer", "Walker2d"}}  # all but InvertedPendulum
    assert default_config("InvertedPendulum-v5").encoder_layers == 0
    cfg = default_config("Hopper-v5")
    assert (cfg.x_init, cfg.teacher_fraction, cfg.encoder_layers, cfg.samples, cfg.inner_step, cfg.arch) == (
        "teacher", 0.9, 2, 128, "head", "mlp:64-64:tanh"
    )
    # PPO's own settings for the teacher (benchmarks/ppo_baseline.py: 16 envs x 128 steps, 32 minibatches of 64)
    assert (cfg.num_envs, cfg.rollout_steps, cfg.teacher_minibatches, cfg.update_epochs) == (16, 128, 32, 10)
    assert (cfg.learn_lr, cfg.init_lr) == (False, 1.0)  # the head step at lr 1
    assert default_config("Hopper-v5", samples=256).samples == 256  # the user's choice wins
    # other envs or rollout steps keep minibatches of ~64 samples that divide the rollout (800 = 10 x 80)
    assert default_config("Hopper-v5", num_envs=8, rollout_steps=100).teacher_minibatches == 10
    assert default_config("Hopper-v5", num_envs=8, teacher_minibatches=4).teacher_minibatches == 4
    zoo = default_config("Hopper-v5", learners="zoo")  # the encoder is one learner's: a distribution keeps the rest
    assert (zoo.encoder_layers, zoo.teacher_minibatches) == (0, None)
    plain = default_config("Hopper-v5", encoder_layers=0)  # no encoder asked for: the env's batch without one
    assert (plain.samples, plain.inner_step, plain.teacher_fraction, plain.rollout_steps) == (64, "sgd", 0.5, 256)
    # one learner written as a one-entry list is a single learner: the same recipe as --arch/--init
    listed = default_config("Hopper-v5", learners="mlp:64-64:tanh@xavier")
    named = default_config("Hopper-v5", arch="mlp:64-64:tanh", init="xavier")
    assert (listed.encoder_layers, listed.inner_step, listed.samples, listed.teacher_minibatches) == (
        named.encoder_layers, named.inner_step, named.samples, named.teacher_minibatches) == (2, "head", 128, 32)
    # the user's own learner: an encoder of at most its hidden layers; none below its output layer, no encoder
    assert default_config("Hopper-v5", learners="mlp:32:relu@kaiming").encoder_layers == 1
    assert default_config("Hopper-v5", arch="transformer:16-1-2").encoder_layers == 2
    linear = default_config("Hopper-v5", arch="mlp::tanh")
    assert (linear.encoder_layers, linear.samples, linear.inner_step) == (plain.encoder_layers, plain.samples, plain.inner_step)


def test_minatar_defaults_clone_a_teacher_through_its_torso_and_a_distribution_must_turn_the_encoder_off():
    from distillhub.config import check_fits
    from distillhub.envs import env_info

    cfg = default_config("MinAtar/Breakout-v1")
    assert (cfg.x_init, cfg.teacher_fraction, cfg.encoder_layers, cfg.samples, cfg.inner_step) == (
        "teacher", 0.9, 2, 512, "head"
    )
    # the teacher trains as our PPO baseline does: constant rate, no entropy bonus; Breakout's and Space Invaders' on 16 minibatches
    assert (cfg.anneal_teacher_lr, cfg.ent_coef, cfg.teacher_minibatches) == (False, 0.0, 16)
    for env_id in ("MinAtar/SpaceInvaders-v1", "minatar:MinAtar/Breakout-v1", "MinAtar/Asterix-v1"):
        assert default_config(env_id).teacher_minibatches == (None if "Asterix" in env_id else 16)
    # the in-run checks average 4 episodes per init: inits share the torso, one episode's noise picked batches
    assert (cfg.eval_inits, cfg.eval_episodes) == (4, 4)
    assert default_config("MinAtar/Breakout-v1", teacher_minibatches=4).teacher_minibatches == 4
    # minibatches of ~256 frames whatever rollout the user chose: 8 envs x 96 steps -> 3 of 256
    assert default_config("MinAtar/Breakout-v1", num_envs=8, rollout_steps=96).teacher_minibatches == 3
    assert default_config("CartPole-v1").anneal_teacher_lr  # elsewhere the teacher's rate decays
    info = env_info("MinAtar/Breakout-v1")
    two = "cnn:small@orthogonal:0.01,cnn:small@kaiming"
    with pytest.raises(DistillhubError, match="--encoder-layers 2 needs a single learner .* or pass --encoder-layers 0"):
        check_fits(default_config("MinAtar/Breakout-v1", learners=two), info)
    assert len(check_fits(default_config("MinAtar/Breakout-v1", learners=two, encoder_layers=0), info)) == 2


def test_a_plain_cartpole_run_distils_for_the_zoo_from_a_ppo_teacher():
    """``distillhub distill`` alone: the zoo from a PPO teacher on CartPole-v1 (measured 97 % of held-out inits
    median, 19 s); one learner wherever the user names one, and every other env keeps one learner."""
    from distillhub.config import DEFAULT_LEARNERS, DISTRIBUTION_TEACHER_MINIBATCH, default_learners

    cfg = default_config("CartPole-v1")
    assert DEFAULT_LEARNERS["CartPole-v1"] == cfg.learners == "zoo"
    assert (cfg.inner_step, cfg.samples, cfg.x_init, cfg.learn_lr) == ("auto", 256, "teacher", False)
    # its teacher stops at the threshold in training: meta-PPO, not more teacher steps, teaches the weakest families
    assert cfg.teacher_stop == "train" and default_config("Acrobot-v1", learners="zoo").teacher_stop == "train"
    assert default_config("Hopper-v5").teacher_stop == "held-out"  # one learner: the batch is the teacher's clone
    rollout = cfg.num_envs * cfg.rollout_steps
    assert rollout // cfg.teacher_minibatches == DISTRIBUTION_TEACHER_MINIBATCH["CartPole-v1"]
    # the teacher's minibatch size follows the user's rollout (always dividing it), unless they name the count
    small = default_config("CartPole-v1", num_envs=7, rollout_steps=50)
    assert (7 * 50) % small.teacher_minibatches == 0
    assert default_config("CartPole-v1", teacher_minibatches=4).teacher_minibatches == 4
    for overrides in (dict(learners="single"), dict(arch="mlp:32:tanh"), dict(init="xavier")):
        one = default_config("CartPole-v1", **overrides)
        assert (one.learners, one.inner_step, one.samples, one.x_init) == ("single", "sgd", 2, "random"), overrides
    assert default_learners("CartPole-v1", {"learners": "held-out"}) == "held-out"
    for env_id in ("distillhub/CartPoleND-v0", "Acrobot-v1", "Hopper-v5", "ALE/Pong-v5"):
        assert default_config(env_id).learners == "single", env_id


def test_acrobot_distribution_checks_judge_each_held_out_init_on_ten_episodes():
    """A distribution's own checks on Acrobot-v1 average 10 episodes per init (one long swing-up in 2 episodes
    reset the early stop's streak); a single learner and other envs keep their family's count; ``--set`` wins."""
    from distillhub.config import DISTRIBUTION_CHECK_EPISODES

    assert default_config("Acrobot-v1", learners="zoo").eval_episodes == DISTRIBUTION_CHECK_EPISODES["Acrobot-v1"] == 10
    assert default_config("Acrobot-v1").eval_episodes == 2
    assert default_config("Acrobot-v1", learners="zoo", eval_episodes=3).eval_episodes == 3
    cartpole = default_config("CartPole-v1", learners="zoo").eval_episodes
    assert cartpole == default_config("CartPole-v1", learners="single").eval_episodes == 2
