"""PNG plots of an evaluation: metrics per checkpoint (baselines as dashed lines) and the training loss."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

SHOWN = ("rougeL", "meteor", "bertscore_f1")


def metrics_plot(scores: pd.DataFrame, path: Path) -> Path:
    steps = [s for s in scores.index if s.startswith("step-")]
    x = [int(s.split("-")[1]) for s in steps]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, metric in enumerate(m for m in SHOWN if m in scores.columns):
        color = f"C{i}"
        ax.plot(x, scores.loc[steps, metric], marker="o", color=color, label=metric)
        for system, style in (("base", ":"), ("trivial", "--")):
            ax.axhline(scores.loc[system, metric], color=color, linestyle=style, linewidth=1)
    ax.set(xlabel="checkpoint step", ylabel="score", title="held-out metrics (dotted: base, dashed: trivial)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def loss_plot(log_history: list[dict], path: Path) -> Path:
    points = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(*zip(*points), marker=".")
    ax.set(xlabel="optimizer step", ylabel="train loss", title="training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
