"""PNG plots of an evaluation: metrics per checkpoint (each baseline a horizontal line) and the training loss."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from radreport.evaluation.systems import is_checkpoint, step_of_system  # noqa: E402

SHOWN = ("rougeL", "meteor", "bertscore_f1", "clinical_f1_micro")
BASELINE_LINES = {"base": ":", "constant": "--", "nearest_neighbour": "-.", "copy_input": (0, (1, 4)),
                  "positive_sentences": (0, (6, 3))}


def metrics_plot(scores: pd.DataFrame, path: Path) -> Path:
    steps = [s for s in scores.index if is_checkpoint(s)]
    x = [step_of_system(s) for s in steps]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, metric in enumerate(m for m in SHOWN if m in scores.columns):
        color = f"C{i}"
        ax.plot(x, scores.loc[steps, metric], marker="o", color=color, label=metric)
        for system, style in BASELINE_LINES.items():
            if system in scores.index:
                ax.axhline(scores.loc[system, metric], color=color, linestyle=style, linewidth=1)
    for system, style in BASELINE_LINES.items():  # one grey legend entry per baseline's line style
        if system in scores.index:
            ax.plot([], [], color="grey", linestyle=style, linewidth=1, label=system)
    ax.set(xlabel="checkpoint step", ylabel="score", title="held-out metrics beside the baselines")
    ax.legend(fontsize="small")
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
