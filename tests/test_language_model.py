"""Tests of rnn_jax.models.language_model: shapes, stateful windows against one unroll, tying, gradients."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import LSTMState, unroll
from rnn_jax.data.lm_corpus import get_window, windows
from rnn_jax.errors import ConfigError
from rnn_jax.models.language_model import (
    CELLS,
    LanguageModel,
    detach_carry,
    init_params,
    perplexity,
    reset_flags,
    token_losses,
)

V = 37


def _ids(batch, length, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, V, size=(batch, length)), jnp.int32)


def _model(cell="simple_rnn", num_layers=1, **options):
    return LanguageModel(
        V,
        options.pop("embedding_size", 6),
        options.pop("hidden_size", 6),
        cell=cell,
        num_layers=num_layers,
        **options,
    )


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("batch", "window", "num_layers", "tied"), [(1, 1, 1, False), (3, 35, 3, True)])
def test_shapes(cell, batch, window, num_layers, tied):
    model = _model(cell, num_layers, tie_embeddings=tied)
    params = init_params(model, jax.random.key(0))
    carry = model.init_carry(batch)
    logits, new_carry = jax.jit(model.apply)({"params": params}, _ids(batch, window), carry)
    assert logits.shape == (batch, window, V) and logits.dtype == jnp.float32
    assert len(new_carry) == num_layers
    assert jax.tree_util.tree_structure(new_carry) == jax.tree_util.tree_structure(carry)
    for leaf in jax.tree_util.tree_leaves(new_carry):
        assert leaf.shape == (batch, 6)
    if cell == "lstm":
        assert all(isinstance(state, LSTMState) for state in new_carry)
    assert np.all(np.isfinite(logits))


def test_parameter_layout():
    params = init_params(_model("simple_rnn", embedding_size=5, hidden_size=4), jax.random.key(0))
    assert params["embedding"]["embedding"].shape == (V, 5)
    assert params["rnn"]["A"].shape == (4, 4 + 5) and params["rnn"]["b"].shape == (4,)  # the lecture's A
    assert params["output"]["kernel"].shape == (4, V) and params["output"]["bias"].shape == (V,)
    stacked = init_params(_model("gru", 2), jax.random.key(0))
    assert set(stacked["rnn"]) == {"layer_0", "layer_1"}


def _jitted_run(model):
    """jit(ids, carry -> (logits, top states, new carry)): one compilation per window shape."""

    def run(params, ids, carry):
        xs, resets = model.apply(params, ids, method="embed"), reset_flags(model, ids)
        hs, _ = model.apply(params, xs, carry, resets=resets, method="recur")
        logits, new_carry = model.apply(params, ids, carry)
        return logits, hs, new_carry

    return jax.jit(run)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(
    ("num_layers", "window", "softmax", "reset_id"), [(1, 4, "full", None), (2, 7, "adaptive", 3)]
)
def test_stateful_windows_equal_one_unroll_over_the_row(cell, num_layers, window, softmax, reset_id):
    model = _model(
        cell, num_layers, embedding_size=5, hidden_size=7, softmax=softmax, cutoffs=(5, 20), reset_id=reset_id
    )
    params = {"params": init_params(model, jax.random.key(1))}
    run = _jitted_run(model)
    rows = np.array(_ids(3, 24, seed=2))
    if reset_id is not None:  # resets in the middle of a window and on a window's first step
        rows[:, [5, 7, 14]] = reset_id
    # the whole row at once (its last column is only a target)
    whole_logits, whole_hs, whole_carry = run(params, rows[:, :-1], model.init_carry(3))
    # window by window, the state carried (with its gradient cut) from one to the next
    carry, logits, states = model.init_carry(3), [], []
    for i in windows(rows.shape[1], window):
        inputs, _ = get_window(rows, int(i), window)
        window_logits, hs, carry = run(params, inputs, carry)
        carry = detach_carry(carry)
        logits.append(window_logits)
        states.append(hs)
    np.testing.assert_allclose(np.concatenate(logits, axis=1), whole_logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(states, axis=1), whole_hs, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(carry), jax.tree_util.tree_leaves(whole_carry), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_states_are_the_cores_unroll(cell):
    model = _model(cell, embedding_size=5, hidden_size=4)
    params = init_params(model, jax.random.key(3))
    ids = _ids(2, 9, seed=4)
    h0 = jax.tree_util.tree_map(lambda z: z + 0.3, model.init_carry(2))  # a non-zero carried state
    xs = params["embedding"]["embedding"][ids]  # [B, K, E]
    _, hs = unroll(CELLS[cell][1], params["rnn"], xs, h0[0], strategy="step")
    hs = hs.h if cell == "lstm" else hs
    logits, _ = model.apply({"params": params}, ids, h0)
    expected = hs @ params["output"]["kernel"] + params["output"]["bias"]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_tied_embeddings_share_one_array():
    model = _model("simple_rnn", tie_embeddings=True)
    params = init_params(model, jax.random.key(0))
    assert "output" not in params and params["output_bias"].shape == (V,)
    ids = _ids(2, 6)
    hs, _ = model.apply(
        {"params": params},
        model.apply({"params": params}, ids, method="embed"),
        model.init_carry(2),
        method="recur",
    )
    logits, _ = model.apply({"params": params}, ids, model.init_carry(2))
    np.testing.assert_allclose(
        logits, hs @ params["embedding"]["embedding"].T + params["output_bias"], rtol=1e-5, atol=1e-6
    )

    # the output layer reads every row of the table: rows of ids absent from the input get a gradient
    # when tied, none when untied
    def row_grads(model):
        p = init_params(model, jax.random.key(0))
        loss = lambda p: jnp.mean(token_losses(model.apply({"params": p}, ids, model.init_carry(2))[0], ids))
        return np.abs(np.asarray(jax.grad(loss)(p)["embedding"]["embedding"])).sum(axis=1)

    absent = np.setdiff1d(np.arange(V), np.asarray(ids))
    assert np.all(row_grads(model)[absent] > 0)
    assert np.all(row_grads(_model("simple_rnn"))[absent] == 0)


@pytest.mark.parametrize(("cell", "tied"), [("simple_rnn", True), ("lstm", False), ("gru", False)])
def test_gradient_flows_to_every_parameter_and_to_the_carry(cell, tied):
    model = _model(cell, 2, tie_embeddings=tied)
    params = init_params(model, jax.random.key(5))
    rows = _ids(3, 11, seed=6)
    inputs, targets = rows[:, :-1], rows[:, 1:]
    carry = jax.tree_util.tree_map(lambda z: z + 0.1, model.init_carry(3))

    def loss(params, carry, detach):
        carry = detach_carry(carry) if detach else carry
        logits, _ = model.apply({"params": params}, inputs, carry)
        return jnp.mean(token_losses(logits, targets))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    grads, carry_grads = grad(params, carry, False)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)) and np.any(g != 0), jax.tree_util.keystr(path)
    assert any(np.any(g != 0) for g in jax.tree_util.tree_leaves(carry_grads))
    _, cut = grad(params, carry, True)
    assert all(np.all(g == 0) for g in jax.tree_util.tree_leaves(cut))  # detach_carry stops BPTT


@pytest.mark.parametrize("tied", [False, True])
def test_a_uniform_model_has_perplexity_V(tied):
    model = _model("lstm", tie_embeddings=tied)
    params = init_params(model, jax.random.key(0))
    if tied:  # zero word vectors and bias: zero logits whatever the states
        params = {**params, "embedding": {"embedding": jnp.zeros((V, 6))}, "output_bias": jnp.zeros(V)}
    else:
        params = {**params, "output": jax.tree_util.tree_map(jnp.zeros_like, params["output"])}
    rows = _ids(4, 30, seed=7)
    logits, _ = model.apply({"params": params}, rows[:, :-1], model.init_carry(4))
    np.testing.assert_allclose(token_losses(logits, rows[:, 1:]), np.log(V), rtol=1e-6)
    np.testing.assert_allclose(perplexity(logits, rows[:, 1:]), V, rtol=1e-5)


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_losses_are_the_distributions_negative_log_probability(softmax):
    """`losses` (the training path: targets only) against log softmax of the whole logits."""
    model = _model("gru", softmax=softmax, cutoffs=(5, 20))
    params = {"params": init_params(model, jax.random.key(4))}
    rows, carry = _ids(3, 10, seed=5), model.init_carry(3)
    logits, want_carry = model.apply(params, rows[:, :-1], carry)
    np.testing.assert_allclose(
        np.exp(jax.nn.logsumexp(logits, axis=-1)) if softmax == "adaptive" else 1.0, 1.0, rtol=1e-5
    )
    losses, got_carry = jax.jit(functools.partial(model.apply, method="losses"))(
        params, rows[:, :-1], rows[:, 1:], carry
    )
    np.testing.assert_allclose(losses, token_losses(logits, rows[:, 1:]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_carry[0], want_carry[0], rtol=1e-6)


def test_token_losses_against_softmax():
    logits = jax.random.normal(jax.random.key(0), (2, 3, V))
    targets = _ids(2, 3, seed=8)
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    expected = -np.log(np.take_along_axis(probs, np.asarray(targets)[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(token_losses(logits, targets), expected, rtol=1e-5)


def test_dropout_only_while_training():
    model = _model("gru", 2, dropout=0.5)
    params = {"params": init_params(model, jax.random.key(0))}
    ids, carry = _ids(2, 5), model.init_carry(2)
    plain, _ = model.apply(params, ids, carry)
    np.testing.assert_array_equal(plain, model.apply(params, ids, carry, train=False)[0])
    train = jax.jit(lambda key: model.apply(params, ids, carry, train=True, rngs={"dropout": key})[0])
    a, b, c = train(jax.random.key(1)), train(jax.random.key(1)), train(jax.random.key(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain) and not np.allclose(a, c)


def test_jit_agrees():
    model = _model("simple_rnn", 2)
    params = {"params": init_params(model, jax.random.key(0))}
    ids, carry = _ids(3, 8), model.init_carry(3)
    jitted = jax.jit(model.apply)(params, ids, carry)
    eager = model.apply(params, ids, carry)
    for a, b in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cell": "transformer"}, "unknown cell 'transformer'"),
        ({"tie_embeddings": True, "hidden_size": 8}, "tie_embeddings needs hidden_size == embedding_size"),
        ({"dropout": 1.0}, "dropout must lie in \\[0, 1\\)"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"hidden_size": 0}, "hidden_size must be a positive int"),
        ({"strategy": "fast"}, "unknown strategy 'fast'"),
        ({"softmax": "sampled"}, "unknown softmax 'sampled'"),
        (
            {"softmax": "adaptive", "cutoffs": (20, 40)},
            "cutoffs must increase strictly and lie in \\(0, 37\\)",
        ),
        (
            {"softmax": "adaptive", "cutoffs": (5,), "tie_embeddings": True},
            "tie_embeddings needs softmax='full'",
        ),
        ({"reset_id": 37}, "reset_id must be None or an id in \\[0, 37\\), got 37"),
        ({"reset_id": True}, "reset_id must be None or an id"),
    ],
)
def test_bad_settings(options, message):
    with pytest.raises(ConfigError, match=message):
        _model(**options)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_reset_id_reads_each_review_from_a_zero_state(cell):
    """After the end-of-review id the outputs do not depend on the earlier review or on the carry."""
    model, plain = _model(cell, 2, reset_id=0), _model(cell, 2)
    params = {"params": init_params(model, jax.random.key(3))}
    first, second = np.array(_ids(2, 9, seed=4)), np.array(_ids(2, 6, seed=5))
    first[first == 0], second[second == 0] = 1, 1  # the only end-of-review id: the one placed below
    ids = jnp.asarray(np.concatenate([first, np.zeros((2, 1), np.int32), second], axis=1))
    carry = jax.tree_util.tree_map(lambda s: s + 0.7, model.init_carry(2))
    logits, _ = model.apply(params, ids, carry)
    alone, _ = model.apply(params, ids[:, 9:], model.init_carry(2))  # the EOS, then the review
    np.testing.assert_allclose(logits[:, 9:], alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain.apply(params, ids, carry)[0][:, :9], logits[:, :9], rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain.apply(params, ids, carry)[0][:, 9:], alone, atol=1e-3)


def test_carry_with_the_wrong_number_of_layers():
    model = _model("simple_rnn", 2)
    params = {"params": init_params(model, jax.random.key(0))}
    with pytest.raises(ConfigError, match="carry must hold one state per layer \\(2\\), got 1"):
        model.apply(params, _ids(2, 3), model.init_carry(2)[:1])
    with pytest.raises(ConfigError, match="batch_size must be a positive int"):
        model.init_carry(0)
