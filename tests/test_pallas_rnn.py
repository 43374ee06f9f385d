"""Tests for rnn_jax.core.pallas_rnn: the persistent Pallas kernels against strategy="step".

On a CPU the kernels run in Pallas interpret mode (the same kernel bodies, executed by XLA on the
CPU); on a GPU (`JAX_PLATFORMS=cuda`) the same tests run the compiled Triton kernels. A lowering
test compiles the GPU path down to its CUDA custom calls on any machine.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import rnn_jax
from rnn_jax.core import fused, pallas_rnn
from rnn_jax.core.unroll import _resolve_strategy

# H >= 16 (Triton's dot); B = 20 is one full tile of 16 and a partial one.
B, T, F, H = 20, 9, 5, 16
LENGTHS = jnp.array([9, 4, 0, 1, 9, 7, 2, 3, 8, 5, 9, 6, 0, 4, 9, 1, 2, 8, 3, 5])
ON_GPU = jax.default_backend() == "gpu"
# The Triton custom call's name in the lowered module (jax <= 0.11: XLA compiles the Triton IR;
# newer jaxlibs compile it at lowering and call it through the FFI).
TRITON_CALLS = ("__gpu$xla.gpu.triton", "triton_kernel_call_ffi")


@pytest.fixture(autouse=True)
def _interpret_off_gpu(monkeypatch):
    """strategy="pallas" runs in interpret mode on this CPU machine (a no-op on a GPU)."""
    monkeypatch.setattr(pallas_rnn, "INTERPRET_OFF_GPU", True)


def _problem(batch=B, dtype=jnp.float32, seed=0, use_bias=True, hidden=H):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = rnn_jax.init_simple_rnn(keys[0], F, hidden, use_bias=use_bias, recurrent_scale=0.9, dtype=dtype)
    if use_bias:
        params["b"] = 0.1 * jax.random.normal(keys[1], (hidden,), dtype)
    xs = jax.random.normal(keys[2], (batch, T, F), dtype)
    h0 = 0.5 * jax.random.normal(keys[3], (batch, hidden), dtype)
    return params, xs, h0


def _zeros_problem(hidden=H, dtype=jnp.float32):
    """Arrays for the error tests, which fail before any kernel runs (no random numbers to compile)."""
    params = {"A": jnp.zeros((hidden, hidden + F), dtype), "b": jnp.zeros((hidden,), dtype)}
    return params, jnp.zeros((2, T, F), dtype), jnp.zeros((2, hidden), dtype)


def _loss(run):
    """A scalar that reads every output (h_last and hs) with distinct weights, so no gradient hides."""

    def loss(params, xs, h0, *args):
        h_last, hs = run(params, xs, h0, *args)
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
GRID += [("tanh", "right", False, False), ("relu", "left", True, False)]


@pytest.mark.parametrize("activation, padding, reverse, return_all_states", GRID)
def test_outputs_and_gradients_match_step(activation, padding, reverse, return_all_states):
    params, xs, h0 = _problem()
    step = functools.partial(rnn_jax.simple_rnn_step, activation=activation)
    options = {"reverse": reverse, "return_all_states": return_all_states, "padding": padding or "right"}

    @jax.jit  # lengths is an argument: unroll's range check of concrete lengths cannot run under jit
    def outputs_and_grads(params, xs, h0, lengths):
        def run(strategy):
            return lambda p, x, h: rnn_jax.unroll(
                step, p, x, h, strategy=strategy, lengths=lengths if padding else None, **options
            )

        return {
            s: (run(s)(params, xs, h0), jax.grad(_loss(run(s)), argnums=(0, 1, 2))(params, xs, h0))
            for s in ("step", "pallas")
        }

    results = outputs_and_grads(params, xs, h0, LENGTHS)
    _assert_close(results["pallas"], results["step"])


def test_one_sequence_no_bias_and_a_batch_smaller_than_a_tile():
    params, xs, h0 = _problem(batch=3, use_bias=False)
    options = {"lengths": jnp.array(4), "padding": "left"}
    for x, h in ((xs[0], h0[0]), (xs, h0)):  # [T, F] and a batch of 3 < BLOCK_BATCH
        opts = options if x.ndim == 2 else {"lengths": LENGTHS[:3], "padding": "left"}

        @functools.partial(jax.jit, static_argnums=0)
        def outputs_and_grads(strategy, params, x, h, opts=opts):
            run = lambda p, x, h: rnn_jax.unroll(rnn_jax.simple_rnn_step, p, x, h, strategy=strategy, **opts)  # noqa: E731
            return run(params, x, h), jax.grad(_loss(run), argnums=(0, 1, 2))(params, x, h)

        _assert_close(outputs_and_grads("pallas", params, x, h), outputs_and_grads("step", params, x, h))


def test_bidirectional_with_default_h0():
    params, xs, _ = _problem()
    params_backward, _, _ = _problem(seed=1)

    def loss(strategy, pf, pb, xs):
        h_last, hs = rnn_jax.bidirectional(
            rnn_jax.simple_rnn_step, pf, pb, xs, lengths=LENGTHS, padding="right", strategy=strategy
        )
        return jnp.sum(jnp.sin(h_last)) + jnp.sum(jnp.cos(hs) * jnp.arange(2 * H))

    grad = jax.jit(jax.value_and_grad(loss, argnums=(1, 2, 3)), static_argnums=0)
    _assert_close(grad("pallas", params, params_backward, xs), grad("step", params, params_backward, xs))


@pytest.mark.parametrize("block_batch", [16, 32])
def test_tile_size_changes_nothing(block_batch):
    params, xs, h0 = _problem(batch=40)
    lengths = jnp.arange(40) % (T + 1)
    run = lambda bb: (
        lambda p, x, h: pallas_rnn.simple_rnn_unroll(p, x, h, lengths, block_batch=bb, interpret=True)
    )  # noqa: E731
    want = rnn_jax.unroll(rnn_jax.simple_rnn_step, params, xs, h0, lengths=lengths, strategy="step")
    _assert_close(run(block_batch)(params, xs, h0), want)


# Interpret mode runs the kernel bodies as ordinary XLA ops, so float64 works there: the
# finite differences check the kernels' math. (The compiled GPU kernels support float32 only.)
@pytest.mark.parametrize(
    "activation, padding, reverse",
    [("tanh", "right", False), ("identity", "left", True), ("tanh", None, True)],
)
def test_check_grads_float64_in_interpret_mode(activation, padding, reverse):
    with jax.enable_x64(True):
        params, xs, h0 = _problem(batch=3, dtype=jnp.float64)
        lengths = LENGTHS[:3] if padding else None
        run = lambda p, x, h: pallas_rnn.simple_rnn_unroll(  # noqa: E731
            p,
            x,
            h,
            lengths,
            padding=padding or "right",
            activation=activation,
            reverse=reverse,
            interpret=True,
        )
        check_grads(
            jax.jit(_loss(run)), (params, xs, h0), order=1, modes=("rev",), eps=1e-6, atol=1e-7, rtol=1e-7
        )


def test_relu_check_grads_float64_in_interpret_mode():
    """relu away from its kink (the finite differences would straddle it otherwise)."""
    with jax.enable_x64(True):
        params, xs, h0 = _problem(batch=3, dtype=jnp.float64)
        params["b"] = params["b"] + 3.0  # every pre-activation positive
        run = lambda p, x, h: pallas_rnn.simple_rnn_unroll(
            p,
            x,
            h,
            LENGTHS[:3],
            activation="relu",  # noqa: E731
            interpret=True,
        )
        check_grads(
            jax.jit(_loss(run)),
            (params, xs, jnp.abs(h0)),
            order=1,
            modes=("rev",),
            eps=1e-6,
            atol=1e-7,
            rtol=1e-7,
        )


@pytest.mark.parametrize(
    "shape",
    [(32, 500, 32, 32), (20, 7, 5, 16), (64, 20, 128, 128)],
    ids=["lecture", "partial_tile", "max_hidden"],
)
@pytest.mark.parametrize(
    "activation, padding, reverse, return_all_states",
    [("tanh", "left", True, True), ("relu", None, False, True), ("identity", "right", False, False)],
)
def test_gpu_kernels_lower_for_cuda(shape, activation, padding, reverse, return_all_states):
    """The compiled path (interpret=False) lowers for CUDA on any machine: Pallas' Triton lowering
    builds the Triton IR in Python and rejects what Triton cannot express (non-power-of-two tiles,
    unsupported ops or dtypes). Triton's own compilation to PTX runs in XLA's GPU compiler, which
    needs a GPU: that part is checked only by running these tests there."""
    batch, seq_len, input_size, hidden = shape
    params = rnn_jax.init_simple_rnn(jax.random.PRNGKey(0), input_size, hidden)
    xs, h0 = jnp.ones((batch, seq_len, input_size)), jnp.zeros((batch, hidden))
    lengths = jnp.full((batch,), seq_len - 1) if padding else None

    def fwd_bwd(params, xs, h0):
        run = lambda p, x, h: pallas_rnn.simple_rnn_unroll(  # noqa: E731
            p,
            x,
            h,
            lengths,
            padding=padding or "right",
            activation=activation,
            reverse=reverse,
            return_all_states=return_all_states,
            interpret=False,
        )
        return jax.value_and_grad(_loss(run), argnums=(0, 1, 2))(params, xs, h0)

    text = jax.jit(fwd_bwd).trace(params, xs, h0).lower(lowering_platforms=("cuda",)).as_text()
    assert sum(text.count(name) for name in TRITON_CALLS) == 2, "one forward and one backward kernel"


def test_matmul_precision_follows_jax_config():
    with jax.default_matmul_precision(None):
        assert pallas_rnn._matmul_precision() is None  # jnp.dot's default
    with jax.default_matmul_precision("highest"):
        assert pallas_rnn._matmul_precision() == jax.lax.Precision.HIGHEST
    with jax.default_matmul_precision("tensorfloat32"):
        assert pallas_rnn._matmul_precision() == jax.lax.Precision.HIGH
    with jax.default_matmul_precision("F32_F32_F32"):
        assert pallas_rnn._matmul_precision() == jax.lax.DotAlgorithmPreset.F32_F32_F32


def test_auto_never_picks_pallas():
    assert _resolve_strategy("auto", rnn_jax.simple_rnn_step) == "custom_jvp"
    assert _resolve_strategy("pallas", rnn_jax.simple_rnn_step) == "pallas"


@pytest.mark.parametrize("hidden", [8, 24, 256])
def test_unsupported_hidden_size_is_a_clear_error(hidden):
    params, xs, h0 = _zeros_problem(hidden=hidden)
    with pytest.raises(
        ValueError, match=f"hidden size H to be a power of two from 16 to 128.*got H={hidden}"
    ):
        rnn_jax.unroll(rnn_jax.simple_rnn_step, params, xs, h0, strategy="pallas")


def test_unsupported_dtypes_are_clear_errors():
    params, xs, h0 = _zeros_problem(dtype=jnp.bfloat16)
    with pytest.raises(ValueError, match="supports dtype float32.* got bfloat16"):
        rnn_jax.unroll(rnn_jax.simple_rnn_step, params, xs, h0, strategy="pallas")
    with jax.enable_x64(True):
        params, xs, h0 = _zeros_problem(dtype=jnp.float64)
        with pytest.raises(ValueError, match="supports dtype float32, got float64"):
            pallas_rnn.simple_rnn_unroll(params, xs, h0, interpret=False)


def test_bad_options_are_clear_errors():
    params, xs, h0 = _zeros_problem()
    with pytest.raises(ValueError, match="block_batch must be a power of two >= 16, got 24"):
        pallas_rnn.simple_rnn_unroll(params, xs, h0, block_batch=24, interpret=True)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        pallas_rnn.simple_rnn_unroll(params, xs, h0, activation="gelu", interpret=True)
    with pytest.raises(ValueError, match="strategy='pallas' applies to simple_rnn_step only"):
        rnn_jax.unroll(
            rnn_jax.lstm_step, rnn_jax.init_lstm(jax.random.PRNGKey(0), F, H), xs, strategy="pallas"
        )


@pytest.mark.skipif(ON_GPU, reason="on a GPU strategy='pallas' runs the compiled kernels")
def test_needs_a_gpu_unless_interpret_mode_is_asked_for(monkeypatch):
    params, xs, h0 = _zeros_problem()
    monkeypatch.setattr(pallas_rnn, "INTERPRET_OFF_GPU", False)
    with pytest.raises(
        ValueError,
        match="strategy='pallas' runs a Triton GPU kernel and needs a GPU, "
        "but JAX's default backend is 'cpu'",
    ):
        rnn_jax.unroll(rnn_jax.simple_rnn_step, params, xs, h0, strategy="pallas")
