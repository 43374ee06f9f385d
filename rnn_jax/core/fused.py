"""The Simple RNN unroll with a cuDNN-style backward pass: `jax.custom_vjp`, and a `jax.custom_jvp` twin.

Forward (time-major inside; `S_t` is the state after step t, `S_{-1} = h0`, `m_t` the mask):

    Z_x = X A_x^T + b                        [T*B, F] x [F, H]: one matmul before the scan when
                                             hoist_input, else A_x x_t + b inside each step
    for t in 0..T-1:                         (T-1..0 when reverse=True)
        S_t = where(m_t, act(S_{t-1} A_h^T + Z_x[t]), S_{t-1})
    hs = where(m, S, 0)

Backward: `jax.grad` of the plain scan accumulates dA += dz_t^T [h_{t-1}; x_t] inside the loop,
small matmuls every step. Here the backward scan carries only the state gradient dh:

    for t in T-1..0:                         (0..T-1 when reverse=True)
        g_t  = dh + m_t * dhs_t              cotangent of S_t
        dz_t = m_t * g_t * act'(z_t)         act'(z_t) read off S_t: 1 - S_t^2 for tanh
        dh   = dz_t A_h + (1 - m_t) * g_t    padded steps pass dh through unchanged

and the weight gradients come after it, as single large matmuls over all T*B rows:

    dA_h = dZ^T S_prev,  dA_x = dZ^T X,  db = sum_t,b dZ,  dX = dZ A_x,  dh0 = dh.

The only residual kept for the backward pass is S ([T, B, H], what `hs` holds anyway), so the
memory is that of `remat=True` in the plain scan.

Two ways to install it (`rule=`):
  * "vjp": `jax.custom_vjp` with the backward pass above written out. Reverse mode only: JAX
    cannot apply `jax.jvp` / `jax.jacfwd` to a custom_vjp function.
  * "jvp": `jax.custom_jvp` whose tangent is one big matmul for the weight/input terms,
    `u = dA_h S_prev + dA_x X + db + A_x dX`, then a linear scan `dS_t = act'(z_t) (A_h dS_{t-1} + u_t)`.
    JAX's transpose of that is exactly the backward pass above, and forward mode works too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

ACTIVATIONS = ("tanh", "identity", "relu")
RULES = ("vjp", "jvp")
# Whether the input projection A_x x_t + b is one matmul before the forward scan, per JAX backend
# (measured with experiments/benchmark_unroll.py; README.md, Performance). On the 2-core CPU the
# two choices time alike; on an H200 hoisting was 1.2-1.3x faster in fwd+bwd on all three shapes.
HOIST_INPUT = {"cpu": False, "gpu": True}
HOIST_INPUT_OTHER = True  # backends not measured (TPU): the matmul-friendly choice


def default_hoist_input(backend: str | None = None) -> bool:
    """The measured faster `hoist_input` for `backend` (default: `jax.default_backend()`)."""
    return HOIST_INPUT.get(backend or jax.default_backend(), HOIST_INPUT_OTHER)


def _act(name: str, z: jax.Array) -> jax.Array:
    if name == "tanh":
        return jnp.tanh(z)
    if name == "relu":
        return jax.nn.relu(z)
    return z


def _act_grad_from_output(name: str, s: jax.Array) -> jax.Array | None:
    """act'(z) written in terms of s = act(z): no need to keep z. None means all ones."""
    if name == "tanh":
        return 1.0 - s * s
    if name == "relu":
        return (s > 0).astype(s.dtype)  # jax.nn.relu's derivative at 0 is 0, and so is this
    return None


def _forward(A, b, xs, h0, mask, activation, reverse, keep_states, unroll, hoist):
    """Forward scan. xs [B, T, F], h0 [B, H], mask [T, B] or None -> (h_last, S [T, B, H] or None)."""
    hidden = A.shape[0]
    # Transposed once, outside the loop: a per-step `h @ A_h.T` is a matmul with a transposed
    # right operand, which XLA's CPU backend ran 9-14 % slower on the lecture shape than `h @ W_h`
    # with W_h = A_h^T laid out [in, out] (experiments/unroll_parts.py; README, Performance).
    W_h, W_x = A[:, :hidden].T, A[:, hidden:].T
    if hoist:
        z_x = jnp.swapaxes(xs @ W_x, 0, 1)  # [B, T, F] -> [T, B, H], one matmul for all steps
        if b is not None:
            z_x = z_x + b
    else:
        z_x = jnp.swapaxes(xs, 0, 1)

    def body(h, inputs):
        z_x_t, m_t = inputs
        if not hoist:
            z_x_t = z_x_t @ W_x if b is None else z_x_t @ W_x + b
        h_new = _act(activation, h @ W_h + z_x_t)
        if m_t is not None:
            h_new = jnp.where(m_t[:, None], h_new, h)  # padded steps keep the state
        return h_new, (h_new if keep_states else None)

    return jax.lax.scan(body, h0, (z_x, mask), reverse=reverse, unroll=unroll)


def _states_out(S, mask):
    """[T, B, H] carries -> hs [B, T, H], zero at padded steps."""
    if mask is not None:
        S = jnp.where(mask[..., None], S, jnp.zeros((), S.dtype))
    return jnp.swapaxes(S, 0, 1)  # [T, B, H] -> [B, T, H]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8, 9))
def _unroll_core(A, b, xs, h0, mask, activation, reverse, return_all_states, unroll, hoist):
    h_last, S = _forward(A, b, xs, h0, mask, activation, reverse, return_all_states, unroll, hoist)
    return h_last, (_states_out(S, mask) if return_all_states else None)


def _unroll_fwd(A, b, xs, h0, mask, activation, reverse, return_all_states, unroll, hoist):
    h_last, S = _forward(A, b, xs, h0, mask, activation, reverse, True, unroll, hoist)
    hs = _states_out(S, mask) if return_all_states else None
    return (h_last, hs), (A, b, xs, h0, mask, S)


def _unroll_bwd(activation, reverse, return_all_states, unroll, hoist, residuals, cotangents):
    A, b, xs, h0, mask, S = residuals
    g_last, g_hs = cotangents
    hidden = A.shape[0]
    A_h, A_x = A[:, :hidden], A[:, hidden:]
    g_S = None
    if return_all_states and g_hs is not None:
        g_S = jnp.swapaxes(g_hs, 0, 1)  # [B, T, H] -> [T, B, H]
        if mask is not None:
            g_S = jnp.where(mask[..., None], g_S, jnp.zeros((), g_S.dtype))

    def body(dh, inputs):
        g_t, s_t, m_t = inputs
        g = dh if g_t is None else dh + g_t
        d_act = _act_grad_from_output(activation, s_t)
        dz = g if d_act is None else g * d_act
        if m_t is not None:
            keep = m_t[:, None]
            dz = jnp.where(keep, dz, jnp.zeros((), dz.dtype))
            return jnp.where(keep, dz @ A_h, g), dz
        return dz @ A_h, dz

    # The backward scan walks time the other way round from the forward one.
    dh0, dZ = jax.lax.scan(body, g_last, (g_S, S, mask), reverse=not reverse, unroll=unroll)

    # Weight gradients: single matmuls over all T * B rows. S_prev[t] is the state step t read:
    # S[t-1] (S[t+1] when reversed), h0 for the first step.
    if reverse:
        S_prev = jnp.concatenate([S[1:], h0[None]], axis=0)
    else:
        S_prev = jnp.concatenate([h0[None], S[:-1]], axis=0)
    dA_h = dZ.reshape(-1, hidden).T @ S_prev.reshape(-1, hidden)  # [T*B, H]^T [T*B, H] -> [H, H]
    dA_x = jnp.einsum("tbh,btf->hf", dZ, xs)
    dA = jnp.concatenate([dA_h, dA_x], axis=1)
    db = None if b is None else dZ.sum(axis=(0, 1))
    dxs = jnp.einsum("tbh,hf->btf", dZ, A_x)
    return dA, db, dxs, dh0, None


_unroll_core.defvjp(_unroll_fwd, _unroll_bwd)


# ----------------------------------------------------------------------------- custom JVP


def _is_zero(tangent) -> bool:
    return tangent is None or isinstance(tangent, SymbolicZero)


@functools.partial(jax.custom_jvp, nondiff_argnums=(5, 6, 7, 8, 9))
def _unroll_core_jvp(A, b, xs, h0, mask, activation, reverse, return_all_states, unroll, hoist):
    h_last, S = _forward(A, b, xs, h0, mask, activation, reverse, return_all_states, unroll, hoist)
    return h_last, (_states_out(S, mask) if return_all_states else None)


@functools.partial(_unroll_core_jvp.defjvp, symbolic_zeros=True)
def _unroll_jvp_rule(activation, reverse, return_all_states, unroll, hoist, primals, tangents):
    """Tangents: one big matmul for everything but the recurrence, then a linear scan over dh.

        u_t  = dA_h S_prev_t + dA_x x_t + db + A_x dx_t     all t at once
        dS_t = where(m_t, act'(z_t) * (A_h dS_{t-1} + u_t), dS_{t-1}),   dS_{-1} = dh0

    Reverse mode transposes this: the transposed scan carries only dh, and the transposed u is
    the backward pass of `_unroll_bwd` (dA_h = dU^T S_prev, ...), with no per-step dA.
    """
    A, b, xs, h0, mask = primals
    dA, db, dxs, dh0, _ = tangents
    hidden = A.shape[0]
    A_h, A_x = A[:, :hidden], A[:, hidden:]
    h_last, S = _forward(A, b, xs, h0, mask, activation, reverse, True, unroll, hoist)
    hs = _states_out(S, mask) if return_all_states else None

    u = None
    if not _is_zero(dA):
        if reverse:
            S_prev = jnp.concatenate([S[1:], h0[None]], axis=0)
        else:
            S_prev = jnp.concatenate([h0[None], S[:-1]], axis=0)
        u = S_prev @ dA[:, :hidden].T + jnp.einsum("btf,hf->tbh", xs, dA[:, hidden:])
    if not _is_zero(dxs):
        u_x = jnp.einsum("btf,hf->tbh", dxs, A_x)
        u = u_x if u is None else u + u_x
    if b is not None and not _is_zero(db):
        u = jnp.broadcast_to(db, S.shape) if u is None else u + db
    if u is None:
        u = jnp.zeros_like(S)
    dh0 = jnp.zeros_like(h0) if _is_zero(dh0) else dh0
    d_act = _act_grad_from_output(activation, S)

    def body(dh, inputs):
        u_t, d_t, m_t = inputs
        # dh @ A_h^T, written as a contraction with A_h itself: JAX's transpose of this (the
        # backward scan of reverse mode) is then `ct @ A_h`, a matmul with the right operand in
        # its natural [in, out] layout, which XLA's CPU backend runs faster on small shapes.
        dz = jax.lax.dot_general(dh, A_h, (((1,), (1,)), ((), ()))) + u_t
        if d_t is not None:
            dz = dz * d_t
        if m_t is not None:
            dz = jnp.where(m_t[:, None], dz, dh)
        return dz, (dz if return_all_states else None)

    dh_last, dS = jax.lax.scan(body, dh0, (u, d_act, mask), reverse=reverse, unroll=unroll)
    dhs = _states_out(dS, mask) if return_all_states else None
    return (h_last, hs), (dh_last, dhs)


def simple_rnn_unroll(
    params: dict,
    xs: jax.Array,
    h0: jax.Array,
    mask: jax.Array | None = None,
    *,
    activation: str = "tanh",
    reverse: bool = False,
    return_all_states: bool = True,
    unroll: int = 1,
    rule: str = "vjp",
    hoist_input: bool | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """The Simple RNN over a batch, with the cuDNN-style backward pass of this module's docstring.

        h_t = act(A [h_{t-1}; x_t] + b),  padded steps (mask False) keep h and output zeros.

    Usually reached through `rnn_jax.unroll(simple_rnn_step, ..., strategy="custom_vjp")`, which
    validates the arguments and builds `mask` from `lengths` and `padding`.

    Args:
      params: `{"A": [H, H + F], "b": [H]}` (`b` optional).
      xs: [B, T, F] inputs, batch-major.
      h0: [B, H] initial state.
      mask: [T, B] booleans, True at real tokens; None when every step is real.
      activation: "tanh", "identity" or "relu".
      reverse: run from t = T-1 down to 0; `hs[:, t]` stays aligned with `xs[:, t]`.
      return_all_states: False returns `hs = None` (the states are still kept for the gradient).
      unroll: steps per loop iteration of both scans.
      rule: "vjp" (`jax.custom_vjp`, the backward pass written out; reverse mode only) or "jvp"
        (`jax.custom_jvp`: the same backward pass, obtained by transposing a JVP whose weight
        terms are hoisted out of the scan; also supports `jax.jvp`, `jax.jacfwd`, hessians).
      hoist_input: compute A_x x_t + b for all steps as one matmul before the forward scan (True)
        or inside it, step by step (False); None = `default_hoist_input()`, the faster one
        measured on the current backend (see `HOIST_INPUT` and README.md, Performance). Either
        way the backward pass uses single large matmuls.

    Returns:
      `(h_last, hs)`: [B, H] and [B, T, H] (or None).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {', '.join(map(repr, ACTIVATIONS))}"
        )
    A, b = params["A"], params.get("b")
    dtype = jnp.result_type(A, xs, h0, *([] if b is None else [b]))
    A, xs, h0 = A.astype(dtype), xs.astype(dtype), h0.astype(dtype)
    b = None if b is None else b.astype(dtype)
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(map(repr, RULES))}")
    core = _unroll_core if rule == "vjp" else _unroll_core_jvp
    hoist = default_hoist_input() if hoist_input is None else bool(hoist_input)
    return core(A, b, xs, h0, mask, activation, bool(reverse), bool(return_all_states), int(unroll), hoist)
