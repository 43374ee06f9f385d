"""Tests of rnn_jax.studies.next_word.context_usage on small random language models: each measurement against
a second way of computing it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.models.language_model import LanguageModel, init_params, token_losses
from rnn_jax.studies.next_word import context_usage as cu

V = 23


@pytest.fixture(scope="module", params=["simple_rnn", "lstm"])
def model_and_params(request):
    model = LanguageModel(num_ids=V, embedding_size=8, hidden_size=8, cell=request.param)
    return model, init_params(model, jax.random.key(0))


STREAM = np.random.default_rng(1).integers(0, V, 400).astype(np.int32)


def test_contexts_and_positions():
    positions = cu.sample_positions(STREAM, 30, 50, seed=2)
    assert len(np.unique(positions)) == 30 and positions.min() >= 50
    ids = cu.contexts(STREAM, positions, 7)
    np.testing.assert_array_equal(ids[3], STREAM[positions[3] - 7 : positions[3]])
    with pytest.raises(ConfigError, match="no position"):
        cu.sample_positions(STREAM[:10], 5, 20)


def test_loss_by_context_matches_a_full_window(model_and_params):
    model, params = model_and_params
    positions = cu.sample_positions(STREAM, 12, 20)
    got = cu.loss_by_context(model, params, STREAM, positions, ns=(5, 20))
    for n in (5, 20):  # the window ids[t-n : t+1] read as one many-to-many window: its last loss
        windows = np.stack([STREAM[t - n : t + 1] for t in positions])
        logits, _ = model.apply(
            {"params": params}, jnp.asarray(windows[:, :-1]), model.init_carry(len(positions))
        )
        want = token_losses(logits, jnp.asarray(windows[:, 1:]))[:, -1].mean()
        np.testing.assert_allclose(got[n], float(want), rtol=1e-5)


def test_effective_context():
    assert cu.effective_context({1: 5.0, 5: 4.03, 20: 4.02, 200: 4.0}) == 5  # within 1 %
    assert cu.effective_context({1: 5.0, 5: 4.1, 20: 4.02, 200: 4.0}) == 20
    assert cu.effective_context({1: 4.0, 200: 4.0}) == 1


def test_perturbations_keep_what_they_should():
    rng = np.random.default_rng(0)
    ids = np.arange(40).reshape(2, 20)
    shuffled = cu.perturb_far_context(ids, 5, "shuffle", rng)
    np.testing.assert_array_equal(shuffled[:, -5:], ids[:, -5:])  # the nearest k tokens intact
    np.testing.assert_array_equal(np.sort(shuffled[:, :15], axis=1), ids[:, :15])  # same words, other order
    assert not np.array_equal(shuffled, ids)
    replaced = cu.perturb_far_context(ids, 5, "replace", rng, replacement=np.full((2, 20), 99))
    assert (replaced[:, :15] == 99).all() and np.array_equal(replaced[:, -5:], ids[:, -5:])
    with pytest.raises(ConfigError, match="unknown mode"):
        cu.perturb_far_context(ids, 5, "reverse", rng)


def test_gradient_norms_are_each_positions_own_derivative(model_and_params):
    model, params = model_and_params
    positions = cu.sample_positions(STREAM, 6, 30)
    norms = cu.input_gradient_norms(model, params, STREAM, positions, n=30, chunk=4)
    want = np.zeros(30)
    for t in positions:  # one position at a time: no batching to get wrong
        ids = jnp.asarray(STREAM[None, t - 30 : t])
        xs = model.apply({"params": params}, ids, method="embed")
        target = jnp.asarray([STREAM[t]])
        g = jax.grad(lambda x, y=target: cu._target_log_probs(model, params, x, y).sum())(xs)
        want += np.linalg.norm(np.asarray(g[0]), axis=-1)[::-1]
    np.testing.assert_allclose(norms, want / len(positions), rtol=1e-4)
    assert norms.shape == (30,) and np.all(norms >= 0)


def test_far_context_perturbation_does_nothing_beyond_the_context(model_and_params):
    model, params = model_and_params
    positions = cu.sample_positions(STREAM, 8, 20)
    result = cu.loss_with_far_context_perturbed(model, params, STREAM, positions, STREAM, n=20, ks=(20, 5))
    assert result["shuffle"][20] == 0.0 and result["replace"][20] == 0.0  # nothing is farther than n
    assert set(result) == {"shuffle", "replace"}


def test_cue_probabilities_are_the_next_word_distribution(model_and_params):
    model, params = model_and_params
    cue, filler, prompt = STREAM[:4], STREAM[10:60], STREAM[:2]
    p = cu.cue_probabilities(model, params, cue, filler, prompt, answers=(3, 5), gaps=(0, 10, 50))
    assert set(p) == {0, 10, 50} and all(0 < v < 1 for row in p.values() for v in row)
    ids = np.concatenate([cue, filler[:10], prompt])[None].astype(np.int32)
    logits, _ = model.apply({"params": params}, jnp.asarray(ids), model.init_carry(1))
    np.testing.assert_allclose(p[10], np.asarray(jax.nn.softmax(logits[0, -1]))[[3, 5]], rtol=1e-5)
    with pytest.raises(ConfigError, match="shorter than the largest gap"):
        cu.cue_probabilities(model, params, cue, STREAM[:5], prompt, answers=(3,), gaps=(10,))


def test_cue_scores():
    steered = np.full((3, 3), 0.1) + np.eye(3) * 0.5  # each cue makes its own answer 6x as likely
    assert cu.cue_scores(steered) == pytest.approx({"accuracy": 1.0, "lift": np.log(6.0)})
    ignored = np.tile([0.2, 0.1, 0.05], (3, 1))  # the same distribution whatever the cue
    assert cu.cue_scores(ignored) == pytest.approx({"accuracy": 1 / 3, "lift": 0.0})


def test_measure_and_plot(model_and_params, tmp_path):
    model, params = model_and_params
    result = cu.measure(model, params, STREAM, STREAM, num_positions=10, ns=(1, 5, 20))
    assert result["effective_context"] in (1, 5, 20) and len(result["gradient_norms"]) == 20
    cu.plot_context_usage({"tiny": result}, tmp_path / "context.png")
    assert (tmp_path / "context.png").stat().st_size > 1000
