"""What a recurrent layer's call does, shared by the Flax NNX and Linen layers: flax's calling convention
(`nnx.RNN` / `flax.linen.RNN`) on top of `rnn_jax.unroll`.

    carry, outputs = layer_call(step_fn, params, inputs, initial_carry=..., seq_lengths=...,
                                reverse=..., keep_order=..., padding=..., resets=..., ...)

Pure JAX (no Flax): the layers in `rnn_jax.nnx` and `rnn_jax.linen` hold the parameters and call
this. The conventions follow flax's `RNN` so the layers are drop-in replacements:

- `inputs` [B, T, F] (batch-major; `time_major=True`: [T, B, F]); outputs [B, T, H].
- `seq_lengths` [B]: real steps per sequence (right padding unless `padding="left"`). The carry
  returned is the state after the last real step, as flax's. Outputs at real steps are flax's;
  at padded steps they are ZERO here, where flax returns whatever the cell computed on the padding.
- `reverse=True` reads each sequence from its last real step to its first. Outputs come in the
  order they were computed (flax's `flip_sequences` order: the reversed real steps first, padding
  last) unless `keep_order=True`, which aligns output t with input t.
- The LSTM's carry is flax's `(c, h)` tuple (the core's state is `LSTMState(h, c)`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice
from rnn_jax.core.unroll import PADDINGS, StepFn, unroll


def _is_lstm(step_fn: StepFn) -> bool:
    return getattr(step_fn, "func", step_fn) is cells.lstm_step


def to_core_state(step_fn: StepFn, carry: Any) -> Any:
    """flax's carry -> the core's state: `(c, h)` -> `LSTMState(h, c)` for the LSTM, else as is."""
    if carry is None or not _is_lstm(step_fn):
        return carry
    if isinstance(carry, cells.LSTMState):
        return carry
    c, h = carry
    return cells.LSTMState(h, c)


def to_flax_carry(step_fn: StepFn, state: Any) -> Any:
    """The core's state -> flax's carry: `LSTMState(h, c)` -> `(c, h)` for the LSTM, else as is."""
    if isinstance(state, cells.LSTMState):
        return (state.c, state.h)
    return state


def flip_real_steps(xs: jax.Array, seq_lengths: jax.Array | None, padding: str = "right") -> jax.Array:
    """Reverses each sequence's real steps in place, padding untouched: [B, T, ...] -> [B, T, ...].

    Right padding, as flax's `flip_sequences`: `[1 2 3 0 0] -> [3 2 1 0 0]`; left padding:
    `[0 0 1 2 3] -> [0 0 3 2 1]`. Applying it twice is the identity.
    """
    seq_len = xs.shape[1]
    if seq_lengths is None:
        return jnp.flip(xs, axis=1)
    t = jnp.arange(seq_len)[None, :]  # [1, T]
    lengths = jnp.asarray(seq_lengths)[:, None]  # [B, 1]
    start = jnp.zeros_like(lengths) if padding == "right" else seq_len - lengths
    end = start + lengths
    source = jnp.where((t >= start) & (t < end), start + end - 1 - t, t)  # [B, T]
    index = source.reshape(source.shape + (1,) * (xs.ndim - 2))
    return jnp.take_along_axis(xs, index, axis=1)


def check_inputs(inputs: Any, in_features: int, seq_lengths: Any) -> None:
    """A clear error for inputs that are not [B, T, in_features] floats or bad seq_lengths."""
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 3:
        raise ValueError(
            f"inputs must have shape [batch, time, features] (3 dimensions), got shape {tuple(inputs.shape)}"
        )
    if not jnp.issubdtype(inputs.dtype, jnp.floating):
        raise TypeError(f"inputs must be a floating array, got dtype {inputs.dtype}")
    if inputs.shape[-1] != in_features:
        raise ValueError(
            f"inputs must have {in_features} features (the layer's in_features) in their last axis, "
            f"got shape {tuple(inputs.shape)}"
        )
    if seq_lengths is not None and not jnp.issubdtype(jnp.asarray(seq_lengths).dtype, jnp.integer):
        raise TypeError(f"seq_lengths must be an integer array, got dtype {jnp.asarray(seq_lengths).dtype}")


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
) -> tuple[Any, jax.Array]:
    """Runs `step_fn` over `inputs` as flax's `RNN` would call its cell; returns `(carry, outputs)`.

    Args:
      step_fn: a core step (`simple_rnn_step` or a partial of it, `lstm_step`, `gru_step`).
      params: its parameters (`{"A": [g*H, H + F], "b": [g*H], ...}`).
      inputs: [B, T, F] ([T, B, F] with `time_major=True`).
      initial_carry: flax's carry ([B, H]; `(c, h)` for the LSTM); zeros when None.
      seq_lengths: [B] ints, real steps per sequence; None: every step is real.
      reverse: read each sequence from its last real step to its first.
      keep_order: with `reverse`, align outputs with inputs (else they come in reversed order).
      time_major: inputs and outputs are [T, B, ...].
      padding: "right" (flax's) or "left" (Keras' `pad_sequences` default).
      resets: [B, T] bools: the state is zeroed before each flagged step (`rnn_jax.unroll`).
      strategy: `rnn_jax.unroll`'s strategy ("auto", "step", "hoisted", "custom_vjp", ...).
      unroll_factor: `lax.scan`'s unroll; None: the backend's measured default.

    Returns:
      `(carry, outputs)`: flax's carry after the last real step, outputs [B, T, H] (zero at padded steps).
    """
    check_choice("padding", padding, PADDINGS)
    if time_major:
        inputs = jnp.swapaxes(inputs, 0, 1)  # [T, B, F] -> [B, T, F]
        resets = None if resets is None else jnp.swapaxes(resets, 0, 1)
    state, outputs = unroll(
        step_fn,
        params,
        inputs,
        to_core_state(step_fn, initial_carry),
        lengths=seq_lengths,
        padding=padding,
        reverse=reverse,
        unroll=unroll_factor,
        strategy=strategy,
        resets=resets,
    )
    outputs = cells.state_output(outputs)  # [B, T, H], aligned with the inputs
    if reverse and not keep_order:
        outputs = flip_real_steps(outputs, seq_lengths, padding)
    if time_major:
        outputs = jnp.swapaxes(outputs, 0, 1)  # [B, T, H] -> [T, B, H]
    return to_flax_carry(step_fn, state), outputs
