"""Training curves drawn from a run's metrics.jsonl (matplotlib imported lazily, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

from rnn_jax.training import runs


def plot_training_curves(
    workdir: str | os.PathLike, path: str | os.PathLike | None = None, title: str | None = None
) -> Path:
    """Each metric per epoch, training vs validation, one panel each, with the best epoch marked.

    Args:
      workdir: a run folder holding `metrics.jsonl` (records with `epoch`, `best_epoch` and pairs
        `train_<metric>` / `validation_<metric>`, e.g. loss and accuracy, or loss and perplexity).
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
    names = [
        k.removeprefix("train_")
        for k in records[0]
        if k.startswith("train_") and f"validation_{k.removeprefix('train_')}" in records[0]
    ]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        scale, unit = (100.0, " (%)") if name == "accuracy" else (1.0, UNITS.get(name, ""))
        for split, style in (("train", "o-"), ("validation", "s-")):
            ax.plot(
                epochs,
                [_number(r.get(f"{split}_{name}")) * scale for r in records],
                style,
                label=split,
                markersize=4,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name + unit)
        ax.grid(alpha=0.3)
    best = records[-1].get("best_epoch")
    if best:
        for ax in axes[0]:
            ax.axvline(best, color="gray", linestyle=":", label=f"best epoch {best}")
    axes[0][-1].legend()
    fig.suptitle(title or Path(workdir).absolute().name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


UNITS = {"loss": " (cross-entropy)"}


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
