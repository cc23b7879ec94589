"""The MuJoCo table as a picture: one-step return over our PPO's at equal env steps, per env and CPU budget.

Reads the Markdown rows `mujoco_envs.py table` printed into a results file (each block starts with its
"Distillation: N s each" line; a later row of the same env and budget replaces an earlier one) and draws, per env,
the mean of the unseen inits and the worst init as a share of our PPO's return, with the issue's 0.9 line.

    cd benchmarks && python plot_mujoco.py results_mujoco_encoder.txt --out mujoco_vs_ppo.png
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BUDGET = re.compile(r"^Distillation: (\d+) s each")


def ratio(value: float, ppo: float) -> float:
    """Return over PPO's; for envs whose returns are negative (Reacher, Pusher) PPO's over the return, so that
    above 1 is better than PPO either way (as the table's ratio column)."""
    return value / ppo if ppo > 0 else ppo / value


def read_rows(path: Path) -> dict[int, dict[str, tuple[float, float]]]:
    """{budget seconds: {env: (mean ratio, worst-init ratio)}} from a results file."""
    rows: dict[int, dict[str, tuple[float, float]]] = {}
    budget = None
    for line in path.read_text().splitlines():
        if m := BUDGET.match(line):
            budget = int(m[1])
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if budget is None or len(cells) < 8 or not cells[0].endswith("-v5"):
            continue
        mean, worst, ppo = float(cells[3]), float(cells[4]), float(cells[6])
        rows.setdefault(budget, {})[cells[0]] = (ratio(mean, ppo), ratio(worst, ppo))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", type=Path)
    p.add_argument("--out", type=Path, default=Path("mujoco_vs_ppo.png"))
    a = p.parse_args()
    rows = read_rows(a.results)
    envs = sorted({e for by_env in rows.values() for e in by_env})
    budgets = sorted(rows)
    width = 0.8 / len(budgets)
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(envs)), 4))
    for i, b in enumerate(budgets):
        xs = [j + (i - (len(budgets) - 1) / 2) * width for j, e in enumerate(envs) if e in rows[b]]
        got = [rows[b][e] for e in envs if e in rows[b]]
        ax.bar(xs, [g[0] for g in got], width, label=f"{b // 60} min: mean of 10 unseen inits", alpha=0.85)
        ax.scatter(xs, [g[1] for g in got], marker="v", color="k", s=18, zorder=3,
                   label="worst init" if i == 0 else None)  # fmt: skip
    ax.axhline(0.9, color="r", ls="--", lw=1, label="0.9 of our PPO")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(envs)), [e.removesuffix("-v5") for e in envs], rotation=30, ha="right")
    ax.set_ylabel("one step / our PPO, same env steps")
    ax.set_title("MuJoCo v5, this 2-core CPU: a fresh init after one step vs PPO", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    for b in budgets:
        print(f"{b} s:", ", ".join(f"{e} {m:.2f} (worst {w:.2f})" for e, (m, w) in sorted(rows[b].items())))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
