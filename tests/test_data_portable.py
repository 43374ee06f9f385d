"""Tests of rnn_jax.data.portable and `rnn-jax export-imdb`: the same records as TFDS, without TFDS."""

import lzma
import sys

import numpy as np
import pytest

from rnn_jax import cli
from rnn_jax.data import imdb, lm_corpus, portable
from rnn_jax.errors import ConfigError, CorruptDatasetError, DatasetNotFoundError
from rnn_jax.studies.sentiment import export_imdb
from tests.lm_fixture import write_tiny_lm_imdb


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tfds")
    write_tiny_lm_imdb(folder, num_train=60, num_test=40, num_unsupervised=30)
    return folder


@pytest.fixture(scope="module")
def copy_dir(tfds_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("portable")
    assert cli.main(["export-imdb", "--data_dir", str(tfds_dir), "--out", str(folder)]) == 0
    return folder


def test_every_split_reads_back_record_for_record(tfds_dir, copy_dir):
    tfds_sources, copies = (
        imdb.load_sources(tfds_dir, download=False),
        imdb.load_sources(copy_dir, download=False),
    )
    assert set(copies) == set(tfds_sources) == set(portable.SPLITS)
    assert all(isinstance(source, portable.PortableSource) for source in copies.values())
    for split, source in tfds_sources.items():
        indices = list(range(len(source)))
        assert len(copies[split]) == len(source)
        assert copies[split].__getitems__(indices) == [dict(r) for r in source.__getitems__(indices)]
        assert copies[split][3] == dict(source[3])
    assert {r["label"] for r in copies["unsupervised"].__getitems__(range(30))} == {-1}


def test_the_classifier_splits_and_the_lm_corpus_are_the_same_from_either_copy(tfds_dir, copy_dir):
    a = imdb.load_imdb(tfds_dir, num_validation=10, split_seed=2, download=False)
    b = imdb.load_imdb(copy_dir, num_validation=10, split_seed=2, download=False)
    for split in ("train", "validation", "test"):
        assert a[split].texts == b[split].texts
        np.testing.assert_array_equal(a[split].labels, b[split].labels)
    lm_a = lm_corpus.load_lm_corpus(tfds_dir, vocab_size=20, num_validation=10, num_test=10, download=False)
    lm_b = lm_corpus.load_lm_corpus(copy_dir, vocab_size=20, num_validation=10, num_test=10, download=False)
    assert lm_a.vocab == lm_b.vocab
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(lm_a, name), getattr(lm_b, name))
    assert imdb.is_readable(copy_dir) and not imdb.is_prepared(copy_dir)


def test_reading_the_copy_needs_no_tfds(copy_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # `import tensorflow_datasets` now fails
    splits = imdb.load_imdb(copy_dir, num_validation=10, download=False)
    assert len(splits["train"].texts) == 50 and len(splits["test"].texts) == 40


def test_a_copy_without_the_test_split_says_so(tfds_dir, tmp_path):
    export_imdb.export(export_imdb.ExportConfig(data_dir=str(tfds_dir), out=str(tmp_path), splits=("train",)))
    with pytest.raises(DatasetNotFoundError, match="no test split"):
        imdb.load_imdb(tmp_path, num_validation=10, download=False)


def _rewrite(path, **changes):
    with np.load(path) as arrays:
        fields = {name: arrays[name] for name in arrays.files}
    fields.update(changes)
    fields = {name: value for name, value in fields.items() if value is not None}
    np.savez(path, **fields)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "cannot be read"),
        (lambda p: p.write_bytes(b"not an npz file"), "cannot be read"),
        (lambda p: _rewrite(p, sha256=np.asarray("0" * 64)), "does not match its SHA-256"),
        (lambda p: _rewrite(p, text_xz=np.frombuffer(b"\xfd7zXZ\x00garbage", np.uint8)), "LZMAError"),
        (lambda p: _rewrite(p, offsets=None), "no offsets"),
        (
            lambda p: _rewrite(
                p,
                text_xz=np.frombuffer(lzma.compress(b"x"), np.uint8),
                sha256=np.asarray(__import__("hashlib").sha256(b"x").hexdigest()),
            ),
            "offsets do not fit",
        ),
    ],
)
def test_a_damaged_file_is_a_named_error(tfds_dir, tmp_path, damage, message):
    export_imdb.export(
        export_imdb.ExportConfig(data_dir=str(tfds_dir), out=str(tmp_path), splits=("train", "test"))
    )
    path = portable.portable_dir(tmp_path) / "test.npz"
    damage(path)
    with pytest.raises(CorruptDatasetError, match=message):
        imdb.load_sources(tmp_path, download=False)


def test_an_export_is_written_whole_or_not_at_all(tfds_dir, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(portable.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        export_imdb.export(export_imdb.ExportConfig(data_dir=str(tfds_dir), out=str(tmp_path)))
    assert not portable.is_portable(tmp_path)


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "--out is required"),
        (["--out", "OUT", "--splits", "train", "valid"], "--splits must name some of"),
        (["--out", "OUT", "--data_dir", "MISSING"], "IMDB (TFDS 'imdb_reviews', array_record) not found"),
    ],
)
def test_bad_exports_are_one_line(tfds_dir, tmp_path, capsys, flags, message):
    flags = [
        str(tmp_path / "out") if f == "OUT" else str(tmp_path / "none") if f == "MISSING" else f
        for f in flags
    ]
    if "--data_dir" not in flags:
        flags += ["--data_dir", str(tfds_dir)]
    assert cli.main(["export-imdb", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_the_export_config_rejects_an_unknown_split_in_code(tfds_dir, tmp_path):
    with pytest.raises(ConfigError, match="got train, dev"):
        export_imdb.export(
            export_imdb.ExportConfig(data_dir=str(tfds_dir), out=str(tmp_path), splits=("train", "dev"))
        )
