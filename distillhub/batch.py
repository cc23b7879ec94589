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

import hashlib
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
FORMAT_MAJOR, FORMAT_MINOR = "1", 0
SAFETENSORS_FILE = "batch.safetensors"
PARQUET_FILE = "data/train-00000-of-00001.parquet"
CARD_FILE = "README.md"
REQUIRED_METADATA = ("format", "env_id", "env_kwargs", "action_space", "architecture", "init", "inner_loss")
# Refused before a tensor is read: a downloaded file must not be a memory bomb.
MAX_SAMPLES = 100_000
MAX_ELEMENTS = 2**28  # per tensor (1 GiB of float32)
MAX_LEARNING_RATE = 1e6
# The one step: plain SGD (the paper's rule), SGD scaled by the exact line search of the
# learner's linearised batch loss (lr is then a dimensionless multiplier), or one damped
# Gauss-Newton step on every parameter (gn) or on the output layer alone (head), or rounds of both (fit), or
# head where the output layer can fit the batch and fit where it cannot (auto; see distillhub.onestep).
STEP_RULES = ("sgd", "sgd-ls", "gn", "head", "fit", "auto")
# The rules that solve a Gauss-Newton system (bounded by MAX_GN_ROWS below); with sgd-ls, the rules whose lr is a
# dimensionless multiplier (1 by default); and the rules whose step lands every learner's outputs on y (lr fixed at 1,
# x started on visited states: each learner interpolates the batch with its own features)
GN_RULES = ("gn", "head", "fit", "auto")
SCALE_FREE_RULES = ("sgd-ls", *GN_RULES)
EXACT_FIT_RULES = ("head", "fit", "auto")
# gn and head solve an (N·K)² system and take N·K backward passes: bounded so a batch cannot ask for more
MAX_GN_ROWS = 4096


def check_step_rule(rule: str, rows: int | None = None) -> None:
    """Raise a one-line error for an unknown inner step rule, or a ``gn`` batch with more than
    :data:`MAX_GN_ROWS` output rows (samples × outputs)."""
    if rule not in STEP_RULES:
        raise DistillhubError(f"unknown inner step '{rule}'; this version knows {', '.join(STEP_RULES)} (upgrade distillhub?)")
    if rule in GN_RULES and rows is not None and rows > MAX_GN_ROWS:
        raise DistillhubError(
            f"the {rule} step is limited to {MAX_GN_ROWS:,} output rows (samples x outputs), this one has {rows:,}; "
            "use fewer samples or --inner-step sgd"
        )


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
        learners: The learner distribution the batch was distilled for (``arch@init,...``; see
            :mod:`distillhub.population`); empty means ``architecture@init`` alone.
        inner_loss: Loss of the one step; ``mse`` (mean over all elements).
        inner_step: ``sgd`` (θ1 = θ0 − lr·g), ``sgd-ls`` (θ1 = θ0 − lr·α*·g, α* the exact line
            search of the learner's linearised batch loss along −g), ``gn`` (one damped
            Gauss-Newton step) or ``head`` (that step on the output layer alone), see
            :func:`distillhub.onestep.step_params`.
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
    learners: str = ""
    inner_loss: str = "mse"
    inner_step: str = "sgd"
    # the rule's constants when the batch was made (onestep.rule_settings); {}: this version's
    step_settings: dict = field(default_factory=dict)
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

    @property
    def learner_labels(self) -> list[str]:
        """The ``arch@init`` learners the batch was distilled for (older batches: the recorded one)."""
        return (self.learners or f"{self.architecture}@{self.init}").split(",")

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
            "learners": ",".join(self.learner_labels),
            "inner_loss": self.inner_loss,
            "inner_step": self.inner_step,
            "distillhub_version": self.distillhub_version or __version__,
        }
        if self.step_settings:
            md["inner_step_settings"] = json.dumps(self.step_settings, sort_keys=True)
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
        from distillhub.learners import check_init

        n = self.observations.shape[0] if self.observations.dim() else 0
        if self.observations.dim() < 2 or n < 1:
            raise DistillhubError(
                f"observations must be [N, *obs_shape] with N >= 1, got {list(self.observations.shape)}"
            )
        if self.targets.dim() != 2 or self.targets.shape[0] != n:
            raise DistillhubError(f"targets must be [{n}, n_outputs], got {list(self.targets.shape)}")
        check_learning_rate(self.learning_rate)
        check_init(self.init)
        check_step_rule(self.inner_step, self.targets.numel())
        check_step_settings(self.step_settings)
        if not isinstance(self.env_kwargs, dict):
            raise DistillhubError(f"env_kwargs must be a JSON object, got {type(self.env_kwargs).__name__}")
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


def with_inner_step(batch: Batch, rule: str) -> Batch:
    """``batch`` with its learners stepped by ``rule`` instead of the recorded one (a copy; nothing is written).

    For a learner the batch's own rule cannot teach: ``auto`` or ``fit`` on a ``head`` batch moves the hidden
    layers of a narrow deep ReLU stack that the head step leaves at their init. The other rule takes this version's
    constants, except those the two rules share, which keep the batch's: the head step's ridge (``damping`` of
    ``head``, ``head_damping`` of ``fit`` and ``auto``; a distribution's batch may record its env's ridge) and
    ``fit``'s rounds and damping between ``fit`` and ``auto``. Results under another rule are not the batch's own;
    the CLI refuses to store them in its card.

    Raises:
        DistillhubError: Unknown rule, or too many output rows for a Gauss-Newton rule.
    """
    check_step_rule(rule, batch.num_samples * batch.n_outputs)
    recorded = dict(batch.step_settings)
    ridge = recorded.get("damping" if batch.inner_step == "head" else "head_damping")
    settings = {}
    if batch.inner_step in ("head", "fit", "auto") and rule in ("head", "fit", "auto") and ridge is not None:
        settings["damping" if rule == "head" else "head_damping"] = ridge
    if batch.inner_step in ("fit", "auto") and rule in ("fit", "auto"):
        settings.update({k: v for k, v in recorded.items() if k in ("rounds", "damping")})
    return replace(batch, inner_step=rule, step_settings=settings)


# what an inner_step_settings header may hold, with each value's bounds
STEP_SETTINGS = {"damping": (1e-8, 10.0), "head_damping": (1e-8, 10.0), "rounds": (1, 20), "tolerance": (0.0, 10.0)}


def check_step_settings(settings) -> None:
    """``inner_step_settings``: a JSON object of known keys (:data:`STEP_SETTINGS`) with numbers in bounds."""
    if not isinstance(settings, dict):
        raise DistillhubError(f"inner_step_settings must be a JSON object, got {type(settings).__name__}")
    for key, value in settings.items():
        if key not in STEP_SETTINGS:
            raise DistillhubError(
                f"inner_step_settings has unknown key '{key}'; this version knows {', '.join(STEP_SETTINGS)} "
                "(upgrade distillhub?)"
            )
        check_step_setting(key, value)


def check_step_setting(key: str, value, name: str | None = None) -> None:
    """One rule constant (a key of :data:`STEP_SETTINGS`) within its bounds; ``name`` is what the error calls it
    (default: the header's ``inner_step_settings`` key)."""
    low, high = STEP_SETTINGS[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if key == "rounds":
        ok = ok and float(value).is_integer()
    if not (ok and low <= value <= high):
        raise DistillhubError(f"{name or f'inner_step_settings {key}'}={value!r} is not a number from {low:g} to {high:g}")


def check_learning_rate(lr: float) -> None:
    """A learning rate must be finite, positive and at most ``MAX_LEARNING_RATE``."""
    if not (math.isfinite(lr) and lr > 0):
        raise DistillhubError(f"learning_rate must be a positive finite number, got {lr}")
    if lr > MAX_LEARNING_RATE:
        raise DistillhubError(f"learning_rate {lr:g} is beyond {MAX_LEARNING_RATE:g}; the batch is broken, re-distill it")


def normalize(obs: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None) -> torch.Tensor:
    """``(obs - mean) / std`` where the batch records normalisation, else ``obs`` as float."""
    obs = obs.float()
    if mean is None or std is None:
        return obs
    return (obs - mean.to(obs.device)) / std.to(obs.device)


# --------------------------------------------------------------------------- safetensors


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(final: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside ``final``; rename it onto ``final`` only if the block succeeds.

    A reader never sees a half-written file, and a failed write leaves the old file intact.
    ``suffix`` ends the temp name (writers that pick a format by extension need e.g. ``.tmp.mp4``).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files: keep the mode of the file replaced, else follow the umask
        mode = final.stat().st_mode & 0o777 if final.exists() else 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
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
    md, shapes = read_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DistillhubError(
            f"{path} is not a readable safetensors file ({str(e).splitlines()[0]}); re-download or re-distill it"
        ) from None
    return batch_from_tensors(path, md, tensors)


def read_header(path: str | Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    """The metadata and tensor shapes of a batch file, without reading any tensor data.

    Raises:
        DistillhubError: Missing, corrupt, not a ``distillhub/v1`` batch, or tensors beyond the size limits.
    """
    path = Path(path)
    if not path.is_file():
        raise DistillhubError(f"{path} not found; point to a folder made by 'distillhub distill'")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
            shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise DistillhubError(
            f"{path} is not a readable safetensors file ({str(e).splitlines()[0]}); re-download or re-distill it"
        ) from None
    check_header(path, md, shapes)
    return md, shapes


def check_format(path, fmt) -> None:
    """``distillhub/v1`` (or ``v1.N``) loads; another major version is refused in one line, and a
    newer minor version (fields this version does not know) loads with a warning."""
    import re
    import warnings

    m = re.fullmatch(r"distillhub/v(\d+)(?:\.(\d+))?", fmt or "")
    if m is None or m[1] != FORMAT_MAJOR:
        raise DistillhubError(f"{path} has format '{fmt}', expected '{FORMAT}'; upgrade distillhub or re-distill")
    if m[2] is not None and int(m[2]) > FORMAT_MINOR:
        warnings.warn(
            f"{path} has format {fmt}, newer than this distillhub ({FORMAT}); fields it added are ignored "
            "(upgrade distillhub to use them)",
            UserWarning,
            stacklevel=3,
        )


def check_header(path, md: dict[str, str], shapes: dict[str, list[int]]) -> None:
    """Format, required fields and size limits of a batch header (before any tensor is read)."""
    check_format(path, md.get("format"))
    missing = [k for k in REQUIRED_METADATA if k not in md]
    missing += [k for k in ("observations", "targets", "learning_rate") if k not in shapes]
    if missing:
        raise DistillhubError(f"{path} lacks {', '.join(missing)}; it is not a complete distillhub batch")
    try:
        kwargs = json.loads(md["env_kwargs"])
    except json.JSONDecodeError:
        raise DistillhubError(f"{path} has malformed JSON metadata (env_kwargs); re-distill it") from None
    if not isinstance(kwargs, dict):
        raise DistillhubError(f"{path}: env_kwargs must be a JSON object, got {type(kwargs).__name__}")
    if shapes["learning_rate"] not in ([], [1]):
        raise DistillhubError(f"{path}: learning_rate must be a scalar, got shape {shapes['learning_rate']}")
    check_step_rule(md.get("inner_step") or "sgd", math.prod(shapes["targets"]))
    obs = shapes["observations"]
    if obs and obs[0] > MAX_SAMPLES:
        raise DistillhubError(f"{path} holds {obs[0]:,} samples; the limit is {MAX_SAMPLES:,}")
    for name, shape in shapes.items():
        if math.prod(shape) > MAX_ELEMENTS:
            raise DistillhubError(f"{path}: tensor '{name}' of shape {shape} exceeds {MAX_ELEMENTS:,} elements")


def batch_from_tensors(path, md: dict[str, str], tensors: dict[str, torch.Tensor]) -> Batch:
    """A validated :class:`Batch` from a file's metadata and tensors."""
    try:
        env_kwargs = json.loads(md["env_kwargs"])
        extra = {k: json.loads(v) for k, v in md.items() if k in ("eval", "eval_learners", "training")}
        step_settings = json.loads(md.get("inner_step_settings") or "{}")
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
        learners=md.get("learners", ""),
        inner_loss=md["inner_loss"],
        inner_step=md.get("inner_step", "sgd"),
        step_settings=step_settings,
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
    features = {
        "observation": obs,
        "target": datasets.List(datasets.Value("float32")),
        "index": datasets.Value("int64"),
    }
    if is_pixel(batch):
        features["preview"] = datasets.Image()
    return datasets.Features(features)


def is_pixel(batch: Batch) -> bool:
    """Image observations [C, H, W] (frame stacks): rows get a ``preview`` image for the Hub viewer."""
    return len(batch.obs_shape) == 3 and min(batch.obs_shape[1:]) >= 8


def _previews(batch: Batch) -> list:
    """One grayscale strip per sample: its stacked frames side by side, in the env's pixel range.

    Only for looking at (the Hub's dataset viewer shows images); ``observation`` stays the exact array.
    """
    from PIL import Image

    obs = batch.observations.detach().float().cpu()
    pixel_units = batch.obs_std is not None and float(batch.obs_std.max()) > 1  # raw 0..255 frames (Atari)
    if not pixel_units:  # other image-like observations: stretch to the full gray range
        lo, hi = obs.amin(), obs.amax()
        obs = (obs - lo) / (hi - lo).clamp_min(1e-12) * 255.0
    strips = obs.clamp(0, 255).round().to(torch.uint8).numpy()
    return [Image.fromarray(np.concatenate(list(frames), axis=1), mode="L") for frames in strips]


def _rows_dataset(table, features=None):
    """A ``datasets.Dataset`` over an Arrow table, with a fingerprint of our own.

    ``datasets`` would fingerprint an in-memory table by pickling it with dill, which fails for some
    pyarrow/Python pairs (pyarrow 26 on Python 3.12.3: "Can't pickle <class 'MonthDayNano'>"), so
    writing or reading a batch never depends on it: the fingerprint hashes the table's bytes.
    """
    import datasets

    h = hashlib.sha256()
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(buf)
    info = datasets.DatasetInfo(features=features) if features is not None else None
    return datasets.Dataset(table, info=info, fingerprint=h.hexdigest()[:16])


def batch_rows(batch: Batch):
    """The batch's samples as a ``datasets.Dataset`` (one row per sample)."""
    from datasets.arrow_writer import OptimizedTypedSequence
    from datasets.table import InMemoryTable

    t = batch.tensors()
    columns = {
        "observation": t["observations"].numpy(),
        "target": t["targets"].numpy(),
        "index": np.arange(batch.num_samples, dtype=np.int64),
    }
    if is_pixel(batch):
        columns["preview"] = _previews(batch)
    features = _features(batch)
    # what Dataset.from_dict does, less its dill fingerprint (see _rows_dataset)
    table = InMemoryTable.from_pydict(
        {
            name: OptimizedTypedSequence(features.encode_column(data, name), type=features[name], col=name)
            for name, data in columns.items()
        }
    )
    return _rows_dataset(table, features)


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
    import pyarrow.parquet as pq

    try:
        # pyarrow directly: datasets' from_parquet prints "Generating train split" bars
        rows = _rows_dataset(pq.read_table(str(path)))
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
        save_card(folder, card)
    return folder


def save_card(folder: str | Path, card: str) -> None:
    """Write (only) the card of a batch folder, atomically."""
    with atomic_write(Path(folder) / CARD_FILE) as tmp:
        tmp.write_text(card, encoding="utf-8")


def load_folder(folder: str | Path) -> Batch:
    """Read the batch of a folder (from its safetensors file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DistillhubError(f"{folder} is not a folder; pass a folder made by 'distillhub distill' or a Hub repo id")
    return load_safetensors(folder / SAFETENSORS_FILE)
