"""The reliability audit as a fuzz suite: every crafted input ends in success or in one `Error:` line with
exit code 1 (the API raises DistillhubError), a batch never imports code without the opt-in, pushes fail
cleanly, folders are locked, files follow the umask, and a kill -9 before the first periodic checkpoint resumes."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

import distillhub
from distillhub.batch import PARQUET_FILE, SAFETENSORS_FILE, Batch, load_folder, save_folder
from distillhub.card import render_card
from distillhub.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from distillhub.errors import DistillhubError
from distillhub_cli.app import app

runner = CliRunner()
ALICE = "hf_test_alice_token_123"
TINY = ["--max-steps", "8192", "--eval-inits", "1", "--quiet", "--no-video"]


def _cli(*args):
    return [sys.executable, "-m", "distillhub_cli.app", *args]


def _fails(result, *needles):
    """Exit code 1, exactly one `Error:` line, no traceback, and the message names what went wrong."""
    out = result.output
    assert result.exit_code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out


def _cartpole(**kw) -> Batch:
    g = torch.Generator().manual_seed(0)
    fields = dict(
        observations=torch.randn(2, 4, generator=g),
        targets=torch.randn(2, 2, generator=g),
        learning_rate=0.5,
        env_id="CartPole-v1",
    )
    fields.update(kw)
    return Batch(**fields)


def _folder(tmp_path: Path, name: str, batch: Batch) -> Path:
    folder = tmp_path / name
    save_folder(batch, folder, render_card(batch))
    return folder


def _rewrite_header(folder: Path, tensors: dict | None = None, **metadata) -> None:
    """Edit a saved batch file behind distillhub's back (what a crafted download looks like)."""
    path = folder / SAFETENSORS_FILE
    with safe_open(str(path), framework="pt") as f:
        md = dict(f.metadata())
        t = {k: f.get_tensor(k) for k in f.keys()}
    md.update(metadata)
    t.update(tensors or {})
    save_file(t, str(path), metadata=md)


# ----------------------------------------------------------------------------- row 1: no import from a batch


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """A module on sys.path whose import leaves a trace and registers an env."""
    name = "distillhub_marker_mod"
    trace = tmp_path / "imported.txt"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(f"""
        import pathlib, gymnasium as gym
        pathlib.Path({str(trace)!r}).write_text("imported")
        if "MarkerCartPole-v0" not in gym.registry:
            gym.register("MarkerCartPole-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv",
                         max_episode_steps=500, reward_threshold=475.0)
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name, trace
    sys.modules.pop(name, None)


def test_module_prefixed_env_id_is_not_imported_without_opt_in(tmp_path, marker_module, hub):
    name, trace = marker_module
    folder = _folder(tmp_path, "b", _cartpole(env_id=f"{name}:MarkerCartPole-v0"))
    r = runner.invoke(app, ["info", str(folder)])
    assert r.exit_code == 0 and not trace.exists()  # info is data only
    _fails(runner.invoke(app, ["eval", str(folder), "--inits", "1", "--episodes", "1"]), f"'{name}'", "--allow-import")
    with pytest.raises(DistillhubError, match="allow_import=True"):
        distillhub.load_policy(folder, seed=0)
    n = len(hub.state.requests)
    _fails(runner.invoke(app, ["push", str(folder), "alice/marker", "--token", ALICE]), "--allow-import")
    assert len(hub.state.requests) == n and not trace.exists()
    # with the opt-in the module is imported and the batch runs
    r = runner.invoke(app, ["eval", str(folder), "--inits", "1", "--episodes", "1", "--allow-import", "--json"])
    assert r.exit_code == 0, r.output
    assert trace.read_text() == "imported"
    assert distillhub.load_policy(folder, seed=0, allow_import=True).act([0.0, 0.0, 0.0, 0.0]) in (0, 1)


def test_module_prefixed_env_id_typed_for_distill_is_imported(tmp_path, marker_module):
    name, trace = marker_module
    out = tmp_path / "run"
    r = runner.invoke(app, ["distill", "--env", f"{name}:MarkerCartPole-v0", "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    assert trace.exists() and load_folder(out).env_id == f"{name}:MarkerCartPole-v0"


# ----------------------------------------------------------------------------- rows 2, 3: push


def test_failed_upload_leaves_no_repo_and_retry_works(hub, cartpole_batch):
    hub.state.fail_commits = 1
    _fails(
        runner.invoke(app, ["push", str(cartpole_batch), "alice/midfail", "--token", ALICE]),
        "nothing was published",
        "the same command retries",
    )
    assert ("dataset", "alice/midfail") not in hub.state.repos  # the repo this push created is gone again
    r = runner.invoke(app, ["push", str(cartpole_batch), "alice/midfail", "--token", ALICE])
    assert r.exit_code == 0, r.output
    assert "batch.safetensors" in hub.files("alice/midfail")


@pytest.mark.parametrize(
    "case,needle",
    [
        ("unknown-env", "unknown env id"),
        ("bad-arch", "bad architecture"),
        ("wrong-shape", "do not fit CartPole-v1"),
        ("rejected-kwargs", "cannot make CartPole-v1"),
        ("unknown-init", "unknown init scheme"),
        ("junk-encoder", "encoder tensor"),
    ],
)
def test_push_refuses_unloadable_batches_before_network(tmp_path, hub, case, needle):
    batch = {
        "unknown-env": _cartpole(env_id="NoSuchEnv-v0"),
        "bad-arch": _cartpole(architecture="mlp:64"),
        "wrong-shape": _cartpole(observations=torch.zeros(2, 5)),
        "rejected-kwargs": _cartpole(env_kwargs={"no_such_kwarg": 1}),
        "unknown-init": _cartpole(),
        "junk-encoder": _cartpole(encoder={"9.weight": torch.zeros(3, 3)}),
    }[case]
    folder = _folder(tmp_path, case, batch)
    if case == "unknown-init":
        _rewrite_header(folder, init="glorot-ish")
    n = len(hub.state.requests)
    _fails(runner.invoke(app, ["push", str(folder), f"alice/{case}", "--token", ALICE]), needle)
    assert len(hub.state.requests) == n  # refused before any network call


def test_push_of_non_utf8_card(tmp_path, hub, cartpole_batch):
    folder = tmp_path / "latin1"
    save_folder(load_folder(cartpole_batch), folder, "---\nx: 1\n---\n")
    (folder / "README.md").write_bytes("caf\xe9 \xff".encode("latin-1"))
    _fails(runner.invoke(app, ["push", str(folder), "alice/latin1", "--token", ALICE]), "not UTF-8")


# ----------------------------------------------------------------------------- row 4: one run per folder


def test_second_run_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "busy"
    proc = subprocess.Popen(
        _cli("distill", "--out", str(out), "--max-steps", "100000000", "--no-early-stop", "--quiet", "--eval-inits", "0", "--no-video"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = out / ".distillhub" / "lock"
        deadline = time.monotonic() + 60
        ready = lambda: lock.is_file() and lock.read_text() == str(proc.pid) and checkpoint_path(out).is_file()  # noqa: E731
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        _fails(runner.invoke(app, ["distill", "--out", str(out), "--overwrite", *TINY]), "in use by another distillhub run")
        _fails(runner.invoke(app, ["distill", "--out", str(out), "--resume", *TINY]), "in use by another distillhub run")
    finally:
        proc.kill()
        proc.wait()
    # the lock dies with its process: the folder is usable again
    r = runner.invoke(app, ["distill", "--out", str(out), "--overwrite", *TINY])
    assert r.exit_code == 0, r.output


# ----------------------------------------------------------------------------- row 5: file modes


def test_files_follow_the_umask_and_card_rewrites_only_the_card(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "modes"
        r = runner.invoke(app, ["distill", "--out", str(out), *TINY])
        assert r.exit_code == 0, r.output
        for name in (SAFETENSORS_FILE, PARQUET_FILE, "README.md", ".distillhub/checkpoint.safetensors"):
            assert (out / name).stat().st_mode & 0o777 == 0o644, name
        (out / "README.md").chmod(0o640)
        before = {n: (out / n).stat() for n in (SAFETENSORS_FILE, PARQUET_FILE)}
        r = runner.invoke(app, ["card", str(out), "--repo-id", "alice/x"])
        assert r.exit_code == 0, r.output
        assert (out / "README.md").stat().st_mode & 0o777 == 0o640  # the user's mode is kept
        assert "alice/x" in (out / "README.md").read_text()
        for n, st in before.items():
            assert (out / n).stat().st_ino == st.st_ino and (out / n).stat().st_mtime_ns == st.st_mtime_ns, n
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- rows 6-9, 11: bad input


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--env", "distillhub/CartPoleND-v0", "--env-kwargs", '{"n_dims": -2}'], "n_dims must be an integer"),
        (["--env", "distillhub/CartPoleND-v0", "--env-kwargs", '{"n_dims": 0}'], "n_dims must be an integer"),
        (["--env", "distillhub/CartPoleND-v0", "--env-kwargs", '{"n_dims": "3"}'], "n_dims must be an integer"),
        (["--env", "distillhub/CartPoleND-v0", "--env-kwargs", '{"n_dims": 100000000}'], "n_dims must be an integer"),
        (["--env-kwargs", '{"max_episode_steps": -5}'], "max_episode_steps must be a positive integer"),
        (["--env-kwargs", "[1, 2]"], "must be a JSON object"),
        (["--num-envs", "0"], "--num-envs must be from 1"),
        (["--samples", "1000000000"], "--samples must be from 1 to"),
        (["--arch", "mlp:100000000-100000000:tanh"], "must be from 1 to"),
        (["--arch", "mlp:100000-100000:tanh"], "the limit is 50,000,000"),
        (["--init", "orthogonal:inf"], "unknown init scheme"),
        (["--learners", "mlp:64@nope"], "unknown init scheme"),
        (["--learners", "zoo,"], "bad --learners entry"),
        (["--push-to", "bad id"], "is not a valid repo id"),
        (["--env", "no.such_module:Foo-v0"], "cannot import module 'no.such_module'"),
        (["--inner-step", "gn", "--samples", "3000"], "the gn step is limited to 4,096 output rows"),
        (["--inner-step", "head", "--samples", "3000"], "the head step is limited to 4,096 output rows"),
        (["--inner-step", "newton"], "unknown inner step 'newton'"),
        (["--set", "gama=0.9"], "--set takes KEY=VALUE with KEY a config field"),
        (["--set", "gamma"], "--set takes KEY=VALUE"),
        (["--set", "gamma=high"], "--set gamma: 'high' is not a float"),
        (["--set", "obs_norm=maybe"], "--set obs_norm: 'maybe' is not a bool"),
        (["--set", "gamma=1.5"], "gamma must be in (0, 1]"),
        (["--set", "clip_coef=-1"], "clip_coef must be positive"),
        (["--set", "x_init=teacher", "--set", "teacher_fraction=1.5"], "teacher_fraction must be between 0 and 1"),
        (["--set", "samples=4", "--samples", "8"], "samples is given both as an option and with --set"),
        (["--set", "env_id=Hopper-v5"], "--set takes KEY=VALUE"),
    ],
)
def test_bad_distill_input_is_one_line_and_quick(tmp_path, args, needle):
    out = tmp_path / "never"
    start = time.monotonic()
    _fails(runner.invoke(app, ["distill", "--out", str(out), *args, *TINY]), needle)
    assert time.monotonic() - start < 10  # refused before the long work (or any big allocation)
    assert not out.exists()


def test_bad_batches_through_info_eval_and_load_policy(tmp_path, cartpole_batch):
    base = load_folder(cartpole_batch)
    cases = {
        "vector-lr": ({"learning_rate": torch.ones(3)}, {}, "learning_rate must be a scalar"),
        "huge-lr": ({"learning_rate": torch.tensor(1e30)}, {}, "beyond"),
        "kwargs-list": ({}, {"env_kwargs": "[1, 2]"}, "env_kwargs must be a JSON object"),
        "huge-arch": ({}, {"architecture": "mlp:100000-100000:tanh"}, "the limit is 50,000,000"),
        "junk-encoder": ({"encoder.0.weight": torch.zeros(7, 7)}, {}, "encoder tensor 'encoder.0.weight'"),
        "bad-format": ({}, {"format": "distillhub/v9"}, "expected 'distillhub/v1'"),
        # a Gauss-Newton batch whose (N·K)² system would not fit: refused from the header
        "huge-gn": (
            {"observations": torch.zeros(2100, 4), "targets": torch.zeros(2100, 2)},
            {"inner_step": "gn"},
            "the gn step is limited to 4,096 output rows",
        ),
        "huge-head": (
            {"observations": torch.zeros(2100, 4), "targets": torch.zeros(2100, 2)},
            {"inner_step": "head"},
            "the head step is limited to 4,096 output rows",
        ),
    }
    for name, (tensors, metadata, needle) in cases.items():
        folder = _folder(tmp_path, name, base)
        _rewrite_header(folder, tensors, **metadata)
        if name in ("huge-arch", "junk-encoder"):
            r = runner.invoke(app, ["info", str(folder)])
            assert r.exit_code == 0, (name, r.output)  # the header is fine; running it is not
        else:
            _fails(runner.invoke(app, ["info", str(folder)]), needle)
        _fails(runner.invoke(app, ["eval", str(folder), "--inits", "1", "--episodes", "1"]), needle)
        with pytest.raises(DistillhubError, match=needle.replace("(", r"\(")):
            distillhub.load_policy(folder, seed=0)


def test_eval_arch_limit_and_nonfinite_step(tmp_path, cartpole_batch):
    _fails(runner.invoke(app, ["eval", str(cartpole_batch), "--arch", "mlp:100000-100000:tanh"]), "the limit")
    # a finite but explosive step: refused rather than scored
    folder = _folder(tmp_path, "boom", _cartpole(learning_rate=9e5, targets=torch.full((2, 2), 1e37)))
    _fails(runner.invoke(app, ["eval", str(folder), "--inits", "1", "--episodes", "1"]), "non-finite")


def test_resume_from_a_checkpoint_with_missing_keys(tmp_path):
    out = tmp_path / "ck"
    r = runner.invoke(app, ["distill", "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    tensors, meta = load_checkpoint(checkpoint_path(out))
    save_checkpoint(checkpoint_path(out), {k: v for k, v in tensors.items() if not k.startswith("critic.")}, meta)
    _fails(runner.invoke(app, ["distill", "--out", str(out), "--resume", "--max-steps", "16384"]), "--overwrite")


# ----------------------------------------------------------------------------- rows 10, 11: sources


def test_mistyped_local_path_is_no_such_folder(tmp_path, monkeypatch, hub):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    n = len(hub.state.requests)
    _fails(runner.invoke(app, ["eval", "runs/CartPole-v1-3"]), "no such folder: runs/CartPole-v1-3")
    _fails(runner.invoke(app, ["info", "./nope"]), "no such folder")
    assert len(hub.state.requests) == n


def test_update_card_on_a_hub_id_is_refused_before_work(hub):
    n = len(hub.state.requests)
    _fails(runner.invoke(app, ["eval", "alice/anything", "--update-card"]), "--update-card needs a local folder")
    assert len(hub.state.requests) == n


# ----------------------------------------------------------------------------- row 12: Ctrl-C in the final eval


def test_ctrl_c_during_final_evaluation_writes_the_batch(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # the CLI imports evaluate from its module when the final evaluation starts
    monkeypatch.setattr(sys.modules["distillhub.evaluate"], "evaluate", interrupted)
    out = tmp_path / "cc"
    r = runner.invoke(app, ["distill", "--out", str(out), "--max-steps", "8192", "--quiet", "--no-video"])
    assert r.exit_code == 130
    assert "final evaluation was skipped; the batch is saved" in r.output
    assert load_folder(out).num_samples == 256 and checkpoint_path(out).is_file()  # the default zoo batch


# ----------------------------------------------------------------------------- row 13: info reads the header only


def _peak_rss_mb(*args) -> float:
    code = (
        "import resource, sys; from distillhub_cli.app import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    return float(res.stdout.strip().splitlines()[-1])


def test_info_of_a_big_batch_reads_only_the_header(tmp_path):
    small = _folder(tmp_path, "small", _cartpole())
    big = tmp_path / "big"
    big.mkdir()
    n, width = 50_000, 1_000  # 200 MB of observations
    batch = _cartpole(observations=torch.zeros(1, width), targets=torch.zeros(1, 2))
    save_file(
        {"observations": torch.zeros(n, width), "targets": torch.zeros(n, 2), "learning_rate": torch.tensor(0.5)},
        str(big / SAFETENSORS_FILE),
        metadata=batch.metadata(),
    )
    assert resource.getrusage(resource.RUSAGE_SELF) is not None
    grow = _peak_rss_mb("info", str(big)) - _peak_rss_mb("info", str(small))
    assert grow < 60, f"info grew by {grow:.0f} MB for a 200 MB batch"
    r = runner.invoke(app, ["info", str(big), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["num_samples"] == n


# ----------------------------------------------------------------------------- row 14: quiet stderr


def test_no_warnings_or_progress_bars_on_stderr(tmp_path, hub):
    out = tmp_path / "q"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    res = subprocess.run(
        _cli("distill", "--out", str(out), "--max-steps", "16384", "--eval-inits", "1"),
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Warning" not in res.stderr and "Generating" not in res.stderr, res.stderr
    r = runner.invoke(app, ["push", str(out), "alice/quiet", "--token", ALICE])
    assert r.exit_code == 0 and "Generating" not in r.output, r.output


# ----------------------------------------------------------------------------- row 15: kill -9 early


def test_kill_before_first_periodic_checkpoint_resumes(tmp_path):
    out = tmp_path / "early"
    common = ["--no-early-stop", "--eval-inits", "0", "--quiet", "--checkpoint-every", "100000", "--no-video"]
    proc = subprocess.Popen(_cli("distill", "--out", str(out), "--max-steps", "100000000", *common))
    ckpt = checkpoint_path(out)
    deadline = time.monotonic() + 120
    while not ckpt.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(ckpt)[1]["iteration"] >= 1  # written right after the first meta-iteration
    res = subprocess.run(
        _cli("distill", "--out", str(out), "--resume", "--max-steps", str(512 * 32 * 3), *common),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Resuming CartPole-v1 from step" in res.stdout and load_folder(out).num_samples == 256  # the default: zoo
