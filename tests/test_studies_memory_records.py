"""The memory sweep's records and curves: the latest record of a (cell, T) wins, curves read back."""

import json

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


def test_a_curve_reads_back_from_its_path_and_a_missing_one_is_empty(tmp_path):
    path = records.curve_path(tmp_path, "irnn", 500)
    assert path == tmp_path / "curves" / "irnn_T500.json"
    assert records.read_curve(tmp_path, "irnn", 500) == []
    history = [{"step": 200, "train_loss": 0.5, "validation": 0.4}]
    path.parent.mkdir()
    runs.write_text_atomic(path, json.dumps(history) + "\n")
    assert records.read_curve(tmp_path, "irnn", 500) == history
