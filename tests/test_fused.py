"""Tests for rnn_jax.fused: the custom backward passes against JAX's own gradients of the plain scan."""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import rnn_jax
from rnn_jax import unroll  # the function (rnn_jax.core.unroll.unroll)
from rnn_jax.core import fused
from rnn_jax.core.unroll import AUTO_SIMPLE_RNN, _resolve_strategy

unroll_module = importlib.import_module("rnn_jax.core.unroll")  # `rnn_jax.unroll` is the function

B, T, F, H = 3, 6, 4, 5
LENGTHS = jnp.array([6, 2, 0])  # full, partial and empty sequences
CUSTOM = ("custom_vjp", "custom_jvp")


def _problem(dtype=jnp.float32, seed=0, use_bias=True):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = rnn_jax.init_simple_rnn(keys[0], F, H, use_bias=use_bias, recurrent_scale=0.9, dtype=dtype)
    if use_bias:
        params["b"] = 0.1 * jax.random.normal(keys[1], (H,), dtype)
    xs = jax.random.normal(keys[2], (B, T, F), dtype)
    h0 = 0.5 * jax.random.normal(keys[3], (B, H), dtype)
    return params, xs, h0


def _loss(strategy, step, options):
    """A scalar that reads every output (h_last and hs) with distinct weights, so no gradient hides."""

    def loss(params, xs, h0, lengths=None):
        extra = {} if lengths is None else {"lengths": lengths}  # a jit argument, not a closure constant
        h_last, hs = unroll(step, params, xs, h0, strategy=strategy, **options, **extra)
        value = jnp.sum(jnp.sin(h_last) * jnp.arange(1, h_last.shape[-1] + 1))
        if hs is not None:
            value = value + jnp.sum(jnp.cos(hs) * jnp.linspace(0.5, 1.5, hs.shape[-2])[:, None])
        return value

    return loss


def _assert_close(got, want, rtol=1e-5):
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        scale = float(jnp.max(jnp.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol * scale)


GRID = [
    (activation, padding, reverse, True)
    for activation in fused.ACTIVATIONS
    for padding in (None, "right", "left")
    for reverse in (False, True)
]
GRID += [("tanh", "right", False, False), ("relu", "left", True, False), ("identity", None, False, False)]


@pytest.mark.parametrize("activation, padding, reverse, return_all_states", GRID)
def test_gradients_match_jax_grad_of_reference(activation, padding, reverse, return_all_states):
    params, xs, h0 = _problem()
    step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
    options = {"reverse": reverse, "return_all_states": return_all_states, "padding": padding or "right"}

    @jax.jit  # lengths is an argument: the core's range check of concrete lengths cannot run under jit
    def all_grads(params, xs, h0, lengths):
        options["lengths"] = lengths if padding else None
        grad = lambda s: jax.grad(_loss(s, step, options), argnums=(0, 1, 2))(params, xs, h0)  # noqa: E731
        outs = lambda s: unroll(step, params, xs, h0, strategy=s, **options)  # noqa: E731
        return {s: (grad(s), outs(s)) for s in ("step", *CUSTOM)}

    results = all_grads(params, xs, h0, LENGTHS)
    for strategy in CUSTOM:
        _assert_close(results[strategy], results["step"])


@pytest.mark.parametrize("strategy", CUSTOM)
def test_bidirectional_gradients_match(strategy):
    params, xs, h0 = _problem()
    params_backward, _, h0_backward = _problem(seed=1)

    def loss(strategy, pf, pb, xs, hf, hb):
        h_last, hs = rnn_jax.bidirectional(
            rnn_jax.simple_rnn_step, pf, pb, xs, (hf, hb), lengths=LENGTHS, padding="left", strategy=strategy
        )
        return jnp.sum(jnp.sin(h_last)) + jnp.sum(jnp.cos(hs) * jnp.arange(2 * H))

    args = (params, params_backward, xs, h0, h0_backward)
    grad = jax.grad(loss, argnums=(1, 2, 3, 4, 5))
    _assert_close(grad(strategy, *args), grad("step", *args))


@pytest.mark.parametrize("strategy", CUSTOM)
def test_one_unbatched_sequence_and_no_bias(strategy):
    params, xs, h0 = _problem(use_bias=False)
    options = {"lengths": jnp.array(4), "padding": "left"}
    step = rnn_jax.simple_rnn_step
    got = jax.grad(_loss(strategy, step, options), argnums=(0, 1, 2))(params, xs[0], h0[0])
    want = jax.grad(_loss("step", step, options), argnums=(0, 1, 2))(params, xs[0], h0[0])
    _assert_close(got, want)
    _assert_close(
        unroll(step, params, xs[0], strategy=strategy), unroll(step, params, xs[0], strategy="step")
    )


def test_default_h0_and_vmap():
    params, xs, _ = _problem()
    run = lambda s: jax.vmap(lambda x, n: unroll(rnn_jax.simple_rnn_step, params, x, lengths=n, strategy=s))  # noqa: E731
    for strategy in CUSTOM:
        _assert_close(run(strategy)(xs, LENGTHS), run("step")(xs, LENGTHS))


@pytest.mark.parametrize("strategy", CUSTOM)
@pytest.mark.parametrize(
    "activation, padding, reverse", [("tanh", "right", False), ("identity", "left", True)]
)
def test_check_grads_float64(strategy, activation, padding, reverse):
    with jax.enable_x64(True):
        params, xs, h0 = _problem(dtype=jnp.float64)
        step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
        loss = _loss(strategy, step, {"padding": padding, "reverse": reverse})
        loss = functools.partial(jax.jit(loss), lengths=LENGTHS)
        modes = ("rev",) if strategy == "custom_vjp" else ("fwd", "rev")
        check_grads(loss, (params, xs, h0), order=1, modes=modes, eps=1e-6, atol=1e-7, rtol=1e-7)


def test_relu_check_grads_float64():
    """relu away from its kink (the finite differences would straddle it otherwise)."""
    with jax.enable_x64(True):
        params, xs, h0 = _problem(dtype=jnp.float64)
        params["b"] = params["b"] + 3.0  # every pre-activation positive
        h0 = jnp.abs(h0)
        step = functools.partial(rnn_jax.simple_rnn_step, activation="relu")
        for strategy in CUSTOM:
            loss = functools.partial(jax.jit(_loss(strategy, step, {})), lengths=LENGTHS)
            check_grads(loss, (params, xs, h0), order=1, modes=("rev",), eps=1e-6, atol=1e-7, rtol=1e-7)


def test_custom_jvp_supports_forward_mode():
    params, xs, h0 = _problem()
    states = lambda s: (
        lambda h: unroll(rnn_jax.simple_rnn_step, params, xs, h, lengths=LENGTHS, strategy=s)[1]
    )  # noqa: E731
    _assert_close(jax.jacfwd(states("auto"))(h0), jax.jacrev(states("step"))(h0))


def test_custom_vjp_has_no_forward_mode():
    params, xs, h0 = _problem()
    run = lambda h: unroll(rnn_jax.simple_rnn_step, params, xs, h, strategy="custom_vjp")[0]  # noqa: E731
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(run, (h0,), (h0,))


def test_auto_picks_a_custom_rule_for_simple_rnn_only():
    relu = functools.partial(rnn_jax.simple_rnn_step, activation="relu")
    assert _resolve_strategy("auto", rnn_jax.simple_rnn_step) == AUTO_SIMPLE_RNN
    assert _resolve_strategy("auto", relu) == AUTO_SIMPLE_RNN
    assert AUTO_SIMPLE_RNN != "custom_vjp", "auto must keep forward mode (jax.jacfwd) working"
    assert _resolve_strategy("auto", rnn_jax.lstm_step) == "step"
    assert _resolve_strategy("auto", rnn_jax.gru_step) == "step"


@pytest.mark.parametrize("strategy", CUSTOM)
def test_custom_strategies_reject_other_cells(strategy):
    params = rnn_jax.init_lstm(jax.random.PRNGKey(0), F, H)
    xs = jnp.ones((B, T, F))
    with pytest.raises(ValueError, match=f"strategy='{strategy}' applies to simple_rnn_step only"):
        unroll(rnn_jax.lstm_step, params, xs, strategy=strategy)


def test_fused_errors():
    params, xs, h0 = _problem()
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        fused.simple_rnn_unroll(params, xs, h0, activation="gelu")
    with pytest.raises(ValueError, match="unknown rule 'fwd'"):
        fused.simple_rnn_unroll(params, xs, h0, rule="fwd")


@pytest.mark.parametrize("rule", fused.RULES)
@pytest.mark.parametrize("padding", [None, "left"])
def test_hoisting_the_input_projection_changes_nothing_but_speed(rule, padding):
    params, xs, h0 = _problem()
    mask = None if padding is None else unroll_module.valid_mask(LENGTHS, T, padding)

    def loss(params, xs, h0, hoist):
        h_last, hs = fused.simple_rnn_unroll(params, xs, h0, mask, rule=rule, hoist_input=hoist)
        return jnp.sum(jnp.sin(h_last)) + jnp.sum(jnp.cos(hs) * jnp.linspace(0.5, 1.5, T)[:, None])

    for argnums in (0, 1, 2):
        per_step = jax.grad(loss, argnums)(params, xs, h0, False)
        hoisted = jax.grad(loss, argnums)(params, xs, h0, True)
        _assert_close(hoisted, per_step)
    _assert_close(loss(params, xs, h0, True), loss(params, xs, h0, False))


def test_speed_defaults_follow_the_measured_tables():
    assert fused.default_hoist_input("cpu") is fused.HOIST_INPUT["cpu"]
    assert fused.default_hoist_input("gpu") is True
    assert fused.default_hoist_input("tpu") is fused.HOIST_INPUT_OTHER
    assert unroll_module.default_scan_unroll("cpu") == unroll_module.SCAN_UNROLL["cpu"]
    assert unroll_module.default_scan_unroll("gpu") == 4
    assert unroll_module.default_scan_unroll("tpu") == unroll_module.SCAN_UNROLL_OTHER
    backend = jax.default_backend()
    assert fused.default_hoist_input() is fused.default_hoist_input(backend)
    assert unroll_module.default_scan_unroll() == unroll_module.default_scan_unroll(backend)


@pytest.mark.parametrize("step", [rnn_jax.simple_rnn_step, rnn_jax.lstm_step])
def test_unroll_none_reads_the_backend_table(step, monkeypatch):
    init = rnn_jax.init_simple_rnn if step is rnn_jax.simple_rnn_step else rnn_jax.init_lstm
    params = init(jax.random.PRNGKey(0), F, H)
    xs = jax.random.normal(jax.random.PRNGKey(1), (B, T, F))
    want = unroll(step, params, xs, unroll=1)
    monkeypatch.setitem(unroll_module.SCAN_UNROLL, jax.default_backend(), 3)
    _assert_close(unroll(step, params, xs), want)  # unroll=None -> 3: same numbers
    monkeypatch.setitem(unroll_module.SCAN_UNROLL, jax.default_backend(), 0)
    with pytest.raises(ValueError, match="unroll"):  # proves None went through the table
        unroll(step, params, xs)
