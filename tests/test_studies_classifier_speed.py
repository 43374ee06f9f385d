"""rnn_jax.studies.sentiment.classifier_speed: the IMDB classifiers' training step timed on synthetic reviews."""

from __future__ import annotations

import json

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.sentiment import classifier_speed


def test_every_variant_is_timed_with_the_real_training_step(tmp_path, capsys):
    flags = [
        "--smoke",
        "--workdir",
        str(tmp_path),
        "--models",
        "simple_rnn",
        "lstm",
        "--scan_unrolls",
        "1",
        "2",
    ]
    results = classifier_speed.main(flags)
    rows = results["rows"]
    assert {(r["model"], r["scan_unroll"]) for r in rows} == {
        (m, u) for m in ("simple_rnn", "lstm") for u in (1, 2)
    }
    config = classifier_speed.ClassifierSpeedConfig(**classifier_speed.SMOKE)
    for row in rows:
        # the warm-up call and every round ran config.steps optimiser updates, none skipped
        assert row["steps_run"] == config.steps * (config.rounds + 1) and row["skipped_updates"] == 0
        assert len(row["round_seconds"]) == config.rounds and row["tokens_per_second"] > 0
        run_tokens = config.num_epochs * (config.train_reviews // row["batch_size"]) * row["batch_size"]
        run_tokens *= config.seq_len
        assert row["estimated_run_minutes"] * 60 * row["tokens_per_second"] == pytest.approx(run_tokens)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["machine"]["device"] and saved["machine"]["cpu_count"] >= 1
    assert (tmp_path / "config.json").exists()
    assert "tokens/s" in (tmp_path / "results.md").read_text() and "tokens/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--models", "transformer"], "models"),
        (["--batch_sizes", "0"], "batch_sizes must all be >= 1"),
        (["--scan_unrolls", "0"], "scan_unrolls must all be >= 1"),
        (["--steps", "0"], "steps must be >= 1"),
        (["--batch_sizes", "64", "--train_reviews", "10"], "exceed --train_reviews"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        classifier_speed.main(["--smoke", "--workdir", str(tmp_path), *extra])
