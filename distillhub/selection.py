"""Held-out selection: which batch a run keeps, and when it stops early.

Every ``eval_every`` meta-iterations the distiller evaluates the current batch on held-out inits
(:meth:`Distiller.quick_eval`); :class:`Selection` records the result, keeps a snapshot of the batch
whose worst held-out init is best (ties broken by the mean), and counts how many evaluations in a
row reached the target, for the early stop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class Selection:
    """The held-out record of a run.

    Args:
        target: Return the worst held-out init must reach (``None``: no early stop).
        patience: Evaluations in a row at the target before the run stops.
    """

    def __init__(self, target: float | None, patience: int):
        self.target = target
        self.patience = patience
        self.history: list[dict] = []  # {"step", "min", "mean"} per evaluation
        self.best: dict | None = None  # {"min", "mean", "step", "snapshot"}
        self.streak = 0

    def record(self, step: int, per_init: torch.Tensor, snapshot: Callable[[], dict]) -> tuple[float, float]:
        """Record one evaluation; ``snapshot`` is called only when this batch becomes the best.

        Returns:
            (worst init, mean over inits)
        """
        worst, mean = float(per_init.min()), float(per_init.mean())
        self.history.append({"step": step, "min": worst, "mean": mean})
        if self.best is None or (worst, mean) >= (self.best["min"], self.best["mean"]):
            self.best = {"min": worst, "mean": mean, "step": step, "snapshot": snapshot()}
        self.streak = self.streak + 1 if self.target is not None and worst >= self.target else 0
        return worst, mean

    def reached(self) -> bool:
        """The worst held-out init has been at the target ``patience`` evaluations in a row."""
        return self.target is not None and self.streak >= self.patience

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors (the best snapshot) and JSON (the rest) for a checkpoint."""
        tensors = {f"best.{k}": v for k, v in self.best["snapshot"].items()} if self.best else {}
        meta = {
            "eval_history": self.history,
            "best": {k: v for k, v in self.best.items() if k != "snapshot"} if self.best else None,
            "streak": self.streak,
        }
        return tensors, meta

    def load(self, tensors: dict[str, torch.Tensor], meta: dict, device: torch.device) -> None:
        """Inverse of :meth:`state`."""
        self.history = meta["eval_history"]
        self.streak = meta["streak"]
        if meta["best"]:
            snap = {k[len("best.") :]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
            self.best = {**meta["best"], "snapshot": snap}
