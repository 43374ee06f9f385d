"""Where the memory sweep keeps a run's record and learning curve, and how the reports read them back.

A task's folder `<workdir>/<task>/` holds `metrics.jsonl` (one record per finished or continued run; a
later record of a (cell, T) replaces the earlier ones) and `curves/<cell>_T<T>.json` (the validation
history of the run's latest record). The sweep writes both; the table, the plots and the spike report
read them through these functions, so the layout is spelled out once.

A learning curve is stored as a table, the metric names once and one row per entry (`curve_table`),
in the curve file and in a run's training state alike: a list of dicts repeats the names in every
entry, which made the IRNN's 35,253-entry curve at T = 10 2.5 MB; as a table it is 1.44 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnn_jax.training import runs


def curve_table(history: list[dict]) -> dict:
    """`history` (`[{"step": 200, "train_loss": 1.40, "validation": 0.95}, ...]`) as a table:
    `{"columns": ["step", "train_loss", "validation", ...], "rows": [[200, 1.40, 0.95, ...], ...]}`,
    the columns in order of first appearance, None where an entry lacks a metric (the confirmation
    exists only where the validation metric met the threshold). `curve_entries` inverts it."""
    columns = list(dict.fromkeys(name for entry in history for name in entry))
    return {"columns": columns, "rows": [[entry.get(name) for name in columns] for entry in history]}


def curve_entries(stored: dict | list[dict]) -> list[dict]:
    """The learning curve as a list of dicts from its stored form: a `curve_table`, or the list of
    dicts itself (curves and states written before 2026-12-05, read as they are).

    Raises:
      ValueError: `stored` is neither (a damaged file), or a row's length is not the columns'.
    """
    if isinstance(stored, list):
        return stored
    if not (isinstance(stored, dict) and {"columns", "rows"} <= stored.keys()):
        raise ValueError("not a learning curve: expected a list of entries or {'columns', 'rows'}")
    columns = stored["columns"]
    if any(len(row) != len(columns) for row in stored["rows"]):
        raise ValueError(f"not a learning curve: a row does not have the {len(columns)} columns {columns}")
    return [{n: v for n, v in zip(columns, row, strict=True) if v is not None} for row in stored["rows"]]


def curve_json(history: list[dict]) -> str:
    """`curve_table(history)` as JSON text with one row per line (a continued run's file grows by
    lines; a reader's diff shows them)."""
    table = curve_table(history)
    rows = ",\n".join(json.dumps(row) for row in table["rows"])
    return f'{{"columns": {json.dumps(table["columns"])}, "rows": [\n{rows}\n]}}\n'


def write_curve(task_dir: str | Path, cell: str, seq_len: int, history: list[dict]) -> Path:
    """Writes the learning curve of one (cell, T) to `curve_path` atomically; returns the path."""
    path = curve_path(task_dir, cell, seq_len)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_text_atomic(path, curve_json(history))
    return path


def curve_path(task_dir: str | Path, cell: str, seq_len: int) -> Path:
    """`<task_dir>/curves/<cell>_T<seq_len>.json`: the learning curve of one (cell, T)."""
    return Path(task_dir) / "curves" / f"{cell}_T{seq_len}.json"


def read_curve(task_dir: str | Path, cell: str, seq_len: int) -> list[dict]:
    """The learning curve of one (cell, T): `[{"step", "train_loss", "validation"}, ...]`, or [] when
    the run has not finished a first time."""
    path = curve_path(task_dir, cell, seq_len)
    return curve_entries(json.loads(path.read_text())) if path.exists() else []


def require_curve(task_dir: str | Path, cell: str, seq_len: int) -> list[dict]:
    """`read_curve` for a run that must have finished a first time: its curve, never [].

    Raises:
      ValueError: no curve for (cell, T) under `task_dir` (`<task_dir>/curves/<cell>_T<T>.json`).
    """
    curve = read_curve(task_dir, cell, seq_len)
    if not curve:
        path = curve_path(task_dir, cell, seq_len)
        raise ValueError(
            f"no learning curve for {cell} at T = {seq_len} on {Path(task_dir).name}: {path} is missing"
        )
    return curve


def latest_records(task_dir: str | Path) -> dict[tuple[str, int], dict]:
    """The latest record of each (cell, T) in `<task_dir>/metrics.jsonl`, keyed by (cell, T) in the
    order each pair first appears (later records replace earlier ones); {} when there is none."""
    return {(r["cell"], r["seq_len"]): r for r in runs.read_metrics(task_dir)}


def record_at(task_dir: str | Path, cell: str, seq_len: int, steps: int) -> dict:
    """The record that a run of (cell, T) wrote when it stopped at `steps` (the latest such, if it
    stopped there more than once), so that a figure of an earlier stop can be read back after the
    run has been continued.

    Raises:
        KeyError: no run of (cell, T) in `<task_dir>/metrics.jsonl` stopped at `steps`.
    """
    stops = [
        r
        for r in runs.read_metrics(task_dir)
        if (r["cell"], r["seq_len"], r["steps"]) == (cell, seq_len, steps)
    ]
    if not stops:
        raise KeyError(
            f"no run of {cell} at T = {seq_len} stopped at step {steps} in {Path(task_dir) / 'metrics.jsonl'}"
        )
    return stops[-1]
