"""Tests of rnn_jax.studies.sentiment.label_curve: imdb-table folders -> accuracy against labelled reviews."""

from __future__ import annotations

import json
import os
import statistics

import pytest

from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.studies.sentiment import label_curve
from rnn_jax.training import runs
from tests.imdb_fixture import tiny_flags, write_tiny_imdb


def _table(folder, model, start, num_train, accuracies, lm="runs/lm"):
    """An imdb-table folder as the table leaves it: runs/<model>_seed<s>/{config,results}.json."""
    for seed, accuracy in enumerate(accuracies):
        run = folder / "runs" / f"{model}_seed{seed}"
        lm = None if start == "random" else lm
        run.mkdir(parents=True)
        config = {"pretrained_lm": lm, "pretrained_parts": start}
        result = {"model": model, "seed": seed, "num_train": num_train, "test_accuracy": accuracy}
        (run / runs.CONFIG_FILE).write_text(json.dumps(config))
        (run / runs.RESULTS_FILE).write_text(json.dumps(result))
    return str(folder)


@pytest.fixture
def tables(tmp_path):
    return [
        _table(tmp_path / "c500", "lstm", "vocab", 500, [0.60, 0.62]),
        _table(tmp_path / "p500", "lstm", "embedding+rnn", 500, [0.70, 0.74]),
        _table(tmp_path / "c20k", "lstm", "vocab", 20_000, [0.89]),
        _table(tmp_path / "p20k", "lstm", "embedding+rnn", 20_000, [0.88]),
        _table(tmp_path / "srnn", "simple_rnn", "random", 500, [0.55]),
    ]


def test_cells_gains_table_and_plot(tables, tmp_path):
    out = tmp_path / "curve"
    results = label_curve.main(["--tables", *tables, "--out", str(out), "--command", "see commands.sh"])
    cells = {(c["model"], c["start"], c["num_train"]): c for c in results["cells"]}
    assert list(cells) == [  # the lecture's order: Simple RNN first, each control before its pretrained start
        ("simple_rnn", "random", 500),
        ("lstm", "vocab", 500),
        ("lstm", "vocab", 20_000),
        ("lstm", "embedding+rnn", 500),
        ("lstm", "embedding+rnn", 20_000),
    ]
    assert set(cells) == {
        ("lstm", "vocab", 500),
        ("lstm", "embedding+rnn", 500),
        ("lstm", "vocab", 20_000),
        ("lstm", "embedding+rnn", 20_000),
        ("simple_rnn", "random", 500),
    }
    pretrained = cells[("lstm", "embedding+rnn", 500)]
    assert pretrained["mean"] == pytest.approx(72.0) and pretrained["seeds"] == [0, 1]
    assert pretrained["std"] == pytest.approx(statistics.stdev([70.0, 74.0]))
    assert cells[("lstm", "vocab", 20_000)]["std"] == 0.0  # one seed
    gains = {(g["start"], g["num_train"]): g["gain"] for g in results["gains"]}
    assert gains == {
        ("embedding+rnn", 500): pytest.approx(11.0),
        ("embedding+rnn", 20_000): pytest.approx(-1.0),
    }
    table = (out / "table.md").read_text()
    assert "| 500 labelled | 20,000 labelled |" in table
    assert "| LSTM, pretrained embedding + recurrence | 72.00 ± 2.83 % (2) | 88.00 % (1) |" in table
    assert "| gain of the LSTM, pretrained embedding + recurrence (points) | +11.00 | -1.00 |" in table
    assert "| Simple RNN, random start | 55.00 % (1) | - |" in table
    assert "Made by: see commands.sh" in table
    assert (out / "label_curve.png").stat().st_size > 0
    assert runs.load_json(out / runs.RESULTS_FILE)["cells"] == results["cells"]


def test_bad_tables(tables, tmp_path):
    with pytest.raises(ConfigError, match="names no imdb-table folder"):
        label_curve.main(["--out", str(tmp_path / "o")])
    with pytest.raises(RunNotFoundError, match="holds no finished imdb-table run"):
        label_curve.main(["--tables", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="a seed twice"):
        label_curve.main(["--tables", tables[0], tables[0], "--out", str(tmp_path / "o")])


def test_lm_labels_give_each_language_models_start_its_own_curve(tables, tmp_path):
    second = _table(tmp_path / "p500_full", "lstm", "embedding+rnn", 500, [0.80, 0.82], lm="runs/lm_full/")
    control = _table(tmp_path / "c500_full", "lstm", "vocab", 500, [0.61], lm="runs/lm_full")
    absolute = _table(tmp_path / "p2k", "lstm", "embedding+rnn", 2000, [0.9], lm=os.path.abspath("runs/lm"))
    flags = ["--tables", *tables[:2], second, "--out", str(tmp_path / "curve")]
    with pytest.raises(ConfigError, match="a seed twice"):  # two language models' starts, unnamed
        label_curve.main(flags)
    labels = ["--lm_labels", "runs/lm=4M tokens", "runs/lm_full=whole corpus"]
    results = label_curve.main(
        [*flags, *labels, "--tables", *tables[:2], second, absolute]
    )  # one LM, two paths
    cells = {(c["start"], c["num_train"]): c["mean"] for c in results["cells"]}
    assert cells == {
        ("vocab", 500): pytest.approx(61.0),
        ("embedding+rnn (4M tokens)", 500): pytest.approx(72.0),
        ("embedding+rnn (4M tokens)", 2000): pytest.approx(90.0),
        ("embedding+rnn (whole corpus)", 500): pytest.approx(81.0),
    }
    gains = {g["start"]: g["gain"] for g in results["gains"]}
    assert gains == {
        "embedding+rnn (4M tokens)": pytest.approx(11.0),
        "embedding+rnn (whole corpus)": pytest.approx(20.0),
    }
    table = (tmp_path / "curve" / "table.md").read_text()
    assert "| LSTM, pretrained embedding + recurrence (whole corpus) | 81.00 ± 1.41 % (2) |" in table
    # The control keeps its name whatever language model's vocabulary it used: one control curve.
    flags = ["--tables", control, tables[1], second, *labels, "--out", str(tmp_path / "c2")]
    assert [c["start"] for c in label_curve.main(flags)["cells"]] == [
        "vocab",
        "embedding+rnn (4M tokens)",
        "embedding+rnn (whole corpus)",
    ]


def test_bad_lm_labels(tables, tmp_path):
    flags = ["--tables", *tables, "--out", str(tmp_path / "o")]
    for bad in ("runs/lm", "=label", "runs/lm= "):
        with pytest.raises(ConfigError, match="--lm_labels takes PATH=LABEL"):
            label_curve.main([*flags, "--lm_labels", bad])
    with pytest.raises(ConfigError, match="no run was started from"):
        label_curve.main([*flags, "--lm_labels", "runs/typo=x"])


def test_reads_what_imdb_table_writes(tmp_path):
    from rnn_jax.studies.sentiment import imdb_table

    data = write_tiny_imdb(tmp_path / "tfds")
    flags = [*tiny_flags(), "--data_dir", str(data), "--models", "logreg", "--seeds", "0"]
    for n in (16, 48):
        flags_n = [*flags, "--max_train_examples", str(n), "--runs", str(tmp_path / f"r{n}")]
        imdb_table.main([*flags_n, "--out", str(tmp_path / f"t{n}")])
    tables = [str(tmp_path / "t16"), str(tmp_path / "t48")]
    results = label_curve.main(["--tables", *tables, "--out", str(tmp_path / "curve")])
    assert [(c["model"], c["start"], c["num_train"]) for c in results["cells"]] == [
        ("logreg", "random", 16),
        ("logreg", "random", 48),
    ]
    saved = runs.load_json(tmp_path / "r16" / "logreg_seed0" / runs.RESULTS_FILE)
    assert results["cells"][0]["test_accuracies"] == [100 * saved["test_accuracy"]]
