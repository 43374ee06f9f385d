"""Tests of rnn_jax.data.lm_corpus on a tiny three-split imdb_reviews (and one small slice of the real one)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from rnn_jax.data import lm_corpus
from rnn_jax.data.lm_corpus import EOS_ID, batchify, get_window, windows
from rnn_jax.data.tokenizer import OOV_ID, build_vocabulary, split_words, tokenize
from rnn_jax.errors import ConfigError
from tests.lm_fixture import write_tiny_lm_imdb

EVAL = {"num_validation": 12, "num_test": 15}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tfds")
    return folder, write_tiny_lm_imdb(folder)


@pytest.fixture(scope="module")
def corpus(tiny):
    return lm_corpus.load_lm_corpus(tiny[0], vocab_size=15, download=False, **EVAL)


def _expected_stream(texts, vocab):
    """The obvious second way: words -> ids one by one, EOS after each review."""
    ids = []
    for text in texts:
        ids.extend(vocab.ids.get(w, OOV_ID) for w in split_words(text))
        ids.append(EOS_ID)
    return np.asarray(ids, np.int32)


def test_training_text_is_unsupervised_then_train(tiny, corpus):
    _, texts = tiny
    train_texts = texts["unsupervised"] + texts["train"]
    assert corpus.vocab == build_vocabulary(tokenize(train_texts), 15)  # the classifier's ranking
    np.testing.assert_array_equal(corpus.train, _expected_stream(train_texts, corpus.vocab))
    assert corpus.train.dtype == np.int32
    assert corpus.num_reviews == {"train": 80, "validation": 12, "test": 15}


def test_eval_streams_are_disjoint_slices_of_test(tiny, corpus):
    _, texts = tiny
    val, test = corpus.validation_indices, corpus.test_indices
    assert len(val) == 12 and len(test) == 15 and not set(val) & set(test)
    assert set(val) | set(test) <= set(range(len(texts["test"])))
    np.testing.assert_array_equal(
        corpus.validation, _expected_stream([texts["test"][i] for i in val], corpus.vocab)
    )
    np.testing.assert_array_equal(
        corpus.test, _expected_stream([texts["test"][i] for i in test], corpus.vocab)
    )
    permutation = np.random.default_rng(0).permutation(len(texts["test"]))
    np.testing.assert_array_equal(np.concatenate([val, test]), permutation[:27])
    other = lm_corpus.load_lm_corpus(tiny[0], vocab_size=15, split_seed=1, download=False, **EVAL)
    assert not np.array_equal(other.validation_indices, val)
    np.testing.assert_array_equal(other.train, corpus.train)  # the seed moves only the evaluation slices


def test_vocabulary_oov_and_eos_invariants(tiny, corpus):
    vocab = corpus.vocab
    assert corpus.num_ids == len(vocab) + 2 == 17
    for split in lm_corpus.SPLITS:
        stream = corpus.stream(split)
        assert stream.min() >= 0 and stream.max() < corpus.num_ids
        assert np.count_nonzero(stream == EOS_ID) == corpus.num_reviews[split]
        assert stream[-1] == EOS_ID
    # the kept words are the most frequent: each occurs at least as often as any word mapped to OOV
    counted = collections.Counter(
        w for t in tiny[1]["unsupervised"] + tiny[1]["train"] for w in split_words(t)
    )
    rarest_kept = min(counted[w] for w in vocab.words)
    assert all(c <= rarest_kept for w, c in counted.items() if w not in vocab.ids)
    counts = np.bincount(corpus.train, minlength=corpus.num_ids)
    assert np.all(np.diff(counts[2:]) <= 0)  # ids 2.. ranked by frequency
    assert counts[OOV_ID] > 0


def test_corpus_stats(corpus):
    stats = lm_corpus.corpus_stats(corpus)
    for split in lm_corpus.SPLITS:
        s, stream = stats[split], corpus.stream(split)
        assert s["tokens"] == stream.size == s["words"] + s["reviews"]
        assert s["oov"] == np.count_nonzero(stream == OOV_ID)
        assert s["oov_rate"] == pytest.approx(s["oov"] / s["words"])


def test_whole_vocabulary_has_no_oov(tiny):
    texts = tiny[1]["unsupervised"] + tiny[1]["train"]
    distinct = len({w for t in texts for w in split_words(t)})
    corpus = lm_corpus.load_lm_corpus(tiny[0], vocab_size=distinct, download=False, **EVAL)
    assert lm_corpus.corpus_stats(corpus)["train"]["oov"] == 0
    with pytest.raises(
        ConfigError,
        match=f"vocab_size={distinct + 1} is larger than the number of distinct "
        f"words in the training text \\({distinct}\\)",
    ):
        lm_corpus.load_lm_corpus(tiny[0], vocab_size=distinct + 1, download=False, **EVAL)


def test_quick_slices(tiny, corpus):
    _, texts = tiny
    small = lm_corpus.load_lm_corpus(
        tiny[0], vocab_size=15, max_train_reviews=60, max_eval_reviews=5, download=False, **EVAL
    )
    # 60 reviews: all 50 unsupervised, then the first 10 of train
    vocab = build_vocabulary(tokenize(texts["unsupervised"] + texts["train"][:10]), 15)
    assert small.vocab == vocab
    np.testing.assert_array_equal(
        small.train, _expected_stream(texts["unsupervised"] + texts["train"][:10], vocab)
    )
    np.testing.assert_array_equal(small.validation_indices, corpus.validation_indices[:5])
    np.testing.assert_array_equal(small.test_indices, corpus.test_indices[:5])
    assert small.num_reviews == {"train": 60, "validation": 5, "test": 5}
    cut = lm_corpus.load_lm_corpus(tiny[0], vocab_size=15, max_train_tokens=100, download=False, **EVAL)
    assert cut.vocab == corpus.vocab  # same vocabulary, fewer tokens
    np.testing.assert_array_equal(cut.train, corpus.train[:100])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vocab_size": 0}, "vocab_size must be an int >= 1"),
        ({"vocab_size": 2.5}, "vocab_size must be an int >= 1"),
        ({"max_train_reviews": 0}, "max_train_reviews must be an int >= 1 or None"),
        ({"max_train_tokens": -3}, "max_train_tokens must be an int >= 1 or None"),
        ({"max_eval_reviews": 0}, "max_eval_reviews must be an int >= 1 or None"),
        ({"num_validation": 30, "num_test": 11}, "num_validation \\+ num_test = 41 exceeds the 40 reviews"),
        ({"num_test": 0}, "num_test must be an int >= 1"),
    ],
)
def test_bad_settings(tiny, options, message):
    settings = {"vocab_size": 15, **EVAL, **options}
    with pytest.raises(ConfigError, match=message):
        lm_corpus.load_lm_corpus(tiny[0], download=False, **settings)


def test_missing_unsupervised_split(tmp_path):
    from tests.imdb_fixture import write_tiny_imdb

    write_tiny_imdb(tmp_path, num_train=20, num_test=20)
    with pytest.raises(ConfigError, match="no split\\(s\\) \\['unsupervised'\\]"):
        lm_corpus.load_lm_corpus(tmp_path, vocab_size=5, num_validation=5, num_test=5, download=False)


def test_batchify_rows_are_contiguous_and_drop_the_remainder():
    stream = np.arange(23, dtype=np.int32)
    rows = batchify(stream, 4)
    assert rows.shape == (4, 5)
    np.testing.assert_array_equal(rows.reshape(-1), stream[:20])
    np.testing.assert_array_equal(rows[1], np.arange(5, 10))


@pytest.mark.parametrize(
    ("stream", "num_rows", "message"),
    [
        (np.arange(10), 0, "num_rows must be an int >= 1"),
        (np.arange(10), 6, "a stream of 10 tokens is too short for 6 rows"),
        (np.zeros((2, 5)), 2, "stream must be one-dimensional"),
    ],
)
def test_batchify_errors(stream, num_rows, message):
    with pytest.raises(ConfigError, match=message):
        batchify(stream, num_rows)


@pytest.mark.parametrize(("num_columns", "window"), [(36, 35), (100, 35), (71, 35), (7, 1), (2, 5), (50, 7)])
def test_windows_cover_every_token_once_and_targets_are_shifted(num_columns, window):
    rng = np.random.default_rng(num_columns)
    rows = rng.integers(0, 1000, size=(3, num_columns))
    rows[:, 0] = -1  # marks: no window may use column 0 as a target
    inputs_seen, targets_seen = [], []
    for i in windows(num_columns, window):
        inputs, targets = get_window(rows, int(i), window)
        assert inputs.shape == targets.shape and 1 <= inputs.shape[1] <= window
        np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])  # targets = inputs shifted by one
        inputs_seen.append(inputs)
        targets_seen.append(targets)
    # concatenated along time, the windows are exactly the row without its last / first column
    np.testing.assert_array_equal(np.concatenate(inputs_seen, axis=1), rows[:, :-1])
    np.testing.assert_array_equal(np.concatenate(targets_seen, axis=1), rows[:, 1:])


def test_windows_drop_last():
    np.testing.assert_array_equal(windows(100, 35), [0, 35, 70])
    np.testing.assert_array_equal(windows(100, 35, drop_last=True), [0, 35])
    np.testing.assert_array_equal(windows(71, 35, drop_last=True), [0, 35])  # 70 = 2 * 35: nothing dropped


@pytest.mark.parametrize("window", [0, -35, 2.0, True])
def test_bad_window(window):
    with pytest.raises(ConfigError, match="window \\(K, the BPTT length\\) must be a positive int"):
        windows(100, window)
    with pytest.raises(ConfigError, match="window \\(K, the BPTT length\\) must be a positive int"):
        get_window(np.zeros((2, 10)), 0, window)


@pytest.mark.parametrize("i", [-1, 9, 10])
def test_bad_window_start(i):
    with pytest.raises(ConfigError, match="window start i must lie in \\[0, 9\\)"):
        get_window(np.zeros((2, 10)), i, 3)
    with pytest.raises(ConfigError, match="rows need at least 2 columns"):
        windows(1, 3)


@pytest.mark.real_data
def test_small_slice_of_the_real_corpus(real_tfds_dir):
    corpus = lm_corpus.load_lm_corpus(
        real_tfds_dir, vocab_size=2_000, max_train_reviews=300, max_eval_reviews=50, download=False
    )
    stats = lm_corpus.corpus_stats(corpus)
    assert corpus.num_ids == 2_002 and corpus.vocab.words[0] == "the"
    assert stats["train"]["reviews"] == 300 and stats["validation"]["reviews"] == 50
    assert 150 * 300 < stats["train"]["tokens"] < 500 * 300  # IMDB reviews average about 235 words
    assert 0.0 < stats["validation"]["oov_rate"] < 0.3
    assert not set(corpus.validation_indices) & set(corpus.test_indices)
