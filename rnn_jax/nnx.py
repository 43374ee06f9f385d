"""Flax NNX recurrent layers over the pure core: `SimpleRNN`, `LSTM`, `GRU` and `Bidirectional`.

Drop-in replacements for `nnx.RNN(nnx.SimpleCell(...))`, `nnx.RNN(nnx.LSTMCell(...))` (and
`nnx.OptimizedLSTMCell`), `nnx.RNN(nnx.GRUCell(...))` and `nnx.Bidirectional`:

    from flax import nnx
    import rnn_jax.nnx

    layer = rnn_jax.nnx.SimpleRNN(32, 64, rngs=nnx.Rngs(0))   # A [64, 64 + 32], b [64]
    outputs = layer(xs)                                        # xs [B, T, 32] -> [B, T, 64]
    carry, outputs = layer(xs, seq_lengths=lengths, return_carry=True)   # carry [B, 64]

The Simple RNN holds the lecture's parameters as `nnx.Param`s: `A` [H, H + F] acting on [h; x] (state
first) and `b` [H]: h_t = act(A [h_{t-1}; x_t] + b). The LSTM and GRU hold the core's `A`, `b` (and
the GRU's `A_candidate`, `b_candidate`), drawn by `rnn_jax.init_lstm` / `rnn_jax.init_gru`. A call is
one `rnn_jax.unroll` (one `lax.scan`; the fused backward pass for the Simple RNN) through
`rnn_jax.core.layer_call`, which states the calling convention: `nnx.RNN`'s, except that outputs at
padded steps are zero.

Against flax's layers with the same weights (`tests/test_nnx.py` copies them across): the Simple RNN
and the LSTM give the same outputs at real steps, the same final carry and the same gradients. The GRU
is Cho et al.'s, as `rnn_jax.gru_step` (reset gate applied before the candidate's matrix product);
flax's `GRUCell` applies it after the product, so the two agree only while the reset gate is open.

Beyond `nnx.RNN`: `padding="left"`, `resets`, the unroll `strategy` and the scan's `unroll` factor,
`return_outputs=False` for many-to-one, and the core's activations and initialisers
(`activation="relu"` with `recurrent_init="identity"` is the IRNN).
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
from rnn_jax.core.layer_call import check_inputs, layer_call, to_flax_carry
from rnn_jax.core.unroll import PADDINGS, STRATEGIES

# The constructor arguments that set a call's defaults and the unroll, kept as attributes by every layer.
_CALL_OPTIONS = (
    "padding",
    "strategy",
    "unroll",
    "time_major",
    "return_carry",
    "reverse",
    "keep_order",
    "dtype",
)


def _options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments every layer keeps as attributes, out of its `locals()`."""
    return {name: arguments[name] for name in _CALL_OPTIONS}


class _RecurrentLayer(nnx.Module):
    """What the layers share: the options, the core's parameter dict and flax's `RNN` call."""

    _param_names: tuple[str, ...] = ()

    def _configure(self, in_features: int, hidden_features: int, options: dict[str, Any]) -> None:
        check_choice("padding", options["padding"], PADDINGS)
        check_choice("strategy", options["strategy"], STRATEGIES)
        self.in_features = in_features
        self.hidden_features = hidden_features
        for name, value in options.items():
            setattr(self, name, value)

    def _step_fn(self) -> Callable:
        raise NotImplementedError

    def cell_params(self) -> dict[str, jax.Array]:
        """The core's parameter dict (`{"A": ..., "b": ...}`), for `rnn_jax.unroll` and the analysis."""
        params = {name: getattr(self, name) for name in self._param_names}
        return {name: p[...] for name, p in params.items() if p is not None}

    def initialize_carry(self, batch_shape: tuple[int, ...]) -> Any:
        """Zeros in the carry's structure, the carry a call starts from by default.

        Args:
          batch_shape: the batch dimensions, `(B,)` (not the input's shape, as a flax cell's takes).

        Returns:
          [*batch_shape, H] zeros (`(c, h)` for the LSTM).
        """
        return to_flax_carry(cells.initial_state(self._step_fn(), self.cell_params(), tuple(batch_shape)))

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
        rngs: Any = None,
        resets: jax.Array | None = None,
        return_outputs: bool = True,
    ):
        """Runs the layer over `inputs`, as `nnx.RNN.__call__`.

        Args:
          inputs: [B, T, F] ([T, B, F] with `time_major=True`).
          initial_carry: [B, H] (`(c, h)` for the LSTM); zeros when None.
          seq_lengths: [B] ints, real steps per sequence (right padding, or left with `padding="left"`).
          return_carry: return `(carry, outputs)` instead of `outputs` (None: the constructor's).
          time_major, reverse, keep_order: as for `nnx.RNN` (None: the constructor's). `reverse` reads
            each sequence from its last real step; its outputs come reversed unless `keep_order`.
          rngs: accepted as `nnx.RNN` takes it, unused: the carry starts at zeros.
          resets: [B, T] bools: the state is zeroed before each flagged step (not in `nnx.RNN`).
          return_outputs: False for many-to-one: outputs are None, no [B, T, H] buffer is kept.

        Returns:
          outputs [B, T, H], zero at padded steps; `(carry, outputs)` with `return_carry`, the carry
          being the state after each sequence's last real step.
        """
        del rngs
        time_major = self.time_major if time_major is None else time_major
        batch_major = jnp.swapaxes(inputs, 0, 1) if time_major and jnp.ndim(inputs) == 3 else inputs
        check_inputs(batch_major, self.in_features, seq_lengths)
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
            return_outputs=return_outputs,
            dtype=self.dtype,
        )
        return (carry, outputs) if (self.return_carry if return_carry is None else return_carry) else outputs


class SimpleRNN(_RecurrentLayer):
    """The lecture's Simple RNN (Elman network) as an NNX layer, for `nnx.RNN(nnx.SimpleCell(...))`.

        h_t = act(A [h_{t-1}; x_t] + b),   A = [A_h | A_x]  [H, H + F],  b [H]

    flax's `SimpleCell` computes act(W_i x + b_i + W_h h) with kernels [F, H] and [H, H]: the same
    function with `A = [W_h^T | W_i^T]` and `b = b_i`.

    Args:
      in_features: F.
      hidden_features: H.
      activation: "tanh" (default), "relu" (with `recurrent_init="identity"`: the IRNN) or "identity".
      use_bias: hold `b` (the lecture's optional intercept, initialised to zeros).
      input_init: "lecun" or "glorot" for A_x.
      recurrent_init: "orthogonal", "identity" or "random" for A_h.
      recurrent_scale: the spectral radius of A_h.
      padding: "right" or "left": where `seq_lengths` puts each sequence's padding.
      strategy: `rnn_jax.unroll`'s strategy ("auto": the fused backward pass).
      unroll: `lax.scan`'s unroll factor; None: the backend's measured default.
      time_major, return_carry, reverse, keep_order: the call's defaults, as `nnx.RNN` takes them.
      dtype: the computation's dtype (None: inferred from the inputs and parameters).
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
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.activation = check_choice("activation", activation, cells.ACTIVATIONS)
        self._configure(in_features, hidden_features, _options(locals()))
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
            return cells.simple_rnn_step  # the fused backward pass of strategy="auto" recognises it
        return functools.partial(cells.simple_rnn_step, activation=self.activation)


class LSTM(_RecurrentLayer):
    """An LSTM layer, for `nnx.RNN(nnx.LSTMCell(...))` and `nnx.RNN(nnx.OptimizedLSTMCell(...))`.

        [i; f; g; o] = A [h_{t-1}; x_t] + b                A [4H, H + F], b [4H]
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    flax's cells compute the same function with the same gate order (i, f, g, o) and the bias on the
    hidden projection: `A`'s row block k is [W_hk^T | W_ik^T] and `b`'s block k is b_hk. The carry is
    flax's `(c, h)`, memory first (the core's `LSTMState(h, c)` inside); the outputs are the h_t.

    Args:
      in_features, hidden_features: F and H.
      forget_bias: the forget gate's initial bias (1.0, as Keras' `unit_forget_bias`; flax's is 0).
      input_init, recurrent_init, recurrent_scale: the core's initialisers, per gate (`rnn_jax.init_lstm`).
      padding, unroll, dtype, param_dtype, rngs: as for `SimpleRNN`.
      strategy: "auto" or "step" (the others fuse the Simple RNN's backward pass only).
      time_major, return_carry, reverse, keep_order: the call's defaults, as `nnx.RNN` takes them.
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
        recurrent_scale: float = 1.0,
        padding: str = "right",
        strategy: str = "auto",
        unroll: int | None = None,
        time_major: bool = False,
        return_carry: bool = False,
        reverse: bool = False,
        keep_order: bool = False,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(in_features, hidden_features, _options(locals()))
        params = cells.init_lstm(
            rngs.params(),
            in_features,
            hidden_features,
            forget_bias=forget_bias,
            input_init=input_init,
            recurrent_init=recurrent_init,
            recurrent_scale=recurrent_scale,
            dtype=param_dtype,
        )
        self.A = nnx.Param(params["A"])
        self.b = nnx.Param(params["b"])

    def _step_fn(self) -> Callable:
        return cells.lstm_step


class GRU(_RecurrentLayer):
    """A GRU layer (Cho et al. 2014), the core's `rnn_jax.gru_step`, in place of `nnx.RNN(nnx.GRUCell(...))`.

        [z; r] = sigmoid(A [h_{t-1}; x_t] + b)              A [2H, H + F], b [2H]
        n      = tanh(A_candidate [r * h_{t-1}; x_t] + b_candidate)     A_candidate [H, H + F]
        h_t    = (1 - z) * h_{t-1} + z * n

    Not the same function as flax's `GRUCell`, which applies the reset after the product,
    n = tanh(W_in x + b_in + r * (W_hn h)), and lets z weigh the old state, h_t = (1 - z) * n + z * h.
    The two agree, with z's weights negated, only where the reset gate is open (r = 1).

    Args:
      in_features, hidden_features: F and H.
      input_init, recurrent_init, recurrent_scale: the core's initialisers (`rnn_jax.init_gru`).
      padding, unroll, dtype, param_dtype, rngs: as for `SimpleRNN`.
      strategy: "auto" or "step" (the others fuse the Simple RNN's backward pass only).
      time_major, return_carry, reverse, keep_order: the call's defaults, as `nnx.RNN` takes them.
    """

    _param_names = ("A", "b", "A_candidate", "b_candidate")

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        *,
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
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self._configure(in_features, hidden_features, _options(locals()))
        params = cells.init_gru(
            rngs.params(),
            in_features,
            hidden_features,
            input_init=input_init,
            recurrent_init=recurrent_init,
            recurrent_scale=recurrent_scale,
            dtype=param_dtype,
        )
        self.A = nnx.Param(params["A"])
        self.b = nnx.Param(params["b"])
        self.A_candidate = nnx.Param(params["A_candidate"])
        self.b_candidate = nnx.Param(params["b_candidate"])

    def _step_fn(self) -> Callable:
        return cells.gru_step


def _concatenate(a: jax.Array, b: jax.Array) -> jax.Array:
    """[..., H_f] and [..., H_b] -> [..., H_f + H_b]."""
    return jnp.concatenate([a, b], axis=-1)


class Bidirectional(nnx.Module):
    """Two layers over the same inputs, one forwards and one backwards, merged: `nnx.Bidirectional`.

        outputs[:, t] = merge_fn(forward output t, backward output t)   (default: concatenated, [B, T, 2H])

    The backward layer reads each sequence from its last real step to its first (`seq_lengths`, in
    the layers' padding), its outputs aligned with the inputs (`keep_order=True`), so output t of
    both directions belongs to input t. Either layer may be one of this module's or flax's `nnx.RNN`.

    Args:
      forward_rnn: the layer read forwards.
      backward_rnn: the layer read backwards (its own parameters; passing the same layer shares them).
      merge_fn: `(forward outputs, backward outputs) -> outputs`.
      time_major, return_carry: the call's defaults.
      rngs: accepted as `nnx.Bidirectional` takes it, unused.

    Raises:
      ValueError: two layers of this module with different `padding`.
    """

    def __init__(
        self,
        forward_rnn: Any,
        backward_rnn: Any,
        *,
        merge_fn: Callable[[jax.Array, jax.Array], jax.Array] = _concatenate,
        time_major: bool = False,
        return_carry: bool = False,
        rngs: Any = True,
    ):
        del rngs
        paddings = {getattr(layer, "padding", "right") for layer in (forward_rnn, backward_rnn)}
        if len(paddings) > 1:
            raise ValueError(
                f"forward_rnn and backward_rnn must pad the same way, got padding {sorted(paddings)}"
            )
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
        rngs: Any = None,
        seq_lengths: jax.Array | None = None,
        return_carry: bool | None = None,
        time_major: bool | None = None,
        reverse: bool | None = None,
        keep_order: bool | None = None,
        return_outputs: bool = True,
    ):
        """Runs both layers over `inputs`, as `nnx.Bidirectional.__call__`.

        Args:
          inputs: [B, T, F] ([T, B, F] with `time_major=True`).
          initial_carry: `(forward carry, backward carry)`; zeros when None.
          rngs: passed on to the layers (which ignore it).
          seq_lengths: [B] ints, real steps per sequence.
          return_carry: return `((forward carry, backward carry), outputs)` (None: the constructor's).
          time_major: None: the constructor's.
          reverse, keep_order: unused, as in `nnx.Bidirectional` (each direction has its own).
          return_outputs: False for many-to-one (this module's layers only): outputs are None.

        Returns:
          outputs [B, T, merged H] (zero at padded steps), or `((forward carry, backward carry), outputs)`.
        """
        del reverse, keep_order
        time_major = self.time_major if time_major is None else time_major
        forward_carry, backward_carry = (None, None) if initial_carry is None else initial_carry
        options = {"rngs": rngs, "seq_lengths": seq_lengths, "return_carry": True, "time_major": time_major}
        if not return_outputs:  # only when asked, so that flax's nnx.RNN layers work too
            options["return_outputs"] = False
        carry_f, outputs_f = self.forward_rnn(inputs, initial_carry=forward_carry, reverse=False, **options)
        carry_b, outputs_b = self.backward_rnn(
            inputs, initial_carry=backward_carry, reverse=True, keep_order=True, **options
        )
        outputs = jax.tree_util.tree_map(self.merge_fn, outputs_f, outputs_b) if return_outputs else None
        return_carry = self.return_carry if return_carry is None else return_carry
        return ((carry_f, carry_b), outputs) if return_carry else outputs
