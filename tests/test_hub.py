"""Publish and load over real HTTP: the real huggingface_hub and datasets clients against
the local Hub-API server from conftest."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import datasets
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import distillhub
from distillhub.batch import load_folder
from distillhub.errors import DistillhubError
from distillhub_cli.app import app

ALICE = "hf_test_alice_token_123"
BOB = "hf_test_bob_token_456"
runner = CliRunner()


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _push(*args, env=None):
    return runner.invoke(app, ["push", *args], env=env or {})


def test_end_to_end_distill_push_load_dataset_policy_eval(hub, tmp_path):
    out = tmp_path / "cp"
    r = runner.invoke(
        app,
        [
            "distill",
            "--out",
            str(out),
            "--max-steps",
            "16384",
            "--eval-inits",
            "2",
            "--quiet",
            "--push-to",
            "alice/cartpole-e2e",
            "--token",
            ALICE,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Pushed to http://127.0.0.1" in r.output and "/datasets/alice/cartpole-e2e" in r.output
    files = hub.files("alice/cartpole-e2e")
    assert {"batch.safetensors", "data/train-00000-of-00001.parquet", "README.md"} <= set(files)
    assert b"alice/cartpole-e2e" in files["README.md"]  # snippets name the repo
    local = load_folder(out)

    rows = datasets.load_dataset("alice/cartpole-e2e", split="train")
    assert rows.num_rows == 256  # the default: a zoo batch
    obs = torch.tensor(np.array(rows["observation"], dtype=np.float32))
    assert torch.equal(obs, local.observations)
    assert torch.equal(torch.tensor(np.array(rows["target"], dtype=np.float32)), local.targets)

    batch = distillhub.load_batch("alice/cartpole-e2e")
    assert torch.equal(batch.observations, local.observations) and batch.learning_rate == local.learning_rate
    from_rows = distillhub.load_batch(rows, like="alice/cartpole-e2e")
    assert torch.equal(from_rows.targets, local.targets)

    policy = distillhub.load_policy("alice/cartpole-e2e", seed=3)
    reference = distillhub.load_policy(out, seed=3)
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    o, _ = env.reset(seed=0)
    for _ in range(20):
        a = policy.act(o)
        assert a == reference.act(o) and a in (0, 1)
        o, *_ = env.step(a)

    r = runner.invoke(app, ["eval", "alice/cartpole-e2e", "--inits", "2", "--episodes", "1", "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", "alice/cartpole-e2e"])
    assert r.exit_code == 0 and "CartPole-v1" in r.output


def test_info_of_a_hub_batch_reads_only_its_header(hub, cartpole_batch, tmp_path):
    """`info` on a Hub id fetches the safetensors header and the learning rate by range requests, not the
    tensors: a 2.4 MB batch costs a few kB."""
    big = load_folder(cartpole_batch)
    big.observations = torch.randn(100_000, 4)
    big.targets = torch.randn(100_000, 2)
    folder = tmp_path / "big"
    from distillhub.card import render_card

    distillhub.save_folder(big, folder, render_card(big))
    distillhub.push_folder(folder, "alice/big", token=ALICE)
    sent = hub.state.file_bytes_sent
    r = runner.invoke(app, ["info", "alice/big", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["num_samples"] == 100_000 and summary["env_id"] == "CartPole-v1"
    assert summary["learning_rate"] == pytest.approx(big.learning_rate, rel=1e-6)
    assert hub.state.file_bytes_sent - sent < 200_000 < (folder / "batch.safetensors").stat().st_size
    # a repo that does not exist: one line
    r = runner.invoke(app, ["info", "alice/nope"])
    assert r.exit_code == 1 and "not found" in r.output and "Traceback" not in r.output


def test_info_offline_reads_the_cached_copy(hub, cartpole_batch, monkeypatch):
    from huggingface_hub import constants

    distillhub.push_folder(cartpole_batch, "alice/offline", token=ALICE)
    distillhub.load_batch("alice/offline")  # downloads it into the cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    n = len(hub.state.requests)
    r = runner.invoke(app, ["info", "alice/offline", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["env_id"] == "CartPole-v1"
    assert len(hub.state.requests) == n  # nothing asked of the server


def test_revision_pinning_returns_old_tensors(hub, cartpole_batch, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(cartpole_batch, folder)
    first = distillhub.push_folder(folder, "alice/pinned", token=ALICE)
    old = load_folder(folder)
    # a second, different batch on top
    changed = load_folder(folder)
    changed.targets = changed.targets + 1.0
    from distillhub.card import render_card

    distillhub.save_folder(changed, folder, render_card(changed))
    second = distillhub.push_folder(folder, "alice/pinned", token=ALICE, tag="v2")
    assert first["commit"] != second["commit"]
    assert torch.equal(distillhub.load_batch("alice/pinned").targets, changed.targets)
    assert torch.equal(distillhub.load_batch("alice/pinned", revision=first["commit"]).targets, old.targets)
    assert torch.equal(distillhub.load_batch("alice/pinned", revision="v2").targets, changed.targets)
    rows = datasets.load_dataset("alice/pinned", split="train", revision=first["commit"])
    assert torch.equal(torch.tensor(np.array(rows["target"], dtype=np.float32)), old.targets)


def test_push_to_branch_and_private_repo(hub, cartpole_batch):
    r = _push(str(cartpole_batch), "alice/branchy", "--revision", "exp", "--token", ALICE)
    assert r.exit_code == 0, r.output
    assert "batch.safetensors" in hub.files("alice/branchy", rev="exp")
    assert "batch.safetensors" not in hub.files("alice/branchy", rev="main")
    r = _push(str(cartpole_batch), "alice/secret", "--private", "--token", ALICE)
    assert r.exit_code == 0, r.output
    # bob cannot see it, nor can an anonymous user (asked before alice's download fills the cache)
    with pytest.raises(DistillhubError, match="not found \\(or private\\)"):
        distillhub.load_batch("alice/secret", token=BOB)
    r = runner.invoke(app, ["info", "alice/secret"])
    assert r.exit_code == 1 and "not found (or private)" in r.output
    assert distillhub.load_batch("alice/secret", token=ALICE).num_samples == 2


def _assert_fails_untouched(result, folder, before, message):
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _digest(folder) == before


def test_push_failures_are_one_line_and_leave_folder_untouched(hub, cartpole_batch, tmp_path, monkeypatch):
    folder = tmp_path / "f"
    shutil.copytree(cartpole_batch, folder)
    before = _digest(folder)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    _assert_fails_untouched(_push(str(folder), "alice/x"), folder, before, "no Hub token")
    _assert_fails_untouched(
        _push(str(folder), "alice/x", "--token", "hf_wrong"), folder, before, "refused the token (401)"
    )
    _assert_fails_untouched(
        _push(str(folder), "alice/x", "--token", BOB), folder, before, "may not push to alice/x (403)"
    )
    _assert_fails_untouched(
        _push(str(folder), "not a repo id!", "--token", ALICE), folder, before, "is not a valid repo id"
    )
    _assert_fails_untouched(_push(str(folder), "alice/x/y", "--token", ALICE), folder, before, "is not a valid repo id")
    # the server drops the connection during the commit call
    hub.state.fail_commits = 1
    _assert_fails_untouched(_push(str(folder), "alice/flaky", "--token", ALICE), folder, before, "cannot reach the Hub")
    assert hub.state.fail_commits == 0
    # a folder that fails validation never reaches the network
    n = len(hub.state.requests)
    (folder / "data" / "train-00000-of-00001.parquet").unlink()
    r = _push(str(folder), "alice/x", "--token", ALICE)
    assert r.exit_code == 1 and "parquet is missing" in r.output
    assert len(hub.state.requests) == n


def test_load_failures(hub, cartpole_batch):
    r = runner.invoke(app, ["eval", "alice/no-such-repo"])
    assert r.exit_code == 1 and "dataset repo alice/no-such-repo not found" in r.output
    distillhub.push_folder(cartpole_batch, "alice/loadfail", token=ALICE)
    with pytest.raises(DistillhubError, match="revision not found"):
        distillhub.load_batch("alice/loadfail", revision="no-such-branch")


def test_server_unreachable_on_load(tmp_path):
    code = (
        "import distillhub, sys\n"
        "try:\n    distillhub.load_batch('alice/anything')\n"
        "except distillhub.DistillhubError as e:\n    print(e); sys.exit(3)\n"
    )
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2", "HF_HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 3, res.stderr
    assert "cannot reach the Hub at http://127.0.0.1:9" in res.stdout


def test_token_never_written_or_printed(hub, cartpole_batch, tmp_path):
    folder = tmp_path / "t"
    shutil.copytree(cartpole_batch, folder)
    r = _push(str(folder), "alice/tokencheck", "--token", ALICE)
    assert r.exit_code == 0
    assert ALICE not in r.output
    r = _push(str(folder), "alice/tokencheck", "--token", "hf_wrong_secret_token")
    assert "hf_wrong_secret_token" not in r.output
    for path in folder.rglob("*"):
        if path.is_file():
            assert ALICE.encode() not in path.read_bytes()
    for content in hub.files("alice/tokencheck").values():
        assert ALICE.encode() not in content


def test_loading_from_hub_never_unpickles(hub, cartpole_batch, monkeypatch):
    distillhub.push_folder(cartpole_batch, "alice/nopickle", token=ALICE)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle-based loading must never run on downloaded files")

    import pickle

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    policy = distillhub.load_policy("alice/nopickle", seed=0)
    assert policy.act(np.zeros(4, dtype=np.float32)) in (0, 1)
    rows = datasets.load_dataset("alice/nopickle", split="train")
    assert rows.num_rows == 2


def test_pull_then_push_roundtrip_with_pictures(hub, tmp_path):
    out = tmp_path / "pic"
    r = runner.invoke(app, ["distill", "--out", str(out), "--max-steps", "16384", "--eval-inits", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    png = out / "learning_curve.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "](learning_curve.png)" in (out / "README.md").read_text()
    r = _push(str(out), "alice/pics", "--token", ALICE)
    assert r.exit_code == 0, r.output
    assert hub.files("alice/pics")["learning_curve.png"] == png.read_bytes()
    r = runner.invoke(app, ["pull", "alice/pics", str(tmp_path / "pulled")])
    assert r.exit_code == 0, r.output
    pulled = load_folder(tmp_path / "pulled")
    assert torch.equal(pulled.observations, load_folder(out).observations)
    # every picture and the replay survive push + pull unchanged, and the card embeds them
    card = (out / "README.md").read_text()
    for name in ("learning_curve.png", "samples.png", "replay.gif", "replay.mp4"):
        assert (tmp_path / "pulled" / name).read_bytes() == (out / name).read_bytes(), name
        assert f"({name})" in card, name
    r = runner.invoke(app, ["pull", "alice/no-such", str(tmp_path / "x")])
    assert r.exit_code == 1 and "not found" in r.output


def test_push_dry_run_and_create_pr(hub, cartpole_batch):
    n = len(hub.state.requests)
    r = _push(str(cartpole_batch), "alice/dry", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert {"batch.safetensors", "data/train-00000-of-00001.parquet", "README.md"} <= set(info["files"])
    assert len(hub.state.requests) == n and ("dataset", "alice/dry") not in hub.state.repos  # nothing sent
    distillhub.push_folder(cartpole_batch, "alice/prs", token=ALICE)
    main_before = hub.files("alice/prs")
    folder_bytes = (cartpole_batch / "batch.safetensors").read_bytes()
    r = _push(str(cartpole_batch), "alice/prs", "--token", ALICE, "--create-pr", "--commit-message", "again")
    assert r.exit_code == 0, r.output
    assert "pull request http://127.0.0.1" in r.output and "/datasets/alice/prs/discussions/1" in r.output
    assert hub.files("alice/prs") == main_before  # main is untouched
    assert hub.files("alice/prs", rev="refs/pr/1")["batch.safetensors"] == folder_bytes
