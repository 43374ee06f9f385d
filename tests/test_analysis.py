"""rnn_jax.analysis against closed forms, finite differences and a second way of computing each thing."""

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

import rnn_jax
from rnn_jax.core import analysis

H, F = 3, 2


def _half_identity_params(dtype=jnp.float32):
    """A_h = 0.5 I, a seeded A_x, zero bias: the closed-form case of the issue."""
    A_x = jax.random.normal(jax.random.key(7), (H, F), dtype)
    return {"A": jnp.concatenate([0.5 * jnp.eye(H, dtype=dtype), A_x], axis=1), "b": jnp.zeros(H, dtype)}


def _random_sequence(seq_len=6, key=1, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(key), (seq_len, F), dtype)


def _cell(name, dtype=jnp.float32):
    key = jax.random.key(3)
    return {
        "simple_rnn": (rnn_jax.simple_rnn_step, rnn_jax.init_simple_rnn(key, F, H, dtype=dtype)),
        "lstm": (rnn_jax.lstm_step, rnn_jax.init_lstm(key, F, H, dtype=dtype)),
        "gru": (rnn_jax.gru_step, rnn_jax.init_gru(key, F, H, dtype=dtype)),
    }[name]


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_half_identity_state_jacobians_shrink_by_exactly_one_half(activation):
    # zero input, bias and h0: the state stays 0, tanh'(0) = 1, so dh_t/dh_0 = 0.5^t I exactly.
    params = _half_identity_params()
    step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
    xs = jnp.zeros((12, F))
    expected = np.stack([0.5**t * np.eye(H) for t in range(1, 13)])
    np.testing.assert_array_equal(analysis.state_jacobians(step, params, xs), expected)
    products = analysis.running_products(analysis.step_jacobians(step, params, xs))
    np.testing.assert_array_equal(products, expected)
    # dh_t/dh_s = 0.5^(t - s) I: the products started at step s.
    s = 4
    np.testing.assert_array_equal(
        analysis.running_products(analysis.step_jacobians(step, params, xs)[s:]), expected[: 12 - s]
    )


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_half_identity_input_jacobians_are_half_powers_times_A_x(activation):
    params = _half_identity_params()
    step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
    jacobians = analysis.input_jacobians(step, params, jnp.zeros((10, F)))
    A_x = np.asarray(params["A"][:, H:])
    np.testing.assert_array_equal(jacobians, np.stack([0.5 ** (t - 1) * A_x for t in range(1, 11)]))
    norms = analysis.jacobian_norms(jacobians)
    np.testing.assert_allclose(norms["frobenius"], 0.5 ** np.arange(10) * np.linalg.norm(A_x), rtol=1e-6)
    np.testing.assert_allclose(norms["spectral"], 0.5 ** np.arange(10) * np.linalg.norm(A_x, 2), rtol=1e-6)


def test_input_jacobian_of_a_later_position_is_zero_before_it():
    step, params = _cell("simple_rnn")
    jacobians = analysis.input_jacobians(step, params, _random_sequence(7), position=3)
    np.testing.assert_array_equal(jacobians[:3], 0.0)
    assert np.all(np.abs(np.asarray(jacobians[3])) > 0)


@pytest.mark.parametrize("activation", ["tanh", "identity", "relu"])
def test_step_jacobian_closed_form_matches_jacrev(activation):
    step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
    params = rnn_jax.init_simple_rnn(jax.random.key(0), F, H)
    params["b"] = jax.random.normal(jax.random.key(2), (H,))
    xs = _random_sequence(9)
    _, hs = rnn_jax.unroll(step, params, xs)
    closed = analysis.simple_rnn_step_jacobians(params, hs, activation)
    np.testing.assert_allclose(closed, analysis.step_jacobians(step, params, xs), rtol=1e-5, atol=1e-6)
    if activation == "tanh":  # diag(1 - h_t^2) @ A_h written out for one t
        t = 4
        np.testing.assert_allclose(
            closed[t], np.diag(1 - np.asarray(hs[t]) ** 2) @ params["A"][:, :H], rtol=1e-6
        )


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_chain_rule_products_times_first_jacobian_equal_input_jacobians(cell):
    step, params = _cell(cell)
    xs = _random_sequence(8)
    jacobians = analysis.input_jacobians(step, params, xs)  # [T, H, F]
    # d state_1 / d x_1 for the flattened state, then the products of the later step Jacobians.
    h0 = rnn_jax.initial_state(step, params)
    flat_first = jax.jacrev(lambda x: jax.flatten_util.ravel_pytree(step(params, h0, x))[0])(xs[0])
    products = analysis.running_products(analysis.step_jacobians(step, params, xs)[1:])
    via_chain = np.concatenate([flat_first[None], products @ flat_first], axis=0)[:, :H]  # h rows
    np.testing.assert_allclose(via_chain, jacobians, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_forward_and_reverse_mode_agree(cell):
    step, params = _cell(cell)
    xs = _random_sequence(6)
    np.testing.assert_allclose(
        analysis.input_jacobians(step, params, xs, mode="forward"),
        analysis.input_jacobians(step, params, xs, mode="reverse"),
        rtol=1e-5,
        atol=1e-7,
    )


# ----------------------------------------------------------------------------- finite differences


def _central_differences(f, x, eps=1e-6):
    """[..., F] Jacobian of f at x by central differences, one input coordinate at a time."""
    columns = []
    for i in range(x.shape[0]):
        e = np.zeros(x.shape)
        e[i] = eps
        columns.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("cell, output", [("simple_rnn", "h"), ("lstm", "h"), ("lstm", "c"), ("gru", "h")])
def test_input_jacobians_match_central_finite_differences_in_float64(cell, output):
    with jax.enable_x64(True):
        step, params = _cell(cell, jnp.float64)
        xs = _random_sequence(5, dtype=jnp.float64)
        h0 = jax.tree_util.tree_map(lambda z: 0.3 * jnp.ones_like(z), rnn_jax.initial_state(step, params))
        position = 1
        jacobians = analysis.input_jacobians(step, params, xs, h0, position=position, output=output)
        assert jacobians.dtype == jnp.float64

        @jax.jit
        def states(x):
            _, hs = rnn_jax.unroll(step, params, xs.at[position].set(x), h0)
            return hs.c if output == "c" else rnn_jax.state_output(hs)

        np.testing.assert_allclose(
            jacobians, _central_differences(states, xs[position]), rtol=1e-7, atol=1e-9
        )
        if cell == "simple_rnn":  # and JAX's own numerical gradient check, both modes
            jax.test_util.check_grads(lambda x: states(x)[-1], (xs[position],), order=1, modes=("rev",))


# ----------------------------------------------------------------------------- dloss/dh_t


def _readout_loss(h_last, hs):
    h = rnn_jax.state_output(h_last)
    return jnp.sum(jnp.sin(h * jnp.arange(1.0, h.shape[-1] + 1)))


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
def test_hidden_state_grads_match_grad_of_the_explicit_continuation(cell):
    step, params = _cell(cell)
    xs = _random_sequence(7)
    loss, grads = analysis.hidden_state_grads(_readout_loss, step, params, xs)
    _, hs = rnn_jax.unroll(step, params, xs)
    np.testing.assert_allclose(loss, _readout_loss(*rnn_jax.unroll(step, params, xs)), rtol=1e-6)
    for t in range(xs.shape[0]):

        def continuation(state_t, t=t):  # the loss as a function of the state after step t + 1
            h = state_t
            for s in range(t + 1, xs.shape[0]):
                h = step(params, h, xs[s])
            return _readout_loss(h, None)

        state_t = jax.tree_util.tree_map(lambda a, t=t: a[t], hs)
        expected = jax.grad(continuation)(state_t)
        got = jax.tree_util.tree_map(lambda a, t=t: a[t], grads)
        jax.tree_util.tree_map(
            lambda g, e: np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6), got, expected
        )


def test_hidden_state_grads_loss_on_all_states_and_padding():
    step, params = _cell("simple_rnn")
    xs = jax.random.normal(jax.random.key(5), (3, 6, F))
    lengths = jnp.array([6, 4, 1])

    def loss_fn(h_last, hs):  # many-to-many: every state enters the loss
        return jnp.sum(hs**2) + jnp.sum(h_last)

    loss, grads = analysis.hidden_state_grads(loss_fn, step, params, xs, lengths=lengths)
    assert grads.shape == (3, 6, H)
    np.testing.assert_array_equal(grads[1, 4:], 0.0)  # padded steps do not affect the loss
    np.testing.assert_array_equal(grads[2, 1:], 0.0)
    # The last real state: its own term 2 h_T plus 1 from h_last, nothing later.
    _, hs = rnn_jax.unroll(step, params, xs, lengths=lengths)
    np.testing.assert_allclose(grads[1, 3], 2 * hs[1, 3] + 1, rtol=1e-5)
    assert np.isfinite(float(loss))


# ----------------------------------------------------------------------------- norms and why tanh


def test_jacobian_norms_match_numpy_and_do_not_overflow():
    matrices = jax.random.normal(jax.random.key(0), (4, 3, 5))
    norms = analysis.jacobian_norms(matrices)
    np.testing.assert_allclose(norms["frobenius"], np.linalg.norm(matrices, axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(norms["spectral"], np.linalg.norm(matrices, ord=2, axis=(1, 2)), rtol=1e-5)
    huge = analysis.jacobian_norms(1e30 * matrices)  # the square would be inf in float32
    np.testing.assert_allclose(huge["frobenius"], 1e30 * np.linalg.norm(matrices, axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(analysis.jacobian_norms(jnp.zeros((2, 3, 3)))["spectral"], 0.0)


def test_stable_norms():
    v = jnp.array([[3.0, 4.0], [3e30, 4e30], [0.0, 0.0], [jnp.inf, 1.0]])
    norms = np.asarray(analysis.stable_norms(v))
    np.testing.assert_allclose(norms[:3], [5.0, 5e30, 0.0], rtol=1e-6)
    assert np.isinf(norms[3]) or np.isnan(norms[3])


@pytest.mark.parametrize("radius, expected", [(0.9, 2.6561398887587544e-05), (1.2, 82817974.52201425)])
def test_scaled_orthogonal_powers_are_exact_in_float64(radius, expected):
    with jax.enable_x64(True):
        A_h = analysis.scaled_orthogonal(jax.random.key(0), 16, radius, jnp.float64)
        np.testing.assert_allclose(A_h @ A_h.T, A_h.T @ A_h, atol=1e-14)  # a normal matrix
        np.testing.assert_allclose(np.abs(np.linalg.eigvals(np.asarray(A_h))), radius, rtol=1e-12)
        params = {"A": jnp.concatenate([A_h, jnp.zeros((16, 1))], axis=1), "b": jnp.zeros(16)}
        h0 = jax.random.normal(jax.random.key(1), (16,), jnp.float64)
        hs = analysis.zero_input_states(params, h0, 100, activation="identity")
        ratio = float(analysis.stable_norms(hs[-1]) / analysis.stable_norms(h0))
        assert ratio == pytest.approx(expected, rel=1e-11)
        assert radius**100 == pytest.approx(expected, rel=1e-12)


def test_zero_input_states_with_tanh_stay_inside_minus_one_one():
    A_h = analysis.scaled_orthogonal(jax.random.key(0), 8, 1.2)
    params = {"A": jnp.concatenate([A_h, jnp.zeros((8, 2))], axis=1), "b": jnp.zeros(8)}
    hs = analysis.zero_input_states(params, jnp.full((8,), 0.5), 300, activation="tanh")
    assert hs.shape == (300, 8)
    assert np.all(np.abs(np.asarray(hs)) < 1.0)


# ----------------------------------------------------------------------------- errors


def test_errors():
    step, params = _cell("simple_rnn")
    xs = _random_sequence(5)
    with pytest.raises(ValueError, match=r"position must lie in \[0, 5\)"):
        analysis.input_jacobians(step, params, xs, position=5)
    with pytest.raises(ValueError, match="output='c' needs an LSTM"):
        analysis.input_jacobians(step, params, xs, output="c")
    with pytest.raises(ValueError, match="unknown mode 'sideways'"):
        analysis.input_jacobians(step, params, xs, mode="sideways")
    with pytest.raises(ValueError, match=r"xs must have shape \[T, F\]"):
        analysis.input_jacobians(step, params, xs[None])
    with pytest.raises(ValueError, match="xs must have at least one time step"):
        analysis.step_jacobians(step, params, xs[:0])
    with pytest.raises(TypeError, match="xs must be a floating-point array"):
        analysis.state_jacobians(step, params, jnp.zeros((4, F), jnp.int32))
    with pytest.raises(ValueError, match=r"hs must have shape \[T, 3\]"):
        analysis.simple_rnn_step_jacobians(params, jnp.zeros((4, 5)))
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        analysis.simple_rnn_step_jacobians(params, jnp.zeros((4, H)), "sigmoid")
    with pytest.raises(ValueError, match=r"jacobians must have shape \[T, S, S\]"):
        analysis.running_products(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="radius must be >= 0"):
        analysis.scaled_orthogonal(jax.random.key(0), 3, -1.0)
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        analysis.zero_input_states(params, jnp.zeros(H), 0)
