"""Tests of rnn_jax.data on a tiny TFDS-format imdb_reviews written by the test (no network, no ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_jax.data import imdb as data
from tests.imdb_fixture import write_tiny_imdb


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_imdb(tmp_path_factory.mktemp("tfds"), num_train=120, num_test=40)


def test_splits_sizes_types_and_disjointness(tiny_dir):
    splits = data.load_imdb(tiny_dir, num_validation=20, download=False)
    assert [len(splits[k].texts) for k in ("train", "validation", "test")] == [100, 20, 40]
    for split in splits.values():
        assert all(isinstance(t, bytes) for t in split.texts)
        assert split.labels.dtype == np.int32 and set(np.unique(split.labels)) <= {0, 1}
    train, valid = set(splits["train"].texts), set(splits["validation"].texts)
    assert not train & valid  # the fixture's reviews are distinct, so no review is in both
    everything = data.load_sources(tiny_dir, download=False)["train"]
    assert train | valid == {everything[i]["text"] for i in range(len(everything))}


def test_split_is_a_pure_function_of_split_seed(tiny_dir):
    a = data.load_imdb(tiny_dir, num_validation=20, split_seed=3, download=False)
    b = data.load_imdb(tiny_dir, num_validation=20, split_seed=3, download=False)
    c = data.load_imdb(tiny_dir, num_validation=20, split_seed=4, download=False)
    assert a["train"].texts == b["train"].texts and a["validation"].texts == b["validation"].texts
    assert a["train"].texts != c["train"].texts
    assert a["test"].texts == c["test"].texts  # test keeps TFDS's order


def test_max_examples_truncate_each_split(tiny_dir):
    full = data.load_imdb(tiny_dir, num_validation=20, download=False)
    small = data.load_imdb(
        tiny_dir, num_validation=20, max_train_examples=30, max_eval_examples=7, download=False
    )
    assert [len(small[k].texts) for k in ("train", "validation", "test")] == [30, 7, 7]
    assert small["train"].texts == full["train"].texts[:30]


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert data.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert data.resolve_data_dir(None).name == "tensorflow_datasets"


def test_env_var_is_used(monkeypatch, tiny_dir):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tiny_dir))
    assert len(data.load_imdb(None, num_validation=20, download=False)["test"].texts) == 40


def test_missing_data_without_download(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match=r"looked in .*imdb_reviews.*download disabled"):
        data.load_imdb(tmp_path / "empty", download=False)


def test_missing_data_that_cannot_be_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "can_download", lambda: False)
    with pytest.raises(FileNotFoundError, match=r"TensorFlow.*not installed[\s\S]*TFDS_DATA_DIR"):
        data.load_imdb(tmp_path / "empty", download=True)


def test_missing_data_downloads_when_possible(tmp_path, monkeypatch):
    calls = []

    class FakeBuilder:
        def download_and_prepare(self):
            calls.append("prepared")
            write_tiny_imdb(tmp_path, num_train=30, num_test=10)

    import tensorflow_datasets as tfds

    monkeypatch.setattr(data, "can_download", lambda: True)
    monkeypatch.setattr(tfds, "builder", lambda name, **kwargs: calls.append(kwargs) or FakeBuilder())
    splits = data.load_imdb(tmp_path, num_validation=5, download=True)
    assert calls[0]["file_format"] == "array_record" and calls[1] == "prepared"
    assert len(splits["train"].texts) == 25


@pytest.mark.parametrize("num_validation", [0, 120, -1])
def test_bad_num_validation(tiny_dir, num_validation):
    with pytest.raises(ValueError, match="num_validation must lie in"):
        data.load_imdb(tiny_dir, num_validation=num_validation, download=False)


def test_bad_max_examples(tiny_dir):
    with pytest.raises(ValueError, match="max_train_examples must be a positive int"):
        data.load_imdb(tiny_dir, num_validation=20, max_train_examples=0, download=False)
