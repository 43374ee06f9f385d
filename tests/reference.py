"""Obvious, slow reference implementations the tests compare the library against.

Everything here is a plain Python loop over time on one unpadded sequence at a time: the second way
of computing what `rnn_jax.unroll` computes with `lax.scan`, masks and batching.
"""

import jax
import jax.numpy as jnp
import numpy as np


def loop_unroll_one(step_fn, params, xs, h0):
    """Python loop over the T rows of xs [T, F]: returns (h_last, [state after each step])."""
    h, states = h0, []
    for t in range(xs.shape[0]):
        h = step_fn(params, h, xs[t])
        states.append(h)
    return h, states


def loop_unroll(step_fn, params, xs, h0, lengths=None, padding="right", reverse=False):
    """Reference for `unroll` on a batch xs [B, T, F]: each sequence's real tokens, one at a time.

    Padded positions of hs are zero; the final state is the state after the last real token read.
    """
    batch, seq_len = xs.shape[0], xs.shape[1]
    lengths = np.full(batch, seq_len) if lengths is None else np.asarray(lengths)
    finals, all_hs = [], []
    for b in range(batch):
        length = int(lengths[b])
        start = 0 if padding == "right" else seq_len - length
        positions = list(range(start, start + length))
        if reverse:
            positions = positions[::-1]
        h0_b = jax.tree_util.tree_map(lambda a, b=b: a[b], h0)
        real_xs = xs[b, jnp.array(positions, dtype=jnp.int32)] if positions else xs[b, :0]
        h_last, states = loop_unroll_one(step_fn, params, real_xs, h0_b)
        zeros = jax.tree_util.tree_map(jnp.zeros_like, h0_b)
        per_position = [zeros] * seq_len
        for position, state in zip(positions, states, strict=True):
            per_position[position] = state
        finals.append(h_last)
        all_hs.append(jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *per_position))
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    return jax.tree_util.tree_map(stack, *finals), jax.tree_util.tree_map(stack, *all_hs)


def lecture_formula_numpy(A, b, h, x, activation=np.tanh):
    """h_t = act(A @ concat(h, x) + b), written with NumPy from the lecture, one vector at a time."""
    A, h, x = np.asarray(A, np.float64), np.asarray(h, np.float64), np.asarray(x, np.float64)
    z = A @ np.concatenate([h, x])
    if b is not None:
        z = z + np.asarray(b, np.float64)
    return activation(z)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_numpy(A, b, h, c, x):
    """One LSTM step in NumPy with separate gate matrices sliced from A (gates i, f, g, o)."""
    hidden = h.shape[0]
    hx = np.concatenate([np.asarray(h, np.float64), np.asarray(x, np.float64)])
    A, b = np.asarray(A, np.float64), np.asarray(b, np.float64)
    gate = lambda k: A[k * hidden : (k + 1) * hidden] @ hx + b[k * hidden : (k + 1) * hidden]  # noqa: E731
    i, f, g, o = sigmoid(gate(0)), sigmoid(gate(1)), np.tanh(gate(2)), sigmoid(gate(3))
    c_new = f * np.asarray(c, np.float64) + i * g
    return o * np.tanh(c_new), c_new


def gru_numpy(params, h, x):
    """One GRU step in NumPy (Cho et al. 2014, reset before the candidate's matrix product)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    h, x = np.asarray(h, np.float64), np.asarray(x, np.float64)
    hidden = h.shape[0]
    gates = sigmoid(p["A"] @ np.concatenate([h, x]) + p["b"])
    z, r = gates[:hidden], gates[hidden:]
    n = np.tanh(p["A_candidate"] @ np.concatenate([r * h, x]) + p["b_candidate"])
    return (1 - z) * h + z * n
