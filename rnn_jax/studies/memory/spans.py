"""A learning curve summarised per span of steps, as the history in docs/memory.md quotes it.

A long copy-task run's validation metric is noisy from one evaluation to the next (it swings by
several per cent of the baseline at T = 200), so the docs describe a run by its median, best and
worst per span of steps, relative to the task's memoryless baseline:

    span (start, stop]:  the curve's entries with start < step <= stop and a finite validation
    median, best, worst: median, min and max of validation / baseline over them

`summarize` does it for a curve in memory, `read` for a committed one (`records.read_curve`),
`even_bounds` cuts steps into equal spans, and `column` puts one field of the spans on one line:

    lstm = read("results/memory", "copy", "lstm", 200, even_bounds(1435200, 1800000, 50000))
    column(lstm, "median")  # "0.321 0.277 0.265 0.258 0.253 0.249 0.246 0.244"
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnn_jax.core._validation import check_choice
from rnn_jax.studies.memory import records, train

FIELDS = ("median", "best", "worst", "count")


class Span(NamedTuple):
    """The validation metric over the steps (start, stop] of one run, relative to the baseline."""

    start: int  # exclusive
    stop: int  # inclusive
    count: int  # the entries with a finite validation in the span (0: the fields below are NaN)
    median: float
    best: float
    worst: float


def even_bounds(start: int, stop: int, width: int) -> list[tuple[int, int]]:
    """(start, start + width], (start + width, start + 2 width], ... up to stop; the last span is
    cut at stop. `even_bounds(0, 250, 100)` is `[(0, 100), (100, 200), (200, 250)]`.

    Raises:
      ValueError: width < 1 or stop <= start.
    """
    if width < 1:
        raise ValueError(f"a span's width must be at least 1 step, got {width}")
    if stop <= start:
        raise ValueError(f"the spans must end after they start, got start {start} and stop {stop}")
    return [(a, min(a + width, stop)) for a in range(start, stop, width)]


def summarize(curve: list[dict], baseline: float, bounds: list[tuple[int, int]]) -> list[Span]:
    """One `Span` per (start, stop] in `bounds`, over the entries of `curve`
    (`[{"step": int, "validation": float, ...}, ...]`); non-finite validations are left out (a
    blow-up's NaN would make the median NaN).

    Raises:
      ValueError: baseline is not a positive finite number.
    """
    if not (math.isfinite(baseline) and baseline > 0):
        raise ValueError(f"the baseline must be a positive finite number, got {baseline}")
    steps = np.array([entry["step"] for entry in curve], dtype=np.int64)
    ratios = np.array([entry["validation"] for entry in curve], dtype=np.float64) / baseline
    spans = []
    for start, stop in bounds:
        v = ratios[(steps > start) & (steps <= stop) & np.isfinite(ratios)]
        if v.size == 0:
            spans.append(Span(start, stop, 0, math.nan, math.nan, math.nan))
        else:
            spans.append(Span(start, stop, int(v.size), float(np.median(v)), float(v.min()), float(v.max())))
    return spans


def read(
    workdir: str | Path, task: str, cell: str, seq_len: int, bounds: list[tuple[int, int]]
) -> list[Span]:
    """The committed curve of (task, cell, T) under `workdir` (`<workdir>/<task>/curves/`), summarised
    over `bounds` (e.g. `even_bounds(start, stop, width)`) relative to `train.baseline(task, T)`.

    Raises:
      ValueError: an unknown task or cell, or no curve for (task, cell, T) under `workdir`.
    """
    train.check_task_and_cell(task, cell)
    curve = records.require_curve(Path(workdir) / task, cell, seq_len)
    return summarize(curve, train.baseline(task, seq_len), bounds)


def column(spans: list[Span], field: str, digits: int = 3) -> str:
    """One field ("median", "best", "worst" or "count") of each span, space-separated on one line,
    with `digits` decimals ("nan" for an empty span).

    Raises:
      ValueError: an unknown field.
    """
    check_choice("field", field, FIELDS)
    if field == "count":
        return " ".join(str(span.count) for span in spans)
    return " ".join(f"{getattr(span, field):.{digits}f}" for span in spans)
