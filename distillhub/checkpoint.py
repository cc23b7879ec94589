"""Checkpoints of a distillation run: safetensors for tensors, JSON for the rest (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from distillhub.batch import atomic_write
from distillhub.errors import DistillhubError

CHECKPOINT_DIR = ".distillhub"
CHECKPOINT_FILE = "checkpoint.safetensors"


def checkpoint_path(out_dir: str | Path) -> Path:
    """Where a run writing to ``out_dir`` keeps its checkpoint."""
    return Path(out_dir) / CHECKPOINT_DIR / CHECKPOINT_FILE


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON."""
    sd = opt.state_dict()
    tensors = {
        f"{prefix}.{idx}.{key}": value
        for idx, state in sd["state"].items()
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, {
        "param_groups": sd["param_groups"],
        "state_keys": {str(i): list(s) for i, s in sd["state"].items()},
    }


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> None:
    """Inverse of :func:`optimizer_to_flat`."""
    state = {int(i): {k: tensors[f"{prefix}.{i}.{k}"] for k in keys} for i, keys in meta["state_keys"].items()}
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write tensors + JSON-able ``meta`` atomically (temp file, then rename)."""
    flat = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}  # clone: views share memory
    with atomic_write(path) as tmp:
        save_file(flat, str(tmp), metadata={"state": json.dumps(meta)})


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise DistillhubError(f"checkpoint {path} is unreadable ({e}); start over with --overwrite") from None
    return tensors, meta


def run_state(d) -> tuple[dict[str, torch.Tensor], dict]:
    """Everything a :class:`~distillhub.distill.Distiller` needs to continue bit for bit: tensors and JSON.

    The batch and its optimiser, the critic and its optimiser, both generators, the running
    normalisation statistics, the torch envs' state, and the held-out selection.
    """
    tensors = {f"snap.{k}": v for k, v in d._snapshot().items()}
    tensors.update({f"critic.{k}": v for k, v in d.critic.state_dict().items()})
    meta_t, meta_j = optimizer_to_flat(d.meta_opt, "meta_opt")
    crit_t, crit_j = optimizer_to_flat(d.critic_opt, "critic_opt")
    tensors.update(meta_t)
    tensors.update(crit_t)
    tensors["rng.gen"] = d.gen.get_state()
    tensors["rng.init_gen"] = d.init_gen.get_state()
    if d.obs_rms is not None:
        tensors.update(d.obs_rms.state_dict("obs_rms"))
    if d.reward_scaler is not None:
        tensors.update(d.reward_scaler.rms.state_dict("rew_rms"))
        tensors["rew_ret"] = d.reward_scaler.ret
    if hasattr(d.env, "state_dict"):
        tensors.update({f"env.{k}": v for k, v in d.env.state_dict().items()})
        tensors["env.obs"] = d._obs
    sel_t, sel_j = d.selection.state()
    tensors.update(sel_t)
    meta = {
        "config": d.cfg.to_json(),
        "iteration": d.iteration,
        "global_step": d.global_step,
        "elapsed": d.elapsed,
        "teacher": d.teacher_summary,
        **sel_j,
        "meta_opt": meta_j,
        "critic_opt": crit_j,
    }
    return tensors, meta


def restore_run_state(d, t: dict[str, torch.Tensor], meta: dict) -> None:
    """Inverse of :func:`run_state` on a freshly built distiller of the same config.

    Raises:
        KeyError, RuntimeError, ValueError: The checkpoint does not fit (the caller words the error).
    """
    dev = d.device
    with torch.no_grad():
        d.x.copy_(t["snap.x"])
        d.y.copy_(t["snap.y"])
        d.log_lr.copy_(t["snap.log_lr"])
        if d.log_std is not None:
            d.log_std.copy_(t["snap.log_std"])
        for k, p in d.encoder.items():
            p.copy_(t[f"snap.encoder.{k}"])
    d.critic.load_state_dict({k[len("critic.") :]: v for k, v in t.items() if k.startswith("critic.")})
    optimizer_from_flat(d.meta_opt, t, meta["meta_opt"], "meta_opt")
    optimizer_from_flat(d.critic_opt, t, meta["critic_opt"], "critic_opt")
    d.init_gen.set_state(t["rng.init_gen"])  # the population draw: the same on every rank
    # a CPU and a CUDA generator keep states of different kinds (5,056 vs 16 bytes): a run moved between
    # them continues on a fresh action stream, as do ranks other than 0 (the checkpoint holds rank 0's)
    same_kind = t["rng.gen"].numel() == d.gen.get_state().numel()
    if d.ranks.is_main and same_kind:
        d.gen.set_state(t["rng.gen"])
    else:
        d.gen.manual_seed(d.cfg.seed + 7919 * d.ranks.rank + meta["iteration"])
    if d.obs_rms is not None:
        d.obs_rms.load_state_dict(t, "obs_rms")
    if d.reward_scaler is not None:
        d.reward_scaler.rms.load_state_dict(t, "rew_rms")
        if d.ranks.is_main:  # per-env discounted returns of rank 0's envs
            d.reward_scaler.ret = t["rew_ret"].to(dev)
    if hasattr(d.env, "load_state_dict") and d.ranks.is_main:
        d.env.load_state_dict({k[len("env.") :]: v for k, v in t.items() if k.startswith("env.") and k != "env.obs"})
        d._obs = t["env.obs"].to(dev)
    d.iteration = meta["iteration"]
    d.global_step = meta["global_step"]
    d.elapsed = meta["elapsed"]
    d.teacher_summary = meta.get("teacher")  # absent in checkpoints before x_init=teacher
    d.selection.load(t, meta, dev)


class RunLock:
    """An exclusive lock on an output folder while a run owns it (``DIR/.distillhub/lock``).

    A second run on the same folder is refused in one line instead of silently replacing the
    first one's files. The OS releases the lock when the process dies (SIGKILL included).
    """

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / CHECKPOINT_DIR / "lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl
        import os

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise DistillhubError(f"{self.path.parent.parent} is not a folder; pass a folder for --out") from None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DistillhubError(
                f"{self.path.parent.parent} is in use by another distillhub run (pid {owner}); "
                "wait for it to finish or pick another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
