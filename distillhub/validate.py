"""Checks that a batch folder is publishable: consistent files, and a batch anyone can run.

``push`` calls :func:`validate_folder` and :func:`check_runnable` before any network call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distillhub.batch import CARD_FILE, PARQUET_FILE, SAFETENSORS_FILE, Batch, load_folder, read_parquet
from distillhub.card import read_card_block
from distillhub.errors import DistillhubError


def check_encoder(batch: Batch, module: torch.nn.Module) -> None:
    """The batch's ``encoder.*`` tensors name parameters of ``module`` with their shapes."""
    params = dict(module.named_parameters())
    for name, tensor in batch.encoder.items():
        if name not in params or tuple(params[name].shape) != tuple(tensor.shape):
            raise DistillhubError(
                f"the batch's encoder tensor 'encoder.{name}' {list(tensor.shape)} does not fit the learner "
                f"{batch.architecture}; the batch is broken or meant for another learner"
            )


def check_runnable(batch: Batch, allow_import: bool = False) -> None:
    """The env can be made with the batch's kwargs, its shapes fit the batch, and every recorded
    learner rebuilds from its spec (an encoder included).

    Raises:
        DistillhubError: The first reason nobody could use the batch.
    """
    from distillhub.envs import env_info
    from distillhub.learners import build_learner
    from distillhub.population import parse_learners

    info = env_info(batch.env_id, batch.env_kwargs, allow_import=allow_import)
    if info.obs_shape != batch.obs_shape or info.n_outputs != batch.n_outputs:
        raise DistillhubError(
            f"batch shapes {list(batch.obs_shape)} -> {batch.n_outputs} do not fit {batch.env_id} "
            f"({list(info.obs_shape)} -> {info.n_outputs}); check env_id/env_kwargs"
        )
    if info.action_space != batch.action_space:
        raise DistillhubError(f"the batch says {batch.action_space} actions but {batch.env_id} has {info.action_space}")
    learner = build_learner(batch.architecture, batch.obs_shape, batch.n_outputs)
    check_encoder(batch, learner)
    if batch.learners:
        for entry in parse_learners(batch.learners, len(batch.obs_shape) > 1):
            build_learner(entry.arch, batch.obs_shape, batch.n_outputs)


def validate_folder(folder: str | Path) -> Batch:
    """Everything ``push`` checks in the folder's files before touching the network.

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
        and targets.shape == t["targets"].shape
        and torch.equal(obs, t["observations"])
        and torch.equal(targets, t["targets"])
        and np.array_equal(index, np.arange(batch.num_samples))
    ):
        raise DistillhubError(f"{pq_path} does not match {SAFETENSORS_FILE}; the folder was edited or half-copied")
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise DistillhubError(f"{card_path} is missing; run 'distillhub card {folder}' to render it")
    try:
        text = card_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DistillhubError(f"{card_path} is not UTF-8 text; run 'distillhub card {folder}' to re-render it") from None
    block = read_card_block(text)
    for key in ("format", "env_id", "architecture", "num_samples"):
        expected = batch.num_samples if key == "num_samples" else batch.metadata()[key]
        if block.get(key) != expected:
            raise DistillhubError(
                f"card field distillhub.{key} is {block.get(key)!r} but the batch says {expected!r}; "
                f"run 'distillhub card {folder}' to re-render it"
            )
    return batch
