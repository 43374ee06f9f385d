"""Count-based language models in numpy: interpolated Kneser-Ney n-grams and the unigram model.

Interpolated Kneser-Ney (Chen & Goodman 1998, "An empirical study of smoothing techniques for
language modeling", section 3.7 and the modified variant of section 4.1.6). For the highest order n,
with raw counts c and a history h of n - 1 words, h' its last n - 2:

    P_n(w | h) = (max(c(h w) - D(c(h w)), 0) + gamma(h) P_{n-1}(w | h')) / c(h .)
    gamma(h)   = D_1 N_1(h .) + D_2 N_2(h .) + D_3+ N_3+(h .)       (the mass the discounts freed)

where c(h .) = sum_w c(h w) and N_r(h .) counts the words seen exactly r times (r >= 3 for N_3+)
after h. The lower orders k < n have the same form with the continuation count
c'(v w) = N_1+(. v w), the number of distinct words seen before the k-gram, in place of c; the
unigram level interpolates with the uniform distribution 1 / V, so every id has a probability > 0.
A history never seen at an order falls through to the order below. The discounts of each order come
from its counts of counts n_r (the number of k-grams whose count at that order is r):

    Y = n_1 / (n_1 + 2 n_2),   D_r = r - (r + 1) Y n_{r+1} / n_r   (r = 1, 2, 3 -> D_1, D_2, D_3+)

("modified"), or one discount D = Y for every count ("plain" absolute discounting). On tiny corpora
a count of counts can be zero: then Y falls back to 0.5 and an undefined D_r to Y, and every
discount is clipped into [MIN_DISCOUNT, r] so that each seen history keeps some backoff mass.

The stream is one sequence (the end-of-review id is a word like any other), so a history may cross
a review boundary, as a language model carrying its state along a row does. `log_probs(stream)`
scores `stream[1:]`, each token given the up to n - 1 tokens before it (the first tokens get the
shorter history there is): the targets of a language model reading the stream from its first token.

Implementation: every k-gram is one int64 key, `rank of its first k - 1 words among the distinct
(k - 1)-grams * V + last word`, so keys never overflow whatever the order; `np.unique` counts them
and `np.searchsorted` looks them up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnn_jax.errors import ConfigError

DISCOUNTS = ("modified", "plain")
MIN_DISCOUNT = 0.05
_CHUNK = 1 << 20  # positions scored at a time by log_probs (bounds the memory of the histories)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_stream(stream, num_ids: int, minimum: int, what: str = "stream") -> np.ndarray:
    stream = np.asarray(stream)
    if stream.ndim != 1 or not (np.issubdtype(stream.dtype, np.integer) or stream.size == 0):
        raise ConfigError(
            f"{what} must be a 1-D array of integer ids, got shape {stream.shape} and dtype {stream.dtype}"
        )
    if stream.size < minimum:
        raise ConfigError(f"{what} needs at least {minimum} tokens, got {stream.size}")
    if stream.size and (stream.min() < 0 or stream.max() >= num_ids):
        raise ConfigError(
            f"{what} ids must lie in [0, {num_ids}) (num_ids), got values from "
            f"{stream.min()} to {stream.max()}"
        )
    return stream.astype(np.int64)


def discounts_from_counts(counts: np.ndarray, kind: str = "modified") -> np.ndarray:
    """Chen & Goodman's discounts (D_1, D_2, D_3+) from the counts of one order (see the module doc).

    Args:
      counts: the (raw or continuation) counts of the k-grams of one order; zeros are ignored.
      kind: "modified" (three discounts) or "plain" (D_1 = D_2 = D_3+ = Y).

    Returns:
      [3] float64.
    """
    if kind not in DISCOUNTS:
        raise ConfigError(f"unknown discount {kind!r}; expected one of {', '.join(map(repr, DISCOUNTS))}")
    n = np.bincount(np.asarray(counts, np.int64), minlength=5)[1:5].astype(np.float64)  # n_1 .. n_4
    y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 else 0.5
    r = np.arange(1, 4, dtype=np.float64)
    if kind == "plain":
        d = np.full(3, y)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(n[:3] > 0, r - (r + 1) * y * n[1:] / n[:3], y)
    return np.clip(d, MIN_DISCOUNT, r)


def _rank(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The index of each key in `sorted_keys`, -1 where it is absent (or the key is negative)."""
    idx = np.searchsorted(sorted_keys, keys)
    idx = np.minimum(idx, sorted_keys.size - 1)
    found = (keys >= 0) & (sorted_keys[idx] == keys) if sorted_keys.size else np.zeros(keys.shape, bool)
    return np.where(found, idx, -1)


def _histories(stream: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
    """[M, length]: the `length` ids before each position, -1 before the stream's start."""
    offsets = positions[:, None] - length + np.arange(length)  # [M, length], last column = position - 1
    return np.where(offsets >= 0, stream[np.maximum(offsets, 0)], -1)


def _context(context: Sequence[int] | np.ndarray, num_ids: int, length: int) -> np.ndarray:
    """A single context's last `length` ids, left-filled with -1: [1, length]."""
    context = np.asarray(context, np.int64).reshape(-1)
    if context.size and (context.min() < 0 or context.max() >= num_ids):
        raise ConfigError(f"context ids must lie in [0, {num_ids}) (num_ids), got {context.tolist()}")
    kept = context[max(context.size - length, 0) :]
    return np.concatenate([np.full(length - kept.size, -1, np.int64), kept])[None]


class _Model:
    """Shared scoring: log_probs / perplexity / log_prob / next_word_distribution from `_probs`."""

    num_ids: int
    order: int

    def _probs(self, histories: np.ndarray, words: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted", False):
            raise ConfigError(f"{type(self).__name__} is not fitted yet: call fit(stream) first")

    def next_word_distribution(self, context: Sequence[int] | np.ndarray) -> np.ndarray:
        """P(w | context) for every id w: [V] float64, summing to 1 (only the last n - 1 ids count)."""
        self._check_fitted()
        words = np.arange(self.num_ids)
        histories = np.broadcast_to(
            _context(context, self.num_ids, self.order - 1), (self.num_ids, self.order - 1)
        )
        return self._probs(histories, words)

    def log_prob(self, context: Sequence[int] | np.ndarray, word: int) -> float:
        """log P(word | context), natural log."""
        self._check_fitted()
        if isinstance(word, bool) or not isinstance(word, int | np.integer) or not 0 <= word < self.num_ids:
            raise ConfigError(f"word must be an id in [0, {self.num_ids}), got {word!r}")
        histories = _context(context, self.num_ids, self.order - 1)
        return float(np.log(self._probs(histories, np.asarray([word], np.int64))[0]))

    def log_probs(self, stream: np.ndarray) -> np.ndarray:
        """log P(stream[t] | the up to n - 1 ids before it) for t = 1 .. N - 1: [N - 1] float64."""
        self._check_fitted()
        stream = _check_stream(stream, self.num_ids, 2)
        out = np.empty(stream.size - 1)
        for start in range(1, stream.size, _CHUNK):
            positions = np.arange(start, min(start + _CHUNK, stream.size))
            histories = _histories(stream, positions, self.order - 1)
            out[start - 1 : positions[-1]] = np.log(self._probs(histories, stream[positions]))
        return out

    def perplexity(self, stream: np.ndarray) -> float:
        """exp(-mean log P) over the targets `stream[1:]`."""
        return float(np.exp(-np.mean(self.log_probs(stream))))


class UnigramModel(_Model):
    """P(w) = (c(w) + alpha) / (N + alpha V): word frequencies with add-alpha smoothing.

    Attributes:
      num_ids: V.
      smoothing: alpha >= 0; with 0 an id never seen in training has probability 0.
    """

    order = 1

    def __init__(self, num_ids: int, *, smoothing: float = 1.0):
        self.num_ids = _check_int("num_ids", num_ids, 1)
        if not np.isfinite(smoothing) or smoothing < 0:
            raise ConfigError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
        self.smoothing = float(smoothing)
        self.fitted = False

    def fit(self, stream: np.ndarray) -> UnigramModel:
        """Counts the ids of `stream`; returns self."""
        stream = _check_stream(stream, self.num_ids, 1 if self.smoothing == 0 else 0)
        counts = np.bincount(stream, minlength=self.num_ids).astype(np.float64)
        self.probs = (counts + self.smoothing) / (counts.sum() + self.smoothing * self.num_ids)
        self.fitted = True
        return self

    def _probs(self, histories: np.ndarray, words: np.ndarray) -> np.ndarray:
        return self.probs[words]


class KneserNeyModel(_Model):
    """Interpolated (modified) Kneser-Ney n-gram model; see the module docstring for the formulas.

    Attributes:
      num_ids: V, the number of ids (ids are 0 .. V - 1).
      order: n >= 2 (3 = trigram).
      discount: "modified" (D_1, D_2, D_3+ per order) or "plain" (one D per order).
      discounts: after `fit`, [n, 3] float64, row k - 1 = the discounts of order k. Pass them to
        the constructor (one float or a (D_1, D_2, D_3+) triple per order, unigram first) to fix
        them instead of estimating them.
    """

    def __init__(
        self,
        num_ids: int,
        order: int = 3,
        *,
        discount: str = "modified",
        discounts: Sequence[float | Sequence[float]] | None = None,
    ):
        self.num_ids = _check_int("num_ids", num_ids, 1)
        self.order = _check_int("order", order, 2)
        if discount not in DISCOUNTS:
            raise ConfigError(
                f"unknown discount {discount!r}; expected one of {', '.join(map(repr, DISCOUNTS))}"
            )
        self.discount = discount
        self._fixed = None
        if discounts is not None:
            if len(discounts) != self.order:
                raise ConfigError(f"discounts needs one entry per order ({self.order}), got {len(discounts)}")
            fixed = np.asarray([np.broadcast_to(np.asarray(d, np.float64), (3,)) for d in discounts])
            bounds = np.arange(1, 4)
            if np.any(fixed <= 0) or np.any(fixed > bounds):
                raise ConfigError(
                    f"discounts must lie in (0, r] for the count r = 1, 2, 3+, got {fixed.tolist()}"
                )
            self._fixed = fixed
        self.fitted = False

    def fit(self, stream: np.ndarray) -> KneserNeyModel:
        """Counts the k-grams of `stream` (k = 1 .. n) and the tables the lookups need; returns self.

        Raises:
          ConfigError: the stream is not 1-D integer ids in [0, V), or shorter than n tokens.
        """
        stream = _check_stream(stream, self.num_ids, self.order)
        V, n = self.num_ids, self.order
        uniq, counts, previous_inverse = [], [], None
        for k in range(1, n + 1):
            # the k-gram ending at t (t = k-1 .. N-1): rank of its first k-1 words * V + w_t
            keys = stream if k == 1 else previous_inverse[:-1] * V + stream[k - 1 :]
            u, first, inverse, raw = np.unique(
                keys, return_index=True, return_inverse=True, return_counts=True
            )
            if k > 1:
                # continuation counts of order k-1: distinct k-grams ending in each (k-1)-gram. The
                # suffix of the k-gram ending at t is the (k-1)-gram ending at t.
                suffix = previous_inverse[1:][first]
                counts.append(np.bincount(suffix, minlength=uniq[-1].size))
            uniq.append(u)
            previous_inverse = inverse.reshape(-1)
        counts.append(raw)  # the highest order keeps raw counts
        self._uniq = uniq
        self._counts, self._discount_of, self._totals, self._backoff = [], [], [], []
        self.discounts = np.empty((n, 3))
        for k in range(1, n + 1):
            c = counts[k - 1].astype(np.int64)
            d = (
                self._fixed[k - 1]
                if self._fixed is not None
                else discounts_from_counts(c[c > 0], self.discount)
            )
            self.discounts[k - 1] = d
            per_key = np.where(c > 0, d[np.minimum(c, 3) - 1], 0.0)  # D(c), 0 for c = 0
            prefix = uniq[k - 1] // V  # rank of the first k-1 words (0 for the unigram level)
            num_contexts = 1 if k == 1 else uniq[k - 2].size
            self._counts.append(c.astype(np.float64) - per_key)  # the discounted counts
            self._totals.append(np.bincount(prefix, weights=c, minlength=num_contexts))
            self._backoff.append(np.bincount(prefix, weights=per_key, minlength=num_contexts))
        self.num_tokens = int(stream.size)
        self.num_ngrams = [int(u.size) for u in uniq]
        self.fitted = True
        return self

    def _context_rank(self, words: np.ndarray) -> np.ndarray:
        """Rank of the (k-1)-gram `words` [M, k-1] among the distinct (k-1)-grams; -1 if unseen."""
        rank = _rank(self._uniq[0], words[:, 0])
        for j in range(1, words.shape[1]):
            rank = np.where(rank >= 0, _rank(self._uniq[j], rank * self.num_ids + words[:, j]), -1)
        return rank

    def _probs(self, histories: np.ndarray, words: np.ndarray) -> np.ndarray:
        V, n = self.num_ids, self.order
        words = np.asarray(words, np.int64)
        histories = np.asarray(histories, np.int64)
        rank = _rank(self._uniq[0], words)
        p = (np.where(rank >= 0, self._counts[0][rank], 0.0) + self._backoff[0][0] / V) / self._totals[0][0]
        for k in range(2, n + 1):
            context = histories[:, n - k :]  # the last k-1 ids
            ctx = np.where(np.all(context >= 0, axis=1), self._context_rank(np.maximum(context, 0)), -1)
            safe = np.maximum(ctx, 0)
            total = np.where(ctx >= 0, self._totals[k - 1][safe], 0.0)
            seen = total > 0  # a history seen at order k (for k < n: seen after some other word)
            rank = np.where(ctx >= 0, _rank(self._uniq[k - 1], safe * V + words), -1)
            discounted = np.where(rank >= 0, self._counts[k - 1][np.maximum(rank, 0)], 0.0)
            backoff = self._backoff[k - 1][safe]
            p = np.where(seen, (discounted + backoff * p) / np.where(seen, total, 1.0), p)
        return p
