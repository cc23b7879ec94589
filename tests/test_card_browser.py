"""The card as people see it: rendered to HTML and loaded in headless Chromium, every picture must load."""

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from distillhub_cli.app import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_card_pictures_load_in_a_browser(tmp_path):
    markdown = pytest.importorskip("markdown")
    out = tmp_path / "b"
    r = CliRunner().invoke(app, ["distill", "--out", str(out), "--max-steps", "16384", "--eval-inits", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    card = (out / "README.md").read_text()
    body = markdown.markdown(re.sub(r"^---\n.*?\n---\n", "", card, flags=re.S), extensions=["tables", "fenced_code"])
    # after load, the page writes every image's natural width into the DOM that --dump-dom prints
    script = (
        "<script>window.addEventListener('load', () => { document.body.setAttribute('data-widths', "
        "[...document.images].map(i => i.getAttribute('src') + '=' + i.naturalWidth).join(';')); });</script>"
    )
    (out / "card.html").write_text(f"<html><head><meta charset='utf-8'></head><body>{body}{script}</body></html>")
    res = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         (out / "card.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    widths = dict(
        item.split("=") for item in re.search(r'data-widths="([^"]*)"', res.stdout)[1].split(";") if item
    )
    assert {"replay.gif", "samples.png", "learning_curve.png"} <= set(widths), widths
    assert all(int(w) > 0 for w in widths.values()), widths  # every picture decoded
