"""Tests of rnn_jax.models.adaptive_softmax: a normalised distribution over every id, the gathered
target path against the whole distribution (values and gradients), PyTorch's module, bad settings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.models.adaptive_softmax import AdaptiveSoftmax, check_cutoffs, cluster_capacities

V, H = 50, 16


def _setup(cutoffs=(10, 30), div_value=4.0, shape=(3, 8), seed=0):
    module = AdaptiveSoftmax(V, H, cutoffs, div_value)
    keys = jax.random.split(jax.random.key(seed), 3)
    hs = jax.random.normal(keys[0], (*shape, H))
    targets = jax.random.randint(keys[1], shape, 0, V)
    return module, module.init(keys[2], hs), hs, targets


@pytest.mark.parametrize("cutoffs", [(10,), (10, 30), (2, 3, 40)])
@pytest.mark.parametrize("div_value", [1.0, 4.0])
def test_probabilities_sum_to_one_in_every_context(cutoffs, div_value):
    module, params, hs, _ = _setup(cutoffs, div_value)
    log_probs = module.apply(params, hs)
    assert log_probs.shape == (3, 8, V)
    np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, rtol=1e-5)
    assert np.all(log_probs <= 0)


def test_log_probs_are_the_two_level_formula():
    """log p(w) = log softmax(head)[cluster of w] + log softmax(tail of w's cluster)[w], by hand."""
    module, params, hs, _ = _setup((10, 30))
    p = params["params"]
    head = jax.nn.log_softmax(hs @ p["head"]["kernel"] + p["head"]["bias"])
    tail = [jax.nn.log_softmax(hs @ p[f"proj_{i}"]["kernel"] @ p[f"tail_{i}"]["kernel"]) for i in range(2)]
    want = jnp.concatenate([head[..., :10], head[..., 10:11] + tail[0], head[..., 11:12] + tail[1]], -1)
    np.testing.assert_allclose(module.apply(params, hs), want, rtol=1e-5, atol=1e-6)
    assert p["proj_0"]["kernel"].shape == (H, 4) and p["proj_1"]["kernel"].shape == (H, 1)  # H / 4^(i+1)


@pytest.mark.parametrize("bounded", [False, True])
def test_target_log_probs_pick_the_whole_distribution(bounded):
    module, params, hs, targets = _setup((10, 30), shape=(4, 9))
    capacities = cluster_capacities(np.asarray(targets)[None], (10, 30), V) if bounded else None

    def picked(params, hs):
        return jnp.take_along_axis(module.apply(params, hs), targets[..., None], -1)[..., 0]

    def direct(params, hs):
        return module.apply(params, hs, targets, capacities, method="target_log_probs")

    np.testing.assert_allclose(jax.jit(direct)(params, hs), picked(params, hs), rtol=1e-5, atol=1e-6)
    want = jax.grad(lambda p, h: picked(p, h).sum(), argnums=(0, 1))(params, hs)
    got = jax.grad(lambda p, h: direct(p, h).sum(), argnums=(0, 1))(params, hs)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), got, want)


def test_gradients_match_finite_differences():
    module, params, hs, targets = _setup((10, 30), shape=(2, 3))
    capacities = cluster_capacities(np.asarray(targets)[None], (10, 30), V)
    loss = lambda h: module.apply(params, h, targets, capacities, method="target_log_probs").sum()  # noqa: E731
    grad = jax.grad(loss)(hs)
    direction = jax.random.normal(jax.random.key(9), hs.shape)
    eps = 1e-2
    numeric = (loss(hs + eps * direction) - loss(hs - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(float(jnp.vdot(grad, direction)), float(numeric), rtol=2e-3)


def test_too_small_a_capacity_gives_nan_not_a_wrong_value():
    module, params, hs, _ = _setup((10, 30), shape=(1, 6))
    targets = jnp.asarray([[12, 13, 14, 1, 2, 40]])  # three targets in the cluster [10, 30)
    ok = module.apply(params, hs, targets, (3, 1), method="target_log_probs")
    assert np.all(np.isfinite(ok))
    short = module.apply(params, hs, targets, (2, 1), method="target_log_probs")
    assert np.all(np.isnan(short))
    with pytest.raises(ConfigError, match="one bound per tail cluster"):
        module.apply(params, hs, targets, (3,), method="target_log_probs")


def test_cluster_capacities_count_the_fullest_call():
    targets = np.array([[[0, 12, 13], [40, 41, 2]], [[12, 12, 12], [12, 49, 9]]])  # [calls, B, K]
    assert cluster_capacities(targets, (10, 30), V) == (4, 2)
    assert cluster_capacities(np.zeros((2, 3), int), (10, 30), V) == (1, 1)  # never an empty block


def test_agrees_with_pytorchs_adaptive_log_softmax():
    torch = pytest.importorskip("torch")
    module, params, hs, targets = _setup((10, 30), shape=(5, 7))
    p = jax.tree_util.tree_map(lambda a: torch.from_numpy(np.asarray(a).T.copy()), params["params"])
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, [10, 30], div_value=4.0, head_bias=True)
    with torch.no_grad():
        theirs.head.weight.copy_(p["head"]["kernel"])
        theirs.head.bias.copy_(torch.from_numpy(np.array(params["params"]["head"]["bias"])))
        for i in range(2):
            theirs.tail[i][0].weight.copy_(p[f"proj_{i}"]["kernel"])
            theirs.tail[i][1].weight.copy_(p[f"tail_{i}"]["kernel"])
        flat = torch.from_numpy(np.asarray(hs).reshape(-1, H))
        want = theirs.log_prob(flat).numpy().reshape(5, 7, V)
    np.testing.assert_allclose(module.apply(params, hs), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "cutoffs, message",
    [
        ((), "at least one cutoff"),
        ((30, 10), "increase strictly"),
        ((10, 10), "increase strictly"),
        ((0, 10), "lie in \\(0, 50\\)"),
        ((10, 50), "lie in \\(0, 50\\)"),
        ((10.5,), "must be ints"),
    ],
)
def test_bad_cutoffs(cutoffs, message):
    with pytest.raises(ConfigError, match=message):
        check_cutoffs(cutoffs, V)


def test_bad_div_value():
    module = AdaptiveSoftmax(V, H, (10,), div_value=0.5)
    with pytest.raises(ConfigError, match="div_value must be >= 1"):
        module.init(jax.random.key(0), jnp.zeros((1, H)))
