"""The refactor onto the shared loop changed no result: short tiny-fixture runs against pinned values.

`tests/data/training_pins.json` was recorded with the code before the training loop was shared
(commit ce7bb88, `rnn_jax/train.py`): per-epoch training and validation losses and accuracies,
the best epoch and the test metrics of 3-epoch runs of four classifiers (dropout, LSTM, the bag of
words, a stacked RNN with pre-padding). The same runs on today's code must give the same numbers.
They agree to the last bit on the machine that recorded them; the tolerance (1e-6) only allows for
another CPU's float rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_jax.studies.sentiment.imdb import TrainConfig, train_and_evaluate
from rnn_jax.training import runs
from tests.imdb_fixture import write_tiny_imdb

PINS = json.loads((Path(__file__).parent / "data" / "training_pins.json").read_text())
EPOCH_KEYS = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "best_epoch", "step")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_imdb(tmp_path_factory.mktemp("tfds"), num_train=120, num_test=40)


@pytest.mark.parametrize("model", sorted(PINS))
def test_same_numbers_as_before_the_shared_loop(model, tiny_dir, tmp_path):
    pinned = PINS[model]
    config = TrainConfig(**pinned["config"], data_dir=str(tiny_dir))
    results = train_and_evaluate(config, tmp_path / model, progress=False)
    epochs = [{k: r[k] for k in EPOCH_KEYS} for r in runs.read_metrics(tmp_path / model)]
    assert [e["step"] for e in epochs] == [e["step"] for e in pinned["epochs"]]
    for got, want in zip(epochs, pinned["epochs"], strict=True):
        for key in EPOCH_KEYS:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=0, err_msg=f"{model} {key}")
    assert results["best_epoch"] == pinned["best_epoch"]
    np.testing.assert_allclose(
        [results["test_loss"], results["test_accuracy"]],
        [pinned["test_loss"], pinned["test_accuracy"]],
        rtol=1e-6,
        atol=0,
    )
