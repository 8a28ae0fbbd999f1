"""``curves.png`` beside every run's ``results.json``: loss terms per epoch and, where
evaluation ran during training, R1 / mAP of each protocol per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LOSS_TERMS = ("total", "id", "tri", "cfc", "csc")  # the keys ReIDObjective logs
CURVES_SIZE = (1000, 380)  # pixels


def draw_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Left: each loss term's epoch mean (log scale); right: R1 and mAP of every evaluated epoch."""
    from matplotlib.figure import Figure

    from sfcl.fileio import save_figure

    dpi = 100
    fig = Figure(figsize=(CURVES_SIZE[0] / dpi, CURVES_SIZE[1] / dpi))
    losses, metrics = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in history]
    for key in LOSS_TERMS:
        points = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), float) and r[key] > 0]
        if points:
            losses.plot(*zip(*points), marker="o", markersize=3, label=f"L_{key}" if key != "total" else "total")
    losses.set_yscale("log")
    losses.set(xlabel="epoch", ylabel="loss (epoch mean)", title="training loss")
    losses.legend(fontsize=8)
    evaluated = [r for r in history if r.get("eval")]
    for name in (evaluated[0]["eval"] if evaluated else {}):
        xs = [r["epoch"] for r in evaluated]
        for key, style in (("r1", "--"), ("mAP", "-")):
            metrics.plot(xs, [r["eval"][name][key] for r in evaluated], style, marker="o", markersize=3,
                         label=f"{name} {'R1' if key == 'r1' else key}")
    if evaluated:
        metrics.legend(fontsize=8)
    else:
        metrics.text(0.5, 0.5, "no evaluation during training", ha="center", va="center", transform=metrics.transAxes)
    metrics.set(xlabel="epoch", ylabel="%", title="evaluation")
    if epochs:
        for ax in (losses, metrics):
            ax.set_xlim(0.5, max(epochs) + 0.5)
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi)
