"""Learner architectures from spec strings, and the init schemes that are part of the contract.

Architecture specs (recorded in every batch, so anyone can rebuild the learner):

* ``mlp:64-64:tanh`` — fully connected, hidden sizes joined by ``-``, activation
  ``tanh``, ``relu``, ``gelu``, ``silu`` or ``elu``; ``mlp::tanh`` (no hidden layer) is a
  linear model; a ``:ln`` suffix (``mlp:64-64:relu:ln``) adds a LayerNorm before every
  hidden activation.
* ``resmlp:64x2:relu`` — a residual MLP: a Linear to width 64, then 2 pre-LayerNorm
  residual blocks (LayerNorm, Linear, activation, Linear), a final LayerNorm and the output layer.
* ``transformer:32-2-4`` — for vector observations: every feature is a token
  (``value * w_i + b_i``, a learned embedding per feature), ``2`` pre-norm Transformer
  encoder layers of width ``32`` with ``4`` heads (feed-forward 2×width, ReLU, no dropout),
  a final LayerNorm, mean-pooled, then the output layer.
* ``cnn:nature`` — the DQN "Nature" CNN (3 conv + 512 dense, ReLU) for [C, 84, 84] frames.
* ``cnn:small`` — a small CNN: for small frames (< 32 px, e.g. MinAtar's 10×10) one 3×3
  conv with 16 channels and a 128 dense layer; for larger frames the 2013 DQN net
  (16 8×8/4 and 32 4×4/2 convs, 256 dense).

Init schemes (the output layer is the last ``Linear`` in registration order):

* ``orthogonal:G`` — orthogonal weights with gain √2 on hidden layers and gain ``G`` on
  the output layer, zero biases. A small ``G`` (default 0.01) makes the random init's
  output near zero, so one step on the batch decides the policy.
* ``xavier`` — Glorot-uniform weights (gain 1), zero biases.
* ``kaiming`` — He-normal weights (fan-in, ReLU gain), zero biases.
* ``torch-default`` — PyTorch's own ``reset_parameters`` of every module.

For ``orthogonal``, ``xavier`` and ``kaiming`` the weights of ``Linear``/``Conv2d`` layers
(attention projections included) follow the scheme; anything else (LayerNorm, feature
embeddings) takes PyTorch's default.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from distillhub.errors import DistillhubError

DEFAULT_MLP = "mlp:64-64:tanh"
DEFAULT_CNN = "cnn:nature"
DEFAULT_INIT = "orthogonal:0.01"
INIT_SCHEMES = ("orthogonal:<gain>", "xavier", "kaiming", "torch-default")
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}
_ELEMENTWISE = tuple(_ACTIVATIONS.values())
# Refused before anything is allocated: a downloaded batch's recorded spec must not be a memory bomb.
MAX_LEARNER_PARAMS = 50_000_000
MAX_WIDTH = 1_000_000
SPEC_HELP = "mlp:<sizes>:<tanh|relu|gelu|silu|elu>[:ln], resmlp:<width>x<blocks>:<act>, transformer:<d>-<layers>-<heads>, cnn:nature or cnn:small"


class FeatureTokens(nn.Module):
    """Each of ``F`` features becomes a token ``value * weight[i] + bias[i]`` of width ``d``."""

    def __init__(self, features: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(features, d))
        self.bias = nn.Parameter(torch.empty(features, d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        nn.init.normal_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(start_dim=1).unsqueeze(-1) * self.weight + self.bias


class MeanTokens(nn.Module):
    """Mean over the token dimension: [B, F, d] -> [B, d]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class EncoderBlock(nn.Module):
    """A pre-norm Transformer encoder layer (self-attention + 2×width feed-forward, no dropout).

    Attention is written out (softmax(QKᵀ/√d)V) rather than PyTorch's fused kernel, because the
    one step needs second derivatives through it, which the fused CPU kernel does not have.
    """

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.ff2(torch.relu(self.ff1(self.norm2(x))))


class ResidualBlock(nn.Module):
    """``x + Linear(act(Linear(LayerNorm(x))))``."""

    def __init__(self, width: int, act: type[nn.Module]):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.act = act()
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


def _positive(text: str, what: str, spec: str, limit: int = MAX_WIDTH) -> int:
    try:
        value = int(text)
    except ValueError:
        raise DistillhubError(f"bad {what} '{text}' in '{spec}'; expected one of {SPEC_HELP}") from None
    if not 1 <= value <= limit:
        raise DistillhubError(f"{what} must be from 1 to {limit:,} in '{spec}', got {value}")
    return value


def _activation(name: str, spec: str) -> type[nn.Module]:
    if name not in _ACTIVATIONS:
        raise DistillhubError(f"unknown activation '{name}' in '{spec}'; use one of {'|'.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _build(spec: str, obs_shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    parts = spec.split(":")
    kind = parts[0]
    flat_in = math.prod(obs_shape)
    flatten: list[nn.Module] = [nn.Flatten(start_dim=1)] if len(obs_shape) > 1 else []
    if kind == "mlp":
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "ln"):
            raise DistillhubError(f"bad architecture '{spec}'; expected e.g. mlp:64-64:tanh or mlp:64-64:relu:ln")
        act = _activation(parts[2], spec)
        hidden = [_positive(h, "hidden size", spec) for h in parts[1].split("-") if h]
        layers, width = list(flatten), flat_in
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if len(parts) == 4:
                layers.append(nn.LayerNorm(h))
            layers.append(act())
            width = h
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)
    if kind == "resmlp":
        width_blocks = parts[1].split("x") if len(parts) == 3 else []
        if len(width_blocks) != 2:
            raise DistillhubError(f"bad architecture '{spec}'; expected e.g. resmlp:64x2:relu")
        width = _positive(width_blocks[0], "width", spec)
        blocks = _positive(width_blocks[1], "block count", spec, 64)
        act = _activation(parts[2], spec)
        body = [ResidualBlock(width, act) for _ in range(blocks)]
        return nn.Sequential(*flatten, nn.Linear(flat_in, width), *body, nn.LayerNorm(width), nn.Linear(width, n_outputs))
    if kind == "transformer":
        dims = parts[1].split("-") if len(parts) == 2 else []
        if len(dims) != 3:
            raise DistillhubError(f"bad architecture '{spec}'; expected transformer:<width>-<layers>-<heads>, e.g. transformer:32-2-4")
        d = _positive(dims[0], "width", spec, 4096)
        layers = _positive(dims[1], "layer count", spec, 64)
        heads = _positive(dims[2], "head count", spec, 64)
        if d % heads:
            raise DistillhubError(f"width {d} must be a multiple of the head count {heads} in '{spec}'")
        if flat_in > 4096:
            raise DistillhubError(f"{spec} makes one token per feature; {flat_in:,} features are too many (at most 4,096)")
        blocks = [EncoderBlock(d, heads) for _ in range(layers)]
        return nn.Sequential(FeatureTokens(flat_in, d), *blocks, nn.LayerNorm(d), MeanTokens(), nn.Linear(d, n_outputs))
    if kind == "cnn" and len(parts) == 2 and parts[1] in ("nature", "small"):
        if len(obs_shape) != 3:
            raise DistillhubError(f"{spec} needs image observations [C, H, W], got shape {list(obs_shape)}")
        c, h, w = obs_shape
        if parts[1] == "nature":
            convs, dense = [nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU()], 512  # fmt: skip
            min_side = 36
        elif min(h, w) < 32:
            convs, dense, min_side = [nn.Conv2d(c, 16, 3, stride=1), nn.ReLU()], 128, 3
        else:
            convs, dense = [nn.Conv2d(c, 16, 8, stride=4), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2), nn.ReLU()], 256
            min_side = 20
        if min(h, w) < min_side:
            raise DistillhubError(f"{spec} needs frames of at least {min_side}x{min_side}, got {h}x{w}")
        body = nn.Sequential(*convs, nn.Flatten(start_dim=1))
        with torch.no_grad():
            flat = body(torch.zeros(1, *obs_shape)).shape[1]
        return nn.Sequential(*convs, nn.Flatten(start_dim=1), nn.Linear(flat, dense), nn.ReLU(), nn.Linear(dense, n_outputs))
    raise DistillhubError(f"unknown architecture '{spec}'; use {SPEC_HELP}")


def build_learner(spec: str, obs_shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    """Build the learner an architecture spec describes.

    The spec is checked on PyTorch's ``meta`` device first, so a spec that would need more
    than ``MAX_LEARNER_PARAMS`` parameters is refused before any memory is allocated.

    Args:
        spec: e.g. ``mlp:64-64:tanh``, ``transformer:32-2-4`` or ``cnn:nature``.
        obs_shape: Shape of one learner input.
        n_outputs: Size of the output (logits or action means).

    Returns:
        An ``nn.Sequential`` whose last module is the output layer.

    Raises:
        DistillhubError: The spec cannot be parsed, does not fit the observation shape, or is too big.
    """
    if not isinstance(spec, str) or len(spec) > 200:
        raise DistillhubError(f"bad architecture spec; use {SPEC_HELP}")
    with torch.device("meta"):
        probe = _build(spec, tuple(obs_shape), n_outputs)
    count = sum(p.numel() for p in probe.parameters())
    if count > MAX_LEARNER_PARAMS:
        raise DistillhubError(
            f"{spec} has {count:,} parameters for observations {list(obs_shape)}; the limit is {MAX_LEARNER_PARAMS:,}"
        )
    return _build(spec, tuple(obs_shape), n_outputs)


def check_init(scheme: str) -> None:
    """Raise a one-line error if ``scheme`` is not a known init scheme (gains finite and positive)."""
    if scheme in ("torch-default", "xavier", "kaiming"):
        return
    name, _, gain = str(scheme).partition(":")
    try:
        ok = name == "orthogonal" and math.isfinite(float(gain)) and 0 < float(gain) <= 1e3
    except ValueError:
        ok = False
    if not ok:
        raise DistillhubError(
            f"unknown init scheme '{scheme}'; use orthogonal:<output gain in (0, 1000]>, xavier, kaiming or torch-default"
        )


def _reset_default(module: nn.Module, generator: torch.Generator | None) -> None:
    """PyTorch's ``reset_parameters`` everywhere, seeded from ``generator`` (they use the global RNG)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


def _scheme_weights(module: nn.Module) -> list[tuple[nn.Module, torch.Tensor, torch.Tensor | None]]:
    """(layer, weight, bias) of every Linear/Conv layer, in registration order."""
    return [(m, m.weight, m.bias) for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


@torch.no_grad()
def reinit_(module: nn.Module, scheme: str, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialise ``module`` in place with an init scheme.

    Args:
        module: Usually a learner from :func:`build_learner`; the last Linear/Conv layer in
            registration order is treated as the output layer.
        scheme: ``orthogonal:<output gain>``, ``xavier``, ``kaiming`` or ``torch-default``.
        generator: Source of randomness (seed it for a reproducible init).
    """
    check_init(scheme)
    if scheme == "torch-default":
        _reset_default(module, generator)
        return module
    layers = _scheme_weights(module)
    plain = {id(m) for m, _, _ in layers}
    if any(id(m) not in plain and next(m.parameters(recurse=False), None) is not None for m in module.modules()):
        # LayerNorm, embeddings…: PyTorch's default first (only then: plain MLPs/CNNs keep their RNG stream)
        _reset_default(module, generator)
    last = len(layers) - 1
    for i, (_, weight, bias) in enumerate(layers):
        if scheme == "xavier":
            nn.init.xavier_uniform_(weight, generator=generator)
        elif scheme == "kaiming":
            nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=generator)
        else:
            gain = float(scheme.split(":")[1]) if i == last else math.sqrt(2)
            nn.init.orthogonal_(weight, gain=gain, generator=generator)
        if bias is not None:
            bias.zero_()
    return module


def fresh_params(module: nn.Module, scheme: str, generator: torch.Generator, count: int) -> dict[str, torch.Tensor]:
    """``count`` independent inits of ``module``'s parameters, stacked on a leading dim.

    Used by the distiller to draw a population of fresh inits each meta-iteration.
    """
    draws = []
    for _ in range(count):
        reinit_(module, scheme, generator)
        draws.append({n: p.detach().clone() for n, p in module.named_parameters()})
    return {n: torch.stack([d[n] for d in draws]) for n in draws[0]}


def torso_layers(module: nn.Module) -> list[str]:
    """Names of the learner's weight layers (conv, then dense) below its output layer, in order: what a
    persistent encoder (``encoder_layers``) may take; the output layer is the one step's."""
    return [name for name, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))][:-1]


def is_plain_mlp(module: nn.Module) -> bool:
    """``Linear``/elementwise activations/``Flatten`` in a ``Sequential``: the batched-matmul fast path applies."""
    return isinstance(module, nn.Sequential) and all(isinstance(m, (nn.Linear, nn.Flatten, *_ELEMENTWISE)) for m in module)


def population_forward(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    obs: torch.Tensor,
    shared: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Run ``P`` parameter sets on their own inputs: obs [P, B, ...] -> [P, B, n_out].

    Args:
        module: Supplies the computation.
        params: Parameters stacked on a leading dim of size ``P``.
        obs: Inputs, one slice per parameter set.
        shared: Parameters all ``P`` sets use (e.g. a persistent encoder), not stacked.

    Plain MLPs use batched matmuls, several times faster than ``vmap`` at the small sizes
    of a rollout step; any other module goes through ``vmap(functional_call)``. Both give
    the same numbers.
    """
    if shared or not is_plain_mlp(module):
        shared = shared or {}
        return torch.func.vmap(lambda p, o: torch.func.functional_call(module, {**shared, **p}, (o,)))(params, obs)
    h = obs.flatten(start_dim=2)
    for i, m in enumerate(module):
        if isinstance(m, nn.Linear):
            h = torch.baddbmm(params[f"{i}.bias"].unsqueeze(1), h, params[f"{i}.weight"].transpose(1, 2))
        elif isinstance(m, _ELEMENTWISE):
            h = m(h)
    return h
