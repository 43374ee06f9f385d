"""Flax sentiment classifiers: word embedding -> (rnn_jax recurrence) -> one logit per review.

    ids [B, T] --nn.Embed--> xs [B, T, E] --rnn_jax.unroll--> h_T [B, H] --nn.Dense--> logits [B]

`P(positive) = sigmoid(logits)`. The embedding and the head are Flax modules; the recurrence is the
pure core: its parameters are declared with `self.param` from the core's initialisers and the
module calls `rnn_jax.unroll` (never a Flax submodule inside a scan).

Parameter tree (`variables["params"]`), a stable interface for other scripts:

    params["embedding"]["embedding"]   [V + 2, E]       (V words + padding id 0 + OOV id 1)
    params["rnn"]                      the recurrence:
        simple_rnn:  {"A": [H, H + E], "b": [H]}     (2,080 numbers for the lecture's E = H = 32)
        lstm:        {"A": [4H, H + E], "b": [4H]}   (gates i, f, g, o)
        gru:         {"A": [2H, H + E], "b": [2H], "A_candidate": [H, H + E], "b_candidate": [H]}
        birnn:       {"forward": <simple_rnn>, "backward": <simple_rnn>}
        stacked:     {"layer_0": <simple_rnn, input E>, "layer_1": <simple_rnn, input H>, ...}
    params["head"]                     {"kernel": [H or 2H, 1], "bias": [1]}
    logreg has no "rnn": params["head"]["kernel"] is [T * E, 1].

So a trained Simple RNN's lecture matrix is `params["rnn"]["A"]` and its intercept `params["rnn"]["b"]`.

Padding: "post" (ids `[w1 w2 0 0]`) passes `lengths` to the unroll, so the last state is the one at
the last real word. "pre" (`[0 0 w1 w2]`, Keras' default, the lecture's) runs over the padding like
Keras' `SimpleRNN` without masking.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_jax.core import cells
from rnn_jax.core.unroll import bidirectional, stacked_unroll, unroll
from rnn_jax.data.tokenizer import NUM_SPECIAL_IDS, PADDINGS

MODELS = ("logreg", "simple_rnn", "lstm", "gru", "birnn", "stacked")

_CELLS: dict[str, tuple[Callable, Callable]] = {
    "simple_rnn": (cells.init_simple_rnn, cells.simple_rnn_step),
    "lstm": (cells.init_lstm, cells.lstm_step),
    "gru": (cells.init_gru, cells.gru_step),
}


class LogisticRegression(nn.Module):
    """The previous chapter's one-to-one baseline: embedding, flatten, logistic regression.

    logits = w . flatten(embed(ids)) + c
    """

    num_ids: int
    embedding_size: int
    embedding_dropout: float = 0.0

    @nn.compact
    def __call__(self, ids: jax.Array, lengths: jax.Array, *, train: bool = False) -> jax.Array:
        """ids [B, T] int, lengths [B] (unused: the padding ids have their own embedding) -> logits [B]."""
        del lengths
        xs = nn.Embed(self.num_ids, self.embedding_size, name="embedding")(ids)  # [B, T, E]
        xs = nn.Dropout(self.embedding_dropout, deterministic=not train)(xs)
        features = xs.reshape((xs.shape[0], -1))  # [B, T, E] -> [B, T * E]
        return nn.Dense(1, name="head")(features)[:, 0]


class RecurrentClassifier(nn.Module):
    """Embedding, an rnn_jax recurrence (many-to-one: only the last state), a logistic head.

        x_t = embed(ids[:, t]);  h_t = cell(A, h_{t-1}, x_t);  logits = w . h_T + c

    Attributes:
      num_ids: rows of the embedding table (vocabulary + padding + OOV).
      embedding_size: E.
      hidden_size: H of every recurrent layer.
      cell: "simple_rnn", "lstm" or "gru".
      num_layers: stacked layers (Simple RNN only when > 1).
      bidirectional: a forward and a backward Simple RNN; the head reads both last states.
      padding: "post" (masked with `lengths`) or "pre" (Keras: no mask).
      embedding_dropout: dropout rate on the word vectors while training.
      scan_unroll: time steps `lax.scan` unrolls per iteration (speed only).
    """

    num_ids: int
    embedding_size: int
    hidden_size: int
    cell: str = "simple_rnn"
    num_layers: int = 1
    bidirectional: bool = False
    padding: str = "post"
    embedding_dropout: float = 0.0
    scan_unroll: int = 1

    def _init_cell(self, key: jax.Array, input_size: int) -> dict[str, jax.Array]:
        return _CELLS[self.cell][0](key, input_size, self.hidden_size)

    def _init_rnn(self, key: jax.Array) -> dict[str, Any]:
        """The recurrence's parameters, laid out as in the module docstring."""
        if self.bidirectional:
            key_forward, key_backward = jax.random.split(key)
            return {
                "forward": self._init_cell(key_forward, self.embedding_size),
                "backward": self._init_cell(key_backward, self.embedding_size),
            }
        if self.num_layers > 1:
            keys = jax.random.split(key, self.num_layers)
            sizes = [self.embedding_size] + [self.hidden_size] * (self.num_layers - 1)
            return {f"layer_{k}": self._init_cell(keys[k], sizes[k]) for k in range(self.num_layers)}
        return self._init_cell(key, self.embedding_size)

    @nn.compact
    def __call__(self, ids: jax.Array, lengths: jax.Array, *, train: bool = False) -> jax.Array:
        """ids [B, T] int, lengths [B] int (real words per review) -> logits [B]."""
        xs = nn.Embed(self.num_ids, self.embedding_size, name="embedding")(ids)  # [B, T, E]
        xs = nn.Dropout(self.embedding_dropout, deterministic=not train)(xs)
        rnn = self.param("rnn", self._init_rnn)
        step_fn = _CELLS[self.cell][1]
        options = {"return_all_states": False, "unroll": self.scan_unroll}
        if self.padding == "post":
            options.update(lengths=lengths, padding="right")
        if self.bidirectional:
            h_last, _ = bidirectional(step_fn, rnn["forward"], rnn["backward"], xs, **options)  # [B, 2H]
        elif self.num_layers > 1:
            layers = [rnn[f"layer_{k}"] for k in range(self.num_layers)]
            h_lasts, _ = stacked_unroll(step_fn, layers, xs, **options)
            h_last = h_lasts[-1]
        else:
            h_last, _ = unroll(step_fn, rnn, xs, **options)
        h_last = cells.state_output(h_last)  # an LSTM's (h, c) -> h
        return nn.Dense(1, name="head")(h_last)[:, 0]


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def build_model(config: Any) -> nn.Module:
    """The Flax module that `config.model` names, sized by the config.

    Args:
      config: any object with `model`, `vocab_size`, `seq_len`, `embedding_size`, `hidden_size`,
        `num_layers`, `padding` and `embedding_dropout` (e.g. `rnn_jax.studies.sentiment.imdb.TrainConfig`).

    Returns:
      A module called as `model.apply(variables, ids [B, T], lengths [B], train=...) -> logits [B]`.

    Raises:
      ValueError: unknown model name, non-positive sizes, fewer than 2 layers for "stacked",
        unknown padding, dropout outside [0, 1).
    """
    name = config.model
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(map(repr, MODELS))}")
    for field in ("vocab_size", "seq_len", "embedding_size", "hidden_size"):
        _check_positive(field, getattr(config, field))
    if config.padding not in PADDINGS:
        raise ValueError(
            f"unknown padding {config.padding!r}; expected one of {', '.join(map(repr, PADDINGS))}"
        )
    if not 0.0 <= config.embedding_dropout < 1.0:
        raise ValueError(f"embedding_dropout must lie in [0, 1), got {config.embedding_dropout}")
    num_ids = config.vocab_size + NUM_SPECIAL_IDS
    common = functools.partial(
        RecurrentClassifier,
        num_ids,
        config.embedding_size,
        config.hidden_size,
        padding=config.padding,
        embedding_dropout=config.embedding_dropout,
        scan_unroll=getattr(config, "scan_unroll", 1),
    )
    if name == "logreg":
        return LogisticRegression(num_ids, config.embedding_size, config.embedding_dropout)
    if name == "birnn":
        return common(cell="simple_rnn", bidirectional=True)
    if name == "stacked":
        _check_positive("num_layers", config.num_layers)
        if config.num_layers < 2:
            raise ValueError(f"model 'stacked' needs num_layers >= 2, got {config.num_layers}")
        return common(cell="simple_rnn", num_layers=config.num_layers)
    return common(cell=name)


def init_params(model: nn.Module, key: jax.Array, seq_len: int) -> dict[str, Any]:
    """`model`'s initial parameters for inputs of length `seq_len`."""
    ids = jnp.zeros((1, seq_len), jnp.int32)
    lengths = jnp.full((1,), seq_len, jnp.int32)
    return model.init({"params": key}, ids, lengths)["params"]
