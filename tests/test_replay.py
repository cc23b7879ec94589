"""Replays: one greedy episode of the one-step policy as MP4 and GIF, embedded in the card."""

import subprocess
import sys

from typer.testing import CliRunner

from distillhub_cli.app import app

runner = CliRunner()


def test_eval_video_writes_replay_and_card_embeds_it(tmp_path, cartpole_batch):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(cartpole_batch, folder)
    r = runner.invoke(app, ["eval", str(folder), "--inits", "1", "--episodes", "1", "--video"])
    assert r.exit_code == 0, r.output
    assert (folder / "replay.gif").read_bytes()[:6] == b"GIF89a"
    mp4 = (folder / "replay.mp4").read_bytes()
    assert mp4[4:8] == b"ftyp"  # an MP4 container
    card = (folder / "README.md").read_text()
    assert "](replay.gif)" in card and "(replay.mp4)" in card
    # the replay is a real video of the episode: ffprobe-free check through imageio
    import imageio.v2 as imageio

    frames = imageio.mimread(folder / "replay.gif")
    assert len(frames) >= 4 and frames[0].shape[1] == 300  # CartPole renders 600 px wide, halved


def test_video_on_a_hub_id_is_refused_before_work(hub):
    n = len(hub.state.requests)
    r = runner.invoke(app, ["eval", "alice/anything", "--video"])
    assert r.exit_code == 1 and "--video needs a local folder" in r.output
    assert len(hub.state.requests) == n


def test_unrenderable_env_is_a_warning_not_a_failure(tmp_path):
    # the N-D cart-pole has no renderer: the batch is written, the replay is a one-line warning
    out = tmp_path / "nd"
    res = subprocess.run(
        [sys.executable, "-m", "distillhub_cli.app", "distill", "--env", "distillhub/CartPoleND-v0", "--samples", "3",
         "--out", str(out), "--max-steps", "8192", "--eval-inits", "1", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (out / "batch.safetensors").is_file() and not (out / "replay.mp4").exists()
    assert res.stderr.count("Warning: no replay video") == 1 and "Traceback" not in res.stderr
