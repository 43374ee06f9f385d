"""Tests of rnn_jax.studies.next_word.lm_speed: the side-by-side language-model speed benchmark runs and reports."""

from __future__ import annotations

import importlib.util
import json

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.next_word import lm_speed
from tests.lm_fixture import write_tiny_lm_imdb

HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    write_tiny_lm_imdb(path, num_train=60, num_test=60)
    return path


def _flags(tiny_dir, workdir, *extra):
    return ["--smoke", "--data_dir", str(tiny_dir), "--workdir", str(workdir), *extra]


def test_benchmark_writes_every_variant_and_the_torch_ratio(tiny_dir, tmp_path, capsys):
    peers = ["rnn_jax", "torch"] if HAVE_TORCH else ["rnn_jax"]
    results = lm_speed.main(_flags(tiny_dir, tmp_path, "--peers", *peers, "--models", "simple_rnn", "lstm"))
    rows = results["rows"]
    assert {(r["peer"], r["model"], r["softmax"]) for r in rows} == {
        (p, m, s) for p in peers for m in ("simple_rnn", "lstm") for s in ("full", "adaptive")
    }
    for row in rows:
        assert row["tokens_per_second"] > 0 and len(row["round_seconds"]) == 2
        assert ("speedup_vs_torch" in row) == (HAVE_TORCH and row["peer"] == "rnn_jax")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"][0]["name"] == rows[0]["name"] and "load_average" in saved
    assert (tmp_path / "config.json").exists() and (tmp_path / "lm_speed.png").stat().st_size > 0
    assert "tokens/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--peers", "keras"], "peers must be a non-empty list"),
        (["--models", "transformer"], "models must be a non-empty list"),
        (["--steps", "0"], "steps must be positive"),
        (["--cutoffs", "40"], "cutoffs must increase strictly"),
    ],
)
def test_bad_settings(tiny_dir, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        lm_speed.main(_flags(tiny_dir, tmp_path, *extra))


def test_tied_embeddings_variant(tiny_dir, tmp_path):
    peers = ["rnn_jax", "torch"] if HAVE_TORCH else ["rnn_jax"]
    flags = ["--tie_embeddings", "--softmaxes", "full", "adaptive", "--models", "gru", "--peers", *peers]
    results = lm_speed.main(_flags(tiny_dir, tmp_path, *flags))
    names = {r["name"] for r in results["rows"]}
    assert {f"{p} gru full tied B=2" for p in peers} | {f"{p} gru adaptive B=2" for p in peers} == names
