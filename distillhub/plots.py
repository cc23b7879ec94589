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


def _pyplot():
    """matplotlib's pyplot on the off-screen Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write ``fig`` as PNG atomically and free it."""
    import matplotlib.pyplot as plt

    from distillhub.batch import atomic_write

    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_learners(rows: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """Bar chart of the mean and the worst init per learner, with the env's threshold line.

    Args:
        rows: Learner label -> an :meth:`EvalResult.summary` (plus ``in_distribution``).
        path: Where the PNG goes (written atomically).
        title: Figure title.
    """
    plt = _pyplot()
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
    return _save(fig, path)


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
    plt = _pyplot()
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
    return _save(fig, path)


SAMPLES_FILE = "samples.png"


def plot_samples(batch, path: str | Path) -> Path:
    """The synthetic samples as a picture.

    Pixel batches ([C, H, W] observations): a grid with one row per sample and one column per
    stacked frame, the target action in the row title. Vector batches: the observations as a
    heatmap (samples × features, in units of the recorded ``obs_std`` when the batch is normalised)
    beside the targets (logits with the greedy action marked, or action means).
    """
    import numpy as np

    plt = _pyplot()
    path = check_plot_path(path)
    obs = batch.observations.detach().float().cpu().numpy()
    targets = batch.targets.detach().float().cpu().numpy()
    discrete = batch.action_space == "discrete"
    n = obs.shape[0]
    if obs.ndim == 4:  # pixel stacks
        frames = obs.shape[1]
        shown = min(n, 16)
        fig, axes = plt.subplots(shown, frames, figsize=(1.6 * frames, 1.7 * shown), squeeze=False)
        for i in range(shown):
            label = f"action {int(targets[i].argmax())}" if discrete else "mean " + np.array2string(targets[i], precision=2)
            for j in range(frames):
                ax = axes[i][j]
                ax.imshow(obs[i, j], cmap="gray")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(f"#{i}: {label}", fontsize=7)
        fig.suptitle(f"{batch.env_id}: {n} synthetic observations (stacked frames or object channels left to right)", fontsize=9)
    else:
        flat = obs.reshape(n, -1)
        shown = flat
        unit = "raw units"
        if batch.obs_mean is not None:
            mean = np.broadcast_to(batch.obs_mean.float().numpy(), obs.shape[1:]).reshape(-1)
            std = np.broadcast_to(batch.obs_std.float().numpy(), obs.shape[1:]).reshape(-1)
            shown = (flat - mean) / std
            unit = "standardised by the batch's obs_mean / obs_std"
        if n > MANY_SAMPLES:
            fig = _many_vector_samples(plt, batch.env_id, shown, unit, targets, discrete)
            return _save(fig, path)
        width = 3 + 0.35 * flat.shape[1] + 0.5 * targets.shape[1]
        fig, (a1, a2) = plt.subplots(
            1, 2, figsize=(min(width, 18), 1.2 + 0.3 * n), gridspec_kw={"width_ratios": [flat.shape[1], max(2, targets.shape[1])]},
            squeeze=True,
        )  # fmt: skip
        lim = float(np.abs(shown).max()) or 1.0
        im = a1.imshow(shown, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim)
        a1.set_xlabel(f"observation feature ({unit})", fontsize=8)
        a1.set_ylabel("sample", fontsize=8)
        fig.colorbar(im, ax=a1, fraction=0.04)
        tl = float(np.abs(targets).max()) or 1.0
        im2 = a2.imshow(targets, aspect="auto", cmap="PiYG", vmin=-tl, vmax=tl)
        a2.set_xlabel("target logit" if discrete else "target action mean", fontsize=8)
        a2.set_yticks([])
        if discrete:
            for i, a in enumerate(targets.argmax(1)):
                a2.text(a, i, "★", ha="center", va="center", fontsize=8)
        fig.colorbar(im2, ax=a2, fraction=0.08)
        fig.suptitle(f"{batch.env_id}: the {n} synthetic samples (★ = greedy action)" if discrete else f"{batch.env_id}: the {n} synthetic samples", fontsize=9)
    return _save(fig, path)


# more vector samples than this are drawn as a sorted heatmap and a scatter, not one row each
MANY_SAMPLES = 32


def _many_vector_samples(plt, env_id: str, shown, unit: str, targets, discrete: bool):
    """Many vector samples at a glance: the observations as a heatmap sorted by the target (greedy action, or the
    first action mean), and the samples on the two features that separate the targets most, coloured by target."""
    import numpy as np

    n, features = shown.shape
    label = targets.argmax(1) if discrete else targets[:, 0]
    order = np.argsort(label, kind="stable")
    if discrete:  # features whose per-action means differ most, in units of their spread
        means = np.stack([shown[label == a].mean(0) for a in np.unique(label)])
        score = np.ptp(means, axis=0) / (shown.std(0) + 1e-12)
    else:  # features most correlated with the first action mean
        centred, t = shown - shown.mean(0), label - label.mean()
        score = np.abs(centred.T @ t) / (np.linalg.norm(centred, axis=0) * np.linalg.norm(t) + 1e-12)
    ranked = [int(i) for i in np.argsort(-score)]
    fx, fy = (ranked + ranked)[:2]  # one feature: plotted against itself
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1, 1.2]})
    lim = float(np.abs(shown).max()) or 1.0
    im = a1.imshow(shown[order], aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
    if features <= 24:
        a1.set_xticks(range(features))
    if discrete:  # where one action's samples end and the next one's begin
        for edge in np.flatnonzero(np.diff(label[order])) + 0.5:
            a1.axhline(edge, color="black", linewidth=1)
    a1.set_xlabel(f"observation feature ({unit})", fontsize=8)
    a1.set_ylabel("sample, sorted by " + ("greedy action" if discrete else "target action mean 0"), fontsize=8)
    fig.colorbar(im, ax=a1, fraction=0.05)
    if discrete:
        cmap = plt.get_cmap("tab10")
        for a in np.unique(label):
            m = label == a
            a2.scatter(shown[m, fx], shown[m, fy], s=12, color=cmap(int(a) % 10), label=f"action {int(a)} ({int(m.sum())})")
        a2.legend(fontsize=7, loc="best")
    else:
        sc = a2.scatter(shown[:, fx], shown[:, fy], s=12, c=label, cmap="PiYG")
        fig.colorbar(sc, ax=a2, fraction=0.05, label="target action mean 0")
    a2.set_xlabel(f"feature {fx}", fontsize=8)
    a2.set_ylabel(f"feature {fy}", fontsize=8)
    a2.set_title("the two features that separate the targets most", fontsize=8)
    fig.suptitle(f"{env_id}: the {n} synthetic samples", fontsize=9)
    return fig
