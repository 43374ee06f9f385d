"""The memory sweep's records and curves: the latest record of a (cell, T) wins, curves read back."""

import json
import math

import pytest

from rnn_jax.studies.memory import records
from rnn_jax.training import runs


def test_the_latest_record_of_each_run_wins_in_first_seen_order(tmp_path):
    runs.append_metrics(tmp_path, {"cell": "lstm", "seq_len": 200, "steps": 10})
    runs.append_metrics(tmp_path, {"cell": "gru", "seq_len": 50, "steps": 20})
    runs.append_metrics(tmp_path, {"cell": "lstm", "seq_len": 200, "steps": 30})  # a continuation
    runs.append_metrics(tmp_path, {"cell": "lstm", "seq_len": 100, "steps": 40})
    latest = records.latest_records(tmp_path)
    assert list(latest) == [("lstm", 200), ("gru", 50), ("lstm", 100)]
    assert [r["steps"] for r in latest.values()] == [30, 20, 40]
    assert records.latest_records(tmp_path / "nothing here") == {}


def test_the_record_of_an_earlier_stop_reads_back_after_the_run_continued(tmp_path):
    runs.append_metrics(tmp_path, {"cell": "lstm", "seq_len": 200, "steps": 10, "metric": 0.3})
    runs.append_metrics(tmp_path, {"cell": "gru", "seq_len": 200, "steps": 10, "metric": 0.2})
    runs.append_metrics(tmp_path, {"cell": "lstm", "seq_len": 200, "steps": 30, "metric": 0.1})
    assert records.record_at(tmp_path, "lstm", 200, 10)["metric"] == 0.3
    assert records.record_at(tmp_path, "lstm", 200, 30)["metric"] == 0.1
    with pytest.raises(KeyError, match="no run of lstm at T = 200 stopped at step 20"):
        records.record_at(tmp_path, "lstm", 200, 20)


def test_a_curve_reads_back_from_its_path_and_a_missing_one_is_empty(tmp_path):
    path = records.curve_path(tmp_path, "irnn", 500)
    assert path == tmp_path / "curves" / "irnn_T500.json"
    assert records.read_curve(tmp_path, "irnn", 500) == []
    history = [{"step": 200, "train_loss": 0.5, "validation": 0.4}]
    assert records.write_curve(tmp_path, "irnn", 500, history) == path
    assert records.read_curve(tmp_path, "irnn", 500) == history
    runs.write_text_atomic(path, json.dumps(history) + "\n")  # the list form, written before 2026-12-05
    assert records.read_curve(tmp_path, "irnn", 500) == history


def test_a_curve_is_stored_as_a_table_that_gives_back_every_entry_as_it_was(tmp_path):
    """Names once, one row per line; a metric an entry lacks (the confirmation exists only where the
    validation met the threshold) stays absent, and a NaN stays NaN."""
    history = [
        {"step": 200, "train_loss": 1.4029903, "validation": 0.95550907},
        {"step": 400, "train_loss": float("nan"), "validation": float("nan")},
        {"step": 600, "train_loss": 0.079, "validation": 0.0684, "confirmation": 0.0687},
        {"step": 800, "train_loss": 0.078, "validation": 0.5},
    ]
    table = records.curve_table(history)
    assert table["columns"] == ["step", "train_loss", "validation", "confirmation"]
    assert table["rows"][0] == [200, 1.4029903, 0.95550907, None]
    assert records.curve_entries(history) is history  # the list form reads as it is
    back = records.curve_entries(json.loads(records.curve_json(history)))  # NaN != NaN: by fields
    assert [sorted(e) for e in back] == [sorted(e) for e in history]
    assert back[0] == history[0] and back[2:] == history[2:] and "confirmation" not in back[3]
    assert math.isnan(back[1]["validation"]) and back[1]["step"] == 400
    assert records.curve_entries(records.curve_table([])) == []

    text = records.curve_json(history * 500)
    assert text.count("\n") == 2000 + 2 and len(text) < 0.7 * len(json.dumps(history * 500))


@pytest.mark.parametrize(
    "stored, message",
    [
        ({"step": [200]}, "expected a list of entries"),
        ("[]", "expected a list of entries"),
        ({"columns": ["step", "validation"], "rows": [[200]]}, "does not have the 2 columns"),
    ],
)
def test_a_damaged_curve_is_a_clear_error(stored, message):
    with pytest.raises(ValueError, match=message):
        records.curve_entries(stored)
