"""Test accuracy against the number of labelled training reviews, with and without a pretrained start.

    python experiments/label_curve.py --tables results/pretrain/curve/* results/pretrain/lstm_control \
        --out results/pretrain/label_curve
    rnn-jax label-curve --help

The lecture's course says to pretrain the embedding "if n is small"; this study shows where. It reads
finished `rnn-jax imdb-table` folders (each made with one `--max_train_examples`, one start and one or
more seeds; nothing is trained here) and groups their runs by (model, start, labelled reviews). The
start is the run's `pretrained_parts` when it names a `pretrained_lm` ("vocab" is the control: the
language model's vocabulary, random parameters), else "random". The number of labelled reviews is the
run's own `num_train` (results.json), so a table made without `--max_train_examples` counts as all
of them. Writes `table.md` (mean ± std per cell, and the pretrained start's gain over the control of
the same model), `results.json` and `label_curve.png` (accuracy against labelled reviews, log x).
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.studies.command import run_experiment
from rnn_jax.training import runs

CONTROL = "vocab"  # pretrained_parts of the control: the LM's vocabulary, a random start
START_LABELS = {
    "random": "random start",
    CONTROL: "random start (LM vocabulary)",
    "embedding": "pretrained embedding",
    "embedding+rnn": "pretrained embedding + recurrence",
}


@dataclasses.dataclass(frozen=True)
class LabelCurveConfig:
    """Accuracy against labelled reviews from finished imdb-table folders."""

    tables: tuple[str, ...] = dataclasses.field(
        default=(), metadata={"help": "finished `rnn-jax imdb-table --out` folders (their runs/ subfolders)"}
    )
    out: str = dataclasses.field(default="results/pretrain/label_curve", metadata={"help": "output folder"})
    command: str | None = dataclasses.field(
        default=None, metadata={"help": "the commands that made the tables, written under the table"}
    )

    @property
    def workdir(self) -> str:  # run_experiment's name for the output folder
        return self.out


def read_table_runs(folder: str | Path) -> list[dict[str, Any]]:
    """One record per run of an imdb-table folder: model, start, num_train, seed, test accuracy (%)."""
    run_folders = sorted(Path(folder).glob("runs/*/" + runs.RESULTS_FILE))
    if not run_folders:
        raise RunNotFoundError(f"{folder} holds no finished imdb-table run (no runs/*/results.json)")
    records = []
    for results_path in run_folders:
        results = runs.load_json(results_path)
        config = runs.load_json(results_path.parent / runs.CONFIG_FILE)
        start = config.get("pretrained_parts", "random") if config.get("pretrained_lm") else "random"
        records.append(
            {
                "model": results["model"],
                "start": start,
                "num_train": int(results["num_train"]),
                "seed": int(results["seed"]),
                "test_accuracy": 100 * float(results["test_accuracy"]),
                "table": str(folder),
            }
        )
    return records


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cell per (model, start, num_train): the seeds' mean and std; ConfigError on a repeated seed."""
    cells: dict[tuple, list[dict]] = {}
    for record in records:
        cells.setdefault((record["model"], record["start"], record["num_train"]), []).append(record)
    summary = []
    for (model, start, num_train), mine in sorted(cells.items(), key=lambda item: _order(*item[0])):
        seeds = [r["seed"] for r in mine]
        if len(set(seeds)) != len(seeds):
            tables = sorted({r["table"] for r in mine})
            raise ConfigError(f"{model}, {start}, {num_train} labelled reviews: a seed twice, in {tables}")
        accuracies = [r["test_accuracy"] for r in mine]
        summary.append(
            {
                "model": model,
                "start": start,
                "num_train": num_train,
                "seeds": seeds,
                "test_accuracies": accuracies,
                "mean": statistics.fmean(accuracies),
                "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            }
        )
    return summary


def _order(model: str, start: str, num_train: int) -> tuple:
    """The lecture's cells first (Simple RNN, LSTM, GRU), each control before its pretrained starts."""
    from rnn_jax.studies.plots import CELL_LABELS

    cells, starts = list(CELL_LABELS), list(START_LABELS)
    return (
        cells.index(model) if model in cells else len(cells),
        model,
        starts.index(start) if start in starts else len(starts),
        start,
        num_train,
    )


def gains(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each pretrained cell's mean accuracy minus its model's control at the same num_train (points)."""
    control = {(c["model"], c["num_train"]): c["mean"] for c in summary if c["start"] in (CONTROL, "random")}
    return [
        {**{k: c[k] for k in ("model", "start", "num_train")}, "gain": c["mean"] - control[key]}
        for c in summary
        if c["start"] not in (CONTROL, "random") and (key := (c["model"], c["num_train"])) in control
    ]


def _label(model: str, start: str) -> str:
    from rnn_jax.studies.plots import CELL_LABELS

    return f"{CELL_LABELS.get(model, model)}, {START_LABELS.get(start, start)}"


def to_markdown(summary: list[dict[str, Any]], command: str | None) -> str:
    """Rows (model, start), columns the numbers of labelled reviews; then the gains in points."""
    sizes = sorted({c["num_train"] for c in summary})
    cells = {(c["model"], c["start"], c["num_train"]): c for c in summary}
    lines = [
        "| model, start | " + " | ".join(f"{n:,} labelled" for n in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for model, start in dict.fromkeys((c["model"], c["start"]) for c in summary):
        row = []
        for n in sizes:
            c = cells.get((model, start, n))
            if c is None:
                row.append("-")
            elif len(c["seeds"]) == 1:
                row.append(f"{c['mean']:.2f} % (1)")
            else:
                row.append(f"{c['mean']:.2f} ± {c['std']:.2f} % ({len(c['seeds'])})")
        lines.append(f"| {_label(model, start)} | " + " | ".join(row) + " |")
    gain_cells = {(g["model"], g["start"], g["num_train"]): g["gain"] for g in gains(summary)}
    for model, start in dict.fromkeys((m, s) for m, s, _ in gain_cells):
        row = [
            f"{gain_cells[(model, start, n)]:+.2f}" if (model, start, n) in gain_cells else "-" for n in sizes
        ]
        lines.append(f"| gain of the {_label(model, start)} (points) | " + " | ".join(row) + " |")
    lines += ["", "IMDB test accuracy, mean ± std over the seeds (their number in brackets)."]
    if command:
        lines += ["", f"Made by: {command}"]
    return "\n".join(lines) + "\n"


def plot_label_curve(summary: list[dict[str, Any]], path: str | Path) -> Path:
    """Test accuracy (mean, std bars) against labelled reviews, log x, one line per (model, start)."""
    from rnn_jax.studies.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    models = list(dict.fromkeys(c["model"] for c in summary))
    for model, start in dict.fromkeys((c["model"], c["start"]) for c in summary):
        mine = sorted(
            (c for c in summary if (c["model"], c["start"]) == (model, start)), key=lambda c: c["num_train"]
        )
        dashed = start in (CONTROL, "random")
        ax.errorbar(
            [c["num_train"] for c in mine],
            [c["mean"] for c in mine],
            yerr=[c["std"] for c in mine],
            fmt="o--" if dashed else "o-",
            capsize=3,
            color=f"C{models.index(model)}",  # one colour per cell; the control dashed
            label=_label(model, start),
        )
    ax.set_xscale("log")
    ax.set_xlabel("labelled training reviews")
    ax.set_ylabel("IMDB test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def run(config: LabelCurveConfig) -> dict[str, Any]:
    if not config.tables:
        raise ConfigError("--tables names no imdb-table folder")
    records = [record for folder in config.tables for record in read_table_runs(folder)]
    summary = summarize(records)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(to_markdown(summary, config.command))
    plot_label_curve(summary, out / "label_curve.png")
    results = {"cells": summary, "gains": gains(summary), "runs": records, "command": config.command}
    runs.save_config(out, config)
    runs.save_results(out, results)
    return results


def summary_lines(results: dict) -> list[str]:
    return [
        f"{_label(c['model'], c['start'])}, {c['num_train']:,} labelled: {c['mean']:.2f} ± {c['std']:.2f} %"
        for c in results["cells"]
    ]


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax label-curve` / `python experiments/label_curve.py`."""
    return run_experiment(LabelCurveConfig, run, summary_lines, argv, outputs=("table.md", "label_curve.png"))
