"""Exact derivatives through the unroll: dh_t/dx_1, step Jacobians and their products, dloss/dh_t.

The lecture's defect of the Simple RNN is a statement about one derivative: the state 100 steps
later barely depends on the first word, ``||dh_100 / dx_1|| ~ 0``. By the chain rule

    dh_t/dx_1 = J_t J_{t-1} ... J_2 · dh_1/dx_1,     J_t = dh_t/dh_{t-1} = diag(1 - h_t^2) A_h

for the tanh Simple RNN (A_h = A[:, :H], the recurrent half of the lecture's A). Everything here is
computed by automatic differentiation through the same `lax.scan` that `rnn_jax.unroll` runs (never
by finite differences), on ONE sequence `xs` [T, F]; vmap over a batch when needed.

Shapes (legend in `rnn_jax/__init__.py`): `xs` [T, F], `h0` [H], `hs` [T, H]. For the LSTM the
state is `LSTMState(h, c)` and "state size" S = 2H where a flattened state is meant; elsewhere S = H.
This module imports only JAX (pure core).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice, check_floating, check_ndim, check_positive_int
from rnn_jax.core.unroll import StepFn, unroll

__all__ = [
    "hidden_state_grads",
    "input_jacobians",
    "jacobian_norms",
    "running_products",
    "scaled_orthogonal",
    "simple_rnn_step_jacobians",
    "stable_norms",
    "state_jacobians",
    "step_jacobians",
    "zero_input_states",
]


def _check_sequence(xs: Any) -> None:
    check_ndim("xs", xs, (2,), "[T, F] (one sequence; vmap for a batch)")
    check_floating("xs", xs)
    if xs.shape[0] == 0:
        raise ValueError(f"xs must have at least one time step, got shape {tuple(xs.shape)}")


def _h0(step_fn: StepFn, params: Any, h0: Any) -> Any:
    return cells.initial_state(step_fn, params, ()) if h0 is None else h0


# ----------------------------------------------------------------------------- dh_t / dx_s


def input_jacobians(
    step_fn: StepFn,
    params: Any,
    xs: jax.Array,
    h0: Any = None,
    *,
    position: int = 0,
    output: str = "h",
    mode: str = "forward",
) -> jax.Array:
    """The exact Jacobians of every state with respect to one input: dh_t/dx_s for t = 1..T.

        J[t] = d h_t / d x_s,     zero for t < s (h_t has not read x_s yet)

    One call of `jax.jacfwd` (F forward-mode passes, vectorised) or `jax.jacrev` (T * H reverse
    passes, vectorised) on the function x_s -> all states, through `rnn_jax.unroll`'s scan.
    Forward mode is the cheap one here: F is small and every t comes out of the same pass.

    Args:
      step_fn: a cell step (`simple_rnn_step`, `lstm_step`, `gru_step` or a partial of one).
      params: the cell's parameters.
      xs: one sequence, [T, F].
      h0: initial state ([H], or an `LSTMState` for the LSTM); zeros when None.
      position: s, the 0-based index of the input to differentiate by (0: the first word, x_1).
      output: "h" (the cell's output) or, for the LSTM, "c" (its memory cell).
      mode: "forward" (`jax.jacfwd`) or "reverse" (`jax.jacrev`); both are exact and agree.

    Returns:
      [T, H, F]: `J[t - 1] = d h_t / d x_s` in the 1-based time of the lecture (row t-1 is h_t).

    Raises:
      ValueError: if `position` is outside [0, T), `output`/`mode` is unknown, or `output="c"`
        for a cell without a memory cell.
    """
    _check_sequence(xs)
    check_choice("output", output, ("h", "c"))
    check_choice("mode", mode, ("forward", "reverse"))
    seq_len = xs.shape[0]
    if not 0 <= position < seq_len:
        raise ValueError(f"position must lie in [0, {seq_len}) (the sequence length T), got {position}")
    h0 = _h0(step_fn, params, h0)
    if output == "c" and not isinstance(h0, cells.LSTMState):
        raise ValueError("output='c' needs an LSTM (a state with a memory cell c)")

    def states(x_s):
        _, hs = unroll(step_fn, params, xs.at[position].set(x_s), h0)
        return hs.c if output == "c" else cells.state_output(hs)  # [T, H]

    jac = jax.jacfwd if mode == "forward" else jax.jacrev
    return jac(states)(xs[position])  # [T, H, F]


def state_jacobians(step_fn: StepFn, params: Any, xs: jax.Array, h0: Any = None) -> jax.Array:
    """The exact Jacobians of every state with respect to the initial state: dh_t/dh_0, t = 1..T.

    With `A_h = a I`, zero inputs, bias and h0, and the identity (or tanh, whose slope at 0 is 1)
    activation, `dh_t/dh_0 = a^t I` exactly; in general `dh_t/dh_s` is the running product of
    the step Jacobians (`running_products(step_jacobians(...))`).

    Args:
      step_fn: a cell step.
      params: the cell's parameters.
      xs: one sequence, [T, F].
      h0: initial state; zeros when None.

    Returns:
      [T, S, S] with the state flattened (S = H; S = 2H as [h; c] for the LSTM):
      `J[t - 1] = d state_t / d state_0`.
    """
    _check_sequence(xs)
    h0 = _h0(step_fn, params, h0)
    flat_h0, unravel = ravel_pytree(h0)

    def states(flat):
        _, hs = unroll(step_fn, params, xs, unravel(flat))
        return jax.vmap(lambda s: ravel_pytree(s)[0])(hs)  # [T, S]

    return jax.jacfwd(states)(flat_h0)  # [T, S, S]


# ----------------------------------------------------------------------------- step Jacobians


def simple_rnn_step_jacobians(
    params: dict[str, jax.Array], hs: jax.Array, activation: str = "tanh"
) -> jax.Array:
    """The Simple RNN's step Jacobians in closed form, from the states alone.

        J_t = d h_t / d h_{t-1} = diag(act'(z_t)) A_h,     A_h = A[:, :H]

    with act'(z_t) = 1 - h_t^2 for tanh, 1 for the identity and [h_t > 0] for relu.

    Args:
      params: `{"A": [H, H + F], ...}`.
      hs: the states h_1..h_T, [T, H] (from `unroll`).
      activation: the activation the states were computed with.

    Returns:
      [T, H, H]: `J[t - 1] = d h_t / d h_{t-1}`.
    """
    check_choice("activation", activation, tuple(cells.ACTIVATIONS))
    check_ndim("hs", hs, (2,), "[T, H]")
    hidden = hs.shape[-1]
    if params["A"].shape[0] != hidden:
        raise ValueError(
            f"hs must have shape [T, {params['A'].shape[0]}] to match params['A'] of "
            f"shape {tuple(params['A'].shape)}, got {tuple(hs.shape)}"
        )
    A_h = params["A"][:, :hidden]  # [H, H], the recurrent half
    slope = {
        "tanh": lambda h: 1.0 - h**2,
        "identity": jnp.ones_like,
        "relu": lambda h: (h > 0).astype(h.dtype),
    }[activation](hs)  # [T, H]
    return slope[:, :, None] * A_h[None]  # diag(slope_t) @ A_h for every t


def step_jacobians(step_fn: StepFn, params: Any, xs: jax.Array, h0: Any = None) -> jax.Array:
    """Every step's Jacobian by automatic differentiation: J_t = d state_t / d state_{t-1}.

    Works for any cell: for the Simple RNN it equals `simple_rnn_step_jacobians`; for the LSTM the
    state is [h; c] (S = 2H) so that the memory cell's path `c_t = f_t * c_{t-1} + ...` is included.

    Args:
      step_fn: a cell step.
      params: the cell's parameters.
      xs: one sequence, [T, F].
      h0: initial state; zeros when None.

    Returns:
      [T, S, S]: `J[t - 1] = d state_t / d state_{t-1}` (S = H, or 2H for the LSTM).
    """
    _check_sequence(xs)
    h0 = _h0(step_fn, params, h0)
    _, hs = unroll(step_fn, params, xs, h0)
    previous = jax.tree_util.tree_map(
        lambda first, rest: jnp.concatenate([first[None], rest[:-1]]), h0, hs
    )  # state_{t-1} for t = 1..T
    _, unravel = ravel_pytree(h0)

    def one(prev, x_t):
        flat_prev, _ = ravel_pytree(prev)
        return jax.jacrev(lambda f: ravel_pytree(step_fn(params, unravel(f), x_t))[0])(flat_prev)

    return jax.vmap(one)(previous, xs)  # [T, S, S]


def running_products(jacobians: jax.Array) -> jax.Array:
    """The chain rule's products: P_t = J_t J_{t-1} ... J_1 for t = 1..T (one `lax.scan`).

    With `J = step_jacobians(...)`, `P[t - 1] = d state_t / d state_0`; starting from another
    step s, `running_products(J[s:])[t - s - 1] = d state_t / d state_s`.

    Args:
      jacobians: [T, S, S], `J[t - 1] = d state_t / d state_{t-1}`.

    Returns:
      [T, S, S].
    """
    check_ndim("jacobians", jacobians, (3,), "[T, S, S]")
    size = jacobians.shape[-1]

    def body(product, j_t):
        product = j_t @ product
        return product, product

    _, products = jax.lax.scan(body, jnp.eye(size, dtype=jacobians.dtype), jacobians)
    return products


# ----------------------------------------------------------------------------- norms


def jacobian_norms(jacobians: jax.Array) -> dict[str, jax.Array]:
    """Frobenius and spectral (largest singular value) norms of a stack of matrices.

    Computed after dividing each matrix by its largest entry, so that norms above ~1e19 do not
    overflow in float32 (the square inside the Frobenius norm would).

    Args:
      jacobians: [..., M, N].

    Returns:
      `{"frobenius": [...], "spectral": [...]}`.
    """
    check_ndim("jacobians", jacobians, tuple(range(2, 8)), "[..., M, N]")
    scale = jnp.max(jnp.abs(jacobians), axis=(-2, -1))
    safe = jnp.where(scale > 0, scale, 1.0)
    unit = jacobians / safe[..., None, None]
    frobenius = jnp.sqrt(jnp.sum(unit**2, axis=(-2, -1))) * scale
    spectral = jnp.linalg.svd(unit, compute_uv=False)[..., 0] * scale
    return {"frobenius": frobenius, "spectral": spectral}


def stable_norms(vectors: jax.Array) -> jax.Array:
    """Euclidean norms over the last axis without overflow: `max|v| * ||v / max|v|||`.

    inf or NaN entries give inf or NaN norms (they are what the lecture's exploding example shows).
    """
    scale = jnp.max(jnp.abs(vectors), axis=-1)
    safe = jnp.where((scale > 0) & jnp.isfinite(scale), scale, 1.0)
    return jnp.sqrt(jnp.sum((vectors / safe[..., None]) ** 2, axis=-1)) * scale


# ----------------------------------------------------------------------------- dloss / dh_t


def hidden_state_grads(
    loss_fn: Callable[[Any, Any], jax.Array],
    step_fn: StepFn,
    params: Any,
    xs: jax.Array,
    h0: Any = None,
    **unroll_options,
) -> tuple[jax.Array, Any]:
    """The loss and dloss/dh_t for every t, in ONE backward pass (backpropagation through time).

    A zero perturbation e_t is added to each state inside the scan, h_t <- step(h_{t-1}, x_t) + e_t,
    and the loss is differentiated with respect to all e_t at e = 0. That derivative is the total
    derivative of the loss with respect to h_t (its own use in the loss plus every later state it
    feeds), the quantity BPTT carries backwards, without forming any [T, H, H] Jacobian:

        dL/dh_t = ∂L/∂h_t + (dL/dh_{t+1}) J_{t+1}

    Args:
      loss_fn: `(h_last, hs) -> scalar`, e.g. a readout of the last state for many-to-one.
      step_fn: a cell step.
      params: the cell's parameters.
      xs: [T, F] or [B, T, F].
      h0: initial state; zeros when None.
      **unroll_options: passed to `rnn_jax.unroll` (`lengths`, `padding`, `reverse`, ...).

    Returns:
      `(loss, grads)`: grads has the structure of `hs`, [T, H] or [B, T, H] (an `LSTMState` of
      those for the LSTM, giving dL/dh_t and dL/dc_t).
    """
    check_ndim("xs", xs, (2, 3), "[B, T, F] or [T, F]")
    check_floating("xs", xs)
    batch_shape = tuple(xs.shape[:-2])
    h0 = cells.initial_state(step_fn, params, batch_shape) if h0 is None else h0
    input_size = xs.shape[-1]
    flat_h0, unravel_one = _batched_ravel(h0, len(batch_shape))
    state_size = flat_h0.shape[-1]

    def perturbed_step(p, h, x_and_e):
        # The perturbation rides along as extra input features, so the scan stays rnn_jax.unroll's.
        x_t, e_t = x_and_e[..., :input_size], x_and_e[..., input_size:]
        new = step_fn(p, h, x_t)
        flat_new, _ = _batched_ravel(new, len(batch_shape))
        return unravel_one(flat_new + e_t)

    def loss_of(perturbations):
        h_last, hs = unroll(
            perturbed_step, params, jnp.concatenate([xs, perturbations], axis=-1), h0, **unroll_options
        )
        return loss_fn(h_last, hs)

    zeros = jnp.zeros((*xs.shape[:-1], state_size), xs.dtype)  # [.., T, S]
    loss, grads = jax.value_and_grad(loss_of)(zeros)
    return loss, unravel_one(grads)


def _batched_ravel(state: Any, batch_ndim: int) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """Concatenates a state's leaves along the last axis ([..., H] each -> [..., S]) and back."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    sizes = [leaf.shape[-1] for leaf in leaves]
    flat = jnp.concatenate(leaves, axis=-1)

    def unravel(array):
        parts, start = [], 0
        for size in sizes:
            parts.append(array[..., start : start + size])
            start += size
        return jax.tree_util.tree_unflatten(treedef, parts)

    return flat, unravel


# ----------------------------------------------------------------------------- why tanh


def scaled_orthogonal(key: jax.Array, hidden_size: int, radius: float, dtype=jnp.float32) -> jax.Array:
    """`radius * Q` with Q orthogonal, built in `dtype` (QR with the sign fix of Mezzadri 2007).

    A normal matrix whose eigenvalues all have modulus `radius`, so ||A^n v|| = radius^n ||v||
    for every v and n: the lecture's 0.9^100 and 1.2^100 hold exactly, not only asymptotically.
    Built here in the requested dtype (the library's float32 initialiser, cast to float64, is only
    orthogonal to float32 precision).

    Args:
      key: PRNG key.
      hidden_size: H.
      radius: the spectral radius, >= 0.
      dtype: floating dtype of the result (and of the QR).

    Returns:
      [H, H].
    """
    check_positive_int("hidden_size", hidden_size)
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    gaussian = jax.random.normal(key, (hidden_size, hidden_size), dtype)
    q, r = jnp.linalg.qr(gaussian)
    q = q * jnp.sign(jnp.diagonal(r))[None, :]
    return jnp.asarray(radius, dtype) * q


def zero_input_states(
    params: dict[str, jax.Array], h0: jax.Array, num_steps: int, *, activation: str = "identity"
) -> jax.Array:
    """The Simple RNN fed zero inputs: h_t = act(A [h_{t-1}; 0] + b) for t = 1..num_steps.

    Without the activation and bias this is h_t = A_h^t h_0, the lecture's why-tanh example.

    Args:
      params: `{"A": [H, H + F], "b": [H]}`.
      h0: [H].
      num_steps: number of steps T.
      activation: "identity" (no activation) or "tanh" (or "relu").

    Returns:
      hs, [T, H] (may hold inf / NaN once the linear recursion overflows).
    """
    check_positive_int("num_steps", num_steps)
    input_size = params["A"].shape[1] - params["A"].shape[0]
    xs = jnp.zeros((num_steps, input_size), params["A"].dtype)
    check_choice("activation", activation, tuple(cells.ACTIVATIONS))
    step = functools.partial(cells.simple_rnn_step, activation=activation)
    _, hs = unroll(step, params, xs, h0)
    return hs
