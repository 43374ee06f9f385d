"""Flax sentiment classifiers: word embedding -> (rnn_jax recurrence) -> one logit per review.

    ids [B, T] --nn.Embed--> xs [B, T, E] --rnn_jax.linen layer--> h_T [B, H] --nn.Dense--> logits [B]

`P(positive) = sigmoid(logits)`. The embedding and the head are Flax modules; the recurrence is the
package's Linen layer (`rnn_jax.linen.SimpleRNN`, `LSTM`, `GRU`, `Bidirectional`: one `rnn_jax.unroll`
each, never a Flax submodule inside a scan). Its parameters are declared with `self.param("rnn", ...)`
from the core's initialisers and the layer is applied to them, so the tree below and its initial
values are those the committed results were trained with.

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
from rnn_jax.data.tokenizer import NUM_SPECIAL_IDS, PADDINGS
from rnn_jax.linen import GRU, LSTM, Bidirectional, SimpleRNN

MODELS = ("logreg", "simple_rnn", "lstm", "gru", "birnn", "stacked")

# Per cell: the core's initialiser (the parameters' layout and initial values) and the Linen layer.
_CELLS: dict[str, tuple[Callable, type[nn.Module]]] = {
    "simple_rnn": (cells.init_simple_rnn, SimpleRNN),
    "lstm": (cells.init_lstm, LSTM),
    "gru": (cells.init_gru, GRU),
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

    def _layer(self) -> nn.Module:
        """The Linen layer of one recurrent layer, unbound: it runs on the params given to `apply`."""
        return _CELLS[self.cell][1](self.hidden_size, unroll=self.scan_unroll, parent=None)

    def _last_state(self, rnn: dict[str, Any], xs: jax.Array, lengths: jax.Array) -> jax.Array:
        """The recurrence, many-to-one: xs [B, T, E] -> the state after the last real word [B, H or 2H]."""
        # "pre" padding runs over the padding, as Keras' SimpleRNN without a mask.
        options = {"seq_lengths": lengths if self.padding == "post" else None, "return_carry": True}
        if self.bidirectional:
            layer = Bidirectional(self._layer(), self._layer(), parent=None)
            params = {"forward_rnn": rnn["forward"], "backward_rnn": rnn["backward"]}
            (carry_f, carry_b), _ = layer.apply({"params": params}, xs, return_outputs=False, **options)
            return jnp.concatenate([carry_f, carry_b], axis=-1)  # [B, 2H]
        layers = [rnn[f"layer_{k}"] for k in range(self.num_layers)] if self.num_layers > 1 else [rnn]
        inputs = xs
        for k, params in enumerate(layers):  # layer k reads layer k - 1's outputs, zero at padded steps
            top = k == len(layers) - 1
            carry, inputs = self._layer().apply({"params": params}, inputs, return_outputs=not top, **options)
        return carry[1] if self.cell == "lstm" else carry  # the LSTM's carry is flax's (c, h)

    @nn.compact
    def __call__(self, ids: jax.Array, lengths: jax.Array, *, train: bool = False) -> jax.Array:
        """ids [B, T] int, lengths [B] int (real words per review) -> logits [B]."""
        xs = nn.Embed(self.num_ids, self.embedding_size, name="embedding")(ids)  # [B, T, E]
        xs = nn.Dropout(self.embedding_dropout, deterministic=not train)(xs)
        h_last = self._last_state(self.param("rnn", self._init_rnn), xs, lengths)
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
