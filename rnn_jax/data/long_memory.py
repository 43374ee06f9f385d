"""The lecture's long-term dependence task ("I grew up in China ... I speak fluent ___"): its batches.

A sequence of `seq_len` tokens; with the answer `gap` steps before the final query:

    position:  0 ..           | T-2-gap  | T-1-gap  | ... gap - 1 distractors ... | T - 1
    token:     distractors    | MARKER   | ANSWER a | distractors                 | QUERY
                              ("grew up in") ("China")  (many sentences)           ("I speak fluent")

The label is the answer a (one of `num_answers` classes, chance = 1 / num_answers). gap = 1 is the
short-term case ("clouds are in the ___": the cue is the word just read); a large gap is the
lecture's "I grew up in China ... (many sentences) ... I speak fluent ___". Distractors are drawn
from the filler words AND the answer words ("I like French food"), so the model cannot simply
ignore answer-like inputs: it must keep the one that followed the marker. A many-to-one
classifier predicts a from its last state h_T alone, so it must carry a through `gap` steps.

Batches are fresh random samples (there is no fixed data set to overfit) and `gap` may be a traced
int, so one compilation serves a whole sweep over gaps at a fixed `seq_len`. The classifier that
reads them and its training live with the sweep, in `rnn_jax.studies.lecture.long_memory`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core._validation import check_positive_int, is_concrete


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """The token layout of the long-term dependence task.

    Vocabulary (V = num_answers + num_fillers + 2): answers are tokens 0 .. num_answers - 1, filler
    words the next `num_fillers`, then the MARKER (V - 2) and the QUERY (V - 1).
    """

    seq_len: int  # T, tokens per sequence; gaps from 1 to T - 2 fit
    num_answers: int = 8  # classes ("Chinese", "English", "French", ...); chance = 1 / num_answers
    num_fillers: int = 16  # filler words; distractors are fillers or answer words

    def __post_init__(self):
        for name in ("seq_len", "num_answers", "num_fillers"):
            check_positive_int(name, getattr(self, name))
        if self.seq_len < 3:
            raise ValueError(f"seq_len must be >= 3 (marker, answer, query), got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.num_answers + self.num_fillers + 2

    @property
    def marker_token(self) -> int:
        return self.vocab_size - 2

    @property
    def query_token(self) -> int:
        return self.vocab_size - 1

    @property
    def max_gap(self) -> int:
        return self.seq_len - 2

    def check_gap(self, gap: Any) -> None:
        """Raises a ValueError if a concrete `gap` (an int or [B] ints) leaves [1, seq_len - 2]."""
        if not is_concrete(gap):
            return
        values = np.asarray(gap)
        if values.size and not (1 <= values.min() and values.max() <= self.max_gap):
            bad = int(values.min()) if values.min() < 1 else int(values.max())
            raise ValueError(
                f"gap must lie in [1, {self.max_gap}] (seq_len - 2) for seq_len {self.seq_len}, got {bad}"
            )


class Batch(NamedTuple):
    """`tokens` [B, T] int32 and `labels` [B] int32 (the answer's class)."""

    tokens: jax.Array
    labels: jax.Array


def make_batch(key: jax.Array, spec: TaskSpec, batch_size: int, gap: int | jax.Array) -> Batch:
    """A batch of the task: distractors everywhere, MARKER ANSWER `gap` steps before the final QUERY.

    Args:
      key: PRNG key.
      spec: the task's layout.
      batch_size: B.
      gap: steps from the answer to the query, in [1, seq_len - 2]; an int, a traced int, or one
        per sequence ([B] ints: a training batch that mixes gaps, see `sample_gaps`).

    Returns:
      `Batch(tokens [B, T], labels [B])` with T = spec.seq_len.
    """
    check_positive_int("batch_size", batch_size)
    spec.check_gap(gap)
    key_answer, key_fill = jax.random.split(key)
    labels = jax.random.randint(key_answer, (batch_size,), 0, spec.num_answers, jnp.int32)
    tokens = jax.random.randint(
        key_fill, (batch_size, spec.seq_len), 0, spec.num_answers + spec.num_fillers, jnp.int32
    )
    answer_position = jnp.reshape(spec.seq_len - 1 - jnp.asarray(gap), (-1, 1))  # [1, 1] or [B, 1]
    positions = jnp.arange(spec.seq_len)
    tokens = jnp.where(positions == answer_position - 1, spec.marker_token, tokens)
    tokens = jnp.where(positions == answer_position, labels[:, None], tokens)
    tokens = jnp.where(positions == spec.seq_len - 1, spec.query_token, tokens)
    return Batch(tokens, labels)


def sample_gaps(key: jax.Array, batch_size: int, max_gap: int | jax.Array) -> jax.Array:
    """[B] gaps drawn uniformly from [1, max_gap]: a training batch that holds every shorter gap too.

    Trained on gap k alone, a cell sees the loss at chance (log C) until it happens on the answer
    token's gradient, and that plateau grows with k until it outlasts any step budget; the short
    gaps in a mixed batch give the gradient that teaches the cell to store the answer, and the test
    at exactly k then measures how long it can keep it.
    """
    check_positive_int("batch_size", batch_size)
    return jax.random.randint(key, (batch_size,), 1, jnp.asarray(max_gap) + 1, jnp.int32)
