"""Tests of rnn_jax.studies.sentiment.pretrained_start's measurement (how far back a start's last state
reads) and of `imdb.rescale_recurrence`. The study on finished language-model runs, and the
`--pretrained_radius` start of a classifier run, are tested in test_studies_pretrain.py (its tiny
language models)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.core import cells
from rnn_jax.core.analysis import input_jacobians
from rnn_jax.core.initializers import spectral_radius
from rnn_jax.studies.sentiment import imdb, pretrained_start

# ----------------------------------------------------------------------------- the measurement


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm"])
def test_reach_is_the_last_row_of_the_input_jacobians(cell):
    """norms[n, k] = ||d h_T / d x_{T-k}||, against the core's jacfwd Jacobians of each position."""
    init = {"simple_rnn": cells.init_simple_rnn, "lstm": cells.init_lstm}[cell]
    step = pretrained_start.STEP_FUNCTIONS[cell]
    params = init(jax.random.key(0), 3, 5)
    xs = jax.random.normal(jax.random.key(1), (2, 7, 3))
    norms, _ = pretrained_start.reach(step, params, xs)
    assert norms.shape == (2, 7)
    for k in (0, 6):  # the last word and the first
        expected = jnp.linalg.norm(input_jacobians(step, params, xs[1], position=6 - k)[-1])
        np.testing.assert_allclose(norms[1, k], expected, rtol=1e-5, atol=1e-7)
    assert norms[1, 6] < norms[1, 0]  # the first word reaches h_T through six more steps


def test_saturated_fraction_counts_the_flat_tails():
    """A large recurrence drives |h| to 1: the fraction is computed against a plain NumPy loop."""
    params = cells.init_simple_rnn(jax.random.key(0), 2, 4, recurrent_scale=3.0)
    xs = 3.0 * jax.random.normal(jax.random.key(1), (1, 20, 2))
    _, saturated = pretrained_start.reach(cells.simple_rnn_step, params, xs)
    a, b, h, states = np.asarray(params["A"]), np.asarray(params["b"]), np.zeros(4), []
    for x in np.asarray(xs[0]):
        h = np.tanh(a @ np.concatenate([h, x]) + b)
        states.append(h)
    expected = np.mean(np.abs(np.stack(states)) > pretrained_start.SATURATED)
    assert 0 < expected < 1
    np.testing.assert_allclose(saturated[0], expected)


# ----------------------------------------------------------------------------- the rescaled start


def test_rescale_recurrence_sets_the_radius_and_keeps_the_rest():
    params = cells.init_simple_rnn(jax.random.key(0), 3, 6, recurrent_init="random", recurrent_scale=2.15)
    params = {**params, "b": jnp.arange(6.0)}
    scaled, radii = imdb.rescale_recurrence(params, 6, 0.9)
    assert spectral_radius(scaled["A"][:, :6]) == pytest.approx(0.9, rel=1e-5)
    assert radii == {
        "lm_recurrent_radius": pytest.approx(2.15, rel=1e-5),
        "recurrent_radius": 0.9,
        "input_scale": 1.0,
        "orthogonal": False,
    }
    np.testing.assert_array_equal(scaled["A"][:, 6:], params["A"][:, 6:])  # A_x untouched
    np.testing.assert_array_equal(scaled["b"], params["b"])
    same, radii = imdb.rescale_recurrence(params, 6, None)
    assert same is params and radii["recurrent_radius"] == radii["lm_recurrent_radius"]


def test_rescale_recurrence_orthogonal_is_the_polar_factor():
    params = cells.init_simple_rnn(jax.random.key(2), 3, 6, recurrent_init="random", recurrent_scale=2.15)
    a_h = np.asarray(params["A"][:, :6], np.float64)
    polar, radii = imdb.rescale_recurrence(params, 6, None, orthogonal=True)
    q = np.asarray(polar["A"][:, :6], np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-5)  # orthogonal: every singular value 1
    p = q.T @ a_h  # A_h = Q P with P = V S V^T symmetric positive definite
    np.testing.assert_allclose(p, p.T, atol=1e-5)
    assert np.all(np.linalg.eigvalsh((p + p.T) / 2) > 0)
    np.testing.assert_array_equal(polar["A"][:, 6:], params["A"][:, 6:])
    assert radii["orthogonal"] is True and radii["recurrent_radius"] == 1.0
    assert radii["lm_recurrent_radius"] == pytest.approx(2.15, rel=1e-5)
    scaled, radii = imdb.rescale_recurrence(params, 6, 0.9, orthogonal=True)
    singular = np.linalg.svd(np.asarray(scaled["A"][:, :6]), compute_uv=False)
    np.testing.assert_allclose(singular, 0.9, rtol=1e-5)
    assert radii["recurrent_radius"] == 0.9


def test_rescale_recurrence_scales_the_input_block_alone():
    params = cells.init_simple_rnn(jax.random.key(1), 3, 6, recurrent_init="random", recurrent_scale=2.15)
    scaled, radii = imdb.rescale_recurrence(params, 6, None, input_scale=0.25)
    np.testing.assert_allclose(scaled["A"][:, 6:], 0.25 * params["A"][:, 6:], rtol=1e-6)  # A_x * 0.25
    np.testing.assert_array_equal(scaled["A"][:, :6], params["A"][:, :6])  # A_h as it was
    assert radii["input_scale"] == 0.25 and radii["recurrent_radius"] == radii["lm_recurrent_radius"]
    both, _ = imdb.rescale_recurrence(params, 6, 1.0, input_scale=0.5)
    assert spectral_radius(both["A"][:, :6]) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(both["A"][:, 6:], 0.5 * params["A"][:, 6:], rtol=1e-6)
