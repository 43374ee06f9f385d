"""PNG plots of the lecture's demonstrations, drawn from their run folders (results.json, metrics.jsonl).

matplotlib is imported lazily (Agg backend), so importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnn_jax.training import runs

CELL_LABELS = {"simple_rnn": "Simple RNN", "lstm": "LSTM", "gru": "GRU"}


def _ordered(names):
    """Cells in the lecture's order (Simple RNN, LSTM, GRU), others after (results.json sorts keys)."""
    order = list(CELL_LABELS)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def pyplot():
    """matplotlib.pyplot with the Agg backend (files only, no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write `fig` to `path` (a PNG; its folder is created; atomically), close it, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with runs.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    pyplot().close(fig)
    return path


def _floats(values):
    return [float(v) if v is not None else float("nan") for v in values]


def plot_why_tanh(workdir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """||h_t|| / ||h_0|| against t, log scale: radius^t without activation, bounded with tanh."""
    import numpy as np

    plt = pyplot()
    results = runs.load_json(Path(workdir) / runs.RESULTS_FILE)
    records = runs.read_metrics(workdir)
    n = results["num_steps"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {}
    for record in records:
        radius = record["radius"]
        color = colors.setdefault(radius, f"C{len(colors)}")
        ratio = np.array(_floats(record["norm_ratio"]))
        t = np.arange(ratio.size)
        style = "-" if record["activation"] == "identity" else ":"
        label = f"radius {radius}, " + ("no activation" if record["activation"] == "identity" else "tanh")
        for ax, stop in ((axes[0], n + 1), (axes[1], ratio.size)):
            finite = np.isfinite(ratio[:stop]) & (ratio[:stop] > 0)
            ax.plot(t[:stop][finite], ratio[:stop][finite], style, color=color, label=label, lw=1.6)
        if record["activation"] == "identity":
            axes[0].plot(t[: n + 1], float(radius) ** t[: n + 1], "--", color="k", lw=0.7, alpha=0.6)
            info = results["radii"].get(str(radius), {})
            step = info.get("float32_first_inf_step")
            if step is not None:
                axes[1].axvline(step, color=color, lw=0.8, ls="--")
                axes[1].annotate(
                    f"float32 inf at t={step}",
                    (step, 1e-30),
                    rotation=90,
                    fontsize=8,
                    color=color,
                    ha="right",
                    va="bottom",
                )
    for radius, info in results["radii"].items():
        axes[0].annotate(
            f"{radius}^{n} = {info['theory']:.4g}", (n, info["theory"]), fontsize=8, ha="right", va="bottom"
        )
    axes[0].set_title(f"zero inputs: ‖h_t‖/‖h_0‖ vs radius^t (dashed), t ≤ {n}")
    axes[1].set_title("float32 until overflow (no activation) vs tanh")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.set_ylabel("‖h_t‖ / ‖h_0‖")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_vanishing_gradients(workdir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """||dh_t/dx_1|| (Frobenius) against t, log scale, one curve per model: all t, and t <= 120."""
    import numpy as np

    plt = pyplot()
    records = runs.read_metrics(workdir)
    results = runs.load_json(Path(workdir) / runs.RESULTS_FILE)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for i, record in enumerate(records):
        t = np.array(record["t"])
        values = np.array(_floats(record["frobenius"]))
        for ax, stop in ((axes[0], t.size), (axes[1], min(t.size, 120))):
            keep = (values[:stop] > 0) & np.isfinite(values[:stop])
            ax.plot(t[:stop][keep], values[:stop][keep], color=f"C{i % 10}", label=record["label"], lw=1.4)
    for ax in axes:
        ax.set_yscale("log")
        ax.axvline(100, color="k", lw=0.7, ls="--")
        ax.set_xlabel("step t")
        ax.set_ylabel("‖∂h_t/∂x_1‖ (Frobenius)")
        ax.grid(True, alpha=0.3)
    axes[1].set_ylim(bottom=1e-30)
    axes[0].set_title(f"exact Jacobians of one sequence ({results.get('dtype', '')})")
    axes[1].set_title("t ≤ 120; dashed: the lecture's ∂h_100/∂x_1")
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_long_memory(workdir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Test accuracy against the gap k for each cell, with chance and the 90 % line."""
    plt = pyplot()
    results = runs.load_json(Path(workdir) / runs.RESULTS_FILE)
    records = runs.read_metrics(workdir)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, cell in enumerate(_ordered(results["accuracy"])):
        by_gap = results["accuracy"][cell]
        gaps = sorted(by_gap, key=int)
        largest = results["largest_gap_at_threshold"].get(cell)
        label = f"{CELL_LABELS.get(cell, cell)} (≥90 % up to k = {largest})"
        ax.plot([int(g) for g in gaps], [by_gap[g] for g in gaps], "o-", color=f"C{i}", label=label)
        seeds = [r for r in records if r["cell"] == cell]
        if len({r["seed"] for r in seeds}) > 1:
            ax.scatter(
                [r["gap"] for r in seeds], [r["test_accuracy"] for r in seeds], s=10, color=f"C{i}", alpha=0.4
            )
    ax.axhline(results["threshold"], color="k", lw=0.8, ls="--", label=f"{results['threshold']:.0%}")
    ax.axhline(results["chance"], color="gray", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("gap k: steps from the answer to the query")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("I grew up in China ... (k steps) ... I speak fluent ___")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_parameter_count(workdir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Parameters of each cell for the lecture's sizes: the formula beside the built model's count."""
    plt = pyplot()
    results = runs.load_json(Path(workdir) / runs.RESULTS_FILE)
    cells = results["cells"]
    names = _ordered(cells)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [cells[n]["formula"] for n in names], width=0.4, label="formula")
    ax.bar([i + 0.2 for i in x], [cells[n]["built"] for n in names], width=0.4, label="built model")
    for i, n in enumerate(names):
        ax.annotate(
            f"{cells[n]['built']:,}", (i + 0.2, cells[n]["built"]), ha="center", va="bottom", fontsize=8
        )
    ax.set_xticks(list(x), [CELL_LABELS.get(n, n) for n in names])
    ax.set_ylabel("parameters")
    ax.set_title(f"shape(h) = {results['hidden_size']}, shape(x) = {results['input_size']}")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
