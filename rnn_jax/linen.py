"""Flax Linen recurrent layers over the pure core: `SimpleRNN`, `LSTM`, `GRU` and `Bidirectional`.

Drop-in replacements for `nn.RNN(nn.SimpleCell(features))`, `nn.RNN(nn.LSTMCell(features))`,
`nn.RNN(nn.GRUCell(features))` and `nn.Bidirectional`, with the lecture's parameters:

    import flax.linen as nn
    import rnn_jax.linen

    layer = rnn_jax.linen.SimpleRNN(64)                        # params {"A": [64, 64 + F], "b": [64]}
    variables = layer.init(jax.random.key(0), xs)              # xs [B, T, F]
    outputs = layer.apply(variables, xs)                       # [B, T, 64]
    carry, outputs = layer.apply(variables, xs, seq_lengths=lengths, return_carry=True)

Each call is `rnn_jax.core.layer_call` (`nn.RNN`'s convention over one `rnn_jax.unroll`; outputs at
padded steps are zero), as for the NNX layers of `rnn_jax.nnx`, whose docstrings give the math and
how flax's weights map onto `A` and `b`. Beyond `nn.RNN`: `padding="left"`, `resets`, the unroll
`strategy` and `unroll` factor, `return_outputs=False` for many-to-one, the core's activations and
initialisers. The GRU is Cho et al.'s (reset before the candidate's product), not flax's `GRUCell`.

The layer is a pure function of its parameters, so a model that keeps the core's parameter dict
under its own name runs it with `apply` (as `rnn_jax.models` do, to keep their parameter trees):

    outputs = rnn_jax.linen.SimpleRNN(64, parent=None).apply({"params": {"A": A, "b": b}}, xs)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice
from rnn_jax.core.layer_call import check_inputs, layer_call
from rnn_jax.core.unroll import PADDINGS, STRATEGIES


class _RecurrentLayer(nn.Module):
    """Fields and the call shared by the layers (`hidden_size` first, as `nn.SimpleCell(features)`).

    Attributes:
      hidden_size: H.
      input_init: "lecun" or "glorot" for the input half A_x of each gate.
      recurrent_init: "orthogonal", "identity" or "random" for the recurrent half A_h.
      recurrent_scale: the spectral radius of A_h.
      padding: "right" or "left": where `seq_lengths` puts each sequence's padding.
      strategy: `rnn_jax.unroll`'s strategy ("auto": the fused backward pass for the Simple RNN).
      unroll: `lax.scan`'s unroll factor; None: the backend's measured default.
      time_major, return_carry, reverse, keep_order: the call's defaults, as `nn.RNN`'s fields.
      dtype: the computation's dtype (None: inferred from the inputs and parameters).
      param_dtype: the parameters' dtype.
    """

    hidden_size: int
    input_init: str = "lecun"
    recurrent_init: str = "orthogonal"
    recurrent_scale: float = 1.0
    padding: str = "right"
    strategy: str = "auto"
    unroll: int | None = None
    time_major: bool = False
    return_carry: bool = False
    reverse: bool = False
    keep_order: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def _init_cell(self, key: jax.Array, input_size: int) -> dict[str, jax.Array]:
        raise NotImplementedError

    def _step_fn(self) -> Callable:
        raise NotImplementedError

    def _input_size(self, inputs: jax.Array) -> int:
        """F: from the parameters once they exist (so a wrong feature size is named), else the inputs."""
        if self.has_variable("params", "A"):
            return self.get_variable("params", "A").shape[1] - self.hidden_size
        return jnp.shape(inputs)[-1]

    @nn.compact
    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: Any = None,
        init_key: jax.Array | None = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
        resets: jax.Array | None = None,
        return_outputs: bool = True,
    ):
        """Runs the layer over `inputs`, as `flax.linen.RNN.__call__`.

        Args:
          inputs: [B, T, F] ([T, B, F] with `time_major=True`).
          initial_carry: [B, H] (`(c, h)` for the LSTM); zeros when None.
          init_key: accepted as `nn.RNN` takes it, unused: the carry starts at zeros.
          seq_lengths: [B] ints, real steps per sequence (right padding, or left with `padding="left"`).
          return_carry: return `(carry, outputs)` instead of `outputs` (None: the field's).
          time_major, reverse, keep_order: as for `nn.RNN` (None: the fields').
          resets: [B, T] bools: the state is zeroed before each flagged step (not in `nn.RNN`).
          return_outputs: False for many-to-one: outputs are None, no [B, T, H] buffer is kept.

        Returns:
          outputs [B, T, H], zero at padded steps; `(carry, outputs)` with `return_carry`, the carry
          being the state after each sequence's last real step.
        """
        del init_key
        check_choice("padding", self.padding, PADDINGS)
        check_choice("strategy", self.strategy, STRATEGIES)
        step_fn = self._step_fn()
        time_major = self.time_major if time_major is None else time_major
        batch_major = jnp.swapaxes(inputs, 0, 1) if time_major and jnp.ndim(inputs) == 3 else inputs
        input_size = self._input_size(inputs)
        check_inputs(batch_major, input_size, seq_lengths)
        # Each parameter is drawn by the core's `init_*` (with its own key), so it has the core's scale.
        names = jax.eval_shape(lambda: self._init_cell(jax.random.key(0), input_size))
        params = {
            name: self.param(name, lambda key, name=name: self._init_cell(key, input_size)[name])
            for name in names
        }
        carry, outputs = layer_call(
            step_fn,
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
            return_outputs=return_outputs,
            dtype=self.dtype,
        )
        return (carry, outputs) if (self.return_carry if return_carry is None else return_carry) else outputs


class SimpleRNN(_RecurrentLayer):
    """The lecture's Simple RNN as a Linen layer, for `nn.RNN(nn.SimpleCell(hidden_size))`.

        h_t = act(A [h_{t-1}; x_t] + b),   params `A` [H, H + F], `b` [H]

    flax's `SimpleCell` params map as `A = [h.kernel^T | i.kernel^T]`, `b = i.bias`.

    Attributes:
      hidden_size: H (F comes from the inputs at `init`).
      activation: "tanh" (default), "relu" (with `recurrent_init="identity"`: the IRNN) or "identity".
      use_bias: hold `b` (initialised to zeros).
      input_init: "lecun" or "glorot" for A_x.
      recurrent_init: "orthogonal", "identity" or "random" for A_h.
      recurrent_scale: the spectral radius of A_h.
      padding: "right" or "left": where `seq_lengths` puts each sequence's padding.
      strategy: `rnn_jax.unroll`'s strategy ("auto": the fused backward pass).
      unroll: `lax.scan`'s unroll factor; None: the backend's measured default.
      time_major, return_carry, reverse, keep_order: the call's defaults, as `nn.RNN`'s fields.
      dtype: the computation's dtype (None: inferred from the inputs and parameters).
      param_dtype: the parameters' dtype.
    """

    activation: str = "tanh"
    use_bias: bool = True

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
        check_choice("activation", self.activation, cells.ACTIVATIONS)
        if self.activation == "tanh":
            return cells.simple_rnn_step  # the fused backward pass of strategy="auto" recognises it
        return functools.partial(cells.simple_rnn_step, activation=self.activation)


class LSTM(_RecurrentLayer):
    """An LSTM layer, for `nn.RNN(nn.LSTMCell(hidden_size))`: params `A` [4H, H + F], `b` [4H].

    Gates (i, f, g, o) as `rnn_jax.nnx.LSTM`; flax's params map as `A`'s row block k =
    [hk.kernel^T | ik.kernel^T], `b`'s block k = hk.bias. The carry is flax's `(c, h)`.

    Attributes:
      hidden_size: H.
      forget_bias: the forget gate's initial bias (1.0, as Keras' `unit_forget_bias`).
      strategy: "auto" or "step" (the others fuse the Simple RNN's backward pass only).

    The other fields (the initialisers, `padding`, `unroll`, the dtypes and the call's defaults) are
    `SimpleRNN`'s.
    """

    forget_bias: float = 1.0

    def _init_cell(self, key, input_size):
        return cells.init_lstm(
            key,
            input_size,
            self.hidden_size,
            forget_bias=self.forget_bias,
            input_init=self.input_init,
            recurrent_init=self.recurrent_init,
            recurrent_scale=self.recurrent_scale,
            dtype=self.param_dtype,
        )

    def _step_fn(self):
        return cells.lstm_step


class GRU(_RecurrentLayer):
    """A GRU layer (Cho et al., `rnn_jax.gru_step`; not flax's `GRUCell`: see `rnn_jax.nnx.GRU`).

    Params `A` [2H, H + F] and `b` [2H] (update and reset gates), `A_candidate` [H, H + F] and
    `b_candidate` [H].

    Attributes:
      hidden_size: H.
      strategy: "auto" or "step" (the others fuse the Simple RNN's backward pass only).

    The other fields (the initialisers, `padding`, `unroll`, the dtypes and the call's defaults) are
    `SimpleRNN`'s.
    """

    def _init_cell(self, key, input_size):
        return cells.init_gru(
            key,
            input_size,
            self.hidden_size,
            input_init=self.input_init,
            recurrent_init=self.recurrent_init,
            recurrent_scale=self.recurrent_scale,
            dtype=self.param_dtype,
        )

    def _step_fn(self):
        return cells.gru_step


def _concatenate(a: jax.Array, b: jax.Array) -> jax.Array:
    """[..., H_f] and [..., H_b] -> [..., H_f + H_b]."""
    return jnp.concatenate([a, b], axis=-1)


class Bidirectional(nn.Module):
    """Two layers over the same inputs, one forwards and one backwards, merged: `nn.Bidirectional`.

        outputs[:, t] = merge_fn(forward output t, backward output t)   (default: concatenated, [B, T, 2H])

    The backward layer reads each sequence from its last real step to its first, its outputs aligned
    with the inputs. Params: `forward_rnn` and `backward_rnn`'s. Either layer may be flax's `nn.RNN`.

    Attributes:
      forward_rnn, backward_rnn: the two layers (the same padding).
      merge_fn: `(forward outputs, backward outputs) -> outputs`.
      time_major, return_carry: the call's defaults.
    """

    forward_rnn: Any
    backward_rnn: Any
    merge_fn: Callable[[jax.Array, jax.Array], jax.Array] = _concatenate
    time_major: bool = False
    return_carry: bool = False

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: tuple[Any, Any] | None = None,
        init_key: jax.Array | None = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
        return_outputs: bool = True,
    ):
        """Runs both layers, as `nn.Bidirectional.__call__` (`reverse`, `keep_order`: unused, as there).

        `return_outputs=False` (this module's layers only): many-to-one, the outputs are None.

        Returns:
          outputs [B, T, merged H] (zero at padded steps), or `((forward carry, backward carry), outputs)`.

        Raises:
          ValueError: two layers with different `padding`.
        """
        del reverse, keep_order
        paddings = {getattr(layer, "padding", "right") for layer in (self.forward_rnn, self.backward_rnn)}
        if len(paddings) > 1:
            raise ValueError(
                f"forward_rnn and backward_rnn must pad the same way, got padding {sorted(paddings)}"
            )
        time_major = self.time_major if time_major is None else time_major
        key_forward, key_backward = (None, None) if init_key is None else jax.random.split(init_key)
        forward_carry, backward_carry = (None, None) if initial_carry is None else initial_carry
        options = {"seq_lengths": seq_lengths, "return_carry": True, "time_major": time_major}
        if not return_outputs:  # only when asked, so that flax's nn.RNN layers work too
            options["return_outputs"] = False
        carry_f, outputs_f = self.forward_rnn(
            inputs, initial_carry=forward_carry, init_key=key_forward, reverse=False, **options
        )
        carry_b, outputs_b = self.backward_rnn(
            inputs,
            initial_carry=backward_carry,
            init_key=key_backward,
            reverse=True,
            keep_order=True,
            **options,
        )
        outputs = jax.tree_util.tree_map(self.merge_fn, outputs_f, outputs_b) if return_outputs else None
        return_carry = self.return_carry if return_carry is None else return_carry
        return ((carry_f, carry_b), outputs) if return_carry else outputs
