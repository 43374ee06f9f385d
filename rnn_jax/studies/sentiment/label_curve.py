"""Test accuracy against the number of labelled training reviews, with and without a pretrained start.

    python experiments/label_curve.py --tables results/pretrain/curve/* results/pretrain/lstm_control \
        --out results/pretrain/label_curve
    rnn-jax label-curve --help

The lecture's course says to pretrain the embedding "if n is small"; this study shows where. It reads
finished `rnn-jax imdb-table` folders (each made with one `--max_train_examples`, one start and one or
more seeds; nothing is trained here) and groups their runs by (model, start, labelled reviews). The
start is the run's `pretrained_parts` when it names a `pretrained_lm` ("vocab" is the control: the
language model's vocabulary, random parameters), else "random". To compare starts from two language
models, `--lm_labels PATH=LABEL` names the pretrained starts made from the model at PATH: their start
reads "embedding (LABEL)", a curve of its own (the controls stay one curve: the vocabulary is the same).
The number of labelled reviews is the
run's own `num_train` (results.json), so a table made without `--max_train_examples` counts as all
of them. Writes `table.md` (mean ± std per cell, and the pretrained start's gain over the control of
the same model), `results.json` and `label_curve.png` (accuracy against labelled reviews, log x).
"""

from __future__ import annotations

import dataclasses
import os
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
    lm_labels: tuple[str, ...] = dataclasses.field(
        default=(),
        metadata={
            "help": "PATH=LABEL: the pretrained starts from the language model at PATH read 'START (LABEL)'"
        },
    )

    @property
    def workdir(self) -> str:  # run_experiment's name for the output folder
        return self.out


def parse_lm_labels(pairs: tuple[str, ...]) -> dict[str, str]:
    """`("runs/lm=whole corpus", ...)` -> {"/abs/runs/lm": "whole corpus"}, paths absolute and normalised.

    ConfigError for a pair without "=", or with an empty path or label.
    """
    labels = {}
    for pair in pairs:
        path, sep, label = pair.partition("=")
        if not sep or not path.strip() or not label.strip():
            raise ConfigError(f"--lm_labels takes PATH=LABEL, got {pair!r}")
        labels[_lm_key(path)] = label.strip()
    return labels


def _lm_key(path: str) -> str:
    """A language model's folder as an absolute, normalised path: "runs/lm/" and "/repo/runs/lm" match."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path.strip())))


def read_table_runs(folder: str | Path, lm_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One record per run of an imdb-table folder: model, start, num_train, seed, test accuracy (%).

    A pretrained start (not the control) from a language model named in `lm_labels` reads "START (LABEL)".
    """
    run_folders = sorted(Path(folder).glob("runs/*/" + runs.RESULTS_FILE))
    if not run_folders:
        raise RunNotFoundError(f"{folder} holds no finished imdb-table run (no runs/*/results.json)")
    records = []
    for results_path in run_folders:
        results = runs.load_json(results_path)
        config = runs.load_json(results_path.parent / runs.CONFIG_FILE)
        lm = config.get("pretrained_lm")
        start = config.get("pretrained_parts", "random") if lm else "random"
        if lm and start != CONTROL and lm_labels and _lm_key(lm) in lm_labels:
            start = f"{start} ({lm_labels[_lm_key(lm)]})"
        records.append(
            {
                "model": results["model"],
                "start": start,
                "num_train": int(results["num_train"]),
                "seed": int(results["seed"]),
                "test_accuracy": 100 * float(results["test_accuracy"]),
                "table": str(folder),
                "pretrained_lm": lm,
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

    cells, starts, parts = list(CELL_LABELS), list(START_LABELS), _parts(start)
    return (
        cells.index(model) if model in cells else len(cells),
        model,
        starts.index(parts) if parts in starts else len(starts),
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


def _parts(start: str) -> str:
    """The pretrained parts of a start: "embedding (whole corpus)" -> "embedding"."""
    return start.split(" (", 1)[0]


def _label(model: str, start: str) -> str:
    from rnn_jax.studies.plots import CELL_LABELS

    parts = _parts(start)
    return f"{CELL_LABELS.get(model, model)}, {START_LABELS.get(parts, parts)}{start[len(parts) :]}"


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
    styles: dict[str, list[str]] = {}  # per model: its pretrained starts, in order (solid, dash-dot, dotted)
    for model, start in dict.fromkeys((c["model"], c["start"]) for c in summary):
        mine = sorted(
            (c for c in summary if (c["model"], c["start"]) == (model, start)), key=lambda c: c["num_train"]
        )
        if start in (CONTROL, "random"):
            fmt = "o--"
        else:
            mine_starts = styles.setdefault(model, [])
            mine_starts.append(start)
            fmt = ("o-", "s-.", "^:")[(len(mine_starts) - 1) % 3]
        ax.errorbar(
            [c["num_train"] for c in mine],
            [c["mean"] for c in mine],
            yerr=[c["std"] for c in mine],
            fmt=fmt,
            capsize=3,
            color=f"C{models.index(model)}",  # one colour per cell; the control dashed
            label=_label(model, start),
        )
    ax.set_xscale("log")
    ax.set_xlabel("labelled training reviews")
    ax.set_ylabel("IMDB test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")  # the curves rise to the upper right
    return save_figure(fig, path)


def run(config: LabelCurveConfig) -> dict[str, Any]:
    if not config.tables:
        raise ConfigError("--tables names no imdb-table folder")
    lm_labels = parse_lm_labels(config.lm_labels)
    records = [record for folder in config.tables for record in read_table_runs(folder, lm_labels)]
    unused = set(lm_labels) - {_lm_key(r["pretrained_lm"]) for r in records if r["pretrained_lm"]}
    if unused:
        raise ConfigError(f"--lm_labels names a language model no run was started from: {sorted(unused)}")
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
