"""Pictures of a batch's results (matplotlib, drawn off-screen)."""

from __future__ import annotations

from pathlib import Path

from distillhub.errors import DistillhubError


def check_plot_path(path: str | Path) -> Path:
    """A ``.png`` path whose folder exists (checked before any long work)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DistillhubError(f"--plot must name a .png file, got {path}")
    if not path.parent.is_dir():
        raise DistillhubError(f"--plot: folder {path.parent} does not exist; create it first")
    return path


def plot_learners(rows: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """Bar chart of the mean and the worst init per learner, with the env's threshold line.

    Args:
        rows: Learner label -> an :meth:`EvalResult.summary` (plus ``in_distribution``).
        path: Where the PNG goes (written atomically).
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillhub.batch import atomic_write

    path = check_plot_path(path)
    labels = list(rows)
    means = [rows[k]["mean"] for k in labels]
    worst = [rows[k]["min"] for k in labels]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4.5))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], means, width=0.4, label="mean over inits", color="#4c72b0")
    ax.bar([x + 0.2 for x in xs], worst, width=0.4, label="worst init", color="#dd8452")
    threshold = next((r["threshold"] for r in rows.values() if "threshold" in r), None)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_xticks(list(xs))
    names = [f"{k}{'' if rows[k].get('in_distribution') else ' *'}" for k in labels]
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("return after one step")
    ax.set_title(title + ("\n* = not in the distribution the batch was distilled for" if not all(
        rows[k].get("in_distribution") for k in labels) else ""), fontsize=10)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


LEARNING_CURVE_FILE = "learning_curve.png"
LEARNERS_FILE = "learners.png"


def plot_learning_curve(
    history: list[dict], path: str | Path, threshold: float | None = None, reference: float | None = None, title: str = ""
) -> Path:
    """Held-out worst and mean return vs env steps during distillation, with threshold and PPO lines.

    Args:
        history: ``training.eval_history`` rows (``step``, ``min``, ``mean``).
        path: Where the PNG goes (written atomically).
        threshold: The env's "solved" return, drawn dashed.
        reference: The PPO reference return, drawn dotted.
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillhub.batch import atomic_write

    path = check_plot_path(path)
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(steps, [h["mean"] for h in history], label="held-out mean", color="#4c72b0")
    ax.plot(steps, [h["min"] for h in history], label="held-out worst init", color="#dd8452")
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    if reference is not None and reference != threshold:
        ax.axhline(reference, color="gray", linestyle=":", linewidth=1, label=f"PPO reference {reference:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("return after one step")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
