"""Hub I/O: push a batch folder as a dataset repo (one commit), with its card."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from distillhub.batch import CARD_FILE, PARQUET_FILE, SAFETENSORS_FILE
from distillhub.card import PICTURES
from distillhub.errors import DistillhubError
from distillhub.validate import check_runnable, validate_folder


def connection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the Hub could not be reached (huggingface_hub's HTTP client
    is httpx in 1.x and httpx2 in 2.x; take whichever is installed)."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def hub_error(e: Exception, repo_id: str, action: str) -> DistillhubError:
    """Turn a huggingface_hub exception into a one-line, actionable error."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, GatedRepoError):
        return DistillhubError(
            f"{repo_id} is gated; accept its terms on the Hub, then retry with a token that has access"
        )
    if isinstance(e, RepositoryNotFoundError):
        return DistillhubError(
            f"dataset repo {repo_id} not found (or private): check the id, or pass --token / run 'hf auth login' for private repos"
        )
    if isinstance(e, RevisionNotFoundError):
        return DistillhubError(f"revision not found in {repo_id}; pass an existing branch, tag or commit id")
    # LocalEntryNotFoundError (Hub unreachable, file not cached) may subclass EntryNotFoundError
    if isinstance(e, LocalEntryNotFoundError) or isinstance(e, connection_errors()):
        return DistillhubError(
            f"cannot reach the Hub at {constants.ENDPOINT} to {action} {repo_id}; check your connection and retry"
        )
    if isinstance(e, EntryNotFoundError):
        return DistillhubError(f"{repo_id} has no {SAFETENSORS_FILE}; it is not a distillhub batch")
    if isinstance(e, HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status == 401:
            return DistillhubError(
                f"the Hub refused the token (401) to {action} {repo_id}; pass a valid --token or run 'hf auth login'"
            )
        if status == 403:
            return DistillhubError(
                f"this token may not {action} {repo_id} (403); use a token with write access to that namespace"
            )
        return DistillhubError(f"the Hub answered {status} to {action} {repo_id}: {str(e).splitlines()[0]}")
    return DistillhubError(f"cannot {action} {repo_id}: {type(e).__name__}: {str(e).splitlines()[0]}")


def _forget_new_repo(api, repo_id: str, created: bool) -> None:
    """After a failed upload, delete the repo if this push created it (best effort: the Hub may be gone)."""
    if not created:
        return
    try:
        api.delete_repo(repo_id, repo_type="dataset", missing_ok=True)
    except Exception:  # noqa: BLE001 - the original failure is what the user needs to see
        pass


def check_repo_id(repo_id: str) -> None:
    """``user/name`` with the Hub's allowed characters, else a one-line error."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise DistillhubError(f"'{repo_id}' is not a valid repo id; use user/name (letters, digits, - _ .)") from None
    if repo_id.count("/") != 1:
        raise DistillhubError(f"'{repo_id}' is not a valid repo id; use user/name, e.g. alice/cartpole-2")


def resolve_token(token: str | None) -> str:
    """``--token``, else ``HF_TOKEN``, else the saved login; an error if there is none."""
    from huggingface_hub import get_token

    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise DistillhubError("no Hub token: pass --token, set HF_TOKEN, or run 'hf auth login'")
    return token


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    tag: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    allow_import: bool = False,
    create_pr: bool = False,
    dry_run: bool = False,
) -> dict:
    """Validate a batch folder, then publish it as a dataset repo in one commit.

    The folder is checked before any network call, and never modified: the card is
    re-rendered with ``repo_id`` in its snippets into a staging copy that is uploaded.

    Args:
        folder: A folder written by ``distillhub distill``.
        repo_id: ``user/name`` of the dataset repo (created if missing).
        private: Create the repo private.
        revision: Branch to commit to (created from main if missing).
        tag: Tag to put on the new commit.
        commit_message: Defaults to a summary of the batch.
        token: Hub token (default: ``HF_TOKEN`` or the saved login).
        allow_import: The batch's env id is ``module:EnvId``: let the runnable check import it.
        create_pr: Open a pull request with the batch instead of committing to the branch.
        dry_run: Validate and return the files that would be uploaded; no token, no network.

    Before any network call the folder's files are checked (:func:`validate_folder`) and so
    is the batch being runnable (:func:`check_runnable`: env, shapes, learner). If the upload
    fails, a repo this call created is deleted again (best effort) and the same call retries.

    Returns:
        ``{"url": ..., "commit": ..., "commit_url": ..., "pr_url": ...}``, or for a dry run
        ``{"files": [...], "repo_id": ...}``.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    from distillhub.card import render_card

    check_repo_id(repo_id)
    folder = Path(folder)
    batch = validate_folder(folder)
    check_runnable(batch, allow_import=allow_import)
    uploads = [SAFETENSORS_FILE, PARQUET_FILE, CARD_FILE] + [n for n in PICTURES if (folder / n).is_file()]
    if dry_run:
        return {"repo_id": repo_id, "files": uploads, "sizes": {n: (folder / n).stat().st_size for n in uploads}}
    token = resolve_token(token)
    message = commit_message or f"distillhub: {batch.env_id}, {batch.num_samples} samples"
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="distillhub-push-") as staging:
        stage = Path(staging)
        (stage / PARQUET_FILE).parent.mkdir(parents=True)
        shutil.copy2(folder / SAFETENSORS_FILE, stage / SAFETENSORS_FILE)
        shutil.copy2(folder / PARQUET_FILE, stage / PARQUET_FILE)
        for name in PICTURES:  # pictures and replays the card embeds
            if (folder / name).is_file():
                shutil.copy2(folder / name, stage / name)
        (stage / CARD_FILE).write_text(render_card(batch, repo_id, folder=folder), encoding="utf-8")
        created = False
        # tiny files: upload bars would only clutter the one-line outcome
        bars_were_off = are_progress_bars_disabled()
        disable_progress_bars()
        try:
            created = not api.repo_exists(repo_id, repo_type="dataset")
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=stage,
                repo_type="dataset",
                revision=revision,
                commit_message=message,
                create_pr=create_pr,
            )
            if tag:
                api.create_tag(repo_id, tag=tag, revision=commit.oid, repo_type="dataset")
        except Exception as e:  # the client raises many types mid-upload (HTTP, transport, RuntimeError)
            _forget_new_repo(api, repo_id, created)
            if isinstance(e, (HfHubHTTPError, *connection_errors())):
                err = hub_error(e, repo_id, "push to")
            else:
                first = str(e).splitlines()[0] if str(e) else ""
                err = DistillhubError(f"the upload to {repo_id} failed ({type(e).__name__}: {first})")
            raise DistillhubError(f"{err} (nothing was published; the same command retries)") from None
        finally:
            if not bars_were_off:
                enable_progress_bars()
    return {
        "url": f"{api.endpoint}/datasets/{repo_id}",
        "commit": commit.oid,
        "commit_url": commit.commit_url,
        "pr_url": commit.pr_url,
    }


def pull_folder(repo_id: str, folder: str | Path, revision: str | None = None, token: str | None = None) -> Path:
    """Download a batch repo into ``folder`` (through the Hub cache) and validate it.

    Only the batch files and the card's pictures are fetched; nothing is imported or executed.

    Raises:
        DistillhubError: Bad id, Hub errors, a non-empty ``folder`` that holds something else, or an invalid batch.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    check_repo_id(repo_id)
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / SAFETENSORS_FILE).exists())):
        raise DistillhubError(f"{folder} exists and is not a batch folder; pass another folder")
    try:
        snapshot_download(
            repo_id, repo_type="dataset", revision=revision, token=token, local_dir=folder,
            allow_patterns=[SAFETENSORS_FILE, "data/*.parquet", CARD_FILE, *PICTURES],
        )  # fmt: skip
    except (HfHubHTTPError, LocalEntryNotFoundError, *connection_errors()) as e:
        raise hub_error(e, repo_id, "download") from None
    validate_folder(folder)
    return folder
