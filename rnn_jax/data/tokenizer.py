"""Words to ids: text cleaning, a frequency vocabulary (saved as JSON) and padded id arrays.

    "A great film.<br />Loved it"  -> ["a", "great", "film", "loved", "it"]  -> [5, 87, 20, 412, 11]

Ids: 0 is padding, 1 is out-of-vocabulary (OOV), 2 .. N+1 are the N most frequent training words,
most frequent first (ties broken alphabetically, so the vocabulary is a pure function of the data).
An embedding table for a vocabulary of N words therefore has `N + 2` rows (`Vocabulary.num_ids`).

Each review keeps its LAST `seq_len` words (the lecture's, and Keras' `truncating="pre"`), then is
padded to `seq_len`:

  - "post": `[w1 w2 w3 0 0]` with `lengths = 3`, so a padding-aware RNN stops at the last real word;
  - "pre":  `[0 0 w1 w2 w3]` (Keras' `pad_sequences` default, what the lecture uses).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAD_ID = 0
OOV_ID = 1
NUM_SPECIAL_IDS = 2
PADDINGS = ("post", "pre")

_WORD = re.compile(r"[\w']+")  # letters, digits and apostrophes ("don't" stays one word)


def split_words(text: str | bytes) -> list[str]:
    """Lowercases, replaces `<br />` by a space and returns the words of `text`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _WORD.findall(text.lower().replace("<br />", " "))


class _Ids(dict):
    """word -> id, with OOV_ID for any other word (so `map(ids.__getitem__, words)` runs in C)."""

    def __missing__(self, word: str) -> int:
        return OOV_ID


class Vocabulary:
    """The N most frequent words; `ids` maps a word to its id (2 .. N+1), unknown words map to 1."""

    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        self.ids = {w: i + NUM_SPECIAL_IDS for i, w in enumerate(self.words)}
        if len(self.ids) != len(self.words):
            raise ValueError("vocabulary words must be distinct")
        self._lookup = _Ids(self.ids)

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    @property
    def num_ids(self) -> int:
        """Rows an embedding table needs: the words plus padding and OOV."""
        return len(self.words) + NUM_SPECIAL_IDS

    def lookup(self, words: Iterable[str]) -> list[int]:
        return list(map(self._lookup.__getitem__, words))

    def save(self, path: str | os.PathLike) -> Path:
        """Writes `{"pad_id", "oov_id", "words"}` as JSON (id of words[i] is i + 2)."""
        path = Path(path)
        data = {"pad_id": PAD_ID, "oov_id": OOV_ID, "words": self.words}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        try:
            data = json.loads(path.read_text())
            words = data["words"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a vocabulary file (JSON with a 'words' list): {err}") from err
        if data.get("pad_id") != PAD_ID or data.get("oov_id") != OOV_ID:
            raise ValueError(
                f"{path} uses pad/oov ids {data.get('pad_id')}/{data.get('oov_id')}, "
                f"expected {PAD_ID}/{OOV_ID}"
            )
        return cls(words)


def build_vocabulary(tokenized: Iterable[Sequence[str]], vocab_size: int) -> Vocabulary:
    """The `vocab_size` most frequent words of `tokenized` (lists of words), ties alphabetical.

    Raises:
      ValueError: `vocab_size` < 1, or the texts hold no word at all.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer) or vocab_size < 1:
        raise ValueError(
            f"vocab_size must be an int >= 1 (words besides padding and OOV), got {vocab_size!r}"
        )
    counts = collections.Counter(itertools.chain.from_iterable(tokenized))
    if not counts:
        raise ValueError("cannot build a vocabulary: the training texts contain no words")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Vocabulary([w for w, _ in ranked[:vocab_size]])


def encode(
    tokenized: Sequence[Sequence[str]], vocab: Vocabulary, seq_len: int, padding: str = "post"
) -> tuple[np.ndarray, np.ndarray]:
    """Pads the last `seq_len` words of each text into one id matrix.

    Args:
      tokenized: N lists of words (from `split_words`).
      vocab: the vocabulary.
      seq_len: T, words kept per text (the last T).
      padding: "post" (`[w1 w2 0 0]`) or "pre" (`[0 0 w1 w2]`).

    Returns:
      `(ids, lengths)`: ids [N, T] int32, lengths [N] int32 = number of real words (<= T).
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int | np.integer) or seq_len <= 0:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(map(repr, PADDINGS))}")
    kept = [words[-seq_len:] for words in tokenized]
    lengths = np.fromiter(map(len, kept), np.int32, count=len(kept))
    flat = np.fromiter(
        map(vocab._lookup.__getitem__, itertools.chain.from_iterable(kept)),
        np.int32,
        count=int(lengths.sum()),
    )
    ids = np.zeros((len(kept), seq_len), np.int32)
    # Scatter the flat ids: element k of row n goes to column k (post) or T - length_n + k (pre).
    row_index = np.repeat(np.arange(len(kept)), lengths)
    starts = np.cumsum(lengths) - lengths
    column = np.arange(flat.size) - np.repeat(starts, lengths)
    if padding == "pre":
        column += np.repeat(seq_len - lengths, lengths)
    ids[row_index, column] = flat
    return ids, lengths


def tokenize(texts: Iterable[str | bytes]) -> list[list[str]]:
    """`split_words` on every text."""
    return [split_words(t) for t in texts]
