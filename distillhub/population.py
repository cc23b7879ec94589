"""Learner distributions and the population of fresh learner draws the distiller trains on.

A *learner* is an ``(architecture, init scheme)`` pair, written ``arch@init`` (e.g.
``mlp:256-256:relu@kaiming``). A *learner distribution* is a list of learners: a named one
(``zoo``, ``single``) or a comma-separated list. Every meta-iteration the distiller draws a
population of fresh inits from it (:meth:`Population.draw`); draws of the same learner are
stacked and take the one step together (batched matmuls for plain MLPs, ``vmap`` otherwise),
each draw drives its own slice of the envs, and the PPO loss averages over all draws, so
the gradient into the batch serves every learner of the distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distillhub.errors import DistillhubError
from distillhub.learners import DEFAULT_CNN, DEFAULT_INIT, DEFAULT_MLP, build_learner, check_init, fresh_params
from distillhub.learners import population_forward as _group_forward
from distillhub.onestep import step_population

MAX_LEARNERS = 64


@dataclass(frozen=True)
class Learner:
    """One learner of a distribution: an architecture spec and its init scheme."""

    arch: str
    init: str

    @property
    def label(self) -> str:
        return f"{self.arch}@{self.init}"


# Named distributions, for vector and for image observations. `zoo` spans widths 32-256,
# depths 0-4, every activation, LayerNorm, all four init schemes and two Transformers.
ZOO_VECTOR = (
    Learner("mlp:64-64:tanh", "orthogonal:0.01"),  # first: the learner load_policy builds by default
    Learner("mlp:256-256:relu", "kaiming"),
    Learner("mlp::tanh", "xavier"),
    Learner("mlp:32:gelu", "xavier"),
    Learner("mlp:128-128-128:silu", "torch-default"),
    Learner("mlp:64-64:elu", "xavier"),
    Learner("mlp:64-64:relu:ln", "torch-default"),
    Learner("mlp:128-64:tanh", "torch-default"),
    Learner("mlp:64-64-64-64:relu", "kaiming"),
    Learner("transformer:32-1-4", "torch-default"),
    Learner("transformer:32-2-4", "torch-default"),
)
ZOO_IMAGE = (
    Learner(DEFAULT_CNN, "orthogonal:0.01"),
    Learner(DEFAULT_CNN, "torch-default"),
    Learner("cnn:small", "kaiming"),
    Learner("cnn:small", "torch-default"),
)
# Learners no distribution trains on: the benchmark's and the card's held-out families.
HELD_OUT_VECTOR = (
    Learner("mlp::tanh", "torch-default"),
    Learner("mlp:16:tanh", "orthogonal:0.01"),
    Learner("mlp:512:relu", "torch-default"),
    Learner("mlp:48-48:silu", "kaiming"),
    Learner("mlp:96-96:gelu", "torch-default"),
    Learner("mlp:64-64-64-64-64:relu", "kaiming"),
    Learner("mlp:32-32:elu", "torch-default"),
    Learner("mlp:128:tanh:ln", "xavier"),
    Learner("resmlp:64x2:relu", "torch-default"),
    Learner("transformer:16-2-2", "torch-default"),
)
NAMED = ("single", "zoo", "held-out")
LEARNERS_HELP = "zoo, single, held-out, or a comma-separated list of arch@init (e.g. mlp:64-64:tanh@xavier,mlp:32:relu@kaiming)"


def parse_learners(spec: str, image: bool, arch: str | None = None, init: str | None = None) -> list[Learner]:
    """The learners a ``--learners`` spec names.

    Args:
        spec: ``zoo``, ``single`` (``arch``/``init`` alone), ``held-out`` or ``arch@init,...``.
        image: Image observations (the CNN zoo) rather than vectors.
        arch / init: The single learner's architecture and init (defaults per observation kind).

    Raises:
        DistillhubError: An unknown name, a malformed entry, an unknown init scheme, or too many entries.
    """
    single = Learner(arch or (DEFAULT_CNN if image else DEFAULT_MLP), init or DEFAULT_INIT)
    spec = (spec or "single").strip()
    if spec == "single":
        learners = [single]
    elif spec == "zoo":
        learners = list(ZOO_IMAGE if image else ZOO_VECTOR)
    elif spec == "held-out":
        if image:
            raise DistillhubError("the held-out learner set is for vector observations; use zoo or an arch@init list")
        learners = list(HELD_OUT_VECTOR)
    else:
        learners = []
        for entry in spec.split(","):
            a, sep, i = entry.strip().partition("@")
            if not a or (sep and not i):
                raise DistillhubError(f"bad --learners entry '{entry}'; use {LEARNERS_HELP}")
            learners.append(Learner(a, i if sep else single.init))
    if not 1 <= len(learners) <= MAX_LEARNERS:
        raise DistillhubError(f"--learners names {len(learners)} learners; use 1 to {MAX_LEARNERS}")
    for learner in learners:
        check_init(learner.init)
    return list(dict.fromkeys(learners))  # drop repeats, keep order


def check_learners(learners: list[Learner], obs_shape: tuple[int, ...], n_outputs: int) -> None:
    """Every learner builds for these shapes and within the size limit (checked on the meta device first)."""
    for learner in learners:
        build_learner(learner.arch, obs_shape, n_outputs)


def describe(learners: list[Learner]) -> str:
    """The distribution as one string (recorded in the batch header)."""
    return ",".join(learner.label for learner in learners)


@dataclass
class Draw:
    """One meta-iteration's population: for each group, a learner index and its stacked params."""

    groups: list[tuple[int, dict[str, torch.Tensor]]]

    @property
    def sizes(self) -> list[int]:
        return [next(iter(p.values())).shape[0] for _, p in self.groups]

    def slice(self, start: int, stop: int) -> Draw:
        """Draws ``start`` to ``stop`` (in group order): a data-parallel rank's share of the population."""
        groups, offset = [], 0
        for (i, p), size in zip(self.groups, self.sizes, strict=True):
            lo, hi = max(start, offset) - offset, min(stop, offset + size) - offset
            if lo < hi:
                groups.append((i, {k: v[lo:hi] for k, v in p.items()}))
            offset += size
        return Draw(groups)


class Population:
    """The learners of a distribution, built once, and the draws of fresh inits from them.

    Args:
        learners: The distribution.
        obs_shape / n_outputs: The learner's input shape and output size.
        device: Where stepped parameters and forwards live (inits are drawn on CPU).
        template_seed: Seeds the CPU templates the inits are drawn in.
        encoder_names: Parameters shared by every draw (a persistent encoder); excluded from draws.
    """

    def __init__(
        self,
        learners: list[Learner],
        obs_shape: tuple[int, ...],
        n_outputs: int,
        device: torch.device,
        encoder_names: set[str] | None = None,
    ):
        self.learners = learners
        self.device = device
        self.modules = [build_learner(lr.arch, obs_shape, n_outputs).to(device) for lr in learners]
        self.templates = [build_learner(lr.arch, obs_shape, n_outputs) for lr in learners]
        self.encoder_names = encoder_names or set()

    def draw(self, count: int, generator: torch.Generator) -> Draw:
        """``count`` fresh inits: learners in a random order, cycled, so that every learner
        appears when ``count`` ≥ the number of learners; draws of one learner are grouped."""
        m = len(self.learners)
        order = torch.randperm(m, generator=generator).tolist() if m > 1 else [0]
        picks = [order[i % m] for i in range(count)]
        return Draw([self._group(idx, picks.count(idx), generator) for idx in sorted(set(picks), key=picks.index)])

    def draw_each(self, per_learner: int, generator: torch.Generator) -> Draw:
        """``per_learner`` fresh inits of every learner, in distribution order (held-out evaluation)."""
        return Draw([self._group(idx, per_learner, generator) for idx in range(len(self.learners))])

    def _group(self, idx: int, count: int, generator: torch.Generator) -> tuple[int, dict[str, torch.Tensor]]:
        """``count`` fresh inits of learner ``idx``, stacked, on the device, without the shared encoder."""
        stacked = fresh_params(self.templates[idx], self.learners[idx].init, generator, count)
        return idx, {k: v.to(self.device) for k, v in stacked.items() if k not in self.encoder_names}

    def step(
        self,
        draw: Draw,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: torch.Tensor,
        shared: dict[str, torch.Tensor],
        rule: str = "sgd",
        settings: dict[str, float | int] | None = None,
    ) -> Draw:
        """The one step (``rule`` with ``settings``: see :mod:`distillhub.onestep`) for every draw,
        differentiable in ``x``, ``y``, ``lr`` and ``shared``."""
        return Draw(
            [(i, step_population(self.modules[i], p, x, y, lr, shared, rule, settings)) for i, p in draw.groups]
        )

    def forward(self, draw: Draw, obs: torch.Tensor, shared: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each draw on its own observations: obs [P, B, ...] (draws in group order) -> [P, B, n_out]."""
        outs, start = [], 0
        for (i, p), size in zip(draw.groups, draw.sizes, strict=True):
            outs.append(_group_forward(self.modules[i], p, obs[start : start + size], shared))
            start += size
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def labels(self, draw: Draw) -> list[str]:
        """The learner label of every draw, in order."""
        return [self.learners[i].label for (i, _), n in zip(draw.groups, draw.sizes, strict=True) for _ in range(n)]
