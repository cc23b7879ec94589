"""A policy is a fresh learner after the one step, plus what it takes to act in the env."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from distillhub.batch import Batch, normalize
from distillhub.envs import env_info
from distillhub.errors import DistillhubError
from distillhub.learners import build_learner, reinit_
from distillhub.onestep import one_step
from distillhub.validate import check_encoder

EVAL_SEED_OFFSET = 1_000_000


def init_generator(seed: int) -> torch.Generator:
    """The generator a learner init with ``seed`` is drawn from."""
    return torch.Generator().manual_seed(int(seed))


class Policy(nn.Module):
    """The stepped learner wrapped for acting.

    ``policy(obs)`` returns the raw outputs (logits or action means) of normalised
    observations; :meth:`act` takes raw env observations and returns env actions.
    """

    def __init__(self, learner: nn.Module, batch: Batch, action_low=None, action_high=None):
        super().__init__()
        self.learner = learner
        self.continuous = batch.action_space == "continuous"
        self.obs_shape = batch.obs_shape
        device = next(learner.parameters()).device
        self.register_buffer("obs_mean", None if batch.obs_mean is None else batch.obs_mean.to(device))
        self.register_buffer("obs_std", None if batch.obs_std is None else batch.obs_std.to(device))
        self.register_buffer("log_std", None if batch.log_std is None else batch.log_std.to(device))
        self.action_low = None if action_low is None else np.asarray(action_low, dtype=np.float32)
        self.action_high = None if action_high is None else np.asarray(action_high, dtype=np.float32)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.learner(normalize(obs, self.obs_mean, self.obs_std))

    @torch.no_grad()
    def act(self, obs, deterministic: bool = True, generator: torch.Generator | None = None):
        """Env action(s) for raw observation(s).

        Args:
            obs: One observation of the env's shape, or a batch of them.
            deterministic: Argmax / mean action; else sample (Gaussian with the batch's log-std).
            generator: Randomness for sampling.

        Returns:
            An ``int`` (discrete) or ``np.ndarray`` (continuous, clipped to the action bounds)
            for one observation; an array of actions for a batch.
        """
        device = next(self.learner.parameters()).device
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
        single = tuple(x.shape) == tuple(self.obs_shape)
        if single:
            x = x.unsqueeze(0)
        out = self(x)
        if self.continuous:
            if not deterministic:
                noise = torch.randn(out.shape, generator=generator, device="cpu").to(device)
                out = out + noise * self.log_std.exp()
            a = out.cpu().numpy()
            if self.action_low is not None:
                a = np.clip(a, self.action_low, self.action_high)
        else:
            if deterministic:
                a = out.argmax(-1).cpu().numpy()
            else:
                a = torch.multinomial(out.softmax(-1).cpu(), 1, generator=generator).squeeze(-1).numpy()
        return (int(a[0]) if not self.continuous else a[0]) if single else a


def policy_from_batch(
    batch: Batch,
    arch: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    init: str | None = None,
    module: nn.Module | None = None,
    allow_import: bool = False,
) -> Policy:
    """Fresh init of the recorded (or given) learner, one step on ``batch``, wrapped.

    Args:
        batch: The distilled batch.
        arch: Another architecture spec to teach instead of the recorded one.
        seed: Seed of the learner's init.
        device: Where the policy lives.
        init: Another init scheme than the recorded one.
        module: Your own ``nn.Module`` (with its own init) to teach instead of building one;
            it must map a float batch [B, *obs_shape] to [B, n_outputs]. A copy is stepped.
        allow_import: Let a ``module:EnvId`` env id import its module.
    """
    info = env_info(batch.env_id, batch.env_kwargs, allow_import=allow_import)
    if module is not None:
        learner = copy.deepcopy(module).to(device)
        check_module(learner, batch, device)
    else:
        learner = build_learner(arch or batch.architecture, batch.obs_shape, batch.n_outputs)
        reinit_(learner, init or batch.init, init_generator(seed))
        if batch.encoder:
            # a persistent encoder is published with the batch: load it and keep it fixed
            check_encoder(batch, learner)
            state = learner.state_dict()
            state.update(batch.encoder)
            learner.load_state_dict(state)
            for name, p in learner.named_parameters():
                p.requires_grad_(name not in batch.encoder)
        learner.to(device)
    learner = one_step(learner, batch, inplace=True)
    return Policy(learner, batch, info.action_low, info.action_high).eval()


def check_module(module: nn.Module, batch: Batch, device: str | torch.device = "cpu") -> None:
    """A user's module maps [B, *obs_shape] to [B, n_outputs] and has parameters to step."""
    if not isinstance(module, nn.Module):
        raise DistillhubError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not any(p.requires_grad for p in module.parameters()):
        raise DistillhubError("the module has no trainable parameters for the one step to change")
    probe = torch.zeros((2, *batch.obs_shape), device=device)
    with torch.no_grad():
        try:
            out = module(probe)
        except Exception as e:  # any user module error
            raise DistillhubError(
                f"the module fails on a batch of observations {[2, *batch.obs_shape]}: {type(e).__name__}: {e}"
            ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, batch.n_outputs):
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise DistillhubError(f"the module must map [B, {', '.join(map(str, batch.obs_shape))}] to [B, {batch.n_outputs}], got {shape}")
