"""Tests for rnn_jax.initializers: spectral radii, orthogonality, the lecture's 0.9^100 / 1.2^100."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnn_jax
from rnn_jax.core import initializers


@pytest.mark.parametrize("init", ["orthogonal", "identity", "random"])
@pytest.mark.parametrize("scale", [0.5, 0.9, 1.2])
def test_recurrent_weights_have_the_requested_spectral_radius(init, scale):
    a_h = initializers.recurrent_weights(jax.random.key(0), 16, init, scale)
    assert a_h.shape == (16, 16)
    assert rnn_jax.spectral_radius(a_h) == pytest.approx(scale, rel=1e-5)


def test_orthogonal_is_scaled_orthogonal():
    a_h = np.asarray(initializers.recurrent_weights(jax.random.key(1), 8, "orthogonal", 0.9), np.float64)
    np.testing.assert_allclose(a_h @ a_h.T, 0.81 * np.eye(8), atol=1e-5)


@pytest.mark.parametrize("scale,expected", [(0.9, 0.9**100), (1.2, 1.2**100)])
def test_lecture_powers_are_exact_for_the_scaled_orthogonal_matrix(scale, expected):
    # A normal matrix with every |eigenvalue| = scale: ||A^100 v|| / ||v|| = scale^100 for every v.
    a_h = np.asarray(initializers.recurrent_weights(jax.random.key(2), 8, "orthogonal", scale), np.float64)
    v = np.asarray(jax.random.normal(jax.random.key(3), (8,)), np.float64)
    ratio = np.linalg.norm(np.linalg.matrix_power(a_h, 100) @ v) / np.linalg.norm(v)
    assert ratio == pytest.approx(expected, rel=1e-4)


def test_identity_init_is_irnn():
    np.testing.assert_array_equal(
        initializers.recurrent_weights(jax.random.key(0), 4, "identity", 1.0), jnp.eye(4)
    )


@pytest.mark.parametrize("init", ["lecun", "glorot"])
def test_input_weights_variance(init):
    w = initializers.input_weights(jax.random.key(0), 256, 128, init)
    assert w.shape == (256, 128)
    # lecun normal: var = 1 / fan_in; glorot uniform: var = 2 / (fan_in + fan_out)
    want = 1 / 128 if init == "lecun" else 2 / (128 + 256)
    assert float(jnp.var(w)) == pytest.approx(want, rel=0.1)


def test_initializer_errors():
    with pytest.raises(ValueError, match="unknown input_init 'uniform'"):
        initializers.input_weights(jax.random.key(0), 3, 4, "uniform")
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        initializers.recurrent_weights(jax.random.key(0), 0)
