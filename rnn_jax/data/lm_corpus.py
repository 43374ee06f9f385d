"""The language-model corpus: IMDB review text as id streams, and PyTorch-style stateful BPTT windows.

    reviews --split_words--> words --vocabulary--> ids, one end-of-review id after each review

    stream  [w w w EOS w w EOS w w w w EOS ...]   one int32 array per split
    batchify(stream, B) -> rows [B, N]           B contiguous pieces of the stream, the remainder dropped
    get_window(rows, i, K) -> inputs rows[:, i : i+K], targets rows[:, i+1 : i+1+K]

Where the text comes from (TFDS `imdb_reviews`, read through `rnn_jax.data.imdb.load_sources`):

  - training: the `unsupervised` split (50,000 reviews) followed by the `train` split (25,000), in
    TFDS's stored order; the labels are not used;
  - validation and test: disjoint slices of the `test` split. Its indices are permuted with
    `numpy.random.default_rng(split_seed)`; the first `num_validation` of the permutation are the
    validation reviews, the next `num_test` the test reviews (`LMCorpus.validation_indices`,
    `LMCorpus.test_indices`). So the language model never reads a `test` review while training,
    and a sentiment classifier tested on `test` never had its test reviews in the LM's training text.

Ids (the tokenizer's layout, with the padding slot reused because a stream has no padding):
0 is the end-of-review token (`EOS_ID`), 1 is out-of-vocabulary (`OOV_ID`), 2 .. N+1 are the N
most frequent training words, most frequent first, ties alphabetical (`rnn_jax.data.tokenizer`'s
rule). A softmax over the vocabulary therefore has `N + 2` outputs (`LMCorpus.num_ids`; 10,002 for
the default N = 10,000, Penn Treebank's size). The text cleaning is the classifier's own
(`tokenizer.split_words`).

Quick runs: `max_train_reviews` reads only the first reviews of the training order (the vocabulary
is then counted on those), `max_train_tokens` cuts the finished training stream (the vocabulary
stays the one of all the reviews read), and `max_eval_reviews` keeps the first reviews of the
validation and test slices.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

import numpy as np

from rnn_jax.data import imdb
from rnn_jax.data.tokenizer import NUM_SPECIAL_IDS, OOV_ID, PAD_ID, Vocabulary, split_words
from rnn_jax.errors import ConfigError

EOS_ID = PAD_ID  # 0: the end-of-review token takes the padding slot (streams are never padded)
TRAIN_SPLITS = ("unsupervised", "train")
EVAL_SPLIT = "test"
VOCAB_SIZE = 10_000
NUM_VALIDATION = 2_000  # reviews of TFDS's test split, about 0.47 M tokens
NUM_TEST = 2_000
SPLITS = ("train", "validation", "test")
_READ_CHUNK = 5_000  # reviews read from TFDS at a time (bounds the memory of raw text)


@dataclasses.dataclass(frozen=True, eq=False)
class LMCorpus:
    """Token streams of the three splits and where they came from.

    Attributes:
      vocab: the training vocabulary (ids as in the module docstring).
      train, validation, test: [N_split] int32 id streams, `EOS_ID` after every review.
      validation_indices, test_indices: the indices into TFDS's `test` split of the reviews in the
        validation and test streams, in stream order (disjoint).
      num_reviews: reviews per split, `{"train": ..., "validation": ..., "test": ...}`.
    """

    vocab: Vocabulary
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    validation_indices: np.ndarray
    test_indices: np.ndarray
    num_reviews: dict[str, int]

    @property
    def num_ids(self) -> int:
        """V: the vocabulary's words plus end-of-review and OOV (the softmax's size)."""
        return self.vocab.num_ids

    def stream(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(map(repr, SPLITS))}")
        return getattr(self, split)


def _check_count(name: str, value, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}, got {value!r}"
        )


class _FirstSeenIds(dict):
    """word -> a provisional id in order of first appearance (a new word gets the next id)."""

    def __missing__(self, word: str) -> int:
        self[word] = len(self)
        return self[word]


def _with_eos(flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Inserts `EOS_ID` after each review: flat word ids [sum(lengths)] -> stream [sum(lengths) + R]."""
    stream = np.full(flat.size + lengths.size, EOS_ID, np.int32)
    # word k of review r moves r places right (one EOS before it for each earlier review)
    stream[np.arange(flat.size) + np.repeat(np.arange(lengths.size), lengths)] = flat
    return stream


def encode_reviews(texts: Iterable[str | bytes], vocab: Vocabulary) -> np.ndarray:
    """The id stream of `texts` under `vocab`: each review's word ids, then `EOS_ID`.

    Returns:
      [sum(words) + number of reviews] int32.
    """
    pieces = [np.asarray(vocab.lookup(split_words(text)), np.int32) for text in texts]
    lengths = np.fromiter(map(len, pieces), np.int64, count=len(pieces))
    flat = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    return _with_eos(flat.astype(np.int32), lengths)


def build_training_stream(texts: Iterable[str | bytes], vocab_size: int) -> tuple[Vocabulary, np.ndarray]:
    """The vocabulary of the `vocab_size` most frequent words of `texts`, and their id stream.

    One pass over the text: each word gets a provisional id in order of first appearance, the
    counts are a `bincount` of those, and a lookup table maps provisional ids to final ones. The
    vocabulary equals `tokenizer.build_vocabulary(tokenize(texts), vocab_size)` (same ranking,
    ties alphabetical) without keeping the words of the whole corpus in memory.

    Raises:
      ConfigError: `vocab_size` is not a positive int, or exceeds the number of distinct words.
    """
    _check_count("vocab_size", vocab_size)
    first_seen = _FirstSeenIds()
    pieces = [np.fromiter(map(first_seen.__getitem__, split_words(text)), np.int32) for text in texts]
    lengths = np.fromiter(map(len, pieces), np.int64, count=len(pieces))
    provisional = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    words = list(first_seen)
    if vocab_size > len(words):
        raise ConfigError(
            f"vocab_size={vocab_size} is larger than the number of distinct words in the "
            f"training text ({len(words)}); choose vocab_size <= {len(words)}"
        )
    counts = np.bincount(provisional, minlength=len(words))
    ranked = sorted(range(len(words)), key=lambda i: (-counts[i], words[i]))[:vocab_size]
    vocab = Vocabulary([words[i] for i in ranked])
    table = np.full(len(words), OOV_ID, np.int32)
    table[ranked] = np.arange(NUM_SPECIAL_IDS, NUM_SPECIAL_IDS + vocab_size, dtype=np.int32)
    return vocab, _with_eos(table[provisional], lengths)


def _read_texts(source, indices: Iterable[int]) -> Iterable[bytes]:
    indices = [int(i) for i in indices]
    for start in range(0, len(indices), _READ_CHUNK):
        for record in source.__getitems__(indices[start : start + _READ_CHUNK]):
            yield record["text"]


def eval_split_indices(
    num_reviews: int, num_validation: int = NUM_VALIDATION, num_test: int = NUM_TEST, split_seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into TFDS's `test` split: (validation, test), disjoint slices of one seeded permutation.

    Raises:
      ConfigError: the two slices do not fit into `num_reviews`.
    """
    _check_count("num_validation", num_validation)
    _check_count("num_test", num_test)
    if num_validation + num_test > num_reviews:
        raise ConfigError(
            f"num_validation + num_test = {num_validation + num_test} exceeds the "
            f"{num_reviews} reviews of the '{EVAL_SPLIT}' split"
        )
    order = np.random.default_rng(split_seed).permutation(num_reviews)
    return order[:num_validation], order[num_validation : num_validation + num_test]


def load_lm_corpus(
    data_dir: str | os.PathLike | None = None,
    *,
    vocab_size: int = VOCAB_SIZE,
    num_validation: int = NUM_VALIDATION,
    num_test: int = NUM_TEST,
    split_seed: int = 0,
    max_train_reviews: int | None = None,
    max_train_tokens: int | None = None,
    max_eval_reviews: int | None = None,
    download: bool = True,
) -> LMCorpus:
    """The IMDB language-model corpus (see the module docstring for the splits and ids).

    Args:
      data_dir: TFDS data directory; see `rnn_jax.data.imdb.resolve_data_dir`.
      vocab_size: N, the most frequent training words kept (V = N + 2 ids with EOS and OOV).
      num_validation, num_test: reviews of TFDS's `test` split in the validation / test streams.
      split_seed: seed of the permutation of the `test` split's indices.
      max_train_reviews: read only the first N reviews of the training order (unsupervised, then
        train); None = all 75,000. The vocabulary is counted on the reviews read.
      max_train_tokens: keep only the first N tokens of the training stream (same vocabulary).
      max_eval_reviews: keep only the first N reviews of the validation and of the test slice.
      download: see `rnn_jax.data.imdb.load_sources`.

    Returns:
      An `LMCorpus`.

    Raises:
      ConfigError: a count is not a positive int (or None where allowed), the evaluation slices
        do not fit into the test split, or `vocab_size` exceeds the distinct training words.
      DatasetNotFoundError: the dataset is missing (see `load_sources`).
    """
    _check_count("vocab_size", vocab_size)
    for name, value in (
        ("max_train_reviews", max_train_reviews),
        ("max_train_tokens", max_train_tokens),
        ("max_eval_reviews", max_eval_reviews),
    ):
        _check_count(name, value, allow_none=True)
    sources = imdb.load_sources(data_dir, download=download)
    missing = [s for s in (*TRAIN_SPLITS, EVAL_SPLIT) if s not in sources]
    if missing:
        raise ConfigError(
            f"the imdb_reviews copy has no split(s) {missing}; the language-model corpus "
            f"needs {list(TRAIN_SPLITS)} for training and '{EVAL_SPLIT}' for evaluation"
        )
    validation_indices, test_indices = eval_split_indices(
        len(sources[EVAL_SPLIT]), num_validation, num_test, split_seed
    )
    validation_indices = validation_indices[:max_eval_reviews]
    test_indices = test_indices[:max_eval_reviews]

    train_order = [(split, i) for split in TRAIN_SPLITS for i in range(len(sources[split]))]
    train_order = train_order[:max_train_reviews]

    def train_texts():
        for split in TRAIN_SPLITS:
            yield from _read_texts(sources[split], [i for s, i in train_order if s == split])

    vocab, train = build_training_stream(train_texts(), vocab_size)
    train = train[:max_train_tokens]
    validation = encode_reviews(_read_texts(sources[EVAL_SPLIT], validation_indices), vocab)
    test = encode_reviews(_read_texts(sources[EVAL_SPLIT], test_indices), vocab)
    return LMCorpus(
        vocab,
        train,
        validation,
        test,
        validation_indices,
        test_indices,
        {"train": len(train_order), "validation": len(validation_indices), "test": len(test_indices)},
    )


def stream_stats(stream: np.ndarray) -> dict[str, float | int]:
    """Counts of one id stream: tokens (EOS included), words (EOS excluded), OOV words, OOV rate.

    The OOV rate is over words, `oov / words` (end-of-review tokens are never out of vocabulary).
    """
    stream = np.asarray(stream)
    tokens = int(stream.size)
    eos = int(np.count_nonzero(stream == EOS_ID))
    oov = int(np.count_nonzero(stream == OOV_ID))
    words = tokens - eos
    return {
        "tokens": tokens,
        "words": words,
        "end_of_review": eos,
        "oov": oov,
        "oov_rate": oov / words if words else 0.0,
    }


def corpus_stats(corpus: LMCorpus) -> dict[str, dict[str, float | int]]:
    """`stream_stats` of each split, with its number of reviews; e.g. `stats["train"]["oov_rate"]`."""
    return {
        split: {"reviews": corpus.num_reviews[split], **stream_stats(corpus.stream(split))}
        for split in SPLITS
    }


def batchify(stream: np.ndarray, num_rows: int) -> np.ndarray:
    """Cuts a stream into `num_rows` contiguous rows (PyTorch's `batchify`), dropping the remainder.

        rows[b] = stream[b * N : (b + 1) * N],  N = len(stream) // num_rows

    Row b continues where row b - 1's text stopped, so a state carried along a row reads
    unbroken text. (PyTorch's example returns the transpose, [N, B].)

    Returns:
      rows [B, N] with B = `num_rows`.

    Raises:
      ConfigError: `num_rows` is not a positive int, or the stream has fewer than 2 * `num_rows`
        tokens (a row needs an input and a target).
    """
    _check_count("num_rows", num_rows)
    stream = np.asarray(stream)
    if stream.ndim != 1:
        raise ConfigError(f"stream must be one-dimensional, got shape {stream.shape}")
    num_columns = stream.size // num_rows
    if num_columns < 2:
        raise ConfigError(
            f"a stream of {stream.size} tokens is too short for {num_rows} rows "
            f"(each row needs at least 2 tokens)"
        )
    return stream[: num_rows * num_columns].reshape(num_rows, num_columns)  # [B * N] -> [B, N]


def _check_window(window) -> None:
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window <= 0:
        raise ConfigError(f"window (K, the BPTT length) must be a positive int, got {window!r}")


def windows(num_columns: int, window: int, *, drop_last: bool = False) -> np.ndarray:
    """The start columns of the BPTT windows over rows of `num_columns` tokens (PyTorch's loop).

        range(0, num_columns - 1, window)

    The window at start i reads inputs at columns [i, i + k) and targets at [i + 1, i + 1 + k),
    k = min(window, num_columns - 1 - i); so over one epoch every column but the last is an input
    exactly once and every column but the first is a target exactly once. The last window is
    shorter when `window` does not divide `num_columns - 1`; `drop_last=True` leaves it out (one
    window shape, one compilation, at the cost of its tokens).

    Raises:
      ConfigError: `window` <= 0 or `num_columns` < 2.
    """
    _check_window(window)
    if isinstance(num_columns, bool) or not isinstance(num_columns, int | np.integer) or num_columns < 2:
        raise ConfigError(f"rows need at least 2 columns (an input and its target), got {num_columns!r}")
    starts = np.arange(0, num_columns - 1, window)
    if drop_last and (num_columns - 1) % window:
        starts = starts[:-1]
    return starts


def get_window(rows: np.ndarray, i: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The window at start column `i` (PyTorch's `get_batch`): inputs and next-token targets.

        inputs = rows[:, i : i + k],  targets = rows[:, i + 1 : i + 1 + k],  k = min(window, N - 1 - i)

    Returns:
      `(inputs, targets)`, each [B, k].

    Raises:
      ConfigError: `window` <= 0, or `i` outside [0, N - 1).
    """
    _check_window(window)
    num_columns = rows.shape[1]
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < num_columns - 1:
        raise ConfigError(
            f"window start i must lie in [0, {num_columns - 1}) for rows of {num_columns} columns, got {i!r}"
        )
    k = min(window, num_columns - 1 - i)
    return rows[:, i : i + k], rows[:, i + 1 : i + 1 + k]
