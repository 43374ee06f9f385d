"""Loss spikes in a learning curve: where the validation metric jumped far above its best so far,
how high it went, and whether (and how fast) the run came back.

Long runs on the copy task do this (Adam 1e-3, clipping 1): the LSTM at T = 100 jumped to 154 times
the memoryless baseline at step 866,000, came back 103,400 steps later and solved the task; the LSTM
at T = 200 jumped at step 917,000. The report lists every spike so that a reader sees which records
were tested at an earlier step (`train.train_one` tests an unsolved run at its best validation) and
how long a recovery has taken elsewhere.

    spike:      the first validation v_i > factor * min(v_0 .. v_{i-1}) (finite, or not finite)
    peak:       max v over the spike (inf when a value is not finite)
    recovered:  the first later v_j <= recovered * (the best before the spike); the next spike can
                start only after that
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from rnn_jax.studies.memory import records, train

HEADING = "Loss spikes:"  # the first words of the report's section (docs_tables cuts table.md there)

SPIKE_FACTOR = 4.0  # a validation metric above 4 x the best so far starts a spike
RECOVERED_FACTOR = 1.2  # back within 1.2 x the best before the spike ends it


class Spike(NamedTuple):
    """One spike in a learning curve; metrics relative to the task's memoryless baseline."""

    step: int  # the first validation above factor x the best so far
    best_before: float  # the best validation before it / baseline
    peak: float  # the highest validation during it / baseline (inf: not finite)
    recovered_step: int | None  # the first step back within `recovered` x best_before; None: not yet
    last_step: int  # the curve's last step (how long an unrecovered spike has lasted)

    @property
    def steps_to_recover(self) -> int | None:
        return None if self.recovered_step is None else self.recovered_step - self.step


def loss_spikes(
    history: list[dict[str, float]],
    baseline: float,
    *,
    factor: float = SPIKE_FACTOR,
    recovered: float = RECOVERED_FACTOR,
) -> list[Spike]:
    """The spikes of one learning curve (`train.RunResult.history`, entries with step and validation).

    Args:
      history: the curve, in step order.
      baseline: the memoryless metric the values are shown against (> 0).
      factor: a value above `factor` x the best so far starts a spike (> 1).
      recovered: a value at most `recovered` x the best before the spike ends it (>= 1, < factor).

    Returns:
      The spikes in order; the last may have `recovered_step` None.
    """
    if not baseline > 0:
        raise ValueError(f"baseline must be > 0, got {baseline}")
    if not 1.0 <= recovered < factor:
        raise ValueError(f"need 1 <= recovered < factor, got recovered={recovered}, factor={factor}")
    spikes: list[Spike] = []
    best, open_spike = math.inf, None  # open_spike: [step, best_before, peak]
    last_step = int(history[-1]["step"]) if history else 0
    for entry in history:
        value = float(entry["validation"])
        value = value if math.isfinite(value) else math.inf
        if open_spike is None and math.isfinite(best) and value > factor * best:
            open_spike = [int(entry["step"]), best, value]
        elif open_spike is not None:
            open_spike[2] = max(open_spike[2], value)
            if value <= recovered * open_spike[1]:
                step, before, peak = open_spike
                spikes.append(Spike(step, before / baseline, peak / baseline, int(entry["step"]), last_step))
                open_spike = None
        best = min(best, value)
    if open_spike is not None:
        step, before, peak = open_spike
        spikes.append(Spike(step, before / baseline, peak / baseline, None, last_step))
    return spikes


def spike_lines(workdir: str | Path) -> list[str]:
    """The Markdown table of every spike in the workdir's learning curves (both tasks), or []."""
    rows = []
    for task in train.TASKS:
        for (cell, seq_len), record in records.latest_records(Path(workdir) / task).items():
            history = records.read_curve(Path(workdir) / task, cell, seq_len)
            for s in loss_spikes(history, record["baseline"]):
                back = (
                    f"{s.steps_to_recover:,} steps later"
                    if s.recovered_step is not None
                    else f"not by step {s.last_step:,} ({s.last_step - s.step:,} steps)"
                )
                peak = "not finite" if math.isinf(s.peak) else f"{s.peak:.3g}"
                rows.append(
                    f"| {task} | {train.CELL_LABELS[cell]} | {seq_len} | {s.step:,} | {s.best_before:.3g} "
                    f"| {peak} | {back} |"
                )
    if not rows:
        return []
    return [
        f"{HEADING} a validation metric above {SPIKE_FACTOR:g} x the best so far, until it is back "
        f"within {RECOVERED_FACTOR:g} x that best (metrics / the memoryless baseline)",
        "",
        "| task | cell | T | step | best before | peak | back |",
        "| --- " * 7 + "|",
        *rows,
        "",
    ]
