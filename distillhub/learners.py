"""Learner architectures from spec strings, and the init schemes that are part of the contract.

Architecture specs (recorded in every batch, so anyone can rebuild the learner):

* ``mlp:64-64:tanh`` — fully connected, hidden sizes joined by ``-``, activation
  ``tanh`` or ``relu``. ``mlp::tanh`` (no hidden layer) is a linear model.
* ``cnn:nature`` — the DQN "Nature" CNN (3 conv + 512 dense, ReLU) for [4, 84, 84] frames.

Init schemes:

* ``orthogonal:G`` — orthogonal weights with gain √2 on hidden layers and gain ``G`` on
  the output layer, zero biases. A small ``G`` (default 0.01) makes the random init's
  output near zero, so one step on the batch decides the policy.
* ``torch-default`` — PyTorch's own ``reset_parameters``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from distillhub.errors import DistillhubError

DEFAULT_MLP = "mlp:64-64:tanh"
DEFAULT_CNN = "cnn:nature"
DEFAULT_INIT = "orthogonal:0.01"
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def build_learner(spec: str, obs_shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    """Build the learner an architecture spec describes.

    Args:
        spec: e.g. ``mlp:64-64:tanh`` or ``cnn:nature``.
        obs_shape: Shape of one learner input.
        n_outputs: Size of the output (logits or action means).

    Returns:
        An ``nn.Sequential`` whose last module is the output layer.

    Raises:
        DistillhubError: The spec cannot be parsed or does not fit the observation shape.
    """
    parts = spec.split(":")
    kind = parts[0]
    if kind == "mlp":
        if len(parts) != 3 or parts[2] not in _ACTIVATIONS:
            raise DistillhubError(f"bad architecture '{spec}'; expected e.g. mlp:64-64:tanh (activation tanh|relu)")
        try:
            hidden = [int(h) for h in parts[1].split("-") if h]
        except ValueError:
            raise DistillhubError(f"bad hidden sizes in '{spec}'; expected e.g. mlp:64-64:tanh") from None
        if any(h < 1 for h in hidden):
            raise DistillhubError(f"hidden sizes must be positive in '{spec}'")
        act = _ACTIVATIONS[parts[2]]
        layers: list[nn.Module] = [nn.Flatten(start_dim=1)] if len(obs_shape) > 1 else []
        width = math.prod(obs_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)
    if spec == "cnn:nature":
        if len(obs_shape) != 3:
            raise DistillhubError(f"cnn:nature needs image observations [C, H, W], got shape {list(obs_shape)}")
        convs = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(start_dim=1),
        )  # fmt: skip
        with torch.no_grad():
            flat = convs(torch.zeros(1, *obs_shape)).shape[1]
        return nn.Sequential(*convs, nn.Linear(flat, 512), nn.ReLU(), nn.Linear(512, n_outputs))
    raise DistillhubError(f"unknown architecture '{spec}'; use mlp:<sizes>:<tanh|relu> or cnn:nature")


def check_init(scheme: str) -> None:
    """Raise a one-line error if ``scheme`` is not a known init scheme."""
    if scheme == "torch-default":
        return
    name, _, gain = scheme.partition(":")
    try:
        ok = name == "orthogonal" and float(gain) > 0
    except ValueError:
        ok = False
    if not ok:
        raise DistillhubError(f"unknown init scheme '{scheme}'; use orthogonal:<output gain> or torch-default")


@torch.no_grad()
def reinit_(module: nn.Module, scheme: str, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialise ``module`` in place with an init scheme.

    Args:
        module: Usually a learner from :func:`build_learner`; for ``orthogonal`` the last
            Linear/Conv layer in registration order is treated as the output layer.
        scheme: ``orthogonal:<output gain>`` or ``torch-default``.
        generator: Source of randomness (seed it for a reproducible init).
    """
    check_init(scheme)
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if scheme == "torch-default":
        # reset_parameters() draws from the global RNG; fork it so a generator seeds it.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            for m in layers:
                m.reset_parameters()
        return module
    out_gain = float(scheme.split(":")[1])
    for i, m in enumerate(layers):
        gain = out_gain if i == len(layers) - 1 else math.sqrt(2)
        nn.init.orthogonal_(m.weight, gain=gain, generator=generator)
        if m.bias is not None:
            m.bias.zero_()
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


def is_plain_mlp(module: nn.Module) -> bool:
    """``Linear``/``Tanh``/``ReLU``/``Flatten`` in a ``Sequential``: the batched-matmul fast path applies."""
    return isinstance(module, nn.Sequential) and all(
        isinstance(m, (nn.Linear, nn.Tanh, nn.ReLU, nn.Flatten)) for m in module
    )


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
        elif isinstance(m, nn.Tanh):
            h = torch.tanh(h)
        elif isinstance(m, nn.ReLU):
            h = torch.relu(h)
    return h
