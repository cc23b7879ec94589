"""The one-step rule, written once: a fresh learner takes one full-batch SGD step.

    loss(θ) = mean((f_θ(x) - y)²)          # over every element of the [N, n_outputs] output
    θ1      = θ0 - lr · ∇θ loss(θ0)        # plain SGD, no momentum

``x`` are the batch's observations as the learner sees them (normalised if the batch
records ``obs_mean``/``obs_std``), ``y`` the targets. For continuous actions ``y`` are
action means and the policy's log-std is the batch's ``log_std`` (not learned by the step).

:func:`step_params` is the differentiable core (``torch.func``; gradients reach ``x``,
``y`` and ``lr``); :func:`step_population` takes the same step for a stack of inits at
once (the distiller's population); :func:`one_step` applies :func:`step_params` to any
``nn.Module``, and the evaluator and loader call it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacrev, jvp, vmap

from distillhub.batch import GN_RULES, Batch
from distillhub.errors import DistillhubError
from distillhub.learners import is_plain_mlp, population_forward


def inner_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The regression loss of the one step: MSE, mean over all elements."""
    return F.mse_loss(outputs, targets)


def _line_search(out: torch.Tensor, y: torch.Tensor, jg: torch.Tensor, dims) -> torch.Tensor:
    """α* = (r·Jg) / ‖Jg‖²: the exact minimiser of the linearised batch loss along −g (r = f − y)."""
    num = ((out - y) * jg).sum(dim=dims)
    den = (jg * jg).sum(dim=dims)
    return num / den.clamp_min(1e-30)


# Levenberg-Marquardt damping of the Gauss-Newton step, relative to the mean diagonal of the
# learner's tangent kernel (scale-free, so one value serves every learner)
GN_DAMPING = 0.1


# Ridge damping of the head step (same form): the head is linear in its own parameters, so the
# step is exact and needs only enough damping to keep the solve well conditioned
HEAD_DAMPING = 1e-3


# The fit rule: rounds of (one damped Gauss-Newton step on every parameter, then the exact head step on the
# moved features), with lighter damping than the single gn step: each round's head re-fit removes the overshoot
# that makes a lightly damped gn step alone unsafe. On the CartPoleND-v0 N=2 zoo batch's held-out 5-deep 64-wide
# Kaiming ReLU stack (10 inits; benchmarks/results_learners.md): head 0 % of inits balance; 3 rounds at the gn
# damping 0.1: 60 %, 5 at 0.1: 60 %, 8 at 0.1: 50 %, 5 at 0.3: 10 %, 3 at 0.03: 80 %, 3 at 0.01: 90 %,
# 5 at 0.03: 100 % (and the held-out Transformer 70 % -> 100 %)
FIT_ROUNDS = 5
FIT_DAMPING = 0.03

# The auto rule: the head step, and the fit rule instead for a learner whose head step leaves more than this share
# of the targets' variance unexplained on the batch (its random features cannot fit the batch, so moving its output
# layer alone teaches it little). Measured on the held-out learners (benchmarks/results_learners.md): every family
# that balances under the head step sits at 0.02-0.31 on the CartPole-v1, CartPoleND-v0 and Acrobot-v1 zoo batches;
# the ones that fail at 0.36-0.69 (CartPoleND-v0's held-out Transformer and 5-deep Kaiming ReLU stack)
AUTO_TOLERANCE = 0.3


def rule_settings(rule: str, recorded: Mapping[str, float | int] | None = None) -> dict[str, float | int]:
    """The constants of a Gauss-Newton rule (``gn``, ``head``, ``fit``, ``auto``): this version's, as a batch records them in
    its header (``inner_step_settings``), overridden by ``recorded`` (what a batch recorded when it was made), so a
    batch keeps its step when a later version changes a default. ``{}`` for ``sgd`` and ``sgd-ls``, which have none."""
    fit = {"rounds": FIT_ROUNDS, "damping": FIT_DAMPING, "head_damping": HEAD_DAMPING}
    auto = {**fit, "tolerance": AUTO_TOLERANCE}
    current = {"gn": {"damping": GN_DAMPING}, "head": {"damping": HEAD_DAMPING}, "fit": fit, "auto": auto}.get(rule, {})
    return {**current, **(recorded or {})}


def training_rule(rule: str, settings: Mapping[str, float | int]) -> tuple[str, dict[str, float | int]]:
    """The rule and constants the distiller's meta-gradient steps its population with, for a batch recorded with
    ``rule`` and ``settings``: the rule itself, except ``auto``, which trains through its head step. Its ``fit``
    fallback, for the rare draw the head step cannot fit, would cost ~40× the head step's meta-gradient per draw
    (benchmarks/results_learners.md); the held-out checks that select the batch step with ``auto`` itself."""
    if rule == "auto":
        return "head", {"damping": rule_settings(rule, settings)["head_damping"]}
    return rule, dict(settings)


def head_names(module: nn.Module, params: dict[str, torch.Tensor] | None = None) -> set[str]:
    """Names of the parameters the ``head`` rule steps: those of ``module``'s last ``nn.Linear``.

    The last ``nn.Linear`` in ``module.modules()`` order must be the output layer (true of every
    distillhub learner; a module of your own must register its output layer last).

    Raises:
        DistillhubError: The module has no ``nn.Linear``, or the head's parameters are frozen.
    """
    linears = [name for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise DistillhubError(
            "the 'head' one-step rule steps the learner's last nn.Linear (its output layer), and this module has none"
        )
    prefix = linears[-1]
    own = dict(module.named_modules())[prefix].named_parameters(recurse=False)
    names = {f"{prefix}.{n}" if prefix else n for n, _ in own}
    if params is not None:
        names &= set(params)
    if not names:
        raise DistillhubError("the 'head' one-step rule needs the output layer's parameters trainable; they are frozen")
    return names


def _damped_solve(kernel: torch.Tensor, rhs: torch.Tensor, damping: float) -> torch.Tensor:
    """``(K + λI)⁻¹ rhs`` with λ = ``damping`` × mean diag(K), for a kernel [..., N, N] (batched or not).

    K + λI is symmetric positive definite, so it is solved by Cholesky, which also sidesteps MKL's
    batched LU solve: that fails or hangs with several threads from ~150 rows
    (pytorch/pytorch#142815; measured here with 2 threads and 256 rows).
    """
    lam = damping * kernel.diagonal(dim1=-2, dim2=-1).mean(dim=-1).clamp_min(1e-30)
    eye = torch.eye(kernel.shape[-1], dtype=kernel.dtype, device=kernel.device)
    return torch.cholesky_solve(rhs, torch.linalg.cholesky_ex(kernel + lam[..., None, None] * eye).L)


def _closed_form_head(module: nn.Module, params: dict[str, torch.Tensor]) -> bool:
    """A ``Sequential`` ending in its head ``Linear`` (every distillhub learner), all of the head
    trainable: the head step has a closed form."""
    return (
        isinstance(module, nn.Sequential)
        and isinstance(module[-1], nn.Linear)
        and head_names(module, params) == head_names(module)
    )


def _head_step_closed_form(
    module: nn.Sequential,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor | float,
    frozen: dict[str, torch.Tensor],
    damping: float = HEAD_DAMPING,
) -> dict[str, torch.Tensor]:
    """The head step for ``P`` stacked inits of a ``Sequential`` whose last layer is the head.

    With Φ = [features, 1] the head's inputs on ``x`` (per init), the outputs are Φ W̃ᵀ, so the
    head's tangent kernel is (ΦΦᵀ) ⊗ I over (sample, output) rows and the damped Gauss-Newton
    step is W̃ ← W̃ − lr · ((ΦΦᵀ + λI)⁻¹ r)ᵀ Φ: one [N, N] solve per init instead of the Jacobian.
    Same θ1 as the generic path (tested).
    """
    last = str(len(module) - 1)
    body_params = {k: v for k, v in params.items() if not k.startswith(last + ".")}
    count = next(iter(params.values())).shape[0]
    feats = x.expand(count, *x.shape)
    if len(module) > 1:  # slicing keeps the parameter names
        feats = population_forward(module[:-1], body_params, feats, frozen)
    feats = feats.flatten(start_dim=2)
    weight, bias = params[f"{last}.weight"], params.get(f"{last}.bias")
    out = feats @ weight.transpose(1, 2) + (bias.unsqueeze(1) if bias is not None else 0)
    kernel = feats @ feats.transpose(1, 2) + (1.0 if bias is not None else 0.0)  # [P, N, N]
    weights = _damped_solve(kernel, out - y, damping)  # [P, N, n_out]
    new = dict(params)
    new[f"{last}.weight"] = weight - lr * weights.transpose(1, 2) @ feats
    if bias is not None:
        new[f"{last}.bias"] = bias - lr * weights.sum(dim=1)
    return new


def _gauss_newton_grads(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    frozen: dict[str, torch.Tensor],
    damping: float = GN_DAMPING,
) -> dict[str, torch.Tensor]:
    """Jᵀ (J Jᵀ + λI)⁻¹ r, r = f(x) − y: the damped Gauss-Newton direction of the batch loss in ``params``.

    J is the Jacobian of the learner's outputs on the batch (one row per output element), so
    J Jᵀ is its empirical tangent kernel on the batch: an undamped step of size 1 makes the
    linearised learner output exactly ``y`` on ``x``, whatever its parametrisation and init scale.
    A policy maps each observation on its own, so J is built a sample at a time (each sample's
    few output rows), not as N × n_outputs backward passes through the whole batch: the same J,
    measured 64× faster for the zoo's Transformer and 3× for a 5-deep MLP on 256 samples.
    """

    def one(p: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return functional_call(module, {**frozen, **p}, (sample.unsqueeze(0),)).squeeze(0)

    out = functional_call(module, {**frozen, **params}, (x,))
    n = out.numel()
    jac = vmap(jacrev(one), in_dims=(None, 0))(params, x)  # per parameter: [N, n_outputs, *its shape]
    rows = torch.cat([jac[k].reshape(n, -1) for k in params], dim=1)
    weights = _damped_solve(rows @ rows.T, (out - y).reshape(n, 1), damping)
    flat = (rows.T @ weights).squeeze(1).split([p.numel() for p in params.values()])
    return {k: g.view_as(params[k]) for k, g in zip(params, flat, strict=True)}


def _fit(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor | float,
    frozen: dict[str, torch.Tensor],
    rounds: int = FIT_ROUNDS,
    damping: float = FIT_DAMPING,
    head_damping: float = HEAD_DAMPING,
) -> dict[str, torch.Tensor]:
    """The ``fit`` rule: ``rounds`` × (a damped Gauss-Newton step on every parameter, then the head step)."""

    for _ in range(rounds):
        grads = _gauss_newton_grads(module, params, x, y, frozen, damping)
        moved = {k: params[k] - lr * grads[k] for k in params}
        params = step_params(module, moved, x, y, lr, frozen, "head", {"damping": head_damping})
    return params


def unexplained(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The share of the targets' variance the outputs leave unexplained on the batch: ‖f − y‖² / ‖y − ȳ‖²
    (ȳ: each output's mean over the samples), per init for outputs stacked [P, N, K]. 0 is an exact fit."""
    dims = (-2, -1)
    spread = ((targets - targets.mean(dim=-2, keepdim=True)) ** 2).sum(dim=dims).clamp_min(1e-30)
    return ((outputs - targets) ** 2).sum(dim=dims) / spread


def _has_body(module: nn.Module, params: dict[str, torch.Tensor]) -> bool:
    """Trainable parameters below the head: what ``fit`` moves and the head step does not. A linear learner has
    none, and for it ``fit``'s rounds would only repeat the ridge step, each one fitting its own random features
    closer (Acrobot-v1's wider ridge is worth 2-4.5 points of held-out inits, benchmarks/results_learners.md)."""
    return bool(set(params) - head_names(module, params))


def _auto(module: nn.Module, params: dict[str, torch.Tensor], x, y, lr, frozen, settings) -> dict[str, torch.Tensor]:
    """The ``auto`` rule for one learner: :func:`_auto_population` for one init, without stacking (any module)."""
    head = step_params(module, params, x, y, lr, frozen, "head", {"damping": settings["head_damping"]})
    if not _has_body(module, params):
        return head
    with torch.no_grad():
        left = float(unexplained(functional_call(module, {**frozen, **head}, (x,)), y))
    return head if left <= settings["tolerance"] else _fit_as(module, params, x, y, lr, frozen, settings)


def _fit_as(module: nn.Module, params: dict[str, torch.Tensor], x, y, lr, frozen, settings) -> dict[str, torch.Tensor]:
    """:func:`_fit` with a rule's recorded constants (``rounds``, ``damping``, ``head_damping``)."""
    return _fit(module, params, x, y, lr, frozen, int(settings["rounds"]), settings["damping"], settings["head_damping"])


def step_params(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor | float,
    frozen: dict[str, torch.Tensor] | None = None,
    rule: str = "sgd",
    settings: Mapping[str, float | int] | None = None,
) -> dict[str, torch.Tensor]:
    """θ1 = θ0 − lr · ∇θ mse(module(x; θ0), y), differentiable in every argument.

    Args:
        module: Supplies the computation; its own parameter values are not used.
        params: θ0, the parameters that take the step (by ``named_parameters`` name).
        x: Learner inputs [N, ...].
        y: Targets [N, n_outputs].
        lr: Step size (a tensor to learn it).
        frozen: Other parameters and buffers the forward needs (not stepped), e.g. a
            persistent encoder.
        rule: ``sgd`` (θ1 = θ0 − lr·g) or ``sgd-ls`` (θ1 = θ0 − lr·α*·g with α* the exact
            line-search step of the learner's linearised batch loss along −g, so ``lr`` is a
            dimensionless multiplier and the step does not depend on the learner's gradient scale),
            or ``gn`` (θ1 = θ0 − lr·Jᵀ(JJᵀ + λI)⁻¹(f(x) − y), one damped Gauss-Newton step: at
            ``lr`` = 1 every learner's linearised outputs on ``x`` move to ``y``, λ = ``GN_DAMPING``
            × the mean diagonal of JJᵀ), or ``head`` (the same step on the output layer alone,
            the last ``nn.Linear``, with λ = ``HEAD_DAMPING`` × its mean diagonal; every other
            parameter stays at its init: the outputs are linear in the head, so at ``lr`` = 1
            every learner's outputs on ``x`` move to ``y`` up to the damping, exactly, whatever
            the depth, activation, normalisation or init of the layers below), or ``fit``
            (``FIT_ROUNDS`` rounds of a ``gn`` step with λ = ``FIT_DAMPING`` × the mean diagonal,
            each followed by a ``head`` step: the hidden layers
            move too, and each round's head step re-fits the output layer on the moved features;
            several steps, not one, for learners whose random features cannot express the policy), or ``auto``
            (the ``head`` step, and ``fit`` instead for a learner whose head step leaves more than ``AUTO_TOLERANCE``
            of the targets' variance unexplained on the batch, :func:`unexplained`: every learner that can fit the
            batch with its output layer takes the head step, the others move their hidden layers too).
        settings: The rule's ``damping`` (and ``rounds``, ``head_damping`` for ``fit``, and ``tolerance`` for ``auto``) where they differ from
            this version's (:func:`rule_settings`): what a batch recorded when it was made.

    Returns:
        θ1 with the same keys as ``params``.
    """
    frozen = frozen or {}

    def forward(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(module, {**frozen, **p}, (x,))

    def loss_fn(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return inner_loss(forward(p), y)

    settings = rule_settings(rule, settings)
    if rule == "gn":
        grads = _gauss_newton_grads(module, params, x, y, frozen, settings["damping"])
        return {k: params[k] - lr * grads[k] for k in params}
    if rule == "fit":
        return _fit_as(module, params, x, y, lr, frozen, settings)
    if rule == "auto":
        return _auto(module, params, x, y, lr, frozen, settings)
    if rule == "head" and _closed_form_head(module, params):
        one = _head_step_closed_form(
            module, {k: v.unsqueeze(0) for k, v in params.items()}, x, y, lr, frozen, settings["damping"]
        )
        return {k: v.squeeze(0) for k, v in one.items()}
    if rule == "head":
        names = head_names(module, params)
        head = {k: v for k, v in params.items() if k in names}
        rest = {k: v for k, v in params.items() if k not in names}
        grads = _gauss_newton_grads(module, head, x, y, {**frozen, **rest}, settings["damping"])
        return {**rest, **{k: head[k] - lr * grads[k] for k in head}}
    grads = grad(loss_fn)(params)
    if rule == "sgd-ls":
        out, jg = jvp(forward, (params,), (grads,))
        lr = lr * _line_search(out, y, jg, dims=None)
    return {k: params[k] - lr * grads[k] for k in params}


def step_population(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor | float,
    frozen: dict[str, torch.Tensor] | None = None,
    rule: str = "sgd",
    settings: Mapping[str, float | int] | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`step_params` for ``P`` inits stacked on a leading dim, all on the same batch (``settings``: the
    rule's constants where they differ from this version's, as for :func:`step_params`).

    Plain MLPs take the step with batched matmuls: each init's loss depends only on its own
    parameters, so the gradient of the summed losses holds every init's own gradient. That is
    the same θ1 as ``vmap(step_params)`` (the other modules' path) at a fraction of the cost.
    The result is differentiable in ``x``, ``y``, ``lr`` and ``frozen`` when grad mode is on.
    """
    if rule == "auto":
        return _auto_population(module, params, x, y, lr, frozen or {}, rule_settings(rule, settings))
    if rule == "head" and _closed_form_head(module, params):
        return _head_step_closed_form(module, params, x, y, lr, frozen or {}, rule_settings(rule, settings)["damping"])
    if frozen or rule in GN_RULES or not is_plain_mlp(module):
        return torch.func.vmap(lambda p: step_params(module, p, x, y, lr, frozen, rule, settings))(params)
    count = next(iter(params.values())).shape[0]
    differentiable = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad for t in (x, y, lr, *params.values())
    )
    with torch.enable_grad():
        theta0 = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
        out = population_forward(module, theta0, x.expand(count, *x.shape))
        # mean over each init's elements, summed over inits
        loss = inner_loss(out, y.expand(count, *y.shape)) * count
        grads = torch.autograd.grad(loss, list(theta0.values()), create_graph=differentiable)
    # without a graph to keep (rollouts), θ1 must not hang off the leaves made above
    with torch.set_grad_enabled(differentiable):
        if rule == "sgd-ls":
            xs = x.expand(count, *x.shape)
            out, jg = jvp(
                lambda p: population_forward(module, p, xs),
                ({k: v if differentiable else v.detach() for k, v in theta0.items()},),
                (dict(zip(theta0, grads, strict=True)),),
            )
            alpha = _line_search(out, y.expand(count, *y.shape), jg, dims=(1, 2))  # one α per init
            return {k: theta0[k] - (lr * alpha).view(-1, *[1] * (g.dim() - 1)) * g for k, g in zip(theta0, grads, strict=True)}
        return {k: theta0[k] - lr * g for k, g in zip(theta0, grads, strict=True)}


def _auto_population(
    module: nn.Module,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: torch.Tensor | float,
    frozen: dict[str, torch.Tensor],
    settings: Mapping[str, float | int],
) -> dict[str, torch.Tensor]:
    """``auto`` for ``P`` stacked inits: the population's head step at once, then ``fit`` for each init whose head
    step leaves more than ``tolerance`` unexplained (a choice per init, so not under ``vmap``)."""
    head = step_population(module, params, x, y, lr, frozen, "head", {"damping": settings["head_damping"]})
    if not _has_body(module, params):
        return head
    count = next(iter(params.values())).shape[0]
    with torch.no_grad():
        out = population_forward(module, head, x.expand(count, *x.shape), frozen)
        refit = (unexplained(out, y) > settings["tolerance"]).nonzero().flatten().tolist()
    if not refit:
        return head
    rows = {i: _fit_as(module, {k: v[i] for k, v in params.items()}, x, y, lr, frozen, settings) for i in refit}
    return {k: torch.stack([rows[i][k] if i in rows else head[k][i] for i in range(count)]) for k in head}


def one_step(module: nn.Module, batch: Batch, *, inplace: bool = False) -> nn.Module:
    """Teach ``module`` with one SGD step on ``batch`` (the distillhub one-step rule).

    Works on any ``nn.Module`` that maps [N, *obs_shape] to [N, n_outputs], each output row from
    its own observation (as a policy does). Parameters with ``requires_grad=False`` are left as they are.

    Args:
        module: A freshly initialised learner (see :func:`distillhub.learners.build_learner`).
        batch: The distilled batch.
        inplace: Update ``module`` itself instead of a copy.

    Returns:
        The stepped module (a copy unless ``inplace``).
    """
    out = module if inplace else copy.deepcopy(module)
    device = next(out.parameters()).device
    b = batch.to(device)
    trainable = {n: p.detach() for n, p in out.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in out.named_parameters() if not p.requires_grad}
    frozen.update({n: t for n, t in out.named_buffers()})
    lr = torch.tensor(float(batch.learning_rate), device=device)
    new = step_params(
        out, trainable, b.learner_inputs(), b.targets.float(), lr, frozen, batch.inner_step, batch.step_settings
    )
    if not all(bool(torch.isfinite(v).all()) for v in new.values()):
        raise DistillhubError(
            f"one step on this batch (learning rate {float(batch.learning_rate):.4g}) gives non-finite parameters "
            "for this learner; the batch is broken or the learner's init is far from the one it was made for"
        )
    with torch.no_grad():
        for n, p in out.named_parameters():
            if n in new:
                p.copy_(new[n])
    return out
