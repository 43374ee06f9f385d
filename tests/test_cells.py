"""Tests for rnn_jax.cells: the lecture's formula, parameter counts, LSTM/GRU, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnn_jax
from tests import reference

SIZES = [(1, 1), (3, 5), (32, 32), (7, 16)]  # (input_size, hidden_size)


def _inputs(input_size, hidden_size, batch=(), seed=0):
    key_h, key_x = jax.random.split(jax.random.key(seed))
    h = jax.random.uniform(key_h, (*batch, hidden_size), minval=-1, maxval=1)
    x = jax.random.normal(key_x, (*batch, input_size))
    return h, x


@pytest.mark.parametrize("input_size,hidden_size", SIZES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_init_simple_rnn_shapes_and_count(input_size, hidden_size, use_bias):
    params = rnn_jax.init_simple_rnn(jax.random.key(0), input_size, hidden_size, use_bias=use_bias)
    assert params["A"].shape == (hidden_size, hidden_size + input_size)
    assert ("b" in params) == use_bias
    assert rnn_jax.num_params(params) == rnn_jax.simple_rnn_num_params(
        input_size, hidden_size, use_bias=use_bias
    )


def test_lecture_parameter_count():
    # shape(h) x (shape(h) + shape(x)) + shape(h) = 32 * 64 + 32
    assert rnn_jax.simple_rnn_num_params(32, 32) == 2080
    assert rnn_jax.simple_rnn_num_params(32, 32, use_bias=False) == 2048
    assert rnn_jax.num_params(rnn_jax.init_simple_rnn(jax.random.key(0), 32, 32)) == 2080


@pytest.mark.parametrize("input_size,hidden_size", SIZES)
@pytest.mark.parametrize(
    "activation,numpy_act",
    [("tanh", np.tanh), ("identity", lambda z: z), ("relu", lambda z: np.maximum(z, 0))],
)
def test_simple_rnn_step_is_the_lecture_formula(input_size, hidden_size, activation, numpy_act):
    params = rnn_jax.init_simple_rnn(jax.random.key(1), input_size, hidden_size)
    params["b"] = jax.random.normal(jax.random.key(2), (hidden_size,))  # non-zero bias
    h, x = _inputs(input_size, hidden_size, seed=3)
    got = rnn_jax.simple_rnn_step(params, h, x, activation=activation)
    want = reference.lecture_formula_numpy(params["A"], params["b"], h, x, numpy_act)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_simple_rnn_step_state_comes_first_in_the_concatenation():
    # A = [A_h | A_x]: with A_x = 0 the input must not matter; with A_h = 0 the state must not.
    params = rnn_jax.init_simple_rnn(jax.random.key(0), 3, 4, use_bias=False)
    h, x = _inputs(3, 4, seed=1)
    only_h = {"A": params["A"].at[:, 4:].set(0.0)}
    only_x = {"A": params["A"].at[:, :4].set(0.0)}
    np.testing.assert_allclose(
        rnn_jax.simple_rnn_step(only_h, h, x), jnp.tanh(h @ params["A"][:, :4].T), rtol=1e-6
    )
    np.testing.assert_allclose(
        rnn_jax.simple_rnn_step(only_x, h, x), jnp.tanh(x @ params["A"][:, 4:].T), rtol=1e-6
    )


@pytest.mark.parametrize("batch", [(), (1,), (5,), (2, 3)])
def test_steps_broadcast_over_batch_dimensions(batch):
    params = rnn_jax.init_simple_rnn(jax.random.key(0), 3, 4)
    h, x = _inputs(3, 4, batch, seed=2)
    out = rnn_jax.simple_rnn_step(params, h, x)
    assert out.shape == (*batch, 4)
    flat = jax.vmap(lambda hh, xx: rnn_jax.simple_rnn_step(params, hh, xx))(
        h.reshape(-1, 4), x.reshape(-1, 3)
    )
    np.testing.assert_allclose(out.reshape(-1, 4), flat, rtol=1e-6)


@pytest.mark.parametrize("input_size,hidden_size", SIZES)
def test_lstm_step_matches_numpy(input_size, hidden_size):
    params = rnn_jax.init_lstm(jax.random.key(0), input_size, hidden_size)
    params["b"] = params["b"] + jax.random.normal(jax.random.key(5), params["b"].shape)
    assert params["A"].shape == (4 * hidden_size, hidden_size + input_size)
    h, x = _inputs(input_size, hidden_size, seed=1)
    c = jax.random.normal(jax.random.key(9), (hidden_size,))
    got = rnn_jax.lstm_step(params, rnn_jax.LSTMState(h, c), x)
    want_h, want_c = reference.lstm_numpy(params["A"], params["b"], h, c, x)
    np.testing.assert_allclose(got.h, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.c, want_c, rtol=1e-5, atol=1e-6)


def test_lstm_forget_bias_and_param_count():
    params = rnn_jax.init_lstm(jax.random.key(0), 32, 32, forget_bias=1.0)
    np.testing.assert_array_equal(params["b"][32:64], 1.0)
    np.testing.assert_array_equal(params["b"][:32], 0.0)
    assert rnn_jax.num_params(params) == 4 * rnn_jax.simple_rnn_num_params(32, 32)


@pytest.mark.parametrize("input_size,hidden_size", SIZES)
def test_gru_step_matches_numpy(input_size, hidden_size):
    params = rnn_jax.init_gru(jax.random.key(0), input_size, hidden_size)
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(4), p.shape), params)
    h, x = _inputs(input_size, hidden_size, seed=2)
    np.testing.assert_allclose(
        rnn_jax.gru_step(params, h, x), reference.gru_numpy(params, h, x), rtol=1e-5, atol=1e-6
    )
    assert rnn_jax.num_params(params) == 3 * rnn_jax.simple_rnn_num_params(input_size, hidden_size)


def test_initial_state_structures():
    simple = rnn_jax.init_simple_rnn(jax.random.key(0), 3, 4)
    lstm = rnn_jax.init_lstm(jax.random.key(0), 3, 4)
    gru = rnn_jax.init_gru(jax.random.key(0), 3, 4)
    assert rnn_jax.initial_state(rnn_jax.simple_rnn_step, simple, (2,)).shape == (2, 4)
    assert rnn_jax.initial_state(
        functools.partial(rnn_jax.simple_rnn_step, activation="relu"), simple
    ).shape == (4,)
    state = rnn_jax.initial_state(rnn_jax.lstm_step, lstm, (2,))
    assert isinstance(state, rnn_jax.LSTMState) and state.c.shape == (2, 4)
    assert rnn_jax.initial_state(rnn_jax.gru_step, gru, (5,)).shape == (5, 4)
    assert rnn_jax.state_output(state) is state.h


def test_dtype_is_respected():
    params = rnn_jax.init_simple_rnn(jax.random.key(0), 3, 4, dtype=jnp.bfloat16)
    assert params["A"].dtype == jnp.bfloat16 and params["b"].dtype == jnp.bfloat16


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(input_size=0, hidden_size=4), ValueError, "input_size must be a positive int, got 0"),
        (dict(input_size=3, hidden_size=-2), ValueError, "hidden_size must be a positive int, got -2"),
        (dict(input_size=3.0, hidden_size=4), TypeError, "input_size must be a positive int"),
        (
            dict(input_size=3, hidden_size=4, recurrent_init="xavier"),
            ValueError,
            "unknown recurrent_init 'xavier'; expected one of 'orthogonal', 'identity', 'random'",
        ),
        (dict(input_size=3, hidden_size=4, input_init="he"), ValueError, "unknown input_init 'he'"),
        (dict(input_size=3, hidden_size=4, recurrent_scale=-1.0), ValueError, "recurrent_scale must be >= 0"),
        (dict(input_size=3, hidden_size=4, dtype=jnp.int32), TypeError, "dtype must be a floating dtype"),
    ],
)
def test_init_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        rnn_jax.init_simple_rnn(jax.random.key(0), **kwargs)


def test_step_errors_name_argument_and_shapes():
    params = rnn_jax.init_simple_rnn(jax.random.key(0), 3, 4)
    h, x = _inputs(3, 4, (2,))
    with pytest.raises(
        ValueError,
        match=r"x_t must have shape \[\.\.\., 3\] to match params\['A'\] of shape "
        r"\(4, 7\), got \(2, 5\)",
    ):
        rnn_jax.simple_rnn_step(params, h, jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"h must have shape \[\.\.\., 4\].*got \(2, 6\)"):
        rnn_jax.simple_rnn_step(params, jnp.zeros((2, 6)), x)
    with pytest.raises(TypeError, match="x_t must be a floating-point array, got dtype int32"):
        rnn_jax.simple_rnn_step(params, h, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        rnn_jax.simple_rnn_step(params, h, x, activation="sigmoid")
    with pytest.raises(ValueError, match="simple_rnn params is missing 'A'"):
        rnn_jax.simple_rnn_step({"W": params["A"]}, h, x)
    with pytest.raises(TypeError, match=r"simple_rnn params\['A'\] must be a floating-point array"):
        rnn_jax.simple_rnn_step({"A": params["A"].astype(jnp.int32)}, h, x)
    with pytest.raises(ValueError, match=r"params\['A'\] must have shape"):
        rnn_jax.simple_rnn_step({"A": params["A"][:, :3]}, h, x)
    with pytest.raises(TypeError, match="simple_rnn params must be a dict"):
        rnn_jax.simple_rnn_step([params["A"]], h, x)


def test_lstm_errors():
    params = rnn_jax.init_lstm(jax.random.key(0), 3, 4)
    with pytest.raises(TypeError, match=r"lstm state must be an LSTMState\(h, c\), got ArrayImpl"):
        rnn_jax.lstm_step(params, jnp.zeros(4), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"x_t must have shape \[\.\.\., 3\]"):
        rnn_jax.lstm_step(params, rnn_jax.LSTMState(jnp.zeros(4), jnp.zeros(4)), jnp.zeros(2))


def test_initial_state_needs_A():
    with pytest.raises(ValueError, match="h0=None needs params with an 'A' matrix"):
        rnn_jax.initial_state(lambda p, h, x: h, {"W": jnp.zeros((2, 2))})
