"""Load published batches (Hub repo, local folder, or a ``datasets.Dataset`` of rows) and
turn them into ready policies."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from distillhub.batch import (
    SAFETENSORS_FILE,
    Batch,
    check_header,
    load_folder,
    load_safetensors,
    read_header,
    rows_to_tensors,
    with_inner_step,
)
from distillhub.errors import DistillhubError
from distillhub.hub import connection_errors, hub_error
from distillhub.policy import Policy, policy_from_batch


def is_local(source: str | os.PathLike) -> bool:
    """A path that exists, or that looks like one (so a typo is not sent to the Hub).

    Local: an existing path; ``./x``, ``/x``, ``~/x``; anything that is not ``user/name``;
    and ``dir/x`` where ``dir`` is an existing folder here (``runs/CartPole-v1-3``).
    """
    s = str(source)
    if Path(s).exists() or s.startswith((".", "/", "~")) or s.count("/") != 1:
        return True
    return Path(s).parent.is_dir()


def _local_folder(source: str) -> Path:
    folder = Path(source).expanduser()
    if not folder.exists():
        raise DistillhubError(f"no such folder: {source}; check the path (or pass a Hub repo id as user/name)")
    return folder


def _download(source: str, revision: str | None, token: str | None) -> str:
    """The batch file of a Hub repo (downloaded once, then cached by huggingface_hub)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:
        return hf_hub_download(source, SAFETENSORS_FILE, repo_type="dataset", revision=revision, token=token)
    except HFValidationError:
        raise DistillhubError(f"'{source}' is neither a folder nor a valid Hub repo id (user/name)") from None
    except (HfHubHTTPError, LocalEntryNotFoundError) as e:
        raise hub_error(e, source, "download") from None
    except connection_errors() as e:
        raise hub_error(e, source, "download") from None


def load_summary(source: str, revision: str | None = None, token: str | None = None) -> dict:
    """The card summary of a batch read from its header and tensor shapes only (no tensor data
    but the learning rate), so a summary of a big batch costs next to nothing."""
    from distillhub.card import header_block

    source = os.fspath(source)
    if not is_local(source):
        from huggingface_hub import constants

        if not constants.HF_HUB_OFFLINE:
            try:
                return header_block(source, *_hub_header(source, revision, token))
            except DistillhubError as e:
                if not isinstance(e.__context__, connection_errors()):
                    raise
        path = _download(source, revision, token)  # offline: the cached copy, if any
        md, shapes = read_header(path)
        return header_block(path, md, shapes)
    path = _local_folder(source) / SAFETENSORS_FILE
    md, shapes = read_header(path)
    return header_block(path, md, shapes)


_SCALAR_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


def _hub_header(source: str, revision: str | None, token: str | None) -> tuple[dict, dict, float]:
    """Metadata, tensor shapes and learning rate of a Hub batch through HTTP range requests (the
    safetensors header and the learning rate's bytes), never the tensor data."""
    import json

    import numpy as np
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, validate_repo_id

    def get_range(first: int, last: int) -> bytes:
        r = get_session().get(url, headers={**headers, "range": f"bytes={first}-{last}"})
        hf_raise_for_status(r)
        return r.content

    try:
        validate_repo_id(source)
        url = hf_hub_url(source, SAFETENSORS_FILE, repo_type="dataset", revision=revision)
        headers = build_hf_headers(token=token)
        head = get_range(0, 100_000)  # one request holds the header of almost every batch
        n = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
        if not 0 < n <= _MAX_HEADER:
            raise DistillhubError(f"{source}: {SAFETENSORS_FILE} is not a safetensors file; re-push the batch")
        raw = head[8 : 8 + n] if len(head) >= 8 + n else get_range(8, 8 + n - 1)
        header = json.loads(raw)
        md = dict(header.pop("__metadata__", None) or {})
        shapes = {name: list(t["shape"]) for name, t in header.items()}
        check_header(source, md, shapes)
        lr_info = header["learning_rate"]
        dtype = _SCALAR_DTYPES.get(lr_info["dtype"])
        if dtype is None:
            raise DistillhubError(f"{source}: learning_rate has dtype {lr_info['dtype']}; expected a float")
        first, last = (8 + n + o for o in lr_info["data_offsets"])
        data = head[first:last] if last <= len(head) else get_range(first, last - 1)
        lr = float(np.frombuffer(data, dtype=dtype)[0])
    except HFValidationError:
        raise DistillhubError(f"'{source}' is neither a folder nor a valid Hub repo id (user/name)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise DistillhubError(f"{source}: {SAFETENSORS_FILE} has a malformed header ({type(e).__name__}); re-push the batch") from None
    except HfHubHTTPError as e:
        raise hub_error(e, source, "download") from None
    except connection_errors() as e:
        raise hub_error(e, source, "download") from None
    return md, shapes, lr


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
        return load_folder(_local_folder(source))
    return load_safetensors(_download(source, revision, token))


def load_policy(
    source,
    arch: str | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    revision: str | None = None,
    token: str | None = None,
    *,
    init: str | None = None,
    module: torch.nn.Module | None = None,
    allow_import: bool = False,
    inner_step: str | None = None,
) -> Policy:
    """A ready policy from a published batch: fresh init, one step, wrapped for acting.

    Args:
        source: Hub repo id, local folder, or a :class:`Batch`.
        arch: Teach this architecture instead of the recorded one.
        seed: Seed of the fresh init (``None``: a random one).
        device: Where the policy runs.
        revision: Hub revision to pin.
        token: Hub token for private repos.
        init: Teach with this init scheme instead of the recorded one.
        module: Teach your own freshly initialised ``nn.Module`` (its own init, a copy is
            stepped); it must map float observations [B, *obs_shape] to [B, n_outputs].
        allow_import: The batch's env id is ``module:EnvId``: allow importing that module
            (it runs the module's code; only for batches you trust).
        inner_step: Step with this rule instead of the recorded one (e.g. ``fit`` for a narrow
            deep ReLU learner that a ``head`` batch's own step cannot teach; see
            :func:`~distillhub.batch.with_inner_step`).

    Returns:
        A :class:`~distillhub.policy.Policy`; ``policy.act(obs)`` maps a raw env
        observation to an env action (normalisation and clipping included).
    """
    batch = source if isinstance(source, Batch) else load_batch(source, revision=revision, token=token)
    if inner_step is not None:
        batch = with_inner_step(batch, inner_step)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
    policy = policy_from_batch(
        batch, arch=arch, seed=seed, device=device, init=init, module=module, allow_import=allow_import
    )
    policy.seed = seed
    return policy
