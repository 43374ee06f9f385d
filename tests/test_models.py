"""Tests of rnn_jax.models: parameter layout and counts, shapes, padding, agreement with the core."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import init_simple_rnn, num_params, simple_rnn_step, unroll
from rnn_jax.models.classifiers import MODELS, build_model, init_params


@dataclasses.dataclass(frozen=True)
class Config:
    model: str = "simple_rnn"
    vocab_size: int = 50
    seq_len: int = 9
    embedding_size: int = 6
    hidden_size: int = 5
    num_layers: int = 2
    padding: str = "post"
    embedding_dropout: float = 0.0


def _inputs(batch=4, seq_len=9, num_ids=52, seed=0):
    rng = np.random.default_rng(seed)
    lengths = jnp.asarray(rng.integers(1, seq_len + 1, batch), jnp.int32)
    ids = rng.integers(2, num_ids, (batch, seq_len))
    ids = np.where(np.arange(seq_len) < np.asarray(lengths)[:, None], ids, 0)  # post padding
    return jnp.asarray(ids, jnp.int32), lengths


def test_lecture_simple_rnn_layer_has_2080_parameters_under_params_rnn():
    config = Config(vocab_size=10_000, seq_len=500, embedding_size=32, hidden_size=32)
    model = build_model(config)
    params = jax.eval_shape(lambda: init_params(model, jax.random.key(0), 500))
    assert {k: v.shape for k, v in params["rnn"].items()} == {"A": (32, 64), "b": (32,)}
    assert num_params(params["rnn"]) == 2_080
    assert params["embedding"]["embedding"].shape == (10_002, 32)
    assert num_params(params) == 10_002 * 32 + 2_080 + 33


@pytest.mark.parametrize(
    "name, rnn_shapes, head_in",
    [
        ("logreg", None, 9 * 6),
        ("simple_rnn", {"A": (5, 11), "b": (5,)}, 5),
        ("lstm", {"A": (20, 11), "b": (20,)}, 5),
        ("gru", {"A": (10, 11), "b": (10,), "A_candidate": (5, 11), "b_candidate": (5,)}, 5),
        ("birnn", {"forward": {"A": (5, 11), "b": (5,)}, "backward": {"A": (5, 11), "b": (5,)}}, 10),
        ("stacked", {"layer_0": {"A": (5, 11), "b": (5,)}, "layer_1": {"A": (5, 10), "b": (5,)}}, 5),
    ],
)
def test_parameter_layout_and_logits(name, rnn_shapes, head_in):
    model = build_model(Config(model=name))
    params = init_params(model, jax.random.key(1), 9)
    shapes = jax.tree_util.tree_map(lambda x: x.shape, params)
    assert shapes.get("rnn") == rnn_shapes
    assert shapes["head"] == {"kernel": (head_in, 1), "bias": (1,)}
    ids, lengths = _inputs()
    logits = model.apply({"params": params}, ids, lengths)
    assert logits.shape == (4,) and logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(logits)))


def test_stacked_with_three_layers():
    params = init_params(build_model(Config(model="stacked", num_layers=3)), jax.random.key(0), 9)
    assert sorted(params["rnn"]) == ["layer_0", "layer_1", "layer_2"]


def test_simple_rnn_equals_embedding_core_unroll_and_dense():
    """Two ways agree: the Flax module vs the lecture's formula spelled out with the core."""
    model = build_model(Config())
    params = init_params(model, jax.random.key(2), 9)
    ids, lengths = _inputs(seed=3)
    xs = params["embedding"]["embedding"][ids]  # [B, T, E]
    h_last, _ = unroll(simple_rnn_step, params["rnn"], xs, lengths=lengths)
    expected = h_last @ params["head"]["kernel"][:, 0] + params["head"]["bias"][0]
    np.testing.assert_allclose(model.apply({"params": params}, ids, lengths), expected, rtol=1e-5, atol=1e-6)
    # The recurrence starts as the core initialiser builds it.
    fresh = init_simple_rnn(jax.random.key(0), 6, 5)
    assert params["rnn"]["A"].shape == fresh["A"].shape and not jnp.any(params["rnn"]["b"])


@pytest.mark.parametrize("name", ["simple_rnn", "lstm", "gru", "birnn", "stacked"])
def test_post_padding_content_is_ignored(name):
    """With post padding and lengths, what sits in the padded positions cannot change the logits."""
    model = build_model(Config(model=name))
    params = init_params(model, jax.random.key(4), 9)
    ids, lengths = _inputs(seed=5)
    garbage = jnp.where(jnp.arange(9) < lengths[:, None], ids, 7)
    np.testing.assert_allclose(
        model.apply({"params": params}, ids, lengths),
        model.apply({"params": params}, garbage, lengths),
        rtol=1e-6,
        atol=1e-6,
    )


def test_pre_padding_reads_the_padding_like_keras():
    model = build_model(Config(padding="pre"))
    params = init_params(model, jax.random.key(4), 9)
    ids = jnp.asarray([[0, 0, 0, 5, 6, 7, 8, 9, 10]], jnp.int32)
    lengths = jnp.asarray([6], jnp.int32)
    without_padding = jnp.asarray([[5, 6, 7, 8, 9, 10]], jnp.int32)
    a = model.apply({"params": params}, ids, lengths)
    b = model.apply({"params": params}, without_padding, lengths)
    assert not np.allclose(a, b)  # the padding embeddings went through the RNN (no mask)


def test_dropout_only_while_training():
    model = build_model(Config(embedding_dropout=0.5))
    params = init_params(model, jax.random.key(0), 9)
    ids, lengths = _inputs()
    eval_logits = model.apply({"params": params}, ids, lengths)
    np.testing.assert_allclose(eval_logits, build_model(Config()).apply({"params": params}, ids, lengths))
    train_logits = model.apply(
        {"params": params}, ids, lengths, train=True, rngs={"dropout": jax.random.key(1)}
    )
    assert not np.allclose(train_logits, eval_logits)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model": "transformer"}, "unknown model 'transformer'; expected one of 'logreg'"),
        ({"seq_len": 0}, "seq_len must be a positive int"),
        ({"vocab_size": 0}, "vocab_size must be a positive int"),
        ({"hidden_size": -3}, "hidden_size must be a positive int"),
        ({"embedding_size": 2.5}, "embedding_size must be a positive int"),
        ({"model": "stacked", "num_layers": 1}, "needs num_layers >= 2"),
        ({"padding": "left"}, "unknown padding 'left'"),
        ({"embedding_dropout": 1.0}, r"embedding_dropout must lie in \[0, 1\)"),
    ],
)
def test_build_model_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        build_model(dataclasses.replace(Config(), **changes))


def test_every_model_name_builds():
    assert all(build_model(Config(model=name)) is not None for name in MODELS)
