"""Tests for rnn_jax.unroll: lax.scan against a Python loop, padding, reverse, bidirectional, stacked,
gradients and the step Jacobian's closed form."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import rnn_jax
from tests import reference

B, T, F, H = 3, 7, 5, 4
LENGTHS = jnp.array([7, 3, 0])  # full, partial, empty


def _cell(name, input_size=F, hidden_size=H, seed=0, dtype=jnp.float32):
    """(step_fn, params) with a non-zero bias so that no term hides."""
    key = jax.random.key(seed)
    if name == "lstm":
        step, params = rnn_jax.lstm_step, rnn_jax.init_lstm(key, input_size, hidden_size, dtype=dtype)
    elif name == "gru":
        step, params = rnn_jax.gru_step, rnn_jax.init_gru(key, input_size, hidden_size, dtype=dtype)
    else:
        activation = name.split("_")[-1]
        step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
        params = rnn_jax.init_simple_rnn(
            key,
            input_size,
            hidden_size,
            dtype=dtype,
            recurrent_scale=0.9 if activation == "identity" else 1.0,
        )
    noise = jax.random.split(jax.random.key(seed + 100), len(params))
    params = {
        k: v + 0.1 * jax.random.normal(n, v.shape, v.dtype) if k.startswith("b") else v
        for (k, v), n in zip(params.items(), noise, strict=True)
    }
    return step, params


def _xs(batch=B, seq_len=T, input_size=F, seed=1, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (batch, seq_len, input_size), dtype)


def _h0(step, params, batch=B, seed=2):
    zeros = rnn_jax.initial_state(step, params, (batch,))
    keys = jax.random.split(jax.random.key(seed), 2)
    return jax.tree_util.tree_map(
        lambda z, k: 0.5 * jax.random.normal(k, z.shape, z.dtype),
        zeros,
        type(zeros)(*keys) if isinstance(zeros, tuple) else keys[0],
    )


CELLS = ["simple_tanh", "simple_relu", "simple_identity", "lstm", "gru"]


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("padding", [None, "right", "left"])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_matches_python_loop(cell, padding, reverse):
    step, params = _cell(cell)
    xs, h0 = _xs(), _h0(step, params)
    lengths = None if padding is None else LENGTHS
    got = rnn_jax.unroll(step, params, xs, h0, lengths=lengths, padding=padding or "right", reverse=reverse)
    want = reference.loop_unroll(step, params, xs, h0, lengths, padding or "right", reverse)
    assert_trees_close(got, want)


@pytest.mark.parametrize("batch,seq_len,input_size,hidden_size", [(1, 1, 1, 1), (2, 5, 3, 8), (4, 12, 16, 6)])
@pytest.mark.parametrize("cell", ["simple_tanh", "lstm", "gru"])
def test_shapes(batch, seq_len, input_size, hidden_size, cell):
    step, params = _cell(cell, input_size, hidden_size)
    xs = _xs(batch, seq_len, input_size)
    h_last, hs = rnn_jax.unroll(step, params, xs)
    for leaf in jax.tree_util.tree_leaves(h_last):
        assert leaf.shape == (batch, hidden_size)
    for leaf in jax.tree_util.tree_leaves(hs):
        assert leaf.shape == (batch, seq_len, hidden_size)
    h_last, hs = rnn_jax.unroll(step, params, xs[0])  # one unbatched sequence [T, F]
    assert rnn_jax.state_output(h_last).shape == (hidden_size,)
    assert rnn_jax.state_output(hs).shape == (seq_len, hidden_size)
    _, none = rnn_jax.unroll(step, params, xs, return_all_states=False)
    assert none is None


def test_default_h0_is_zeros_and_last_state_is_last_output():
    step, params = _cell("simple_tanh")
    xs = _xs()
    h_default, hs = rnn_jax.unroll(step, params, xs)
    h_zero, _ = rnn_jax.unroll(step, params, xs, jnp.zeros((B, H)))
    np.testing.assert_array_equal(h_default, h_zero)
    np.testing.assert_array_equal(h_default, hs[:, -1])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("padding", ["right", "left"])
def test_padded_with_lengths_equals_each_sequence_unpadded(cell, padding):
    step, params = _cell(cell)
    xs, h0 = _xs(), _h0(step, params)
    # Fill padded positions with garbage: they must not matter.
    mask = rnn_jax.valid_mask(LENGTHS, T, padding).T[..., None]  # [T, B] -> [B, T, 1]
    xs = jnp.where(mask, xs, 1e3)
    h_last, hs = rnn_jax.unroll(step, params, xs, h0, lengths=LENGTHS, padding=padding)
    for b, length in enumerate(LENGTHS.tolist()):
        h0_b = jax.tree_util.tree_map(lambda a, b=b: a[b], h0)
        real = xs[b, :length] if padding == "right" else xs[b, T - length :]
        if length == 0:
            assert_trees_close(jax.tree_util.tree_map(lambda a, b=b: a[b], h_last), h0_b)
            continue
        want_last, want_hs = rnn_jax.unroll(step, params, real, h0_b)
        assert_trees_close(jax.tree_util.tree_map(lambda a, b=b: a[b], h_last), want_last)
        got_hs = jax.tree_util.tree_map(lambda a, b=b: a[b], hs)
        got_real = jax.tree_util.tree_map(
            lambda a, length=length: a[:length] if padding == "right" else a[T - length :], got_hs
        )
        assert_trees_close(got_real, want_hs)
    # padded positions of hs are zero
    zero_where_padded = jnp.where(mask, 0.0, rnn_jax.state_output(hs))
    np.testing.assert_array_equal(zero_where_padded, 0.0)


@pytest.mark.parametrize("cell", CELLS)
def test_reverse_equals_unrolling_the_flipped_sequence(cell):
    step, params = _cell(cell)
    xs = _xs()
    h_rev, hs_rev = rnn_jax.unroll(step, params, xs, reverse=True)
    h_flip, hs_flip = rnn_jax.unroll(step, params, xs[:, ::-1])
    assert_trees_close(h_rev, h_flip)
    assert_trees_close(hs_rev, jax.tree_util.tree_map(lambda a: a[:, ::-1], hs_flip))


@pytest.mark.parametrize(
    "options",
    [
        dict(unroll=3),
        dict(unroll=T + 2),
        dict(remat=True),
        dict(strategy="hoisted"),
        dict(strategy="step", unroll=2, remat=True),
    ],
)
@pytest.mark.parametrize("padding", [None, "left"])
def test_options_do_not_change_results(options, padding):
    step, params = _cell("simple_tanh")
    xs, h0 = _xs(), _h0(step, params)
    lengths = None if padding is None else LENGTHS
    kwargs = dict(lengths=lengths, padding=padding or "right")
    want = rnn_jax.unroll(step, params, xs, h0, strategy="step", **kwargs)
    assert_trees_close(rnn_jax.unroll(step, params, xs, h0, **options, **kwargs), want)
    grad = lambda **o: jax.grad(lambda p: jnp.sum(rnn_jax.unroll(step, p, xs, h0, **o, **kwargs)[1] ** 2))(
        params
    )  # noqa: E731
    assert_trees_close(grad(**options), grad(strategy="step"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_jit_matches_no_jit(cell):
    step, params = _cell(cell)
    xs = _xs()
    run = lambda p, x, n: rnn_jax.unroll(step, p, x, lengths=n, padding="left")  # noqa: E731
    assert_trees_close(jax.jit(run)(params, xs, LENGTHS), run(params, xs, LENGTHS))


def test_batched_matches_vmapped():
    step, params = _cell("simple_tanh")
    xs = _xs()
    batched = rnn_jax.unroll(step, params, xs, lengths=LENGTHS)
    vmapped = jax.vmap(lambda x, n: rnn_jax.unroll(step, params, x, lengths=n))(xs, LENGTHS)
    assert_trees_close(batched, vmapped)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("padding", ["right", "left"])
def test_bidirectional_is_forward_and_backward_concatenated(cell, padding):
    step, params_forward = _cell(cell, seed=0)
    _, params_backward = _cell(cell, seed=7)
    xs = _xs()
    h_last, hs = rnn_jax.bidirectional(
        step, params_forward, params_backward, xs, lengths=LENGTHS, padding=padding
    )
    want = reference.loop_unroll(
        step, params_forward, xs, rnn_jax.initial_state(step, params_forward, (B,)), LENGTHS, padding
    )
    want_back = reference.loop_unroll(
        step,
        params_backward,
        xs,
        rnn_jax.initial_state(step, params_backward, (B,)),
        LENGTHS,
        padding,
        reverse=True,
    )
    cat = lambda a, b: jnp.concatenate([a, b], -1)  # noqa: E731
    assert_trees_close(h_last, jax.tree_util.tree_map(cat, want[0], want_back[0]))
    assert_trees_close(hs, jax.tree_util.tree_map(cat, want[1], want_back[1]))
    assert rnn_jax.state_output(hs).shape == (B, T, 2 * H)


@pytest.mark.parametrize("cell", CELLS)
def test_stacked_is_layers_composed(cell):
    step, layer0 = _cell(cell, F, H, seed=0)
    _, layer1 = _cell(cell, H, 6, seed=1)
    xs = _xs()
    h_lasts, hs = rnn_jax.stacked_unroll(step, [layer0, layer1], xs, lengths=LENGTHS)
    last0, hs0 = rnn_jax.unroll(step, layer0, xs, lengths=LENGTHS)
    last1, hs1 = rnn_jax.unroll(step, layer1, rnn_jax.state_output(hs0), lengths=LENGTHS)
    assert_trees_close(h_lasts, [last0, last1])
    assert_trees_close(hs, hs1)
    _, top = rnn_jax.stacked_unroll(step, [layer0, layer1], xs, return_all_states=False)
    assert top is None


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("padding", [None, "right", "left"])
def test_gradients_match_finite_differences(cell, padding):
    with jax.enable_x64(True):
        step, params = _cell(cell, 3, 2, dtype=jnp.float64)
        xs = _xs(2, 4, 3, dtype=jnp.float64)
        h0 = jax.tree_util.tree_map(lambda z: z + 0.3, rnn_jax.initial_state(step, params, (2,)))
        lengths = None if padding is None else jnp.array([4, 2])

        def loss(params, xs, h0):
            h_last, hs = rnn_jax.unroll(step, params, xs, h0, lengths=lengths, padding=padding or "right")
            return jnp.sum(rnn_jax.state_output(hs) * jnp.arange(1.0, 3.0)) + jnp.sum(
                jnp.sin(rnn_jax.state_output(h_last))
            )

        check_grads(jax.jit(loss), (params, xs, h0), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_step_jacobian_closed_form():
    # d h_t / d h_{t-1} = diag(1 - h_t^2) @ A_h for the tanh cell.
    step, params = _cell("simple_tanh", F, H)
    h, x = jax.random.normal(jax.random.key(3), (H,)), jax.random.normal(jax.random.key(4), (F,))
    jacobian = jax.jacrev(lambda h: step(params, h, x))(h)
    h_t = step(params, h, x)
    closed = jnp.diag(1 - h_t**2) @ params["A"][:, :H]
    np.testing.assert_allclose(jacobian, closed, rtol=1e-5, atol=1e-6)


def test_jacobian_through_scan_halves_each_step():
    # A_h = 0.5 I, zero input, bias and h0: tanh'(0) = 1, so d h_t / d h_0 = 0.5^t I exactly.
    params = {"A": jnp.concatenate([0.5 * jnp.eye(H), jnp.zeros((H, F))], axis=1), "b": jnp.zeros(H)}
    xs = jnp.zeros((6, F))
    jac = jax.jacrev(lambda h0: rnn_jax.unroll(rnn_jax.simple_rnn_step, params, xs, h0)[1])(jnp.zeros(H))
    for t in range(6):
        np.testing.assert_allclose(jac[t], 0.5 ** (t + 1) * np.eye(H), rtol=1e-6)


# ----------------------------------------------------------------------------- errors


def test_unroll_errors():
    step, params = _cell("simple_tanh")
    xs = _xs()
    cases = [
        (dict(xs=xs[0, 0]), ValueError, r"xs must have shape \[B, T, F\] or \[T, F\], got shape \(5,\)"),
        (
            dict(xs=xs[None]),
            ValueError,
            r"xs must have shape \[B, T, F\] or \[T, F\], got shape \(1, 3, 7, 5\)",
        ),
        (dict(xs=xs.astype(jnp.int32)), TypeError, "xs must be a floating-point array, got dtype int32"),
        (dict(xs=xs[:, :0]), ValueError, "xs must have at least one time step"),
        (
            dict(xs=xs[..., :2]),
            ValueError,
            r"x_t must have shape \[\.\.\., 5\] to match params\['A'\] of shape",
        ),
        (dict(lengths=jnp.array([1, 2])), ValueError, r"lengths must have shape \[3\].*got shape \[2\]"),
        (
            dict(lengths=jnp.array([1.0, 2.0, 3.0])),
            TypeError,
            "lengths must be an integer array, got dtype float",
        ),
        (
            dict(lengths=jnp.array([1, 8, 2])),
            ValueError,
            r"lengths must lie in \[0, 7\].*got values from 1 to 8",
        ),
        (dict(lengths=jnp.array([-1, 2, 2])), ValueError, r"lengths must lie in \[0, 7\]"),
        (dict(padding="pre"), ValueError, "unknown padding 'pre'; expected one of 'right', 'left'"),
        (dict(strategy="fast"), ValueError, "unknown strategy 'fast'"),
        (dict(unroll=0), ValueError, "unroll must be a positive int, got 0"),
        (dict(h0=jnp.zeros((B, H + 1))), ValueError, r"h must have shape \[\.\.\., 4\]"),
        (dict(h0=jnp.zeros((2, H))), ValueError, r"h0 must have shape \[3, H\] to match xs.*got \(2, 4\)"),
    ]
    for overrides, error, match in cases:
        kwargs = dict(xs=xs, **{k: v for k, v in overrides.items() if k != "xs"})
        if "xs" in overrides:
            kwargs["xs"] = overrides["xs"]
        with pytest.raises(error, match=match):
            rnn_jax.unroll(step, params, **kwargs)


def test_strategy_hoisted_needs_simple_rnn():
    step, params = _cell("gru")
    with pytest.raises(ValueError, match="strategy='hoisted' applies to simple_rnn_step only"):
        rnn_jax.unroll(step, params, _xs(), strategy="hoisted")


def test_lstm_h0_must_be_lstm_state():
    step, params = _cell("lstm")
    with pytest.raises(TypeError, match=r"lstm state must be an LSTMState"):
        rnn_jax.unroll(step, params, _xs(), jnp.zeros((B, H)))


def test_bidirectional_and_stacked_errors():
    step, params = _cell("simple_tanh")
    with pytest.raises(ValueError, match="bidirectional runs both directions; do not pass reverse"):
        rnn_jax.bidirectional(step, params, params, _xs(), reverse=True)
    with pytest.raises(ValueError, match="stacked_unroll needs at least one layer"):
        rnn_jax.stacked_unroll(step, [], _xs())
    with pytest.raises(ValueError, match="got 2 layer_params, 1 step functions and 2 initial states"):
        rnn_jax.stacked_unroll([step], [params, params], _xs())


def test_lengths_checked_inside_jit_only_for_shape():
    step, params = _cell("simple_tanh")
    run = jax.jit(lambda n: rnn_jax.unroll(step, params, _xs(), lengths=n)[0])
    assert run(LENGTHS).shape == (B, H)  # traced lengths: values cannot be checked, shapes are
    with pytest.raises(ValueError, match=r"lengths must have shape \[3\]"):
        run(jnp.array([1, 2]))


def test_concrete_lengths_captured_by_jit_are_checked():
    step, params = _cell("simple_tanh")
    xs = _xs()
    run = jax.jit(lambda xs: rnn_jax.unroll(step, params, xs, lengths=LENGTHS)[0])
    np.testing.assert_allclose(run(xs), rnn_jax.unroll(step, params, xs, lengths=LENGTHS)[0], rtol=1e-5)
    too_long = jnp.array([1, 9, 2])  # made outside jit, so its values are known while tracing
    bad = jax.jit(lambda xs: rnn_jax.unroll(step, params, xs, lengths=too_long)[0])
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 7\]"):
        bad(xs)


# ----------------------------------------------------------------------------- resets

RESETS = jnp.array(
    [
        [False, False, True, False, False, False, True],  # three segments: 2, 4 and 1 steps
        [True, False, False, False, False, False, False],  # a reset at the first step: h0 unused
        [False] * T,  # none: the plain unroll
    ]
)


def _loop_with_resets(step, params, xs, h0, resets):
    """A Python loop over time, zeroing the state where resets[b, t] before step t reads it."""
    h, outs = h0, []
    zeros = jax.tree_util.tree_map(jnp.zeros_like, h0)
    for t in range(xs.shape[1]):
        keep = ~resets[:, t][:, None]
        h = jax.tree_util.tree_map(lambda s, z, keep=keep: jnp.where(keep, s, z), h, zeros)
        h = step(params, h, xs[:, t])
        outs.append(h)
    return h, jax.tree_util.tree_map(lambda *s: jnp.stack(s, axis=1), *outs)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("strategy", ["auto", "step"])
def test_resets_match_python_loop(cell, strategy):
    step, params = _cell(cell)
    xs, h0 = _xs(), _h0(step, params)
    got = jax.jit(lambda x, h, r: rnn_jax.unroll(step, params, x, h, resets=r, strategy=strategy))(
        xs, h0, RESETS
    )
    assert_trees_close(got, _loop_with_resets(step, params, xs, h0, RESETS))


@pytest.mark.parametrize("cell", ["simple_tanh", "lstm"])
def test_resets_equal_each_segment_unrolled_from_zero(cell):
    """Row 0's segments [0, 2), [2, 6), [6, 7): the first from h0, the others from a zero state."""
    step, params = _cell(cell)
    xs, h0 = _xs(), _h0(step, params)
    _, hs = rnn_jax.unroll(step, params, xs, h0, resets=RESETS)
    row0 = jax.tree_util.tree_map(lambda a: a[0], h0)
    pieces = [rnn_jax.unroll(step, params, xs[0, :2], row0)[1]]
    pieces += [rnn_jax.unroll(step, params, xs[0, a:b])[1] for a, b in [(2, 6), (6, 7)]]
    want = jax.tree_util.tree_map(lambda *p: jnp.concatenate(p, axis=0), *pieces)
    assert_trees_close(jax.tree_util.tree_map(lambda a: a[0], hs), want)
    no_resets = rnn_jax.unroll(step, params, xs[2], jax.tree_util.tree_map(lambda a: a[2], h0))
    assert_trees_close(jax.tree_util.tree_map(lambda a: a[2], hs), no_resets[1])


def test_resets_hoisted_and_gradients():
    step, params = _cell("simple_tanh")
    xs, h0 = _xs(), _h0(step, params)
    step_out = rnn_jax.unroll(step, params, xs, h0, resets=RESETS, strategy="step")
    assert_trees_close(rnn_jax.unroll(step, params, xs, h0, resets=RESETS, strategy="hoisted"), step_out)
    with jax.enable_x64(True):
        step, params = _cell("simple_tanh", dtype=jnp.float64)
        f64 = (params, _xs(dtype=jnp.float64), _h0(step, params).astype(jnp.float64))
        check_grads(
            lambda p, x, h: jnp.sum(jnp.sin(rnn_jax.unroll(step, p, x, h, resets=RESETS)[1])),
            f64,
            order=1,
            modes=["rev"],
            atol=1e-5,
            rtol=1e-5,
        )
        scan_grads = jax.grad(lambda p: rnn_jax.unroll(step, p, f64[1], f64[2], resets=RESETS)[1].sum())
        loop_grads = jax.grad(lambda p: _loop_with_resets(step, p, f64[1], f64[2], RESETS)[1].sum())
        assert_trees_close(scan_grads(f64[0]), loop_grads(f64[0]), rtol=1e-10, atol=1e-12)
        # no gradient flows into h0 across a reset: row 1 resets at its first step
        dh0 = jax.grad(lambda h: rnn_jax.unroll(step, f64[0], f64[1], h, resets=RESETS)[1].sum())(f64[2])
        np.testing.assert_array_equal(dh0[1], 0.0)
        assert np.all(dh0[0] != 0.0)


def test_resets_in_reverse_match_a_backward_python_loop():
    """reverse=True reads t = T..1, zeroing the state before each flagged step it reads."""
    step, params = _cell("simple_tanh")
    xs, h0 = _xs(), _h0(step, params)
    h_last, hs = rnn_jax.unroll(step, params, xs, h0, resets=RESETS, reverse=True)
    want_last, want = _loop_with_resets(step, params, xs[:, ::-1], h0, RESETS[:, ::-1])
    assert_trees_close((h_last, hs), (want_last, want[:, ::-1]))


def test_a_reset_at_a_padded_step_has_no_effect():
    step, params = _cell("simple_tanh")
    xs, h0 = _xs(), _h0(step, params)
    lengths = jnp.array([5, 7, 3])
    padded_only = jnp.zeros_like(RESETS).at[:, 5:].set(True).at[1].set(False)  # flags past the ends
    plain = rnn_jax.unroll(step, params, xs, h0, lengths=lengths)
    assert_trees_close(rnn_jax.unroll(step, params, xs, h0, lengths=lengths, resets=padded_only), plain)


def test_resets_errors():
    step, params = _cell("simple_tanh")
    xs = _xs()
    with pytest.raises(TypeError, match="resets must be a boolean array, got dtype int32"):
        rnn_jax.unroll(step, params, xs, resets=RESETS.astype(jnp.int32))
    with pytest.raises(ValueError, match=r"resets must have shape \[3, 7\].*got shape \[3, 6\]"):
        rnn_jax.unroll(step, params, xs, resets=RESETS[:, :6])
    for strategy in ("custom_vjp", "custom_jvp"):
        with pytest.raises(ValueError, match=f"resets are supported by .*not strategy='{strategy}'"):
            rnn_jax.unroll(step, params, xs, resets=RESETS, strategy=strategy)
