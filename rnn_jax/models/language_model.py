"""A Flax many-to-many language model: embedding -> the core's recurrence over a window -> next-word logits.

    ids [B, K] --nn.Embed--> xs [B, K, E] --rnn_jax.linen layers from the carried state--> hs [B, K, H]
        --output layer--> logits [B, K, V]        (logits[:, t] scores the id that follows ids[:, t])

The recurrence is the package's Linen layer (`rnn_jax.linen`; each layer one `rnn_jax.unroll`, never
a Flax submodule inside the scan), applied to parameters declared with `self.param("rnn", ...)` from
the core's initialisers, so the tree below keeps the names and initial values it was trained with. The
state after the window is returned as the new carry: stateful truncated BPTT (PyTorch's
`examples/word_language_model`, Keras' `stateful=True`) feeds it to the next window of the same rows
after cutting its gradient (`detach_carry`, PyTorch's `repackage_hidden`):

    carry = model.init_carry(B)
    for i in windows(N, K):
        inputs, targets = get_window(rows, i, K)
        (logits, carry) = model.apply({"params": params}, inputs, carry)
        carry = detach_carry(carry)

so reading a row window by window gives the same states as one unroll over the whole row.

Parameter tree (`variables["params"]`):

    params["embedding"]["embedding"]   [V, E]        (shared with the output layer when tied)
    params["rnn"]                      one layer: the cell's dict, as in models/classifiers.py
                                       ({"A": [H, H + E], "b": [H]} for the Simple RNN);
                                       num_layers > 1: {"layer_0": <input E>, "layer_1": <input H>, ...}
    params["output"]                   {"kernel": [H, V], "bias": [V]}   (untied)
    params["output_bias"]              [V]                               (tied: logits = hs E^T + bias)
    params["adaptive"]                 models/adaptive_softmax.py's head, projections and tails
                                       (softmax="adaptive": log p = the adaptive softmax's, exact)

The carry is a tuple with one state per layer ([B, H], an `LSTMState(h, c)` for the LSTM).
With `reset_id` set (the end-of-review id), every layer's state is zeroed before it reads that id
(`rnn_jax.unroll`'s `resets`), so each review in the stream is read from a zero state, however the
windows cut the stream; without it (PyTorch's example) the state runs on across reviews.
Dropout (Zaremba et al. 2014) acts on the non-recurrent connections only: the word vectors, the
outputs of each layer, never the state carried from step to step. The embedding and output weights
start uniform in [-0.1, 0.1] with a zero output bias, as in PyTorch's example.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_jax.core import cells
from rnn_jax.core.layer_call import to_core_state, to_flax_carry
from rnn_jax.core.unroll import STRATEGIES
from rnn_jax.errors import ConfigError
from rnn_jax.linen import GRU, LSTM, SimpleRNN
from rnn_jax.models.adaptive_softmax import AdaptiveSoftmax, check_cutoffs

# Per cell: the core's initialiser, its step and the Linen layer that unrolls it.
CELLS: dict[str, tuple[Callable, Callable, type[nn.Module]]] = {
    "simple_rnn": (cells.init_simple_rnn, cells.simple_rnn_step, SimpleRNN),
    "lstm": (cells.init_lstm, cells.lstm_step, LSTM),
    "gru": (cells.init_gru, cells.gru_step, GRU),
}
INIT_RANGE = 0.1  # PyTorch word_language_model's `initrange`
SOFTMAXES = ("full", "adaptive")
# PyTorch's nn.Linear default (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), which its adaptive softmax uses.
TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")

Carry = tuple[Any, ...]


def _uniform(scale: float) -> Callable:
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")


class LanguageModel(nn.Module):
    """Embedding, `num_layers` recurrent layers unrolled over the window, logits over the vocabulary.

        x_t = embed(ids[:, t]);  h_t^l = cell(A^l, h_{t-1}^l, h_t^{l-1});  logits_t = W h_t^L + c

    Attributes:
      num_ids: V, the vocabulary's ids (words + end-of-review + OOV) = rows of the embedding table.
      embedding_size: E.
      hidden_size: H of every layer.
      cell: "simple_rnn", "lstm" or "gru".
      num_layers: stacked layers; layer l reads layer l - 1's states.
      tie_embeddings: the output layer uses the embedding table (W = E_table, needs H = E).
      dropout: rate on the word vectors and on every layer's outputs while training.
      scan_unroll: steps `lax.scan` unrolls per iteration (speed only); None = the core's default.
      strategy: `rnn_jax.unroll`'s strategy ("auto": the fused backward pass for the Simple RNN).
      softmax: "full" (logits = W h + c over all V ids) or "adaptive" (Grave et al. 2017: a frequent
        head and cheaper tail clusters; still an exact distribution over all V ids).
      cutoffs, div_value: the adaptive softmax's clusters (models/adaptive_softmax.py).
      recurrent_scale: spectral radius of each layer's recurrent half A_h at initialisation (the
        core's orthogonal init times this); below 1 the state forgets, at 1 and above it can turn
        chaotic under Adam (measured in README/docs: the language model pages).
      reset_id: None, or an id (the end-of-review token) before which every layer's state is
        zeroed: h_{t-1} := 0 where ids[:, t] == reset_id. The Simple RNN then runs the core's
        "step" strategy (the fused backward pass takes no resets).
    """

    num_ids: int
    embedding_size: int
    hidden_size: int
    cell: str = "simple_rnn"
    num_layers: int = 1
    tie_embeddings: bool = False
    dropout: float = 0.0
    scan_unroll: int | None = None
    strategy: str = "auto"
    recurrent_scale: float = 1.0
    softmax: str = "full"
    cutoffs: tuple[int, ...] = (2000, 6000)
    div_value: float = 4.0
    reset_id: int | None = None

    def __post_init__(self):
        for name in ("num_ids", "embedding_size", "hidden_size", "num_layers"):
            _check_positive(name, getattr(self, name))
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}; expected one of {', '.join(map(repr, CELLS))}")
        if self.tie_embeddings and self.hidden_size != self.embedding_size:
            raise ConfigError(
                "tie_embeddings needs hidden_size == embedding_size (the output layer is the "
                f"embedding table), got hidden_size={self.hidden_size}, "
                f"embedding_size={self.embedding_size}"
            )
        if self.softmax not in SOFTMAXES:
            raise ConfigError(
                f"unknown softmax {self.softmax!r}; expected one of {', '.join(map(repr, SOFTMAXES))}"
            )
        if self.softmax == "adaptive":
            check_cutoffs(self.cutoffs, self.num_ids)
            if self.tie_embeddings:
                raise ConfigError("tie_embeddings needs softmax='full' (one output matrix to share)")
        if self.reset_id is not None and not (
            isinstance(self.reset_id, int)
            and not isinstance(self.reset_id, bool)
            and 0 <= self.reset_id < self.num_ids
        ):
            raise ConfigError(f"reset_id must be None or an id in [0, {self.num_ids}), got {self.reset_id!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; expected one of {', '.join(map(repr, STRATEGIES))}"
            )
        super().__post_init__()

    def setup(self):
        self.embedding = nn.Embed(self.num_ids, self.embedding_size, embedding_init=_uniform(INIT_RANGE))
        self.rnn = self.param("rnn", self._init_rnn)
        if self.softmax == "adaptive":
            self.adaptive = AdaptiveSoftmax(
                self.num_ids, self.hidden_size, self.cutoffs, self.div_value, kernel_init=TORCH_LINEAR_INIT
            )
        elif self.tie_embeddings:
            self.output_bias = self.param("output_bias", nn.initializers.zeros, (self.num_ids,))
        else:
            self.output = nn.Dense(
                self.num_ids, kernel_init=_uniform(INIT_RANGE), bias_init=nn.initializers.zeros
            )
        self.drop = nn.Dropout(self.dropout)

    def _init_rnn(self, key: jax.Array) -> dict[str, Any]:
        init = functools.partial(CELLS[self.cell][0], recurrent_scale=self.recurrent_scale)
        if self.num_layers == 1:
            return init(key, self.embedding_size, self.hidden_size)
        keys = jax.random.split(key, self.num_layers)
        sizes = [self.embedding_size] + [self.hidden_size] * (self.num_layers - 1)
        return {f"layer_{k}": init(keys[k], sizes[k], self.hidden_size) for k in range(self.num_layers)}

    def _layers(self) -> list[dict[str, jax.Array]]:
        if self.num_layers == 1:
            return [self.rnn]
        return [self.rnn[f"layer_{k}"] for k in range(self.num_layers)]

    def init_carry(self, batch_size: int, dtype: Any = jnp.float32) -> Carry:
        """Zero states, one per layer: ([B, H] or LSTMState([B, H], [B, H]), ...)."""
        _check_positive("batch_size", batch_size)
        zeros = jnp.zeros((batch_size, self.hidden_size), dtype)
        state = cells.LSTMState(zeros, zeros) if self.cell == "lstm" else zeros
        return tuple(state for _ in range(self.num_layers))

    def embed(self, ids: jax.Array) -> jax.Array:
        """ids [B, K] int -> word vectors xs [B, K, E]."""
        return self.embedding(ids)

    def recur(
        self, xs: jax.Array, carry: Carry, *, train: bool = False, resets: jax.Array | None = None
    ) -> tuple[jax.Array, Carry]:
        """The layers over the window from `carry`: xs [B, K, E] -> (top states hs [B, K, H], new carry).

        `resets` [B, K] bool (`reset_flags(model, ids)`): zero every layer's state before step t.
        """
        if len(carry) != self.num_layers:
            raise ConfigError(f"carry must hold one state per layer ({self.num_layers}), got {len(carry)}")
        _, step_fn, layer_type = CELLS[self.cell]
        # Unbound: it runs on each layer's params given to `apply` (the tree stays the module docstring's).
        layer = layer_type(self.hidden_size, strategy=self.strategy, unroll=self.scan_unroll, parent=None)
        inputs, new_carry = self.drop(xs, deterministic=not train), []
        for params, h0 in zip(self._layers(), carry, strict=True):
            # The layer's LSTM carry is flax's (c, h); this model's is the core's LSTMState(h, c).
            h_last, hs = layer.apply(
                {"params": params}, inputs, initial_carry=to_flax_carry(h0), return_carry=True, resets=resets
            )
            new_carry.append(to_core_state(step_fn, h_last))
            inputs = self.drop(hs, deterministic=not train)  # hs [B, K, H]: an LSTM's h
        return inputs, tuple(new_carry)

    def logits(self, hs: jax.Array) -> jax.Array:
        """Top states hs [..., H] -> logits [..., V]: softmax(logits) is the model's next-word distribution.

        (With the adaptive softmax the logits are the log-probabilities themselves.)
        """
        if self.softmax == "adaptive":
            return self.adaptive.log_probs(hs)
        if self.tie_embeddings:
            return self.embedding.attend(hs) + self.output_bias  # hs @ E_table^T: [B, K, E] -> [B, K, V]
        return self.output(hs)

    def target_log_probs(
        self, hs: jax.Array, targets: jax.Array, capacities: tuple[int, ...] | None = None
    ) -> jax.Array:
        """log p(targets | hs): hs [..., H], targets [...] -> [...].

        `capacities` (adaptive softmax only; ignored by the full one): the static bound on the
        targets per tail cluster, `adaptive_softmax.cluster_capacities` of the data; None: no bound.
        """
        if self.softmax == "adaptive":
            return self.adaptive.target_log_probs(hs, targets, capacities)
        return -token_losses(self.logits(hs), targets)

    def losses(
        self,
        ids: jax.Array,
        targets: jax.Array,
        carry: Carry,
        *,
        train: bool = False,
        capacities: tuple[int, ...] | None = None,
    ) -> tuple[jax.Array, Carry]:
        """ids, targets [B, K] -> (-log p(targets[:, t] | ids[:, :t + 1], carry) [B, K], the new carry)."""
        hs, new_carry = self.recur(self.embed(ids), carry, train=train, resets=reset_flags(self, ids))
        return -self.target_log_probs(hs, targets, capacities), new_carry

    def __call__(self, ids: jax.Array, carry: Carry, *, train: bool = False) -> tuple[jax.Array, Carry]:
        """ids [B, K] int and the carried states -> (logits [B, K, V], the states after the window).

        With `train=True` and `dropout > 0`, pass `rngs={"dropout": key}` to `apply`.
        """
        hs, new_carry = self.recur(self.embed(ids), carry, train=train, resets=reset_flags(self, ids))
        return self.logits(hs), new_carry


def init_params(model: LanguageModel, key: jax.Array) -> dict[str, Any]:
    """`model`'s initial parameters (the window length does not matter: nothing depends on K)."""
    ids = jnp.zeros((1, 1), jnp.int32)
    return model.init({"params": key}, ids, model.init_carry(1))["params"]


def reset_flags(model: LanguageModel, ids: jax.Array) -> jax.Array | None:
    """Where `model` zeroes its state before reading ids [B, K]: ids == reset_id ([B, K] bool), or None."""
    return None if model.reset_id is None else jnp.asarray(ids) == model.reset_id


def detach_carry(carry: Carry) -> Carry:
    """The carry with its gradient cut (PyTorch's `repackage_hidden`): BPTT stops at the window's start."""
    return jax.tree_util.tree_map(jax.lax.stop_gradient, carry)


def token_losses(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """-log softmax(logits)[target] per position: logits [B, K, V], targets [B, K] int -> [B, K]."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]


def perplexity(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """exp(mean token loss) over every position of the window(s)."""
    return jnp.exp(jnp.mean(token_losses(logits, targets)))
