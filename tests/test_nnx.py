"""rnn_jax.nnx: the NNX layers against flax's nnx.RNN cells (same weights), a Python loop, finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.test_util import check_grads

import rnn_jax
import rnn_jax.nnx as rn

B, T, F, H = 3, 6, 4, 5
XS = jax.random.normal(jax.random.key(2), (B, T, F))
LENGTHS = jnp.array([6, 3, 1])
REAL = (jnp.arange(T)[None, :] < LENGTHS[:, None])[..., None]  # [B, T, 1]
CALLS = [
    {},
    {"seq_lengths": LENGTHS},
    {"reverse": True},
    {"seq_lengths": LENGTHS, "reverse": True},
    {"seq_lengths": LENGTHS, "reverse": True, "keep_order": True},
]


def simple_pair():
    ours = rn.SimpleRNN(F, H, rngs=nnx.Rngs(0))
    cell = nnx.SimpleCell(F, H, rngs=nnx.Rngs(1))
    cell.dense_h.kernel[...] = ours.A[...][:, :H].T  # A = [A_h | A_x] acts on [h; x]
    cell.dense_i.kernel[...] = ours.A[...][:, H:].T
    cell.dense_i.bias[...] = ours.b[...]
    return ours, nnx.RNN(cell)


def lstm_pair():
    ours = rn.LSTM(F, H, rngs=nnx.Rngs(0))
    cell = nnx.LSTMCell(F, H, rngs=nnx.Rngs(1))
    A, b = ours.A[...], ours.b[...]
    for g, (x_name, h_name) in enumerate([("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho")]):
        rows = slice(g * H, (g + 1) * H)
        getattr(cell, h_name).kernel[...] = A[rows, :H].T
        getattr(cell, h_name).bias[...] = b[rows]
        getattr(cell, x_name).kernel[...] = A[rows, H:].T
    return ours, nnx.RNN(cell)


def _masked(outputs, call):
    return jnp.where(REAL, outputs, 0.0) if "seq_lengths" in call else outputs


@pytest.mark.parametrize("pair", [simple_pair, lstm_pair], ids=["simple", "lstm"])
@pytest.mark.parametrize("call", CALLS, ids=lambda c: "-".join(c) or "plain")
def test_same_outputs_and_carry_as_flax(pair, call):
    ours, theirs = pair()
    carry, outputs = ours(XS, return_carry=True, **call)
    carry_ref, outputs_ref = theirs(XS, return_carry=True, **call)
    np.testing.assert_allclose(_masked(outputs, call), _masked(outputs_ref, call), atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), carry, carry_ref)
    if "seq_lengths" in call:  # ours: zero at padded steps (flax's cell runs on)
        assert float(jnp.abs(jnp.where(REAL, 0.0, outputs)).max()) == 0.0


@pytest.mark.parametrize("call", CALLS[:4], ids=lambda c: "-".join(c) or "plain")
def test_same_gradients_as_flax(call):
    ours, theirs = simple_pair()

    def loss(model, xs):  # a given carry: flax's RNN would otherwise draw one from its RNG stream
        return jnp.sum(_masked(model(xs, initial_carry=jnp.zeros((B, H)), **call), call) ** 2)

    grads = nnx.grad(loss)(ours, XS)
    grads_ref = nnx.grad(loss)(theirs, XS)
    A_ref = jnp.concatenate(
        [grads_ref["cell"]["dense_h"]["kernel"][...].T, grads_ref["cell"]["dense_i"]["kernel"][...].T], 1
    )
    np.testing.assert_allclose(grads["A"][...], A_ref, atol=1e-5)
    np.testing.assert_allclose(grads["b"][...], grads_ref["cell"]["dense_i"]["bias"][...], atol=1e-5)

    input_grads = [nnx.grad(loss, argnums=1)(model, XS) for model in (ours, theirs)]
    np.testing.assert_allclose(*input_grads, atol=1e-5)


def test_gru_is_the_cores_gru_step_in_a_python_loop():
    layer = rn.GRU(F, H, rngs=nnx.Rngs(0))
    h = jnp.zeros((B, H))
    expected = []
    for t in range(T):
        h = rnn_jax.gru_step(layer.cell_params(), h, XS[:, t])
        expected.append(h)
    np.testing.assert_allclose(layer(XS), jnp.stack(expected, 1), rtol=1e-5, atol=1e-6)


def test_left_padding_matches_right_padding_of_the_same_sequences():
    right = rn.SimpleRNN(F, H, rngs=nnx.Rngs(0))
    left = rn.SimpleRNN(F, H, padding="left", rngs=nnx.Rngs(0))
    # Row b moved right by T - length: xs_left[b, s] = XS[b, s - (T - length)].
    index = ((jnp.arange(T)[None, :] - (T - LENGTHS)[:, None]) % T)[..., None]  # [B, T, 1]
    carry, outputs = right(XS, seq_lengths=LENGTHS, return_carry=True)
    carry_left, outputs_left = left(jnp.take_along_axis(XS, index, 1), seq_lengths=LENGTHS, return_carry=True)
    np.testing.assert_allclose(carry_left, carry, atol=1e-6)
    np.testing.assert_allclose(outputs_left, jnp.take_along_axis(outputs, index, 1), atol=1e-6)


def test_resets_start_each_segment_from_zero():
    layer = rn.LSTM(F, H, rngs=nnx.Rngs(0))
    resets = jnp.zeros((B, T), bool).at[:, 3].set(True)
    outputs = layer(XS, resets=resets)
    np.testing.assert_allclose(outputs[:, 3:], layer(XS[:, 3:]), atol=1e-6)


def test_irnn_and_numerical_gradients():
    layer = rn.SimpleRNN(F, H, activation="relu", recurrent_init="identity", rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(layer.A[...][:, :H], np.eye(H))
    with jax.enable_x64(True):
        graphdef, state = nnx.split(rn.SimpleRNN(2, 3, param_dtype=jnp.float64, rngs=nnx.Rngs(1)))
        xs = jax.random.normal(jax.random.key(3), (2, 4, 2), jnp.float64)
        lengths = jnp.array([4, 2])
        f = lambda state, xs: jnp.sum(
            jnp.sin(nnx.merge(graphdef, state)(xs, seq_lengths=lengths, reverse=True))
        )
        check_grads(f, (state, xs), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_bidirectional_concatenates_the_two_directions():
    forward, backward = rn.SimpleRNN(F, H, rngs=nnx.Rngs(0)), rn.SimpleRNN(F, H, rngs=nnx.Rngs(1))
    (carry_f, carry_b), outputs = rn.Bidirectional(forward, backward)(
        XS, seq_lengths=LENGTHS, return_carry=True
    )
    h_last, hs = rnn_jax.bidirectional(
        rnn_jax.simple_rnn_step, forward.cell_params(), backward.cell_params(), XS, lengths=LENGTHS
    )
    np.testing.assert_allclose(outputs, hs, atol=1e-6)
    np.testing.assert_allclose(jnp.concatenate([carry_f, carry_b], -1), h_last, atol=1e-6)


def test_jit_matches_eager_and_training_lowers_the_loss():
    model = rn.SimpleRNN(F, H, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(nnx.jit(lambda m, x: m(x))(model, XS), model(XS), atol=1e-6)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    target = jnp.ones((B, T, H)) * 0.5

    @nnx.jit
    def train_step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(XS) - target) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer)) for _ in range(20)]
    assert losses[-1] < 0.7 * losses[0] and all(np.isfinite(losses))


@pytest.mark.parametrize(
    "make, call, error, message",
    [
        (lambda: rn.SimpleRNN(F, H, activation="sigmoid", rngs=nnx.Rngs(0)), None, ValueError, "activation"),
        (lambda: rn.SimpleRNN(F, H, strategy="fastest", rngs=nnx.Rngs(0)), None, ValueError, "strategy"),
        (lambda: rn.SimpleRNN(F, H, padding="middle", rngs=nnx.Rngs(0)), None, ValueError, "padding"),
        (
            lambda: rn.SimpleRNN(F, H, rngs=nnx.Rngs(0)),
            lambda m: m(XS[0]),
            ValueError,
            r"\[batch, time, features\]",
        ),
        (lambda: rn.SimpleRNN(F, H, rngs=nnx.Rngs(0)), lambda m: m(XS[..., :2]), ValueError, "4 features"),
        (
            lambda: rn.SimpleRNN(F, H, rngs=nnx.Rngs(0)),
            lambda m: m(XS.astype(jnp.int32)),
            TypeError,
            "floating",
        ),
        (
            lambda: rn.SimpleRNN(F, H, rngs=nnx.Rngs(0)),
            lambda m: m(XS, seq_lengths=jnp.ones(B)),
            TypeError,
            "integer",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(make, call, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        call(layer)
