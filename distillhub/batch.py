"""The batch format (``distillhub/v1``): tensors + metadata, safetensors and parquet I/O.

A folder holds one batch:

* ``batch.safetensors`` — float32 tensors ``observations`` [N, *obs_shape], ``targets``
  [N, n_outputs], ``learning_rate`` [] and the optional ``obs_mean``/``obs_std``
  (broadcastable to obs_shape), ``log_std`` [n_outputs] (continuous actions) and
  ``encoder.*`` (a persistent feature extractor); string metadata in the header.
* ``data/train-00000-of-00001.parquet`` — one row per sample (``observation``,
  ``target``, ``index``) so ``datasets.load_dataset(folder)`` works; the rows equal the
  safetensors tensors bit for bit.
* ``README.md`` — the dataset card (see :mod:`distillhub.card`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from distillhub.errors import DistillhubError

FORMAT = "distillhub/v1"
SAFETENSORS_FILE = "batch.safetensors"
PARQUET_FILE = "data/train-00000-of-00001.parquet"
CARD_FILE = "README.md"
REQUIRED_METADATA = ("format", "env_id", "env_kwargs", "action_space", "architecture", "init", "inner_loss")


@dataclass
class Batch:
    """One distilled batch.

    Attributes:
        observations: [N, *obs_shape] synthetic observations in the env's raw units.
        targets: [N, n_outputs] target logits (discrete) or action means (continuous).
        learning_rate: The learned step size of the one SGD step.
        env_id / env_kwargs: The env the batch was distilled for.
        action_space: ``discrete`` or ``continuous``.
        architecture: Learner spec (see :mod:`distillhub.learners`).
        init: Init scheme of the fresh learner.
        inner_loss: Loss of the one step; ``mse`` (mean over all elements).
        obs_mean / obs_std: If set, the learner sees ``(obs - obs_mean) / obs_std``.
        log_std: Continuous actions: the policy's state-independent log standard deviation.
        encoder: Parameters of a persistent feature extractor (kept, not re-initialised).
        extra: Optional JSON-serialisable info (``eval``, ``training``) kept in the header.
    """

    observations: torch.Tensor
    targets: torch.Tensor
    learning_rate: float
    env_id: str
    env_kwargs: dict = field(default_factory=dict)
    action_space: str = "discrete"
    architecture: str = "mlp:64-64:tanh"
    init: str = "orthogonal:0.01"
    inner_loss: str = "mse"
    obs_mean: torch.Tensor | None = None
    obs_std: torch.Tensor | None = None
    log_std: torch.Tensor | None = None
    encoder: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    distillhub_version: str = ""

    @property
    def num_samples(self) -> int:
        return int(self.observations.shape[0])

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def n_outputs(self) -> int:
        return int(self.targets.shape[1])

    def learner_inputs(self) -> torch.Tensor:
        """The observations as the learner sees them (normalised if the batch says so)."""
        return normalize(self.observations, self.obs_mean, self.obs_std)

    def to(self, device: str | torch.device) -> Batch:
        """A copy with every tensor on ``device``."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            observations=mv(self.observations),
            targets=mv(self.targets),
            obs_mean=mv(self.obs_mean),
            obs_std=mv(self.obs_std),
            log_std=mv(self.log_std),
            encoder={k: mv(v) for k, v in self.encoder.items()},
        )

    def metadata(self) -> dict[str, str]:
        """The safetensors header metadata (all strings)."""
        from distillhub import __version__

        md = {
            "format": FORMAT,
            "env_id": self.env_id,
            "env_kwargs": json.dumps(self.env_kwargs, sort_keys=True),
            "action_space": self.action_space,
            "architecture": self.architecture,
            "init": self.init,
            "inner_loss": self.inner_loss,
            "distillhub_version": self.distillhub_version or __version__,
        }
        for key, value in self.extra.items():
            md[key] = json.dumps(value, sort_keys=True)
        return md

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors as stored in ``batch.safetensors`` (float32, contiguous, CPU)."""
        out = {
            "observations": self.observations,
            "targets": self.targets,
            "learning_rate": torch.tensor(float(self.learning_rate)),
        }
        for name in ("obs_mean", "obs_std", "log_std"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update({f"encoder.{k}": v for k, v in self.encoder.items()})
        return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in out.items()}

    def validate(self) -> None:
        """Check the batch is consistent; raise :class:`DistillhubError` otherwise."""
        n = self.observations.shape[0] if self.observations.dim() else 0
        if self.observations.dim() < 2 or n < 1:
            raise DistillhubError(
                f"observations must be [N, *obs_shape] with N >= 1, got {list(self.observations.shape)}"
            )
        if self.targets.dim() != 2 or self.targets.shape[0] != n:
            raise DistillhubError(f"targets must be [{n}, n_outputs], got {list(self.targets.shape)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise DistillhubError(f"learning_rate must be a positive number, got {self.learning_rate}")
        if self.action_space not in ("discrete", "continuous"):
            raise DistillhubError(f"action_space must be discrete or continuous, got '{self.action_space}'")
        if self.inner_loss != "mse":
            raise DistillhubError(f"inner_loss '{self.inner_loss}' is not supported by this version (only mse)")
        if self.action_space == "continuous":
            if self.log_std is None or tuple(self.log_std.shape) != (self.n_outputs,):
                raise DistillhubError(f"a continuous batch needs log_std of shape [{self.n_outputs}]")
        for name in ("obs_mean", "obs_std"):
            t = getattr(self, name)
            if t is None:
                continue
            try:
                torch.broadcast_shapes(tuple(t.shape), self.obs_shape)
            except RuntimeError:
                raise DistillhubError(
                    f"{name} of shape {list(t.shape)} does not fit observations {list(self.obs_shape)}"
                ) from None
        if (self.obs_mean is None) != (self.obs_std is None):
            raise DistillhubError("obs_mean and obs_std must both be present or both absent")
        if self.obs_std is not None and bool((self.obs_std <= 0).any()):
            raise DistillhubError("obs_std must be positive")
        for name, t in self.tensors().items():
            if not bool(torch.isfinite(t).all()):
                raise DistillhubError(f"tensor '{name}' holds NaN or inf")


def normalize(obs: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None) -> torch.Tensor:
    """``(obs - mean) / std`` where the batch records normalisation, else ``obs`` as float."""
    obs = obs.float()
    if mean is None or std is None:
        return obs
    return (obs - mean.to(obs.device)) / std.to(obs.device)


# --------------------------------------------------------------------------- safetensors


@contextmanager
def atomic_write(final: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``final``; rename it onto ``final`` only if the block succeeds.

    A reader never sees a half-written file, and a failed write leaves the old file intact.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def save_safetensors(batch: Batch, path: str | Path) -> None:
    """Write ``batch`` to one safetensors file (temp file, then rename)."""
    with atomic_write(path) as tmp:
        save_file(batch.tensors(), str(tmp), metadata=batch.metadata())


def load_safetensors(path: str | Path) -> Batch:
    """Read a batch from a safetensors file, validating format and shapes.

    Raises:
        DistillhubError: Missing, corrupt, or not a ``distillhub/v1`` batch.
    """
    path = Path(path)
    if not path.is_file():
        raise DistillhubError(f"{path} not found; point to a folder made by 'distillhub distill'")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise DistillhubError(
            f"{path} is not a readable safetensors file ({str(e).splitlines()[0]}); re-download or re-distill it"
        ) from None
    if md.get("format") != FORMAT:
        raise DistillhubError(
            f"{path} has format '{md.get('format')}', expected '{FORMAT}'; upgrade distillhub or re-distill"
        )
    missing = [k for k in REQUIRED_METADATA if k not in md]
    missing += [k for k in ("observations", "targets", "learning_rate") if k not in tensors]
    if missing:
        raise DistillhubError(f"{path} lacks {', '.join(missing)}; it is not a complete distillhub batch")
    try:
        env_kwargs = json.loads(md["env_kwargs"])
        extra = {k: json.loads(v) for k, v in md.items() if k in ("eval", "training")}
    except json.JSONDecodeError:
        raise DistillhubError(f"{path} has malformed JSON metadata; re-distill it") from None
    batch = Batch(
        observations=tensors["observations"],
        targets=tensors["targets"],
        learning_rate=float(tensors["learning_rate"]),
        env_id=md["env_id"],
        env_kwargs=env_kwargs,
        action_space=md["action_space"],
        architecture=md["architecture"],
        init=md["init"],
        inner_loss=md["inner_loss"],
        obs_mean=tensors.get("obs_mean"),
        obs_std=tensors.get("obs_std"),
        log_std=tensors.get("log_std"),
        encoder={k[len("encoder.") :]: v for k, v in tensors.items() if k.startswith("encoder.")},
        extra=extra,
        distillhub_version=md.get("distillhub_version", ""),
    )
    batch.validate()
    return batch


# --------------------------------------------------------------------------- parquet


def _features(batch: Batch):
    import datasets

    shape = batch.obs_shape
    if len(shape) == 1:
        obs = datasets.List(datasets.Value("float32"), length=shape[0])
    else:
        array = {2: datasets.Array2D, 3: datasets.Array3D, 4: datasets.Array4D}.get(len(shape))
        if array is None:
            raise DistillhubError(f"observations of rank {len(shape)} cannot be stored in parquet")
        obs = array(shape=shape, dtype="float32")
    return datasets.Features(
        {
            "observation": obs,
            "target": datasets.List(datasets.Value("float32")),
            "index": datasets.Value("int64"),
        }
    )


def batch_rows(batch: Batch):
    """The batch's samples as a ``datasets.Dataset`` (one row per sample)."""
    import datasets

    t = batch.tensors()
    return datasets.Dataset.from_dict(
        {
            "observation": t["observations"].numpy(),
            "target": t["targets"].numpy(),
            "index": np.arange(batch.num_samples, dtype=np.int64),
        },
        features=_features(batch),
    )


def save_parquet(batch: Batch, path: str | Path) -> None:
    """Write the rows to one parquet file (temp file, then rename)."""
    import pyarrow.parquet as pq

    with atomic_write(path) as tmp:
        pq.write_table(batch_rows(batch).data.table, str(tmp))


def rows_to_tensors(rows) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(observations, targets, index) from a ``datasets.Dataset`` of batch rows."""
    try:
        np_rows = rows.with_format("numpy")
        obs = np.stack(list(np_rows["observation"])).astype(np.float32)
        targets = np.stack(list(np_rows["target"])).astype(np.float32)
        index = np.asarray(np_rows["index"], dtype=np.int64)
    except (KeyError, ValueError) as e:
        raise DistillhubError(f"rows are not distillhub batch rows (need observation, target, index): {e}") from None
    return torch.from_numpy(obs), torch.from_numpy(targets), index


def read_parquet(path: str | Path) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(observations, targets, index) from a batch parquet file."""
    import datasets

    try:
        rows = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    except Exception as e:  # pyarrow raises many types for a broken file
        raise DistillhubError(
            f"{path} is not a readable parquet file ({type(e).__name__}); re-download or re-distill"
        ) from None
    return rows_to_tensors(rows)


# --------------------------------------------------------------------------- folders


def save_folder(batch: Batch, folder: str | Path, card: str | None = None) -> Path:
    """Write a batch folder: safetensors, parquet and (if given) the card.

    Each file is written to a temp file and renamed into place, so a reader never sees
    a half-written file and an interrupted write leaves the previous files intact.
    """
    batch.validate()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_parquet(batch, folder / PARQUET_FILE)
    save_safetensors(batch, folder / SAFETENSORS_FILE)
    if card is not None:
        with atomic_write(folder / CARD_FILE) as tmp:
            tmp.write_text(card, encoding="utf-8")
    return folder


def load_folder(folder: str | Path) -> Batch:
    """Read the batch of a folder (from its safetensors file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DistillhubError(f"{folder} is not a folder; pass a folder made by 'distillhub distill' or a Hub repo id")
    return load_safetensors(folder / SAFETENSORS_FILE)


def validate_folder(folder: str | Path) -> Batch:
    """Everything ``push`` checks before touching the network.

    Format version, tensors vs. metadata, the parquet rows equal to the safetensors
    tensors bit for bit, and a card with a ``distillhub`` block that matches.

    Raises:
        DistillhubError: The first problem found.
    """
    folder = Path(folder)
    batch = load_folder(folder)
    pq_path = folder / PARQUET_FILE
    if not pq_path.is_file():
        raise DistillhubError(
            f"{pq_path} is missing; rewrite the folder with 'distillhub distill --resume' or re-distill"
        )
    obs, targets, index = read_parquet(pq_path)
    t = batch.tensors()
    if not (
        obs.shape == t["observations"].shape
        and torch.equal(obs, t["observations"])
        and torch.equal(targets, t["targets"])
        and np.array_equal(index, np.arange(batch.num_samples))
    ):
        raise DistillhubError(f"{pq_path} does not match {SAFETENSORS_FILE}; the folder was edited or half-copied")
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise DistillhubError(f"{card_path} is missing; run 'distillhub card {folder}' to render it")
    from distillhub.card import read_card_block

    block = read_card_block(card_path.read_text(encoding="utf-8"))
    for key in ("format", "env_id", "architecture", "num_samples"):
        expected = batch.num_samples if key == "num_samples" else batch.metadata()[key]
        if block.get(key) != expected:
            raise DistillhubError(
                f"card field distillhub.{key} is {block.get(key)!r} but the batch says {expected!r}; "
                f"run 'distillhub card {folder}' to re-render it"
            )
    return batch
