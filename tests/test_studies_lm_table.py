"""Tests of rnn_jax.studies.next_word.lm_table: finished language-model runs -> one table, copied files, plots."""

from __future__ import annotations

import dataclasses

import pytest

from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.studies.next_word import language_model as lm
from rnn_jax.studies.next_word import lm_table
from rnn_jax.training import runs
from tests.lm_fixture import write_tiny_lm_imdb


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    data = tmp_path_factory.mktemp("tfds")
    write_tiny_lm_imdb(data, num_train=60, num_test=60)
    base = lm.LMConfig(**lm.SMOKE, data_dir=str(data), download=False, context_positions=5)
    root = tmp_path_factory.mktemp("lm")
    folders = []
    for model in ("simple_rnn", "kneser_ney"):
        folder = root / model
        lm.train_and_evaluate(dataclasses.replace(base, model=model), folder, progress=False)
        folders.append(str(folder))
    return folders


def test_table_has_one_row_per_run_and_copies_the_small_files(finished_runs, tmp_path, capsys):
    out = tmp_path / "table"
    results = lm_table.main(["--runs", *finished_runs, "--out", str(out), "--command", "rnn-jax lm ..."])
    rnn, counts = results["rows"]
    saved = runs.load_json(f"{finished_runs[0]}/results.json")
    assert rnn["test_perplexity"] == saved["test_perplexity"] and rnn["softmax"] == "adaptive"
    epochs = runs.read_metrics(finished_runs[0])
    assert rnn["train_minutes"] == pytest.approx(sum(e["epoch_seconds"] for e in epochs) / 60)
    assert counts["model"] == "kneser_ney" and counts["softmax"] is None and counts["num_params"] is None
    table = (out / "table.md").read_text()
    assert f"**{saved['test_perplexity']:.2f}**" in table and "Made by: `rnn-jax lm ...`" in table
    assert table.count("\n| ") == 3  # the header's separator and two rows
    assert (out / "runs" / "simple_rnn" / "metrics.jsonl").exists()
    assert not (out / "runs" / "simple_rnn" / "checkpoints").exists()
    assert (out / "context_usage.png").stat().st_size > 0
    assert (out / "cue_test.png").exists() == bool(saved["cue_test"].get("probability_by_gap"))
    assert "test perplexity" in capsys.readouterr().out


def test_bad_runs(finished_runs, tmp_path):
    with pytest.raises(RunNotFoundError, match="holds no finished run"):
        lm_table.main(["--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "t")])
    with pytest.raises(ConfigError, match="names no run folder"):
        lm_table.main(["--out", str(tmp_path / "t")])
    with pytest.raises(ConfigError, match="share a folder name"):
        lm_table.main(["--runs", finished_runs[0], finished_runs[0], "--out", str(tmp_path / "t")])
