"""Short vs long memory: accuracy against the gap k for Simple RNN, LSTM and GRU on the lecture's task.

    python experiments/long_memory.py --workdir runs/long_memory
    python experiments/long_memory.py --smoke --workdir /tmp/long_memory

The task (`rnn_jax.tasks`): "... MARKER ANSWER (k - 1 distractors) QUERY", predict the answer from the
last state; k = 1 is "clouds are in the ___", large k is "I grew up in China ... I speak fluent ___".
For every cell and gap a fresh classifier is trained (Adam, fresh batches, early stop at the target
training accuracy or the step budget) and tested on fresh sequences. All gaps share one sequence
length (max gap + 2), so one compilation per cell serves the sweep. Reports, for each cell, the
largest k whose mean test accuracy over seeds is >= --threshold. Writes config.json, metrics.jsonl
(one record per cell, gap and seed), results.json and long_memory.png into --workdir.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from rnn_jax.studies import plots as analysis_plots
from rnn_jax.training import runs
from rnn_jax.data.imdb import long_memory as tasks
from rnn_jax.studies.command import run_experiment


def _field(default, help, choices=None):
    metadata = {"help": help}
    if choices:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class LongMemoryConfig:
    """Test accuracy against the answer-to-query gap k, per recurrent cell."""

    workdir: str = _field("runs/long_memory", "output folder")
    cells: str = _field("simple_rnn,lstm,gru", "comma-separated cells to compare")
    gaps: str = _field("1,2,5,10,15,20,25,30,40,50,60,80,100,120",
                       "comma-separated gaps k (1 = the short-term case)")
    num_seeds: int = _field(1, "independent runs per (cell, gap); accuracy is their mean")
    hidden_size: int = _field(32, "H, the state size (the lecture's 32)")
    num_answers: int = _field(8, "answer classes; chance = 1 / num_answers")
    num_fillers: int = _field(16, "filler words (distractors are fillers or answer words)")
    batch_size: int = _field(64, "fresh sequences per training step")
    learning_rate: float = _field(3e-3, "Adam learning rate")
    max_steps: int = _field(2000, "training budget per (cell, gap, seed)")
    steps_per_chunk: int = _field(50, "steps per jitted chunk (progress and early-stop granularity)")
    target_accuracy: float = _field(0.99, "stop training once a chunk's training accuracy reaches this")
    keep_bias: float = _field(1.0, "LSTM forget-gate bias and minus the GRU update-gate bias at init")
    num_test: int = _field(1024, "fresh test sequences per (cell, gap, seed)")
    threshold: float = _field(0.9, "report the largest gap whose mean test accuracy reaches this")
    seed: int = _field(0, "base seed (run s of a (cell, gap) uses fold_in(seed, gap, s))")


SMOKE = {"gaps": "1,3", "cells": "simple_rnn", "hidden_size": 8, "batch_size": 16,
         "max_steps": 20, "steps_per_chunk": 10, "num_test": 64}


def _parse_list(name: str, text: str, kind):
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"{name} must be a comma-separated list, got {text!r}") from err
    if not values:
        raise ValueError(f"{name} must not be empty")
    return values


def run(config: LongMemoryConfig, *, progress: bool = True) -> dict:
    """Trains and tests every (cell, gap, seed), writes the run folder, returns the results dict."""
    from tqdm.auto import tqdm

    cells = _parse_list("cells", config.cells, str)
    for cell in cells:
        if cell not in tasks.CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(map(repr, tasks.CELLS))}")
    gaps = sorted(set(_parse_list("gaps", config.gaps, int)))
    if gaps[0] < 1:
        raise ValueError(f"gaps must be >= 1, got {gaps[0]}")
    spec = tasks.TaskSpec(seq_len=gaps[-1] + 2, num_answers=config.num_answers,
                          num_fillers=config.num_fillers)
    settings = tasks.TrainSettings(
        hidden_size=config.hidden_size, batch_size=config.batch_size, learning_rate=config.learning_rate,
        max_steps=config.max_steps, steps_per_chunk=config.steps_per_chunk,
        target_accuracy=config.target_accuracy, num_test=config.num_test, keep_bias=config.keep_bias)
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    accuracy: dict[str, dict[str, float]] = {}
    steps_taken: dict[str, dict[str, float]] = {}
    jobs = [(cell, gap, s) for cell in cells for gap in gaps for s in range(config.num_seeds)]
    bar = tqdm(jobs, desc="long memory", unit="run", disable=not progress)
    start = time.perf_counter()
    for cell, gap, s in bar:
        bar.set_postfix_str(f"{cell} k={gap} seed={s}")
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), gap), s)
        tic = time.perf_counter()
        result = tasks.train_classifier(key, spec, cell, gap, settings)
        record = {"cell": cell, "gap": gap, "seed": s, "test_accuracy": result.test_accuracy,
                  "train_accuracy": result.train_accuracy, "train_loss": result.train_loss,
                  "steps": result.steps, "seconds": time.perf_counter() - tic}
        runs.append_metrics(workdir, record)
        accuracy.setdefault(cell, {}).setdefault(str(gap), []).append(result.test_accuracy)
        steps_taken.setdefault(cell, {}).setdefault(str(gap), []).append(result.steps)
    mean_accuracy = {cell: {gap: float(np.mean(v)) for gap, v in by_gap.items()}
                     for cell, by_gap in accuracy.items()}
    results = {
        "task": {"seq_len": spec.seq_len, "vocab_size": spec.vocab_size, "num_answers": spec.num_answers,
                 "num_fillers": spec.num_fillers},
        "chance": 1.0 / config.num_answers,
        "threshold": config.threshold,
        "accuracy": mean_accuracy,
        "steps": {cell: {gap: float(np.mean(v)) for gap, v in by_gap.items()}
                  for cell, by_gap in steps_taken.items()},
        "largest_gap_at_threshold": {
            cell: tasks.largest_gap_reaching({int(g): a for g, a in by_gap.items()}, config.threshold)
            for cell, by_gap in mean_accuracy.items()},
        "seconds": time.perf_counter() - start,
    }
    runs.save_results(workdir, results)
    analysis_plots.plot_long_memory(workdir, workdir / "long_memory.png")
    return results


def summary_lines(results: dict) -> list[str]:
    """Accuracy per cell and gap as a Markdown table, and the largest gap at the threshold."""
    cells = list(results["accuracy"])
    gaps = sorted({int(g) for by_gap in results["accuracy"].values() for g in by_gap})
    lines = ["| k | " + " | ".join(analysis_plots.CELL_LABELS.get(c, c) for c in cells) + " |",
             "| --- " * (len(cells) + 1) + "|"]
    for gap in gaps:
        row = []
        for cell in cells:
            a = results["accuracy"][cell].get(str(gap))
            steps = results["steps"][cell].get(str(gap))
            row.append("" if a is None else f"{a:.3f} ({steps:.0f} steps)")
        lines.append(f"| {gap} | " + " | ".join(row) + " |")
    lines.append("| **largest k with ≥ {:.0%}** | ".format(results["threshold"])
                 + " | ".join(f"**{results['largest_gap_at_threshold'][c]}**" for c in cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    return run_experiment(LongMemoryConfig, run, summary_lines, argv, smoke=SMOKE,
                          outputs=["long_memory.png"])


if __name__ == "__main__":
    main()
