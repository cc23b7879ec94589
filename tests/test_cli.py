"""CLI behaviour: exit codes and one-line messages (CliRunner, in process)."""

import json

import torch
from typer.testing import CliRunner

from distillhub_cli.app import app

runner = CliRunner()
TINY = ["--max-steps", "8192", "--eval-inits", "1", "--quiet", "--no-video"]


def _run(*args):
    return runner.invoke(app, list(args))


def test_unknown_env_id():
    r = _run("distill", "--env", "NoSuchEnv-v0", "--out", "unused", *TINY)
    assert r.exit_code == 1
    assert "Error: unknown env id 'NoSuchEnv-v0'" in r.output
    assert "Traceback" not in r.output


def test_dict_observation_space_is_refused():
    r = _run("distill", "--env", "tests/DictObs-v0", "--out", "unused", *TINY)
    assert r.exit_code == 1
    assert "Dict observation space" in r.output


def test_samples_zero():
    r = _run("distill", "--samples", "0", "--out", "unused", *TINY)
    assert r.exit_code == 1
    assert "--samples must be at least 1" in r.output


def test_bad_env_kwargs_json():
    r = _run("distill", "--env-kwargs", "{n_dims: 3", "--out", "unused", *TINY)
    assert r.exit_code == 1
    assert "--env-kwargs is not valid JSON" in r.output


def test_resume_without_checkpoint(tmp_path):
    r = _run("distill", "--out", str(tmp_path / "none"), "--resume", *TINY)
    assert r.exit_code == 1
    assert "no checkpoint" in r.output


def test_distill_then_refuse_overwrite_then_overwrite(tmp_path):
    out = tmp_path / "cp"
    r = _run("distill", "--out", str(out), *TINY)
    assert r.exit_code == 0, r.output
    assert (out / "batch.safetensors").is_file() and (out / "README.md").is_file()
    before = (out / "batch.safetensors").read_bytes()
    r = _run("distill", "--out", str(out), *TINY)
    assert r.exit_code == 1
    assert "already holds a batch; pass --overwrite" in r.output
    assert (out / "batch.safetensors").read_bytes() == before  # untouched
    r = _run("distill", "--out", str(out), "--overwrite", "--seed", "9", *TINY)
    assert r.exit_code == 0, r.output
    assert (out / "batch.safetensors").read_bytes() != before


def test_set_reaches_the_recorded_config(tmp_path):
    from distillhub.checkpoint import checkpoint_path, load_checkpoint

    out = tmp_path / "set"
    r = _run("distill", "--out", str(out), "--set", "gamma=0.9", "--set", "update-epochs=1", "--set", "obs_norm=true", *TINY)
    assert r.exit_code == 0, r.output
    _, meta = load_checkpoint(checkpoint_path(out))
    assert (meta["config"]["gamma"], meta["config"]["update_epochs"], meta["config"]["obs_norm"]) == (0.9, 1, True)
    # a resumed run keeps its config
    r = _run("distill", "--out", str(out), "--resume", "--set", "gamma=0.5")
    assert r.exit_code == 1 and "--set cannot change a resumed run's config" in r.output


def test_eval_info_and_other_width(cartpole_batch):
    r = _run("eval", str(cartpole_batch), "--inits", "3", "--episodes", "1", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["inits"] == 3 and len(result["per_init"]) == 3
    assert result["min"] <= result["mean"] <= result["max"]
    r = _run("eval", str(cartpole_batch), "--inits", "2", "--episodes", "1", "--arch", "mlp:32-32:tanh")
    assert r.exit_code == 0, r.output
    assert "mlp:32-32:tanh" in r.output
    r = _run("info", str(cartpole_batch))
    assert r.exit_code == 0
    assert "CartPole-v1" in r.output and "learning_rate" in r.output


def test_eval_under_another_step_rule(cartpole_batch):
    """--inner-step steps the learners with another rule than the batch's (reported in --json); it never
    touches the folder, and bad or card-writing uses are one-line errors."""
    before = (cartpole_batch / "batch.safetensors").read_bytes()
    r = _run("eval", str(cartpole_batch), "--inits", "2", "--episodes", "1", "--arch", "mlp:8-8-8:relu",
             "--init", "kaiming", "--inner-step", "fit", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["inner_step"] == "fit" and result["architecture"] == "mlp:8-8-8:relu" and result["inits"] == 2
    r = _run("eval", str(cartpole_batch), "--inits", "1", "--episodes", "1", "--json")
    assert json.loads(r.output)["inner_step"] == "sgd"  # the batch's own
    r = _run("eval", str(cartpole_batch), "--inner-step", "newton")
    assert r.exit_code == 1 and "unknown inner step 'newton'" in r.output and "Traceback" not in r.output
    r = _run("eval", str(cartpole_batch), "--inner-step", "fit", "--update-card")
    assert r.exit_code == 1 and "drop --update-card" in r.output
    assert (cartpole_batch / "batch.safetensors").read_bytes() == before


def test_load_policy_under_the_fit_rule_moves_the_hidden_layers(cartpole_batch):
    from distillhub.learners import build_learner, reinit_
    from distillhub.loader import load_policy
    from distillhub.policy import init_generator

    head = load_policy(cartpole_batch, seed=4, arch="mlp:16-16:relu", init="kaiming", inner_step="head").learner
    fit = load_policy(cartpole_batch, seed=4, arch="mlp:16-16:relu", init="kaiming", inner_step="fit").learner
    fresh = reinit_(build_learner("mlp:16-16:relu", (4,), 2), "kaiming", init_generator(4))
    assert torch.equal(head[0].weight, fresh[0].weight)  # head: the hidden layers stay at the init
    assert not torch.equal(fit[0].weight, head[0].weight) and not torch.equal(fit[2].weight, head[2].weight)


def test_corrupt_batch_file(tmp_path, cartpole_batch):
    import shutil

    folder = tmp_path / "corrupt"
    shutil.copytree(cartpole_batch, folder)
    (folder / "batch.safetensors").write_bytes(b"\x00\x01garbage")
    for cmd in ("eval", "info"):
        r = _run(cmd, str(folder))
        assert r.exit_code == 1
        assert "is not a readable safetensors file" in r.output
        assert "Traceback" not in r.output


def test_missing_folder_and_bad_arch(cartpole_batch):
    r = _run("eval", "./does/not/exist")
    assert r.exit_code == 1 and "no such folder: ./does/not/exist" in r.output
    r = _run("eval", str(cartpole_batch), "--arch", "mlp:64")
    assert r.exit_code == 1 and "bad architecture" in r.output


def test_help_has_examples():
    r = _run("distill", "--help")
    assert r.exit_code == 0 and "Examples" in r.output


def test_default_distill_raises_no_warning_and_json_matches_table(tmp_path):
    import warnings

    out = tmp_path / "w"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # -W error on the CLI path: any warning fails the run
        r = _run("distill", "--out", str(out), "--max-steps", "16384", "--eval-inits", "2", "--eval-episodes", "1")
    assert r.exit_code == 0, r.output
    assert "Training a PPO teacher on the first 33% of the budget, or until its training episodes average 475" in r.output
    table = _run("eval", str(out), "--inits", "3", "--episodes", "1", "--seed", "4")
    data = _run("eval", str(out), "--inits", "3", "--episodes", "1", "--seed", "4", "--json")
    assert table.exit_code == 0 and data.exit_code == 0
    summary = json.loads(data.output)
    assert len(summary["per_init"]) == 3 and summary["min"] == min(summary["per_init"])
    for key in ("mean", "std", "min", "max"):
        assert f"{summary[key]:.1f}" in table.output, key
    assert f"{summary['normalized_score']:.2f}" in table.output
    info = json.loads(_run("info", str(out), "--json").output)
    # the default: a batch for the learner zoo, 256 samples started from a PPO teacher
    assert info["num_samples"] == 256 and info["learners"].count("@") == 11, info


def test_distill_says_which_of_the_teachers_held_out_hand_offs_it_keeps(tmp_path):
    out = tmp_path / "checks"
    args = ["--set", "x_init=teacher", "--set", "teacher_fraction=0.75", "--set", "teacher_checks_from=0.5"]
    r = _run("distill", "--out", str(out), "--learners", "single", "--max-steps", str(4 * 16384), "--eval-inits", "2",
             "--set", "teacher_stop=none", "--set", "eval_every=1", *args)  # fmt: skip
    assert r.exit_code == 0, r.output
    # the teacher's 3 rollouts: held out before its 3rd (2/3 of its share is past 0.5), then its hand-off after it
    from safetensors import safe_open

    with safe_open(out / "batch.safetensors", "pt") as f:
        history = json.loads(f.metadata()["training"])["eval_history"]
    best = max(reversed(history[:2]), key=lambda h: (h["min"], h["mean"]))
    assert [h["step"] for h in history[:2]] == [32768, 49152]
    assert f"Its hand-off was held out as it trained from step 32,768 on; the best is the batch from step {best['step']:,}" in r.output


def test_logs_without_a_terminal_print_every_held_out_evaluation(tmp_path):
    # CliRunner is not a terminal: the plain log is used; eval_every is 10 meta-iterations for CartPole
    r = _run("distill", "--out", str(tmp_path / "log"), "--learners", "single", "--max-steps", str(512 * 32 * 10),
             "--no-early-stop", "--eval-inits", "1", "--no-video")  # fmt: skip
    assert r.exit_code == 0, r.output
    evals = [line for line in r.output.splitlines() if "eval min/mean" in line]
    assert [line.split()[1] for line in evals] == ["10"], r.output


def test_batch_for_an_env_version_gymnasium_lacks(tmp_path):
    import torch

    from distillhub.batch import Batch, save_folder

    folder = tmp_path / "v9"
    save_folder(Batch(observations=torch.zeros(2, 4), targets=torch.zeros(2, 2), learning_rate=0.1,
                      env_id="CartPole-v9"), folder)  # fmt: skip
    r = _run("eval", str(folder), "--inits", "1", "--episodes", "1")
    assert r.exit_code == 1 and r.output.startswith("Error: unknown env id 'CartPole-v9'"), r.output
    assert len(r.output.strip().splitlines()) == 1
