"""Data-parallel scaling: 1 vs K `torchrun` ranks on the same distillation, 1 thread per rank.

Each row runs `torchrun --nproc-per-node K -m distillhub distill` with the same total population and envs (each
rank owns `num_envs / K` envs and `population / K` inits), `OMP_NUM_THREADS=1` and one envpool thread per rank,
for `--iterations` meta-iterations, and reads env steps and training wall time (rollouts, meta-gradients with their
all-reduce, held-out evaluations; not process start-up) from the batch's training record.

    cd benchmarks && PYTHONPATH=.. python ranks.py Hopper-v5 --ranks 1 2 --iterations 8
    cd benchmarks && PYTHONPATH=.. python ranks.py Hopper-v5 --set update_epochs=2 num_minibatches=2   # env-bound
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distillhub.distill import default_config
from distillhub.loader import load_summary


def run(env_id: str, ranks: int, iterations: int, vectorization: str, out: Path, sets: list[str]) -> dict:
    cfg = default_config(env_id, encoder_layers=0)  # as torchrun ranks run it: no teacher, no encoder
    steps = cfg.num_envs * cfg.rollout_steps * iterations
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
        "-m", "distillhub", "distill", "--env", env_id, "--vectorization", vectorization, "--env-threads", "1",
        "--max-steps", str(steps), "--no-early-stop", "--no-video", "--out", str(out), "--overwrite", "--device", "cpu",
        *[arg for item in sets for arg in ("--set", item)],
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - start
    t = load_summary(str(out))["training"]
    return {"ranks": ranks, "env_steps": t["env_steps"], "train_s": t["wall_time_s"], "process_s": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env", nargs="?", default="Hopper-v5")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--iterations", type=int, default=8)
    p.add_argument("--vectorization", default="sync")
    p.add_argument("--set", nargs="*", default=[], help="config fields passed on as --set KEY=VALUE")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in a.ranks:
            rows.append(run(a.env, k, a.iterations, a.vectorization, Path(tmp) / f"r{k}", a.set))
    base = rows[0]["env_steps"] / rows[0]["train_s"]
    sets = " ".join(a.set) or "default config"
    print(f"{a.env}, {a.vectorization} envs, {sets}, {a.iterations} meta-iterations, 1 thread per rank\n")
    print("| ranks | env steps | training wall (s) | env steps/s | speed-up | whole command (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        rate = r["env_steps"] / r["train_s"]
        print(f"| {r['ranks']} | {r['env_steps']:,} | {r['train_s']:.1f} | {rate:,.0f} | {rate / base:.2f}× | {r['process_s']:.0f} |")


if __name__ == "__main__":
    main()
