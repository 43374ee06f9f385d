"""Where the memory sweep keeps a run's record and learning curve, and how the reports read them back.

A task's folder `<workdir>/<task>/` holds `metrics.jsonl` (one record per finished or continued run; a
later record of a (cell, T) replaces the earlier ones) and `curves/<cell>_T<T>.json` (the validation
history of the run's latest record). The sweep writes both; the table, the plots and the spike report
read them through these functions, so the layout is spelled out once.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnn_jax.training import runs


def curve_path(task_dir: str | Path, cell: str, seq_len: int) -> Path:
    """`<task_dir>/curves/<cell>_T<seq_len>.json`: the learning curve of one (cell, T)."""
    return Path(task_dir) / "curves" / f"{cell}_T{seq_len}.json"


def read_curve(task_dir: str | Path, cell: str, seq_len: int) -> list[dict]:
    """The learning curve of one (cell, T): `[{"step", "train_loss", "validation"}, ...]`, or [] when
    the run has not finished a first time."""
    path = curve_path(task_dir, cell, seq_len)
    return json.loads(path.read_text()) if path.exists() else []


def latest_records(task_dir: str | Path) -> dict[tuple[str, int], dict]:
    """The latest record of each (cell, T) in `<task_dir>/metrics.jsonl`, keyed by (cell, T) in the
    order each pair first appears (later records replace earlier ones); {} when there is none."""
    return {(r["cell"], r["seq_len"]): r for r in runs.read_metrics(task_dir)}
