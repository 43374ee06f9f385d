"""Flax Linen layers over the pure core: `SimpleRNN`, `LSTM`, `GRU` and `Bidirectional`.

Drop-in replacements for `flax.linen.RNN(nn.SimpleCell(features))`, `nn.RNN(nn.LSTMCell(...))`,
`nn.RNN(nn.GRUCell(...))` and `nn.Bidirectional`, with the lecture's parameters:

    import rnn_jax.linen

    layer = rnn_jax.linen.SimpleRNN(64)                        # params {"A": [64, 64 + F], "b": [64]}
    variables = layer.init(jax.random.key(0), xs)              # xs [B, T, F]
    outputs = layer.apply(variables, xs)                       # [B, T, 64]
    carry, outputs = layer.apply(variables, xs, seq_lengths=lengths, return_carry=True)

The call is `rnn_jax.core.layer_call` (flax's `RNN` convention over `rnn_jax.unroll`; outputs at
padded steps are zero), the same as the NNX layers of `rnn_jax.nnx`. Beyond `nn.RNN`:
`padding="left"`, `resets`, the unroll `strategy` and `unroll` factor, the core's activations and
initialisers. The GRU is Cho et al.'s (reset before the candidate's product), not flax's `GRUCell`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_jax.core import cells
from rnn_jax.core.layer_call import check_inputs, layer_call


class _RecurrentLayer(nn.Module):
    """Fields and the call shared by the layers (`hidden_size` first, as `nn.SimpleCell(features)`)."""

    hidden_size: int
    input_init: str = "lecun"
    recurrent_init: str = "orthogonal"
    padding: str = "right"
    strategy: str = "auto"
    unroll: int | None = None
    time_major: bool = False
    return_carry: bool = False
    reverse: bool = False
    keep_order: bool = False
    param_dtype: Any = jnp.float32

    def _init_cell(self, key: jax.Array, input_size: int) -> dict[str, jax.Array]:
        raise NotImplementedError

    def _step_fn(self) -> Callable:
        raise NotImplementedError

    @nn.compact
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
    ):
        """outputs [B, T, H] (zero at padded steps), or `(carry, outputs)`; arguments as for
        `flax.linen.RNN.__call__` plus `resets` [B, T] (see `rnn_jax.nnx.SimpleRNN.__call__`)."""
        time_major = self.time_major if time_major is None else time_major
        input_size = inputs.shape[-1]
        check_inputs(jnp.swapaxes(inputs, 0, 1) if time_major else inputs, input_size, seq_lengths)
        # Each parameter is drawn by the core's `init_*` (each with its own key), so it has the core's scale.
        shapes = jax.eval_shape(lambda: self._init_cell(jax.random.key(0), input_size))
        params = {
            name: self.param(name, lambda key, name=name: self._init_cell(key, input_size)[name])
            for name in shapes
        }
        carry, outputs = layer_call(
            self._step_fn(),
            params,
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
    """The lecture's Simple RNN as a Linen layer: h_t = act(A [h_{t-1}; x_t] + b), params `A` [H, H + F]
    and `b` [H]. `activation="relu"` with `recurrent_init="identity"` is the IRNN."""

    activation: str = "tanh"
    use_bias: bool = True
    recurrent_scale: float = 1.0

    def _init_cell(self, key, input_size):
        return cells.init_simple_rnn(
            key,
            input_size,
            self.hidden_size,
            use_bias=self.use_bias,
            input_init=self.input_init,
            recurrent_init=self.recurrent_init,
            recurrent_scale=self.recurrent_scale,
            dtype=self.param_dtype,
        )

    def _step_fn(self):
        cells.get_activation(self.activation)  # a clear error for an unknown name
        if self.activation == "tanh":
            return cells.simple_rnn_step
        return functools.partial(cells.simple_rnn_step, activation=self.activation)


class LSTM(_RecurrentLayer):
    """An LSTM layer (params `A` [4H, H + F], `b` [4H], gates i, f, g, o); carry `(c, h)` as flax's."""

    forget_bias: float = 1.0

    def _init_cell(self, key, input_size):
        return cells.init_lstm(
            key,
            input_size,
            self.hidden_size,
            forget_bias=self.forget_bias,
            input_init=self.input_init,
            recurrent_init=self.recurrent_init,
            dtype=self.param_dtype,
        )

    def _step_fn(self):
        return cells.lstm_step


class GRU(_RecurrentLayer):
    """A GRU layer (Cho et al.: params `A` [2H, H + F], `b`, `A_candidate` [H, H + F], `b_candidate`)."""

    def _init_cell(self, key, input_size):
        return cells.init_gru(
            key,
            input_size,
            self.hidden_size,
            input_init=self.input_init,
            recurrent_init=self.recurrent_init,
            dtype=self.param_dtype,
        )

    def _step_fn(self):
        return cells.gru_step


class Bidirectional(nn.Module):
    """`forward_rnn` forwards, `backward_rnn` backwards (outputs aligned with the inputs), merged, as
    `flax.linen.Bidirectional`; the carry is `(forward carry, backward carry)`."""

    forward_rnn: _RecurrentLayer
    backward_rnn: _RecurrentLayer
    merge_fn: Callable[[jax.Array, jax.Array], jax.Array] = lambda a, b: jnp.concatenate([a, b], axis=-1)
    time_major: bool = False
    return_carry: bool = False

    def __call__(self, inputs, *, initial_carry=None, seq_lengths=None, return_carry=None, time_major=None):
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
