"""Data-parallel distillation with real torch.distributed processes (gloo on CPU)."""

from __future__ import annotations

import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from distillhub.batch import load_folder
from distillhub.checkpoint import checkpoint_path, load_checkpoint
from distillhub.distill import Distiller, default_config
from distillhub.distributed import Ranks
from distillhub.rl import RewardScaler

POPULATION, B = 4, 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _minibatch_grads(ranks: Ranks) -> dict[str, torch.Tensor]:
    """One minibatch of the meta-gradient on fixed data; a rank gets its slice of inits and data."""
    cfg = default_config("CartPole-v1", learners="single", population=POPULATION, num_envs=8, rollout_steps=4, seed=0, eval_inits=1)
    d = Distiller(cfg, ranks=ranks)
    g = torch.Generator().manual_seed(123)
    theta0 = d.population.draw(POPULATION, torch.Generator().manual_seed(7))
    data = (
        torch.randn(POPULATION, B, 4, generator=g),  # observations
        torch.randint(0, 2, (POPULATION, B), generator=g).float(),  # actions
        -torch.rand(POPULATION, B, generator=g),  # old log-probs
        torch.randn(POPULATION, B, generator=g) * 3 + 1,  # advantages (normalised globally)
        torch.randn(POPULATION, B, generator=g),  # returns
    )
    share = POPULATION // ranks.world
    lo = ranks.rank * share
    d._backward_minibatch(theta0.slice(lo, lo + share), *(t[lo : lo + share] for t in data))
    grads = {f"meta.{i}": p.grad.detach().clone() for i, p in enumerate(d.meta_params)}
    grads.update({f"critic.{n}": p.grad.detach().clone() for n, p in d.critic.named_parameters()})
    d.close()
    return grads


def _scaled_rewards(ranks: Ranks) -> torch.Tensor:
    """Two rollouts of rewards scaled by the running return std; a rank scales its own envs."""
    g = torch.Generator().manual_seed(5)
    rewards, dones = torch.randn(2, 30, 8, generator=g) * 2, (torch.rand(2, 30, 8, generator=g) < 0.1).float()
    share = 8 // ranks.world
    lo = ranks.rank * share
    scaler = RewardScaler(share, 0.99, ranks=ranks)
    return torch.cat([scaler.scale_rollout(r[:, lo : lo + share], d[:, lo : lo + share]) for r, d in zip(rewards, dones, strict=True)], 0)


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        out = _minibatch_grads(Ranks(rank, world))
        out["scaled_rewards"] = _scaled_rewards(Ranks(rank, world))
        # x_init=states: every rank's envs differ (own seeds), so rank 0's states are broadcast
        cfg = default_config("CartPole-v1", learners="single", population=2, num_envs=8, samples=16, x_init="states", eval_inits=1)
        d = Distiller(cfg, ranks=Ranks(rank, world))
        out["x_states"] = d.x.detach().clone()
        d.close()
        save_file(out, f"{folder}/rank{rank}.safetensors")
    finally:
        dist.destroy_process_group()


def test_two_ranks_compute_the_meta_gradient_of_one_process(tmp_path):
    single = _minibatch_grads(Ranks())
    scaled = _scaled_rewards(Ranks())
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        got = load_file(str(tmp_path / f"rank{rank}.safetensors"))
        assert set(got) == set(single) | {"scaled_rewards", "x_states"}
        torch.testing.assert_close(got["x_states"], load_file(str(tmp_path / "rank0.safetensors"))["x_states"], rtol=0, atol=0)
        assert got["x_states"][:, 2].abs().max() < 0.21  # visited CartPole states
        for name, grad in single.items():
            torch.testing.assert_close(got[name], grad, rtol=1e-5, atol=1e-6, msg=name)
        # reward scaling with every rank's returns (one all-reduce per rollout) = one process on all envs
        torch.testing.assert_close(got["scaled_rewards"], scaled[:, rank * 4 : rank * 4 + 4], rtol=1e-6, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in single.values())


def _torchrun(*args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "distillhub", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_torchrun_distill_writes_once_and_resumes(tmp_path):
    out = tmp_path / "dp"
    common = ["--quiet", "--eval-inits", "1", "--no-video", "--no-early-stop"]
    res = _torchrun("distill", "--out", str(out), "--max-steps", str(512 * 32 * 2), *common)
    assert res.returncode == 0, res.stderr[-2000:]
    batch = load_folder(out)
    assert batch.extra["training"]["env_steps"] == 512 * 32 * 2  # both ranks' steps are counted
    assert load_checkpoint(checkpoint_path(out))[1]["iteration"] == 2
    assert res.stdout.count("Wrote ") == 1  # rank 0 alone writes the folder
    res = _torchrun("distill", "--out", str(out), "--resume", "--max-steps", str(512 * 32 * 3), *common)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Resuming CartPole-v1 from step 32,768" in res.stdout
    assert load_folder(out).extra["training"]["env_steps"] == 512 * 32 * 3


def test_kill_9_of_a_two_rank_run_resumes(tmp_path):
    """SIGKILL to torchrun and both ranks mid-run: the folder lock is released with them and
    --resume continues from the last checkpoint to the end."""
    import os
    import signal
    import time

    out = tmp_path / "killed"
    common = ["--quiet", "--eval-inits", "0", "--no-video", "--no-early-stop", "--checkpoint-every", "100000"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "distillhub", "distill", "--out", str(out), "--max-steps", "100000000", *common]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = checkpoint_path(out)
    deadline = time.monotonic() + 180
    while not ckpt.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    # torchrun and every rank (the ranks run in sessions of their own), no chance to clean up
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(out).encode() in f.read():
                    os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    proc.wait()
    step = load_checkpoint(ckpt)[1]["global_step"]
    assert step >= 512 * 32  # written right after the first meta-iteration
    res = _torchrun("distill", "--out", str(out), "--resume", "--max-steps", str(step + 512 * 32 * 2), *common)
    assert res.returncode == 0, res.stdout[-2000:]
    assert f"Resuming CartPole-v1 from step {step:,}" in res.stdout
    assert load_folder(out).extra["training"]["env_steps"] == step + 512 * 32 * 2
