"""Recurrent cells as pure functions: `init_*` builds the parameters, `*_step` does one time step.

Shapes (see the legend in `rnn_jax/__init__.py`): `x_t` [..., F], `h` [..., H]; any leading batch
dimensions broadcast, so the same step works on one sequence ([F], [H]) or a batch ([B, F], [B, H]).

Every cell keeps the lecture's layout: ONE matrix `A` that multiplies the concatenation
`[h_{t-1}; x_t]`, state first. The LSTM and GRU stack their gates' matrices along the rows.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax.core import initializers
from rnn_jax.core._validation import (
    check_choice,
    check_floating,
    check_ndim,
    check_params,
    check_positive_int,
)

Params = dict[str, jax.Array]

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "identity": lambda z: z,  # the lecture's "without tanh": h_t = A [h_{t-1}; x_t] + b
    "relu": jax.nn.relu,  # IRNN (Le et al. 2015), usually with recurrent_init="identity"
}


class LSTMState(NamedTuple):
    """The LSTM's state: output `h` and memory cell `c`, each [..., H]."""

    h: jax.Array
    c: jax.Array


def get_activation(name: str):
    """The element-wise activation called `name` ("tanh", "identity" or "relu")."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]


def _init_A(
    key, input_size, hidden_size, num_gates, input_init, recurrent_init, recurrent_scale, dtype
) -> jax.Array:
    """Stacks `num_gates` blocks [A_h | A_x], each [H, H + F], into one [num_gates * H, H + F]."""
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {jnp.dtype(dtype)}")
    blocks = []
    for gate_key in jax.random.split(key, num_gates):
        key_h, key_x = jax.random.split(gate_key)
        a_h = initializers.recurrent_weights(key_h, hidden_size, recurrent_init, recurrent_scale, dtype)
        a_x = initializers.input_weights(key_x, hidden_size, input_size, input_init, dtype)
        blocks.append(jnp.concatenate([a_h, a_x], axis=1))
    return jnp.concatenate(blocks, axis=0)


def _check_step_inputs(cell: str, A: jax.Array, h: jax.Array, x_t: jax.Array, num_gates: int) -> int:
    """Validates a step's shapes against A [num_gates * H, H + F]; returns H."""
    check_ndim(f"{cell} params['A']", A, (2,), "[rows, hidden_size + input_size]")
    hidden_size = A.shape[0] // num_gates
    input_size = A.shape[1] - hidden_size
    if A.shape[0] % num_gates or input_size <= 0:
        raise ValueError(
            f"{cell} params['A'] must have shape [{num_gates} * hidden_size, hidden_size + input_size],"
            f" got {tuple(A.shape)}"
        )
    check_floating("x_t", x_t)
    check_floating("h", h)
    if x_t.ndim == 0 or x_t.shape[-1] != input_size:
        raise ValueError(
            f"x_t must have shape [..., {input_size}] to match params['A'] of shape "
            f"{tuple(A.shape)}, got {tuple(x_t.shape)}"
        )
    if h.ndim == 0 or h.shape[-1] != hidden_size:
        raise ValueError(
            f"h must have shape [..., {hidden_size}] to match params['A'] of shape "
            f"{tuple(A.shape)}, got {tuple(h.shape)}"
        )
    return hidden_size


def _affine(params: Params, h: jax.Array, x_t: jax.Array, a: str = "A", b: str = "b") -> jax.Array:
    """`A [h; x_t] + b` for batched rows: [..., H] and [..., F] -> [..., rows of A]."""
    hx = jnp.concatenate([h, x_t], axis=-1)  # [..., H + F], state first as in the lecture
    z = hx @ params[a].T
    if b in params and params[b] is not None:
        z = z + params[b]
    return z


# ----------------------------------------------------------------------------- Simple RNN (Elman)


def init_simple_rnn(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    *,
    use_bias: bool = True,
    input_init: str = "lecun",
    recurrent_init: str = "orthogonal",
    recurrent_scale: float = 1.0,
    dtype=jnp.float32,
) -> Params:
    """Parameters of the lecture's Simple RNN: `{"A": [H, H + F], "b": [H]}`.

    `A = [A_h | A_x]`: its first H columns multiply the previous state, the last F columns the input.

    Args:
      key: PRNG key.
      input_size: F, size of each x_t.
      hidden_size: H, size of the state h.
      use_bias: include the (optional, in the lecture) intercept `b`, initialised to zeros.
      input_init: "lecun" or "glorot" for A_x.
      recurrent_init: "orthogonal" (default), "identity" or "random" for A_h.
      recurrent_scale: the spectral radius of A_h (e.g. 0.9 or 1.2 for the lecture's demonstration).
      dtype: floating dtype of the parameters.

    Returns:
      `{"A": A, "b": b}`, or `{"A": A}` when `use_bias=False`.
    """
    params = {
        "A": _init_A(key, input_size, hidden_size, 1, input_init, recurrent_init, recurrent_scale, dtype)
    }
    if use_bias:
        params["b"] = jnp.zeros((hidden_size,), dtype)
    return params


def simple_rnn_step(params: Params, h: jax.Array, x_t: jax.Array, *, activation: str = "tanh") -> jax.Array:
    """One step of the Elman network, exactly the lecture's formula.

        h_t = act(A [h_{t-1}; x_t] + b)

    Args:
      params: `{"A": [H, H + F], "b": [H]}` (`b` optional).
      h: h_{t-1}, [..., H].
      x_t: [..., F].
      activation: "tanh" (default), "identity" or "relu".

    Returns:
      h_t, [..., H].
    """
    act = get_activation(activation)
    check_params("simple_rnn params", params, ("A",))
    _check_step_inputs("simple_rnn", params["A"], h, x_t, 1)
    return act(_affine(params, h, x_t))


def simple_rnn_num_params(input_size: int, hidden_size: int, *, use_bias: bool = True) -> int:
    """The lecture's count: shape(h) x (shape(h) + shape(x)) (+ shape(h) for b). 2,080 for 32/32."""
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    return hidden_size * (hidden_size + input_size) + (hidden_size if use_bias else 0)


def num_params(params: Any) -> int:
    """Total number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


# ----------------------------------------------------------------------------- LSTM


def init_lstm(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    *,
    forget_bias: float = 1.0,
    input_init: str = "lecun",
    recurrent_init: str = "orthogonal",
    recurrent_scale: float = 1.0,
    dtype=jnp.float32,
) -> Params:
    """Parameters of an LSTM: `{"A": [4H, H + F], "b": [4H]}`, gates stacked as (i, f, g, o).

    Each gate has its own [H, H + F] block initialised like the Simple RNN's A; the forget gate's
    bias starts at `forget_bias` (1.0, as Keras' `unit_forget_bias`).
    """
    A = _init_A(key, input_size, hidden_size, 4, input_init, recurrent_init, recurrent_scale, dtype)
    b = jnp.zeros((4 * hidden_size,), dtype).at[hidden_size : 2 * hidden_size].set(forget_bias)
    return {"A": A, "b": b}


def lstm_step(params: Params, state: LSTMState, x_t: jax.Array) -> LSTMState:
    """One LSTM step (Hochreiter & Schmidhuber 1997, with forget gate; Keras' and cuDNN's form).

        [i; f; g; o] = A [h_{t-1}; x_t] + b
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    Args:
      params: `{"A": [4H, H + F], "b": [4H]}`.
      state: `LSTMState(h, c)`, each [..., H].
      x_t: [..., F].

    Returns:
      The new `LSTMState(h_t, c_t)`.
    """
    check_params("lstm params", params, ("A",))
    if not isinstance(state, LSTMState):
        raise TypeError(f"lstm state must be an LSTMState(h, c), got {type(state).__name__}")
    _check_step_inputs("lstm", params["A"], state.h, x_t, 4)
    i, f, g, o = jnp.split(_affine(params, state.h, x_t), 4, axis=-1)
    c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c)


# ----------------------------------------------------------------------------- GRU


def init_gru(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    *,
    input_init: str = "lecun",
    recurrent_init: str = "orthogonal",
    recurrent_scale: float = 1.0,
    dtype=jnp.float32,
) -> Params:
    """Parameters of a GRU: gates `{"A": [2H, H + F], "b": [2H]}` (update z, reset r) and the
    candidate `{"A_candidate": [H, H + F], "b_candidate": [H]}`."""
    key_gates, key_candidate = jax.random.split(key)
    A = _init_A(key_gates, input_size, hidden_size, 2, input_init, recurrent_init, recurrent_scale, dtype)
    A_candidate = _init_A(
        key_candidate, input_size, hidden_size, 1, input_init, recurrent_init, recurrent_scale, dtype
    )
    return {
        "A": A,
        "b": jnp.zeros((2 * hidden_size,), dtype),
        "A_candidate": A_candidate,
        "b_candidate": jnp.zeros((hidden_size,), dtype),
    }


def gru_step(params: Params, h: jax.Array, x_t: jax.Array) -> jax.Array:
    """One GRU step (Cho et al. 2014, reset applied before the matrix product).

        [z; r] = sigmoid(A [h_{t-1}; x_t] + b)
        n      = tanh(A_candidate [r * h_{t-1}; x_t] + b_candidate)
        h_t    = (1 - z) * h_{t-1} + z * n

    Args:
      params: see `init_gru`.
      h: h_{t-1}, [..., H].
      x_t: [..., F].

    Returns:
      h_t, [..., H].
    """
    check_params("gru params", params, ("A", "A_candidate"))
    _check_step_inputs("gru", params["A"], h, x_t, 2)
    _check_step_inputs("gru candidate", params["A_candidate"], h, x_t, 1)
    z, r = jnp.split(jax.nn.sigmoid(_affine(params, h, x_t)), 2, axis=-1)
    n = jnp.tanh(_affine(params, r * h, x_t, "A_candidate", "b_candidate"))
    return (1.0 - z) * h + z * n


# ----------------------------------------------------------------------------- states


def hidden_size_of(params: Params, step_fn=None) -> int:
    """H of a cell's parameters (A has num_gates * H rows)."""
    base = getattr(step_fn, "func", step_fn)
    num_gates = {lstm_step: 4, gru_step: 2}.get(base, 1)
    return params["A"].shape[0] // num_gates


def initial_state(step_fn, params: Params, batch_shape: tuple[int, ...] = ()) -> Any:
    """Zeros of the right structure for `step_fn`'s state: [*batch_shape, H] (an LSTMState for LSTM).

    Works for the cells of this module (and `functools.partial`s of them) and for any custom step
    whose params hold the Simple RNN's `"A"` [H, H + F] and whose state is one [..., H] array.
    """
    if not isinstance(params, dict) or "A" not in params:
        raise ValueError(
            "h0=None needs params with an 'A' matrix to infer the state size; "
            "pass h0 explicitly for a custom step_fn"
        )
    hidden = hidden_size_of(params, step_fn)
    zeros = jnp.zeros((*batch_shape, hidden), params["A"].dtype)
    if getattr(step_fn, "func", step_fn) is lstm_step:
        return LSTMState(zeros, zeros)
    return zeros


def state_output(state: Any) -> jax.Array:
    """The part of a state that a cell outputs: `h` (an LSTM's `c` stays inside)."""
    return state.h if isinstance(state, LSTMState) else state
