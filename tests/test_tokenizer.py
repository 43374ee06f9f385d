"""Tests of rnn_jax.tokenizer: cleaning, vocabulary, padding/truncation invariants, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_jax.data import tokenizer as tk


def test_split_words_cleans_like_the_lecture():
    text = b"This movie<br />was GREAT, I didn't<br /><br />expect it... 10/10"
    assert tk.split_words(text) == [
        "this",
        "movie",
        "was",
        "great",
        "i",
        "didn't",
        "expect",
        "it",
        "10",
        "10",
    ]
    assert tk.split_words("Caf\u00e9 <br />ok") == ["caf\u00e9", "ok"]
    assert tk.split_words("") == []


def test_vocabulary_is_most_frequent_first_ties_alphabetical():
    words = tk.tokenize(["b a c a b a d", "d c e"])
    vocab = tk.build_vocabulary(words, 3)
    assert vocab.words == ["a", "b", "c"]  # a:3, then b, c, d all 2: alphabetical
    assert vocab.ids == {"a": 2, "b": 3, "c": 4} and vocab.num_ids == 5
    assert tk.build_vocabulary(words, 100).words == ["a", "b", "c", "d", "e"]  # fewer words than asked
    assert vocab.lookup(["a", "zzz", "c"]) == [2, tk.OOV_ID, 4]


@pytest.mark.parametrize("vocab_size", [0, -5, 2.5, True])
def test_vocabulary_too_small(vocab_size):
    with pytest.raises(ValueError, match="vocab_size must be an int >= 1"):
        tk.build_vocabulary([["a"]], vocab_size)


def test_vocabulary_of_no_words():
    with pytest.raises(ValueError, match="contain no words"):
        tk.build_vocabulary([[], tk.split_words("... !!")], 10)


def _reference(words, vocab, seq_len, padding):
    """A plain Python encoding of one text, to compare against the vectorised one."""
    ids = [vocab.ids.get(w, tk.OOV_ID) for w in words][-seq_len:]
    pad = [tk.PAD_ID] * (seq_len - len(ids))
    return (ids + pad if padding == "post" else pad + ids), len(ids)


@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("seq_len", [1, 4, 7, 30])
def test_encode_matches_a_plain_loop(padding, seq_len):
    rng = np.random.default_rng(seq_len)
    pool = [f"w{i}" for i in range(12)]
    texts = [list(rng.choice(pool, size=int(rng.integers(0, 15)))) for _ in range(25)]
    vocab = tk.build_vocabulary(texts, 6)
    ids, lengths = tk.encode(texts, vocab, seq_len, padding)
    assert ids.shape == (25, seq_len) and ids.dtype == np.int32 and lengths.dtype == np.int32
    for row, words in enumerate(texts):
        expected, length = _reference(words, vocab, seq_len, padding)
        assert ids[row].tolist() == expected and lengths[row] == length


def test_encode_keeps_the_last_words_and_pads():
    vocab = tk.Vocabulary(["a", "b", "c", "d"])  # ids 2..5
    texts = [["a", "b", "c", "d", "zz"], ["c"], []]
    post, lengths = tk.encode(texts, vocab, 3, "post")
    pre, lengths_pre = tk.encode(texts, vocab, 3, "pre")
    assert post.tolist() == [[4, 5, 1], [4, 0, 0], [0, 0, 0]]
    assert pre.tolist() == [[4, 5, 1], [0, 0, 4], [0, 0, 0]]
    assert lengths.tolist() == lengths_pre.tolist() == [3, 1, 0]
    # Invariants: padding only past `lengths` (post) / before T - lengths (pre), never inside.
    t = np.arange(3)
    assert np.all((post == 0) >= (t >= lengths[:, None]))
    assert np.all((pre == 0) >= (t < 3 - lengths[:, None]))


@pytest.mark.parametrize("seq_len", [0, -1, 2.0])
def test_encode_rejects_bad_seq_len(seq_len):
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        tk.encode([["a"]], tk.Vocabulary(["a"]), seq_len)


def test_encode_rejects_unknown_padding():
    with pytest.raises(ValueError, match="unknown padding 'left'"):
        tk.encode([["a"]], tk.Vocabulary(["a"]), 3, "left")


def test_vocabulary_json_round_trip(tmp_path):
    vocab = tk.build_vocabulary(tk.tokenize(["Un caf\u00e9 <br />, un th\u00e9", "un"]), 10)
    path = vocab.save(tmp_path / "vocab.json")
    assert tk.Vocabulary.load(path) == vocab


def test_vocabulary_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tk.Vocabulary.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a vocabulary file"):
        tk.Vocabulary.load(tmp_path / "bad.json")
    (tmp_path / "ids.json").write_text('{"pad_id": 1, "oov_id": 0, "words": ["a"]}')
    with pytest.raises(ValueError, match="pad/oov ids"):
        tk.Vocabulary.load(tmp_path / "ids.json")
    with pytest.raises(ValueError, match="distinct"):
        tk.Vocabulary(["a", "a"])
