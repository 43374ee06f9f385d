"""One part of a continued run: what a (task, cell, T) run did between two of its stops, as the
continuation parts of docs/memory.md report it.

A long run is trained in parts (`rnn-jax memory ... --max_steps M` continues it from its kept state
and stops at M), and each stop appends a record to `metrics.jsonl`. The committed curve keeps
growing, so a part's figures are read back from the curve cut at the part's stop and from the
record of that stop, relative to the task's memoryless baseline:

    spans:        median, best and worst validation per `width` steps of (start, stop] (`spans`)
    seconds:      the stop's wall seconds minus the start's (both from their records)
    verdict:      `sweep.verdict` of the curve up to stop, with the stop's record
    spikes:       the `spikes.loss_spikes` of that curve that start in (start, stop]
    best:         the best validation up to stop, and the validations after it
    worst:        the worst validation in (start, stop], and its ratio to the best before it

    part = read("results/memory", "copy", "lstm", 200, 4830000, 5130000)
    spans.column(part.spans, "median")  # "0.123 0.120 0.117 0.115 0.114 0.112"
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from rnn_jax.studies.memory import records, spans, spikes, sweep, train


class Part(NamedTuple):
    """A run's steps (start, stop]; validation and test metrics relative to the baseline."""

    spans: list[spans.Span]  # per `width` steps of (start, stop]
    record: dict  # the record the run wrote when it stopped at `stop` (machine, steps, tested_step, ...)
    seconds: float  # wall seconds of the part: the stop's record's seconds minus the start's
    test_ratio: float  # the stop's test metric / baseline
    gradient_trained: float  # ||dh_T/dx_1|| of the trained model at the stop
    gradient_init: float  # the same at initialisation
    verdict: str  # `sweep.verdict` at the stop
    gain: float  # its last-half gain
    spikes: list[spikes.Spike]  # the spikes that started in (start, stop]
    best_step: int  # the step of the best finite validation up to stop
    best_ratio: float  # that validation / baseline
    after_best: int  # the validations after it, up to stop
    worst_step: int  # the step of the worst validation in (start, stop] (not finite counts as worst)
    worst_ratio: float  # that validation / baseline (inf: not finite)
    worst_over_best_before: float  # that validation / the best finite one before it (NaN: none)


def read(
    workdir: str | Path, task: str, cell: str, seq_len: int, start: int, stop: int, width: int = 50000
) -> Part:
    """The part (start, stop] of the committed run of (task, cell, T) under `workdir`: `start` and
    `stop` are steps the run stopped at (each has a record in `<workdir>/<task>/metrics.jsonl`).

    Raises:
      ValueError: an unknown task or cell, no curve, stop <= start, no validation in (start, stop], or
        no finite validation up to stop.
      KeyError: the run never stopped at `start` or at `stop`.
    """
    train.check_task_and_cell(task, cell)
    bounds = spans.even_bounds(start, stop, width)
    task_dir = Path(workdir) / task
    curve = [h for h in records.require_curve(task_dir, cell, seq_len) if h["step"] <= stop]
    first, last = (records.record_at(task_dir, cell, seq_len, steps) for steps in (start, stop))
    inside = [h for h in curve if h["step"] > start]
    if not inside:
        raise ValueError(f"no validation of {cell} at T = {seq_len} on {task} in the steps ({start}, {stop}]")
    baseline = train.baseline(task, seq_len)
    verdict, gain = sweep.verdict(
        curve, baseline, last["solved"], last["metric"], last["threshold"], last["diverged"]
    )

    def badness(h: dict) -> float:  # not finite counts as the worst
        return h["validation"] if math.isfinite(h["validation"]) else math.inf

    finite = [h for h in curve if math.isfinite(h["validation"])]
    if not finite:
        raise ValueError(f"no finite validation of {cell} at T = {seq_len} on {task} up to step {stop}")
    best = min(finite, key=lambda h: h["validation"])
    worst = max(inside, key=badness)
    best_before = min((h["validation"] for h in finite if h["step"] < worst["step"]), default=math.nan)
    norms = last["gradient_norms"]
    return Part(
        spans=spans.summarize(curve, baseline, bounds),
        record=last,
        seconds=last["seconds"] - first["seconds"],
        test_ratio=last["metric"] / baseline,
        gradient_trained=norms["trained"]["first_input"],
        gradient_init=norms["init"]["first_input"],
        verdict=verdict,
        gain=gain,
        spikes=[s for s in spikes.loss_spikes(curve, baseline) if s.step > start],
        best_step=best["step"],
        best_ratio=best["validation"] / baseline,
        after_best=sum(h["step"] > best["step"] for h in curve),
        worst_step=worst["step"],
        worst_ratio=badness(worst) / baseline,
        worst_over_best_before=badness(worst) / best_before,
    )
