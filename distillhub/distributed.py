"""Data-parallel distillation on ``torch.distributed``: ``torchrun --nproc-per-node K -m distillhub distill ...``.

Each of the K ranks owns ``num_envs / K`` envs and ``population / K`` of every meta-iteration's fresh inits
(all ranks draw the same population from the same generator and keep their own slice, so the union is exactly
what one process would draw). After each minibatch's backward pass the gradients of the batch (``x``, ``y``,
``lr``, log-std, encoder) and of the critic are averaged across ranks; advantages are normalised with global
statistics and the running observation/reward statistics are merged, so every rank takes the same update and
K ranks compute the meta-gradient of one process with the same total population and envs. Rank 0 alone writes
checkpoints, the output folder and pushes. gloo on CPU, NCCL on CUDA (``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world`` (1 = a plain single-process run)."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean_(self, tensors: list[torch.Tensor]) -> None:
        """Average ``tensors`` in place across ranks (one all-reduce for all of them)."""
        if self.world == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (a new tensor)."""
        if self.world == 1:
            return tensor
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    def max(self, value: float) -> float:
        """The largest ``value`` over ranks (e.g. elapsed time, so every rank stops at the same iteration)."""
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)

    def broadcast_(self, tensor: torch.Tensor) -> None:
        """Overwrite ``tensor`` in place with rank 0's (e.g. a batch initialised from rank 0's envs)."""
        if self.world > 1:
            dist.broadcast(tensor, src=0)

    def mean_grads(self, params) -> None:
        """Average the gradients of ``params`` across ranks."""
        self.mean_([p.grad for p in params if p.grad is not None])


def requested_world() -> int:
    """The world size torchrun asked for (``WORLD_SIZE``), 1 without torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def requested_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA, each rank takes the GPU of its ``LOCAL_RANK``."""
    if device.type == "cuda" and requested_world() > 1:
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return device


def from_env(device: torch.device) -> Ranks:
    """Join the process group torchrun set up (gloo on CPU, NCCL on CUDA); a single process otherwise."""
    if requested_world() == 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size())


def normalize_advantages(adv: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """``(adv − mean) / (std + 1e-8)`` with the mean and (unbiased) std over all ranks' advantages."""
    if ranks.world == 1:
        return (adv - adv.mean()) / (adv.std() + 1e-8)
    stats = ranks.sum(torch.stack([adv.sum(), (adv * adv).sum(), torch.tensor(float(adv.numel()), device=adv.device)]))
    total, sq, n = stats[0], stats[1], stats[2]
    mean = total / n
    var = (sq - n * mean * mean) / (n - 1)
    return (adv - mean) / (var.clamp_min(0).sqrt() + 1e-8)
