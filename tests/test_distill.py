"""Real distillations on the torch-batched CartPole (short budgets)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from distillhub.batch import Batch, load_folder
from distillhub.checkpoint import checkpoint_path, load_checkpoint
from distillhub.distill import Distiller, default_config, distill
from distillhub.evaluate import evaluate


def test_distillation_clearly_beats_one_step_from_random_batch():
    start = time.monotonic()
    # at most 60 s by construction (the budget counts training time; ~15 s on an idle 2-core CPU)
    batch = distill(default_config("CartPole-v1", learners="single", max_steps=819_200, time_limit=55, seed=0))
    wall = time.monotonic() - start
    assert wall < 70, f"distillation took {wall:.0f} s"
    distilled = evaluate(batch, inits=10, episodes=2, seed=7)
    g = torch.Generator().manual_seed(0)
    random_batch = Batch(
        observations=torch.randn(2, 4, generator=g),
        targets=torch.randn(2, 2, generator=g),
        learning_rate=0.1,
        env_id="CartPole-v1",
    )
    baseline = evaluate(random_batch, inits=10, episodes=2, seed=7)
    assert distilled.mean >= 400, distilled.per_init
    assert distilled.mean > 3 * baseline.mean, (distilled.mean, baseline.mean)
    assert batch.extra["training"]["env_steps"] <= 819_200  # 50 meta-iterations of 512 envs x 32 steps


def test_a_plain_distillation_teaches_learners_it_was_not_made_for():
    """The default CartPole-v1 run: a PPO teacher stops at the env's threshold, its states and logits start a
    256-sample `zoo` batch, and fresh inits of held-out families (not in the zoo) balance after one head step."""
    from distillhub.evaluate import evaluate_learners
    from distillhub.population import HELD_OUT_VECTOR, ZOO_VECTOR

    start = time.monotonic()
    batch = distill(default_config("CartPole-v1", seed=1))  # the CLI default (a step budget: reproducible)
    wall = time.monotonic() - start
    training = batch.extra["training"]
    assert batch.num_samples == 256 and batch.inner_step == "auto" and len(batch.learner_labels) == len(ZOO_VECTOR)
    teacher = training["teacher"]
    # the teacher stopped at the threshold, well inside its third of the 3M-step budget
    assert teacher["train_return"] >= 475 and teacher["env_steps"] < 1_000_000, teacher
    # 20-90 s here (seed 2 now runs to the 3M budget); the bound guards against a run that never stops
    assert training["stop_reason"] == "target-reached" and wall < 240, (training["stop_reason"], wall)
    held_out = [lr for lr in HELD_OUT_VECTOR if lr.arch in ("resmlp:64x2:relu", "transformer:16-2-2", "mlp:512:relu")]
    assert len(held_out) == 3 and not set(held_out) & set(ZOO_VECTOR)
    for label, result in evaluate_learners(batch, held_out, inits=4, episodes=1, seed=3).items():
        assert result.min >= 475, (label, result.per_init)


def test_same_seed_same_batch_on_cpu():
    cfg = dict(max_steps=8192 * 2, eval_every=1000, eval_inits=2)
    a = distill(default_config("CartPole-v1", learners="single", seed=4, **cfg))
    b = distill(default_config("CartPole-v1", learners="single", seed=4, **cfg))
    c = distill(default_config("CartPole-v1", learners="single", seed=5, **cfg))
    assert torch.equal(a.observations, b.observations) and torch.equal(a.targets, b.targets)
    assert a.learning_rate == b.learning_rate
    assert not torch.equal(a.observations, c.observations)


def test_nd_cartpole_distills_with_n_plus_one_samples():
    cfg = default_config("distillhub/CartPoleND-v0", {"n_dims": 2}, samples=3, max_steps=8192 * 2, eval_inits=2)
    batch = distill(cfg)
    assert batch.observations.shape == (3, 8) and batch.targets.shape == (3, 4)
    assert batch.env_kwargs == {"n_dims": 2}
    result = evaluate(batch, inits=2, episodes=1)
    assert len(result.per_init) == 2 and all(r >= 1 for r in result.per_init)


def _cli(*args):
    return [sys.executable, "-m", "distillhub_cli.app", *args]


ITER_STEPS = 512 * 32  # default CartPole meta-iteration: 512 envs x 32 steps


def test_resume_after_sigkill_continues_bit_for_bit(tmp_path):
    common = ["--learners", "single", "--max-steps", str(ITER_STEPS * 12), "--no-early-stop", "--eval-inits", "0", "--quiet", "--seed", "1", "--no-video"]
    # reference: one uninterrupted run
    ref = tmp_path / "ref"
    subprocess.run(_cli("distill", "--out", str(ref), *common), check=True, capture_output=True, timeout=300)
    # killed run: checkpoint every iteration, SIGKILL once a few iterations are in
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli("distill", "--out", str(out), "--checkpoint-every", "0", *common))
    ckpt = checkpoint_path(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ckpt.is_file() and load_checkpoint(ckpt)[1]["iteration"] >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(ckpt)[1]["iteration"]
    assert 4 <= killed_at < 12, "the run should have been killed mid-way"
    assert not (out / "batch.safetensors").exists()
    res = subprocess.run(
        _cli("distill", "--out", str(out), "--resume", *common), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert f"Resuming CartPole-v1 from step {killed_at * ITER_STEPS:,}" in res.stdout
    a, b = load_folder(ref), load_folder(out)
    assert torch.equal(a.observations, b.observations)
    assert torch.equal(a.targets, b.targets)
    assert a.learning_rate == b.learning_rate


def test_ctrl_c_saves_checkpoint_and_batch(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli("distill", "--out", str(out), "--learners", "single", "--max-steps", "10000000", "--no-early-stop", "--quiet", "--no-video"),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a suite started in the background (`cmd &`) hands its children SIGINT ignored, and Python then keeps
        # it ignored: give the CLI the terminal's default, as a user's Ctrl-C finds it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "continue with --resume" in err
    assert checkpoint_path(out).is_file()
    assert load_folder(out).num_samples == 2


def test_distiller_checkpoint_roundtrip_keeps_state(tmp_path):
    cfg = default_config("CartPole-v1", learners="single", max_steps=8192 * 2, eval_every=1, eval_inits=2, seed=2)
    d = Distiller(cfg, tmp_path)
    d.run()
    r = Distiller(cfg, tmp_path, resume=True)
    assert r.global_step == d.global_step and r.iteration == d.iteration
    assert torch.equal(r.x, d.x) and torch.equal(r.log_lr, d.log_lr)
    assert r.selection.history == d.selection.history and r.selection.best["step"] == d.selection.best["step"]
    for (k, v), (k2, v2) in zip(r.critic.state_dict().items(), d.critic.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_a_checkpoint_from_another_device_kind_resumes_on_a_fresh_action_stream(tmp_path):
    """A run distilled on a GPU box continues on a laptop: a CUDA generator's state (16 bytes, as in a
    checkpoint written on an H200) does not fit a CPU generator; the run keeps everything else."""
    from distillhub.checkpoint import save_checkpoint

    cfg = default_config("CartPole-v1", learners="single", max_steps=ITER_STEPS, eval_every=1, eval_inits=2, seed=2)
    d = Distiller(cfg, tmp_path)
    d.run()
    tensors, meta = load_checkpoint(checkpoint_path(tmp_path))
    assert tensors["rng.gen"].numel() == torch.Generator().get_state().numel()
    tensors["rng.gen"] = torch.arange(16, dtype=torch.uint8)  # what torch.Generator("cuda").get_state() holds
    save_checkpoint(checkpoint_path(tmp_path), tensors, meta)
    cfg.max_steps = 2 * ITER_STEPS
    r = Distiller(cfg, tmp_path, resume=True)
    assert r.global_step == d.global_step and torch.equal(r.x, d.x)
    r.run()
    assert r.global_step == 2 * ITER_STEPS


def test_x_init_states_starts_the_batch_on_visited_states_and_head_defaults():
    """x_init=states: the batch starts as observations the env produced (CartPole's are inside its
    termination box, unlike N(0, 1) draws), and the rollout continues from the warmed-up envs."""
    cfg = default_config("CartPole-v1", learners="single", samples=64, inner_step="head", max_steps=8192, eval_inits=2)
    assert cfg.learn_lr is False and cfg.init_lr == 1.0 and cfg.x_init == "states"  # the head defaults
    d = Distiller(cfg)
    x = d.x.detach().clone()
    assert x.shape == (64, 4) and len(torch.unique(x, dim=0)) == 64
    assert x[:, 2].abs().max() < 0.21 and x[:, 0].abs().max() < 2.4  # pole angle and cart inside the box
    rand = Distiller(default_config("CartPole-v1", learners="single", samples=64, max_steps=8192, eval_inits=2)).x.detach()
    assert rand[:, 2].abs().max() > 0.21
    batch = d.run()
    assert batch.inner_step == "head" and batch.learning_rate == 1.0  # not learned by default
    assert not torch.equal(batch.observations, x)  # the meta-gradient moved it
    assert default_config("CartPole-v1", learners="single", inner_step="head", learn_lr=True).learn_lr is True
    assert default_config("CartPole-v1", learners="single", inner_step="head", x_init="random").x_init == "random"
    assert default_config("CartPole-v1", learners="single").x_init == "random"  # the paper's rule keeps the paper's start


def test_anneal_meta_lr_decays_the_batch_learning_rate_over_the_budget():
    cfg = default_config("CartPole-v1", learners="single", max_steps=4 * ITER_STEPS, eval_every=100, eval_inits=2, anneal_meta_lr=True)
    d = Distiller(cfg)
    seen = []
    d.run(lambda stats: seen.append(d.meta_opt.param_groups[0]["lr"] / cfg.meta_lr))
    assert seen == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert d.critic_opt.param_groups[0]["lr"] == cfg.critic_lr  # the critic keeps its rate


def test_the_auto_rule_trains_through_the_head_step_and_selects_with_itself():
    """A distribution's default rule: the meta-gradient steps every draw with the head step (the batch's ridge),
    the held-out check steps with ``auto``, so a learner the head step cannot fit moves its hidden layers there."""
    cfg = default_config(
        "CartPole-v1", learners="mlp:8-8-8-8-8:relu@kaiming,mlp:32:tanh@xavier", max_steps=64 * 32, num_envs=64,
        population=2, eval_inits=2, samples=64, teacher_fraction=0.5,
    )  # fmt: skip
    assert cfg.inner_step == "auto"
    d = Distiller(cfg)
    assert d.train_rule == ("head", {"damping": d.step_settings["head_damping"]})
    with torch.no_grad():
        d.y.normal_(generator=torch.Generator().manual_seed(0))  # targets no 8-wide ReLU stack fits with its head
    draw = d.population.draw_each(2, torch.Generator().manual_seed(1))
    trained, held_out = d._step_population(draw), d._step_population(draw, cfg.inner_step, d.step_settings)
    deep = next(p for i, p in draw.groups if d.learners[i].arch.startswith("mlp:8-8-8-8-8"))
    deep_trained, deep_held = (next(p for (i, p) in t.groups if d.learners[i].arch.startswith("mlp:8-8")) for t in (trained, held_out))
    assert torch.equal(deep_trained["0.weight"], deep["0.weight"])  # the head step leaves the body at its init
    assert not torch.equal(deep_held["0.weight"], deep["0.weight"])  # auto took the fit rule for it
    batch = d.run()
    assert batch.inner_step == "auto" and batch.step_settings == d.step_settings and torch.isfinite(batch.observations).all()


def test_the_fit_rule_distils_end_to_end_and_takes_the_head_defaults():
    cfg = default_config("CartPole-v1", learners="single", inner_step="fit", max_steps=64 * 32, num_envs=64, population=2, eval_inits=2)
    assert (cfg.init_lr, cfg.learn_lr, cfg.x_init) == (1.0, False, "states")  # as the head step
    batch = distill(cfg)
    assert batch.inner_step == "fit" and batch.learning_rate == 1.0 and torch.isfinite(batch.observations).all()


def test_generic_continuous_defaults_are_the_head_step_with_a_slow_log_std():
    """Pendulum-v1-style envs: 1,024 samples started from a PPO teacher on half the budget, the head step of a
    3-layer tanh learner at lr 1, the log-std at its own 3e-4 (Pendulum, 5 min: -170 to -187 over three seeds vs
    -844 for 16 samples and the sgd step); a tiny run distils with them; discrete generic envs keep their defaults."""
    cfg = default_config("Pendulum-v1", max_steps=2 * 64 * 64, eval_inits=2)
    assert (cfg.samples, cfg.inner_step, cfg.arch, cfg.log_std_lr) == (1024, "head", "mlp:64-64-64:tanh", 3e-4)
    assert (cfg.x_init, cfg.teacher_fraction) == ("teacher", 0.5) and cfg.learn_lr is False and cfg.init_lr == 1.0
    assert default_config("Pendulum-v1", x_init="states").x_init == "states"  # an explicit choice wins
    batch = distill(cfg)
    assert batch.observations.shape == (1024, 3) and batch.inner_step == "head" and batch.learning_rate == 1.0
    assert batch.extra["training"]["teacher"]["env_steps"] == 64 * 64
    assert batch.architecture == "mlp:64-64-64:tanh" and batch.log_std.shape == (1,)
    assert default_config("Hopper-v5").log_std_lr == 3e-4  # MuJoCo's default, which generic envs inherit
    acro = default_config("Acrobot-v1")
    assert (acro.inner_step, acro.log_std_lr) == ("sgd", None)


def test_held_out_checks_step_gymnasium_envs_per_episode_with_the_vector_envs_results():
    """The run's own checks on a gymnasium env (CartPole-v0 is gymnasium's, not the torch-batched one) step each
    episode's env only while it runs, and the returns per held-out init are what stepping a gymnasium vector env
    with the same seeds until every first episode ended gives."""
    import gymnasium as gym

    from distillhub.rl import greedy_actions

    learners = "mlp:16:tanh@orthogonal:1.0,mlp:32-32:relu@kaiming"
    cfg = default_config("CartPole-v0", learners=learners, x_init="random", samples=16, eval_inits=4, eval_episodes=3)
    d = Distiller(cfg)
    per_init = d.quick_eval()
    # the reference: every env stepped until the longest first episode ends (the checks' former loop)
    with torch.no_grad():
        draw = d.population.draw_each(2, torch.Generator().manual_seed(cfg.seed + 1000))
        theta = d._step_population(draw, cfg.inner_step, d.step_settings)
        envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v0")] * 12)
        obs, _ = envs.reset(seed=cfg.seed + 1000)
        totals, first = torch.zeros(12), torch.full((12,), float("nan"))
        while first.isnan().any():
            out = d._forward_population(theta, d._prep_obs(torch.as_tensor(obs)).view(4, 3, 4)).reshape(12, -1)
            obs, reward, terminated, truncated, _ = envs.step(greedy_actions(out, False).numpy())
            totals += torch.as_tensor(reward, dtype=torch.float32)
            ended = torch.as_tensor(terminated | truncated) & first.isnan()
            first[ended] = totals[ended]
    torch.testing.assert_close(per_init, first.view(4, 3).mean(1))
    lengths = [env.get_wrapper_attr("_elapsed_steps") for env in d._eval_env.envs.envs]
    assert lengths == [int(r) for r in first.tolist()]  # reward 1 a step: each env stepped its own episode only
    assert len(set(lengths)) > 1  # the episodes differ in length, so the test can tell the two loops apart
