"""Training curves drawn from a run's metrics.jsonl (matplotlib imported lazily, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

from rnn_jax.training import runs


def plot_training_curves(workdir: str | os.PathLike, path: str | os.PathLike | None = None,
                         title: str | None = None) -> Path:
    """Loss and accuracy per epoch, training vs validation, with the best epoch marked.

    Args:
      workdir: a run folder holding `metrics.jsonl` (records with `epoch`, `train_loss`,
        `validation_loss`, `train_accuracy`, `validation_accuracy`, `best_epoch`).
      path: the PNG to write (default `workdir/curves.png`).
      title: the figure's title (default: the folder's name).

    Returns:
      The path of the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = runs.read_metrics(workdir)
    if not records:
        raise ValueError(f"{Path(workdir) / runs.METRICS_FILE} holds no epochs to plot")
    path = Path(path) if path is not None else Path(workdir) / "curves.png"
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, name, scale in ((axes[0], "loss", 1.0), (axes[1], "accuracy", 100.0)):
        for split, style in (("train", "o-"), ("validation", "s-")):
            values = [_number(r.get(f"{split}_{name}")) * scale for r in records]
            ax.plot(epochs, values, style, label=split, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name + (" (%)" if name == "accuracy" else " (binary cross-entropy)"))
        ax.grid(alpha=0.3)
    best = records[-1].get("best_epoch")
    if best:
        for ax in axes:
            ax.axvline(best, color="gray", linestyle=":", label=f"best epoch {best}")
    axes[1].legend()
    fig.suptitle(title or Path(workdir).absolute().name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
