"""Flax NNX layers over the pure core: `SimpleRNN`, `LSTM`, `GRU` and `Bidirectional`.

Drop-in replacements for `nnx.RNN(nnx.SimpleCell(...))`, `nnx.RNN(nnx.LSTMCell(...))` (and
`OptimizedLSTMCell`), `nnx.RNN(nnx.GRUCell(...))` and `nnx.Bidirectional`:

    from flax import nnx
    import rnn_jax.nnx

    layer = rnn_jax.nnx.SimpleRNN(32, 64, rngs=nnx.Rngs(0))   # A [64, 64 + 32], b [64]
    outputs = layer(xs)                                        # xs [B, T, 32] -> [B, T, 64]
    carry, outputs = layer(xs, seq_lengths=lengths, return_carry=True)

The Simple RNN holds the lecture's parameters as `nnx.Param`s: `A` [H, H + F] acting on [h; x] (state
first) and `b` [H]: h_t = act(A [h_{t-1}; x_t] + b). The LSTM and GRU hold the core's `A`, `b` (and
the GRU's `A_candidate`, `b_candidate`). The call runs `rnn_jax.unroll` (one `lax.scan`, the fused
backward pass for the Simple RNN) through `rnn_jax.core.layer_call`, which documents the calling
convention: flax's, except that outputs at padded steps are zero.

Beyond `nnx.RNN`: `padding="left"`, `resets`, the unroll `strategy` and the scan's `unroll` factor,
the core's activations (`activation="relu"` with `recurrent_init="identity"` is the IRNN) and
initialisers. The GRU is Cho et al.'s (reset before the matrix product), not flax's `GRUCell` (reset
after it), so its numbers differ from `nnx.GRUCell`'s for the same weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice
from rnn_jax.core.layer_call import check_inputs, layer_call
from rnn_jax.core.unroll import PADDINGS, STRATEGIES


class _RecurrentLayer(nnx.Module):
    """The call shared by the layers: flax's `RNN` convention over `rnn_jax.unroll`."""

    _param_names: tuple[str, ...] = ()

    def _configure(
        self,
        in_features,
        hidden_features,
        padding,
        strategy,
        unroll,
        time_major,
        return_carry,
        reverse,
        keep_order,
    ) -> None:
        check_choice("padding", padding, PADDINGS)
        check_choice("strategy", strategy, STRATEGIES)
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.padding = padding
        self.strategy = strategy
        self.unroll = unroll
        self.time_major = time_major
        self.return_carry = return_carry
        self.reverse = reverse
        self.keep_order = keep_order

    def _step_fn(self) -> Callable:
        raise NotImplementedError

    def cell_params(self) -> dict[str, jax.Array]:
        """The core's parameter dict (`{"A": ..., "b": ...}`), for `rnn_jax.unroll` and the analysis."""
        return {
            name: getattr(self, name)[...] for name in self._param_names if getattr(self, name) is not None
        }

    def initialize_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zeros of the carry's structure for a batch: [*batch_shape, H] (`(c, h)` for the LSTM)."""
        zeros = jnp.zeros((*batch_shape, self.hidden_features), self.A[...].dtype)
        return (zeros, zeros) if isinstance(self, LSTM) else zeros

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: Any = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
        resets: jax.Array | None = None,
        rngs: Any = None,
    ):
        """Runs the layer over `inputs` [B, T, F] as `nnx.RNN.__call__` does.

        Args:
          inputs: [B, T, F] ([T, B, F] with `time_major=True`).
          initial_carry: [B, H] (`(c, h)` for the LSTM); zeros when None.
          seq_lengths: [B] ints, real steps per sequence (right padding, or left with `padding="left"`).
          return_carry: return `(carry, outputs)` instead of `outputs` (default: the constructor's).
          time_major, reverse, keep_order: as for `nnx.RNN` (defaults: the constructor's).
          resets: [B, T] bools, zero the state before each flagged step (not in `nnx.RNN`).
          rngs: accepted for `nnx.RNN` compatibility and unused (the carry starts at zeros).

        Returns:
          outputs [B, T, H] (zero at padded steps), or `(carry, outputs)`.
        """
        del rngs
        time_major = self.time_major if time_major is None else time_major
        check_inputs(jnp.swapaxes(inputs, 0, 1) if time_major else inputs, self.in_features, seq_lengths)
        carry, outputs = layer_call(
            self._step_fn(),
            self.cell_params(),
            inputs,
            initial_carry=initial_carry,
            seq_lengths=seq_lengths,
            reverse=self.reverse if reverse is None else reverse,
            keep_order=self.keep_order if keep_order is None else keep_order,
            time_major=time_major,
            padding=self.padding,
            resets=resets,
            strategy=self.strategy,
            unroll_factor=self.unroll,
        )
        return (carry, outputs) if (self.return_carry if return_carry is None else return_carry) else outputs


class SimpleRNN(_RecurrentLayer):
    """The lecture's Simple RNN as an NNX layer: h_t = act(A [h_{t-1}; x_t] + b), A [H, H + F].

    Args:
      in_features: F.
      hidden_features: H.
      activation: "tanh" (default), "relu" (with `recurrent_init="identity"`: the IRNN) or "identity".
      use_bias: hold `b` (the lecture's optional intercept).
      input_init, recurrent_init, recurrent_scale: the core's initialisers (`rnn_jax.init_simple_rnn`).
      padding: "right" or "left", where `seq_lengths` puts the padding.
      strategy, unroll: `rnn_jax.unroll`'s (default: the fused backward pass, the backend's unroll).
      time_major, return_carry, reverse, keep_order: call defaults, as `nnx.RNN`'s constructor takes.
      param_dtype: the parameters' dtype.
      rngs: `nnx.Rngs`; `rngs.params()` draws the initial weights.
    """

    _param_names = ("A", "b")

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        activation: str = "tanh",
        use_bias: bool = True,
        input_init: str = "lecun",
        recurrent_init: str = "orthogonal",
        recurrent_scale: float = 1.0,
        padding: str = "right",
        strategy: str = "auto",
        unroll: int | None = None,
        time_major: bool = False,
        return_carry: bool = False,
        reverse: bool = False,
        keep_order: bool = False,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.activation = check_choice("activation", activation, cells.ACTIVATIONS)
        self._configure(
            in_features,
            hidden_features,
            padding,
            strategy,
            unroll,
            time_major,
            return_carry,
            reverse,
            keep_order,
        )
        params = cells.init_simple_rnn(
            rngs.params(),
            in_features,
            hidden_features,
            use_bias=use_bias,
            input_init=input_init,
            recurrent_init=recurrent_init,
            recurrent_scale=recurrent_scale,
            dtype=param_dtype,
        )
        self.A = nnx.Param(params["A"])
        self.b = nnx.Param(params["b"]) if use_bias else None

    def _step_fn(self) -> Callable:
        if self.activation == "tanh":
            return cells.simple_rnn_step
        return functools.partial(cells.simple_rnn_step, activation=self.activation)


class LSTM(_RecurrentLayer):
    """An LSTM layer (gates i, f, g, o stacked in `A` [4H, H + F], forget-gate bias 1 by default).

    The same function as `nnx.RNN(nnx.LSTMCell(...))` and `nnx.OptimizedLSTMCell`; its carry is
    flax's `(c, h)`. Arguments as for `SimpleRNN`, plus `forget_bias` (no activation choice).
    """

    _param_names = ("A", "b")

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        forget_bias: float = 1.0,
        input_init: str = "lecun",
        recurrent_init: str = "orthogonal",
        padding: str = "right",
        strategy: str = "auto",
        unroll: int | None = None,
        time_major: bool = False,
        return_carry: bool = False,
        reverse: bool = False,
        keep_order: bool = False,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(
            in_features,
            hidden_features,
            padding,
            strategy,
            unroll,
            time_major,
            return_carry,
            reverse,
            keep_order,
        )
        params = cells.init_lstm(
            rngs.params(),
            in_features,
            hidden_features,
            forget_bias=forget_bias,
            input_init=input_init,
            recurrent_init=recurrent_init,
            dtype=param_dtype,
        )
        self.A = nnx.Param(params["A"])
        self.b = nnx.Param(params["b"])

    def _step_fn(self) -> Callable:
        return cells.lstm_step


class GRU(_RecurrentLayer):
    """A GRU layer (Cho et al. 2014: update and reset gates in `A` [2H, H + F], the candidate in
    `A_candidate` [H, H + F], the reset applied before the candidate's matrix product).

    flax's `GRUCell` applies the reset after the product, so the two differ for the same weights;
    this one is the core's `rnn_jax.gru_step`. Arguments as for `SimpleRNN` (no activation choice).
    """

    _param_names = ("A", "b", "A_candidate", "b_candidate")

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
        input_init: str = "lecun",
        recurrent_init: str = "orthogonal",
        padding: str = "right",
        strategy: str = "auto",
        unroll: int | None = None,
        time_major: bool = False,
        return_carry: bool = False,
        reverse: bool = False,
        keep_order: bool = False,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(
            in_features,
            hidden_features,
            padding,
            strategy,
            unroll,
            time_major,
            return_carry,
            reverse,
            keep_order,
        )
        params = cells.init_gru(
            rngs.params(),
            in_features,
            hidden_features,
            input_init=input_init,
            recurrent_init=recurrent_init,
            dtype=param_dtype,
        )
        for name in self._param_names:
            setattr(self, name, nnx.Param(params[name]))

    def _step_fn(self) -> Callable:
        return cells.gru_step


def _concatenate(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.concatenate([a, b], axis=-1)


class Bidirectional(nnx.Module):
    """Runs `forward_rnn` forwards and `backward_rnn` backwards over the same inputs and merges them,
    as `nnx.Bidirectional`: outputs[:, t] = merge_fn(forward output t, backward output t).

    The backward layer reads each sequence from its last real step (`seq_lengths`) with its outputs
    aligned to the inputs (`keep_order=True`). The carry is `(forward carry, backward carry)`.
    """

    def __init__(
        self,
        forward_rnn: _RecurrentLayer,
        backward_rnn: _RecurrentLayer,
        *,
        merge_fn: Callable[[jax.Array, jax.Array], jax.Array] = _concatenate,
        time_major: bool = False,
        return_carry: bool = False,
    ):
        self.forward_rnn = forward_rnn
        self.backward_rnn = backward_rnn
        self.merge_fn = merge_fn
        self.time_major = time_major
        self.return_carry = return_carry

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: tuple[Any, Any] | None = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        rngs: Any = None,
    ):
        """outputs [B, T, merged H] (zero at padded steps), or `((forward, backward) carry, outputs)`."""
        time_major = self.time_major if time_major is None else time_major
        forward_carry, backward_carry = (None, None) if initial_carry is None else initial_carry
        options = {"seq_lengths": seq_lengths, "return_carry": True, "time_major": time_major}
        carry_f, outputs_f = self.forward_rnn(inputs, initial_carry=forward_carry, reverse=False, **options)
        carry_b, outputs_b = self.backward_rnn(
            inputs, initial_carry=backward_carry, reverse=True, keep_order=True, **options
        )
        outputs = self.merge_fn(outputs_f, outputs_b)
        return_carry = self.return_carry if return_carry is None else return_carry
        return ((carry_f, carry_b), outputs) if return_carry else outputs
