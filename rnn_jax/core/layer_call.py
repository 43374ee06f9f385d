"""What a recurrent layer's call does, shared by the Flax NNX and Linen layers: flax's calling convention
(`nnx.RNN` / `flax.linen.RNN`) on top of `rnn_jax.unroll`.

    carry, outputs = layer_call(step_fn, params, inputs, initial_carry=..., seq_lengths=...,
                                reverse=..., keep_order=..., padding=..., resets=..., ...)

Pure JAX (no Flax): the layers of `rnn_jax.nnx` and `rnn_jax.linen` hold the parameters and call
this. The conventions follow flax's `RNN`, so the layers are drop-in replacements:

- `inputs` [B, T, F] (batch-major; `time_major=True`: [T, B, F]); outputs [B, T, H].
- `seq_lengths` [B]: real steps per sequence (right padding, as flax's, unless `padding="left"`).
  The carry returned is the state after the last real step, as flax's. Outputs at real steps are
  flax's; at padded steps they are ZERO here, where flax returns whatever its cell computed on the
  padding (and, without `return_carry`, its carry runs on over the padding too).
- `reverse=True` reads each sequence from its last real step to its first. Outputs come in the
  order they were computed (flax's `flip_sequences` order: the reversed real steps first, the
  padding last) unless `keep_order=True`, which aligns output t with input t.
- The LSTM's carry is flax's `(c, h)` tuple, memory first; the core's state is `LSTMState(h, c)`,
  output first. `to_core_state` and `to_flax_carry` translate; an `LSTMState` given as the initial
  carry is taken as it is.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice, is_concrete
from rnn_jax.core.unroll import PADDINGS, StepFn, unroll


def _is_lstm(step_fn: StepFn) -> bool:
    return getattr(step_fn, "func", step_fn) is cells.lstm_step


def to_core_state(step_fn: StepFn, carry: Any) -> Any:
    """flax's carry -> the core's state: `(c, h)` -> `LSTMState(h, c)` for the LSTM, else as is.

    Raises:
      TypeError: an LSTM carry that is not a pair `(c, h)`.
    """
    if carry is None or not _is_lstm(step_fn) or isinstance(carry, cells.LSTMState):
        return carry
    if not isinstance(carry, tuple | list) or len(carry) != 2:
        raise TypeError(
            f"the LSTM's initial_carry must be the pair (c, h), each [B, H], as nnx.LSTMCell's; "
            f"got {type(carry).__name__}"
        )
    c, h = carry
    return cells.LSTMState(h, c)


def to_flax_carry(state: Any) -> Any:
    """The core's state -> flax's carry: `LSTMState(h, c)` -> `(c, h)`, any other state as is."""
    if isinstance(state, cells.LSTMState):
        return (state.c, state.h)
    return state


def flip_real_steps(xs: jax.Array, seq_lengths: jax.Array | None, padding: str = "right") -> jax.Array:
    """Reverses each sequence's real steps in place, the padding untouched: [B, T, ...] -> [B, T, ...].

    Right padding, as flax's `flip_sequences` at the real steps: `[1 2 3 0 0] -> [3 2 1 0 0]`; left
    padding: `[0 0 1 2 3] -> [0 0 3 2 1]`. Applying it twice is the identity.

    Args:
      xs: [B, T, ...].
      seq_lengths: [B] ints, real steps per row; None: every step is real (a plain flip).
      padding: "right" or "left", where the padding sits.

    Returns:
      [B, T, ...], row b's real steps in reverse order.
    """
    seq_len = xs.shape[1]
    if seq_lengths is None:
        return jnp.flip(xs, axis=1)
    t = jnp.arange(seq_len)[None, :]  # [1, T]
    lengths = jnp.asarray(seq_lengths)[:, None]  # [B, 1]
    start = jnp.zeros_like(lengths) if padding == "right" else seq_len - lengths
    end = start + lengths
    source = jnp.where((t >= start) & (t < end), start + end - 1 - t, t)  # [B, T]
    index = source.reshape(source.shape + (1,) * (xs.ndim - 2))  # [B, T, 1, ...]
    return jnp.take_along_axis(xs, index, axis=1)


def check_inputs(inputs: Any, in_features: int, seq_lengths: Any) -> None:
    """A clear error for inputs that are not [B, T, in_features] floats, or bad `seq_lengths`.

    Args:
      inputs: what the layer was called with, batch-major.
      in_features: F, the layer's input size.
      seq_lengths: None, or what should be [B] ints in [0, T].

    Raises:
      ValueError: inputs of another rank or feature size; `seq_lengths` of another shape or outside [0, T].
      TypeError: inputs that are not floats, `seq_lengths` that are not ints.
    """
    shape = tuple(jnp.shape(inputs))
    if len(shape) != 3:
        raise ValueError(f"inputs must have shape [batch, time, features] (3 dimensions), got shape {shape}")
    if not jnp.issubdtype(jnp.result_type(inputs), jnp.floating):
        raise TypeError(f"inputs must be a floating array, got dtype {jnp.result_type(inputs)}")
    if shape[-1] != in_features:
        raise ValueError(
            f"inputs must have {in_features} features (the layer's in_features) in their last axis, "
            f"got shape {shape}"
        )
    if seq_lengths is None:
        return
    if not jnp.issubdtype(jnp.result_type(seq_lengths), jnp.integer):
        raise TypeError(f"seq_lengths must be an integer array, got dtype {jnp.result_type(seq_lengths)}")
    if tuple(jnp.shape(seq_lengths)) != shape[:1]:
        raise ValueError(
            f"seq_lengths must have shape [{shape[0]}] (one length per sequence of inputs {shape}), "
            f"got shape {tuple(jnp.shape(seq_lengths))}"
        )
    if is_concrete(seq_lengths) and shape[0]:
        # numpy on the caller's object: a concrete array captured by a jitted function is not a tracer
        values = np.asarray(seq_lengths)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > shape[1]:
            raise ValueError(
                f"seq_lengths must lie in [0, {shape[1]}] (the inputs' time steps), "
                f"got values from {low} to {high}"
            )


def layer_call(
    step_fn: StepFn,
    params: Any,
    inputs: jax.Array,
    *,
    initial_carry: Any = None,
    seq_lengths: jax.Array | None = None,
    reverse: bool = False,
    keep_order: bool = False,
    time_major: bool = False,
    padding: str = "right",
    resets: jax.Array | None = None,
    strategy: str = "auto",
    unroll_factor: int | None = None,
    return_outputs: bool = True,
    dtype: Any = None,
) -> tuple[Any, jax.Array | None]:
    """Runs `step_fn` over `inputs` as flax's `RNN` runs its cell; returns `(carry, outputs)`.

        state = to_core_state(initial_carry)           # zeros when None
        for t in real steps (last to first when reverse):
            state = step_fn(params, state, inputs[:, t])
            outputs[:, t] = h of state                 # zero at padded steps
        return to_flax_carry(state), outputs           # outputs flipped when reverse and not keep_order

    Args:
      step_fn: a core step (`simple_rnn_step` or a partial of it, `lstm_step`, `gru_step`).
      params: its parameters (`{"A": [g*H, H + F], "b": [g*H], ...}`).
      inputs: [B, T, F] ([T, B, F] with `time_major=True`).
      initial_carry: flax's carry, [B, H] (`(c, h)` for the LSTM); zeros when None.
      seq_lengths: [B] ints, real steps per sequence; None: every step is real.
      reverse: read each sequence from its last real step to its first.
      keep_order: with `reverse`, align outputs with inputs (else they come in reversed order).
      time_major: inputs and outputs are [T, B, ...].
      padding: "right" (flax's) or "left" (Keras' `pad_sequences` default).
      resets: [B, T] bools ([T, B] with `time_major`): the state is zeroed before each flagged step.
      strategy: `rnn_jax.unroll`'s strategy ("auto", "step", "hoisted", "custom_vjp", ...).
      unroll_factor: `lax.scan`'s unroll; None: the backend's measured default.
      return_outputs: False for many-to-one: `outputs` is None and no [B, T, H] buffer is kept
        (`rnn_jax.unroll`'s `return_all_states=False`).
      dtype: the computation's dtype: params, inputs and the initial carry are cast to it first;
        None: JAX's type promotion decides, as flax's `promote_dtype`.

    Returns:
      `(carry, outputs)`: flax's carry after the last real step; outputs [B, T, H] (zero at padded
      steps; [T, B, H] with `time_major`), or None when `return_outputs=False`.
    """
    check_choice("padding", padding, PADDINGS)
    if dtype is not None:
        params, inputs, initial_carry = jax.tree_util.tree_map(
            lambda a: jnp.asarray(a, dtype), (params, inputs, initial_carry)
        )
    if time_major:
        inputs = jnp.swapaxes(inputs, 0, 1)  # [T, B, F] -> [B, T, F]
        resets = None if resets is None else jnp.swapaxes(resets, 0, 1)  # [T, B] -> [B, T]
    state, outputs = unroll(
        step_fn,
        params,
        inputs,
        to_core_state(step_fn, initial_carry),
        lengths=seq_lengths,
        padding=padding,
        reverse=reverse,
        return_all_states=return_outputs,
        unroll=unroll_factor,
        strategy=strategy,
        resets=resets,
    )
    if outputs is not None:
        outputs = cells.state_output(outputs)  # [B, T, H], aligned with the inputs
        if reverse and not keep_order:
            outputs = flip_real_steps(outputs, seq_lengths, padding)
        if time_major:
            outputs = jnp.swapaxes(outputs, 0, 1)  # [B, T, H] -> [T, B, H]
    return to_flax_carry(state), outputs
