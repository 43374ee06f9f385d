"""PNGs of the memory sweep, drawn from its run folder: learning curves per T and the largest solved T."""

from __future__ import annotations

from pathlib import Path

from rnn_jax.studies.memory import records, train
from rnn_jax.studies.plots import pyplot, save_figure
from rnn_jax.training import runs

_COLORS = {"simple_rnn": "C0", "irnn": "C3", "lstm": "C1", "gru": "C2"}


def plot_learning_curves(workdir: str | Path, task: str) -> Path | None:
    """`<workdir>/<task>/learning_curves.png`: validation metric against steps, one panel per T (both
    axes logarithmic when the longest run took over 20 times the steps of the shortest); a dot marks
    the model an unsolved run was tested on when it is not the last (its best on validation)."""
    task_dir = Path(workdir) / task
    latest = records.latest_records(task_dir)
    if not latest:
        return None
    plt = pyplot()
    lengths = sorted({t for _, t in latest})
    columns = min(3, len(lengths))
    rows = -(-len(lengths) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    # Steps on a log axis when one run is 20 times longer than another: it would squeeze the short ones.
    log_steps = max(r["steps"] for r in latest.values()) > 20 * min(r["steps"] for r in latest.values())
    for ax, seq_len in zip(axes.flat, lengths, strict=False):
        for cell in train.CELLS:
            record = latest.get((cell, seq_len))
            history = records.read_curve(task_dir, cell, seq_len)
            if record is None or not history:
                continue
            steps = [h["step"] for h in history]
            values = [h["validation"] for h in history]
            style = "-" if record["solved"] else "--"  # dashed: not solved on the test sequences
            ax.plot(steps, values, style, color=_COLORS[cell], label=train.CELL_LABELS[cell])
            point = tested_point(record, steps, values)
            if point is not None:
                ax.plot(*point, "o", color=_COLORS[cell], markersize=7, markeredgecolor="black", zorder=3)
        if log_steps:
            ax.set_xscale("log")
        else:  # 150000 and 200000 side by side would run into each other
            ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:g}k" if x else "0")
        baseline = train.baseline(task, seq_len)
        ax.axhline(baseline, color="gray", linestyle="--", linewidth=1, label="memoryless baseline")
        threshold = next(r["threshold"] for (c, t), r in latest.items() if t == seq_len)
        ax.axhline(threshold, color="black", linestyle=":", linewidth=1, label="solved below")
        ax.set_yscale("log")
        ax.set_ylim(top=max(3 * baseline, 1e-4))
        ax.set_title(f"{task}, T = {seq_len} (dashed: not solved; dot: tested)", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation MSE" if task == "adding" else "validation cross-entropy")
    for ax in list(axes.flat)[len(lengths) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    return save_figure(fig, task_dir / "learning_curves.png", dpi=100)


def tested_point(record: dict, steps: list[int], values: list[float]) -> tuple[int, float] | None:
    """(step, validation) of the model a run was tested on, when that is not its last step (an
    unsolved run tested at its best on validation); None otherwise (older records: tested at the end)."""
    tested = record.get("tested_step", record["steps"])
    if tested < record["steps"] and tested in steps:
        return tested, values[steps.index(tested)]
    return None


def plot_largest_solved(workdir: str | Path) -> Path | None:
    """`<workdir>/largest_solved.png`: per task, the largest T each cell solved (0: none)."""
    path = Path(workdir) / runs.RESULTS_FILE
    if not path.exists():
        return None
    largest = runs.load_json(path).get("largest_solved", {})
    if not largest:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(largest), figsize=(5.2 * len(largest), 3.6), squeeze=False)
    for ax, (task, by_cell) in zip(axes.flat, sorted(largest.items()), strict=False):
        cells = [c for c in train.CELLS if c in by_cell]
        values = [by_cell[c] or 0 for c in cells]
        bars = ax.bar(range(len(cells)), values, color=[_COLORS[c] for c in cells])
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                str(value) if value else "none",
                (bar.get_x() + bar.get_width() / 2, value),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_xticks(range(len(cells)), [train.CELL_LABELS[c].split(" (")[0] for c in cells])
        ax.set_ylabel("largest T solved")
        ax.set_ylim(0, 1.15 * max([*values, 10]))
        ax.set_title(f"{task}: " + ("test MSE <= 0.01" if task == "adding" else "CE <= 10 % of baseline"))
    return save_figure(fig, Path(workdir) / "largest_solved.png", dpi=100)
