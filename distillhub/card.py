"""The dataset card: rendered from ``cards/dataset_card.md`` through huggingface_hub's
``DatasetCard``/``DatasetCardData`` (the YAML front matter is never written by hand)."""

from __future__ import annotations

import json
from importlib import resources

from huggingface_hub import DatasetCard, DatasetCardData

from distillhub.batch import FORMAT, Batch, check_learning_rate
from distillhub.errors import DistillhubError
from distillhub.onestep import AUTO_TOLERANCE, FIT_ROUNDS, HEAD_DAMPING, rule_settings


def _architecture_text(spec: str) -> str:
    if spec.startswith("mlp:") and spec.count(":") == 2:
        _, hidden, act = spec.split(":")
        sizes = [h for h in hidden.split("-") if h]
        if not sizes:
            return "one linear layer"
        return f"a fully connected net with hidden layers {', '.join(sizes)} and {act} activations, linear output"
    if spec == "cnn:nature":
        return "the DQN Nature CNN (conv 32×8×8/4, 64×4×4/2, 64×3×3/1, dense 512, ReLU), linear output"
    return f"see `distillhub.build_learner('{spec}', ...)` and the spec grammar in distillhub's learners module"


_HEADER_FIELDS = (
    "format", "env_id", "action_space", "architecture", "init", "learners", "inner_loss", "inner_step", "distillhub_version",
)  # fmt: skip
_JSON_FIELDS = ("eval", "eval_learners", "training", "inner_step_settings")


def _block(md: dict[str, str], shapes: dict[str, list[int]], learning_rate: float) -> dict:
    block = {k: md.get(k, "") for k in _HEADER_FIELDS}
    block["inner_step"] = block["inner_step"] or "sgd"
    if not block["learners"]:
        block["learners"] = f"{md['architecture']}@{md['init']}"
    block["env_kwargs"] = json.loads(md["env_kwargs"]) if isinstance(md.get("env_kwargs"), str) else {}
    block["learning_rate"] = float(learning_rate)
    block["num_samples"] = shapes["observations"][0]
    block["observation_shape"] = list(shapes["observations"][1:])
    block["n_outputs"] = shapes["targets"][1] if len(shapes["targets"]) > 1 else None
    block["obs_normalised"] = "obs_mean" in shapes
    block["persistent_encoder"] = sorted(k[len("encoder.") :] for k in shapes if k.startswith("encoder."))
    for key in _JSON_FIELDS:
        if key in md:
            block[key] = json.loads(md[key])
    return block


def card_block(batch: Batch) -> dict:
    """The ``distillhub:`` block of the card's front matter."""
    shapes = {k: list(v.shape) for k, v in batch.tensors().items()}
    return _block(batch.metadata(), shapes, batch.learning_rate)


def header_block(path, md: dict[str, str], shapes: dict[str, list[int]], learning_rate: float | None = None) -> dict:
    """The same block from a checked header (:func:`distillhub.batch.read_header`): no tensor is read but
    the scalar learning rate (read from ``path`` unless given)."""
    from safetensors import safe_open

    try:
        if learning_rate is None:
            with safe_open(str(path), framework="pt") as f:
                learning_rate = float(f.get_tensor("learning_rate"))
        lr = learning_rate
        check_learning_rate(lr)
        return _block(md, shapes, lr)
    except (json.JSONDecodeError, KeyError, IndexError, ValueError, RuntimeError, OSError) as e:
        raise DistillhubError(f"{path} has malformed metadata ({type(e).__name__}); re-download or re-distill it") from None


PICTURES = ("samples.png", "learning_curve.png", "learners.png", "replay.gif", "replay.mp4")


def render_card(batch: Batch, repo_id: str | None = None, folder=None) -> str:
    """Render the dataset card of ``batch`` as Markdown with YAML front matter.

    Args:
        batch: The batch the card describes.
        repo_id: Hub id to show in the loading snippets (a placeholder if unknown).
        folder: The batch folder; pictures found there (learning curve, per-learner chart) are embedded.
    """
    from pathlib import Path

    pictures = [name for name in PICTURES if folder is not None and (Path(folder) / name).is_file()]
    env_tag = batch.env_id.replace("/", "-")
    data = DatasetCardData(
        license="mit",
        pretty_name=f"distillhub {batch.env_id} ({batch.num_samples} samples)",
        tags=["distillhub", "reinforcement-learning", "dataset-distillation", env_tag],
        task_categories=["reinforcement-learning"],
        size_categories=["n<1K"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        distillhub=card_block(batch),
    )
    template = resources.files("distillhub_cards").joinpath("dataset_card.md").read_text(encoding="utf-8")
    settings = rule_settings(batch.inner_step, batch.step_settings)  # the batch's own constants
    card = DatasetCard.from_template(
        data,
        template_str=template,
        pretty_name=data.pretty_name,
        repo_id=repo_id or "<user>/<repo>",
        env_id=batch.env_id,
        env_kwargs_text=json.dumps(batch.env_kwargs) if batch.env_kwargs else "",
        action_space=batch.action_space,
        num_samples=batch.num_samples,
        obs_shape=list(batch.obs_shape),
        architecture=batch.architecture,
        architecture_text=_architecture_text(batch.architecture),
        init=batch.init,
        learning_rate=f"{batch.learning_rate:.6g}",
        normalised=batch.obs_mean is not None,
        encoder=bool(batch.encoder),
        encoder_names=", ".join(f"`encoder.{k}`" for k in sorted(batch.encoder)),
        encoder_size=f"{sum(t.numel() for t in batch.encoder.values()):,}",
        atari=batch.env_id.startswith("ALE/"),
        eval=batch.extra.get("eval"),
        eval_learners=batch.extra.get("eval_learners"),
        learners=batch.learner_labels,
        training=batch.extra.get("training"),
        learning_curve="learning_curve.png" in pictures,
        learners_picture="learners.png" in pictures,
        samples_picture="samples.png" in pictures,
        inner_step=batch.inner_step,
        gn_damping=settings.get("damping", HEAD_DAMPING),
        head_damping=settings.get("head_damping", settings["damping"] if batch.inner_step == "head" else HEAD_DAMPING),
        fit_rounds=settings.get("rounds", FIT_ROUNDS),
        tolerance=f"{settings.get('tolerance', AUTO_TOLERANCE):g}",
        replay_gif="replay.gif" in pictures,
        replay_mp4="replay.mp4" in pictures,
    )
    return str(card)


def read_card_block(text: str) -> dict:
    """The ``distillhub:`` block of a rendered card.

    Raises:
        DistillhubError: The card has no such block.
    """
    try:
        block = DatasetCard(text).data.to_dict().get("distillhub")
    except Exception as e:  # malformed YAML raises several types
        raise DistillhubError(
            f"the dataset card cannot be parsed ({type(e).__name__}); re-render it with 'distillhub card'"
        ) from None
    if not isinstance(block, dict) or block.get("format") != FORMAT:
        raise DistillhubError("the dataset card has no distillhub block; re-render it with 'distillhub card'")
    return block
