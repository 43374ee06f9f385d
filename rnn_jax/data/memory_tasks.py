"""The field's two memory benchmarks, drawn on the fly with `jax.random`: the adding problem, the copy task.

**The adding problem** (Hochreiter & Schmidhuber 1997, section 5.4; in the form of Le, Jaitly &
Hinton 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units", section 4.1,
and Arjovsky, Shah & Bengio 2016, "Unitary Evolution Recurrent Neural Networks", section 4.2).
Each step t of a sequence of length T reads two channels:

    x_t = [v_t, m_t],   v_t ~ U[0, 1],   m_t = 1 at exactly two steps, 0 elsewhere
    the first marker lies uniformly in the first half [0, T // 2), the second in [T // 2, T)
    target = v_{p1} + v_{p2}                       (one number per sequence, read from h_T)

The loss is the mean squared error. Predicting the constant 1 (the target's mean) scores the target's
variance, 2 / 12 = 1/6 ~ 0.167: the baseline every model must beat (`ADDING_BASELINE`).

**The copy memory task** (Arjovsky, Shah & Bengio 2016, section 4.1, after Hochreiter &
Schmidhuber 1997). An alphabet of ten tokens: 0 is the blank, 1..8 are the symbols, 9 the delimiter.
A sequence has T + 20 steps:

    input:   s_1 .. s_10 | 0 x (T - 1) | 9 | 0 x 10          s_i ~ uniform over the 8 symbols
    target:  0 x (T + 10)                | s_1 .. s_10

The model predicts a token at every step (cross-entropy averaged over all T + 20 steps). A model that
outputs the blank for the first T + 10 steps and guesses uniformly over the 8 symbols for the last 10
scores 10 log(8) / (T + 20) (`copy_baseline`): it has remembered nothing.

Both generators split the draw (`jax.random`) from the assembly (`adding_from_draws`,
`copy_from_draws`), so tests assemble the same draws in NumPy and compare. They are pure and jittable
with a static T; the training loop that reads them lives in `rnn_jax.studies.memory`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax.core._validation import check_positive_int

ADDING_BASELINE = 1.0 / 6.0  # MSE of the constant prediction 1 = Var(U1 + U2) = 2 / 12
COPY_NUM_SYMBOLS = 10  # symbols to remember (Arjovsky et al. 2016)
COPY_ALPHABET = 8  # distinct symbols, tokens 1..8
COPY_BLANK = 0
COPY_DELIMITER = COPY_ALPHABET + 1  # 9
COPY_VOCAB_SIZE = COPY_ALPHABET + 2  # input tokens: blank, 8 symbols, delimiter
COPY_NUM_CLASSES = COPY_ALPHABET + 1  # output tokens: blank and the 8 symbols


class AddingBatch(NamedTuple):
    """`xs` [B, T, 2] float32 (value, marker) and `targets` [B] float32."""

    xs: jax.Array
    targets: jax.Array


class CopyBatch(NamedTuple):
    """`tokens` [B, T + 20] int32 inputs and `targets` [B, T + 20] int32 (blank or a symbol)."""

    tokens: jax.Array
    targets: jax.Array


def check_adding_length(seq_len: int) -> int:
    """T must be an int >= 2 (one marker in each half)."""
    check_positive_int("seq_len", seq_len)
    if seq_len < 2:
        raise ValueError(f"the adding problem needs seq_len >= 2 (a marker in each half), got {seq_len}")
    return seq_len


def check_copy_length(blank_len: int, num_symbols: int = COPY_NUM_SYMBOLS, alphabet: int = COPY_ALPHABET):
    """T (the blanks between the symbols and the delimiter, plus one) >= 1; alphabet >= 2."""
    check_positive_int("blank_len", blank_len)
    check_positive_int("num_symbols", num_symbols)
    check_positive_int("alphabet", alphabet)
    if alphabet < 2:
        raise ValueError(f"the copy task needs an alphabet of at least 2 symbols, got {alphabet}")


def adding_from_draws(values: jax.Array, first: jax.Array, second: jax.Array) -> AddingBatch:
    """Assembles adding-problem sequences from their random draws.

    Args:
      values: v, [B, T] in [0, 1).
      first: p1, [B] int, the first marked step (in [0, T // 2)).
      second: p2, [B] int, the second marked step (in [T // 2, T)).

    Returns:
      `AddingBatch(xs [B, T, 2], targets [B])`, targets = v[p1] + v[p2].
    """
    steps = jnp.arange(values.shape[1])
    markers = (steps == first[:, None]) | (steps == second[:, None])  # [B, T]
    xs = jnp.stack([values, markers.astype(values.dtype)], axis=-1)  # [B, T] x 2 -> [B, T, 2]
    targets = jnp.sum(jnp.where(markers, values, 0.0), axis=1)
    return AddingBatch(xs, targets)


def adding_batch(key: jax.Array, batch_size: int, seq_len: int) -> AddingBatch:
    """A fresh batch of the adding problem (Le et al. 2015; Arjovsky et al. 2016).

    Args:
      key: PRNG key.
      batch_size: B.
      seq_len: T >= 2 (static).

    Returns:
      `AddingBatch(xs [B, T, 2], targets [B])`; the constant predictor 1 scores MSE 1/6.
    """
    check_positive_int("batch_size", batch_size)
    check_adding_length(seq_len)
    key_values, key_first, key_second = jax.random.split(key, 3)
    half = seq_len // 2
    values = jax.random.uniform(key_values, (batch_size, seq_len))
    first = jax.random.randint(key_first, (batch_size,), 0, half)
    second = jax.random.randint(key_second, (batch_size,), half, seq_len)
    return adding_from_draws(values, first, second)


def copy_from_draws(symbols: jax.Array, blank_len: int, *, alphabet: int = COPY_ALPHABET) -> CopyBatch:
    """Assembles copy-task sequences from their symbols.

    Args:
      symbols: [B, S] int in [1, alphabet] (S = 10 in the paper).
      blank_len: T: the input holds T - 1 blanks, then the delimiter (alphabet + 1), then S blanks.
      alphabet: distinct symbols (8 in the paper).

    Returns:
      `CopyBatch(tokens [B, T + 2S], targets [B, T + 2S])`.
    """
    check_copy_length(blank_len, symbols.shape[1], alphabet)
    return _copy_assemble(symbols.astype(jnp.int32), blank_len, alphabet + 1)


def _copy_assemble(symbols: jax.Array, blank_len: int, delimiter: int) -> CopyBatch:
    batch_size, num_symbols = symbols.shape
    blanks_before = jnp.zeros((batch_size, blank_len - 1), jnp.int32)
    blanks_after = jnp.zeros((batch_size, num_symbols), jnp.int32)
    mark = jnp.full((batch_size, 1), delimiter, jnp.int32)
    tokens = jnp.concatenate([symbols, blanks_before, mark, blanks_after], axis=1)
    silent = jnp.zeros((batch_size, blank_len + num_symbols), jnp.int32)
    targets = jnp.concatenate([silent, symbols], axis=1)
    return CopyBatch(tokens, targets)


def copy_batch(
    key: jax.Array,
    batch_size: int,
    blank_len: int,
    *,
    num_symbols: int = COPY_NUM_SYMBOLS,
    alphabet: int = COPY_ALPHABET,
) -> CopyBatch:
    """A fresh batch of the copy memory task (Arjovsky et al. 2016, section 4.1).

    Args:
      key: PRNG key.
      batch_size: B.
      blank_len: T (static): the symbols must be carried across T + S steps.
      num_symbols: S, the symbols to remember (10 in the paper).
      alphabet: distinct symbols (8 in the paper): tokens 1..alphabet; the delimiter is alphabet + 1.

    Returns:
      `CopyBatch(tokens [B, T + 2S], targets [B, T + 2S])`.
    """
    check_positive_int("batch_size", batch_size)
    check_copy_length(blank_len, num_symbols, alphabet)
    symbols = jax.random.randint(key, (batch_size, num_symbols), 1, alphabet + 1, jnp.int32)
    return _copy_assemble(symbols, blank_len, alphabet + 1)


def copy_baseline(
    blank_len: int, *, num_symbols: int = COPY_NUM_SYMBOLS, alphabet: int = COPY_ALPHABET
) -> float:
    """The memoryless cross-entropy S log(alphabet) / (T + 2S): 10 log(8) / (T + 20) in the paper."""
    check_copy_length(blank_len, num_symbols, alphabet)
    return num_symbols * math.log(alphabet) / (blank_len + 2 * num_symbols)
