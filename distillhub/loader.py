"""Load published batches (Hub repo, local folder, or a ``datasets.Dataset`` of rows) and
turn them into ready policies."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from distillhub.batch import SAFETENSORS_FILE, Batch, load_folder, load_safetensors, rows_to_tensors
from distillhub.errors import DistillhubError
from distillhub.hub import connection_errors, hub_error
from distillhub.policy import Policy, policy_from_batch


def is_local(source: str | os.PathLike) -> bool:
    """A path that exists, or that looks like one (so a typo is not sent to the Hub)."""
    s = str(source)
    return Path(s).exists() or s.startswith((".", "/", "~")) or s.count("/") != 1


def load_batch(source, revision: str | None = None, like: str | None = None, token: str | None = None) -> Batch:
    """Load a batch.

    Args:
        source: A Hub dataset repo id (``user/name``), a local folder, or a
            ``datasets.Dataset`` of the batch's rows (e.g. a subset chosen with ``select``).
        revision: Branch, tag or commit id on the Hub (pins the exact batch).
        like: For a ``Dataset``: the repo id or folder whose learning rate and metadata
            go with the rows (rows alone carry only observations and targets).
        token: Hub token for private repos (default: ``HF_TOKEN`` or the saved login).

    Returns:
        The batch; from the Hub it is downloaded once and cached by huggingface_hub.
    """
    if not isinstance(source, (str, os.PathLike)):
        # only a Dataset of rows is left; import datasets (slow) only for that case
        import datasets

        if not isinstance(source, datasets.Dataset):
            raise DistillhubError(
                f"cannot load a batch from a {type(source).__name__}; pass a repo id, folder or Dataset"
            )
        if like is None:
            raise DistillhubError(
                "a Dataset holds only the rows; pass like='user/repo' (or the folder) for the learning rate and metadata"
            )
        base = load_batch(like, revision=revision, token=token)
        obs, targets, _ = rows_to_tensors(source)
        if tuple(obs.shape[1:]) != base.obs_shape or targets.shape[1] != base.n_outputs:
            raise DistillhubError(f"the rows do not have the shapes of {like}'s batch")
        return replace(base, observations=obs, targets=targets)
    source = os.fspath(source)
    if is_local(source):
        return load_folder(Path(source).expanduser())
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(source, SAFETENSORS_FILE, repo_type="dataset", revision=revision, token=token)
    except HFValidationError:
        raise DistillhubError(f"'{source}' is neither a folder nor a valid Hub repo id (user/name)") from None
    except (HfHubHTTPError, LocalEntryNotFoundError) as e:
        raise hub_error(e, source, "download") from None
    except connection_errors() as e:
        raise hub_error(e, source, "download") from None
    return load_safetensors(path)


def load_policy(
    source,
    arch: str | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    revision: str | None = None,
    token: str | None = None,
) -> Policy:
    """A ready policy from a published batch: fresh init, one step, wrapped for acting.

    Args:
        source: Hub repo id, local folder, or a :class:`Batch`.
        arch: Teach this architecture instead of the recorded one.
        seed: Seed of the fresh init (``None``: a random one).
        device: Where the policy runs.
        revision: Hub revision to pin.
        token: Hub token for private repos.

    Returns:
        A :class:`~distillhub.policy.Policy`; ``policy.act(obs)`` maps a raw env
        observation to an env action (normalisation and clipping included).
    """
    batch = source if isinstance(source, Batch) else load_batch(source, revision=revision, token=token)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
    policy = policy_from_batch(batch, arch=arch, seed=seed, device=device)
    policy.seed = seed
    return policy
