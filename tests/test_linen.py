"""rnn_jax.linen: the Linen layers against flax.linen.RNN(SimpleCell / LSTMCell) with the same weights."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnn_jax
import rnn_jax.linen as rl

B, T, F, H = 3, 6, 4, 5
XS = jax.random.normal(jax.random.key(2), (B, T, F))
LENGTHS = jnp.array([6, 3, 1])
REAL = (jnp.arange(T)[None, :] < LENGTHS[:, None])[..., None]


def _simple_reference(params):
    A, b = params["A"], params["b"]
    return {"params": {"cell": {"h": {"kernel": A[:, :H].T}, "i": {"kernel": A[:, H:].T, "bias": b}}}}


def _lstm_reference(params):
    A, b = params["A"], params["b"]
    cell = {}
    for g, gate in enumerate("ifgo"):
        rows = slice(g * H, (g + 1) * H)
        cell[f"h{gate}"] = {"kernel": A[rows, :H].T, "bias": b[rows]}
        cell[f"i{gate}"] = {"kernel": A[rows, H:].T}
    return {"params": {"cell": cell}}


@pytest.mark.parametrize(
    "ours, theirs, reference",
    [
        (rl.SimpleRNN(H), nn.RNN(nn.SimpleCell(H)), _simple_reference),
        (rl.LSTM(H), nn.RNN(nn.LSTMCell(H)), _lstm_reference),
    ],
    ids=["simple", "lstm"],
)
@pytest.mark.parametrize(
    "call",
    [{}, {"seq_lengths": LENGTHS}, {"seq_lengths": LENGTHS, "reverse": True, "keep_order": True}],
    ids=["plain", "padded", "reversed"],
)
def test_same_outputs_carry_and_gradients_as_flax(ours, theirs, reference, call):
    variables = ours.init(jax.random.key(0), XS)
    reference_variables = reference(variables["params"])
    mask = REAL if "seq_lengths" in call else True

    def loss(layer, variables, xs):
        carry, outputs = layer.apply(variables, xs, return_carry=True, **call)
        return jnp.sum(jnp.where(mask, outputs, 0.0) ** 2) + sum(
            jnp.sum(c) for c in jax.tree.leaves(carry)
        ), (carry, outputs)

    (value, (carry, outputs)), grads = jax.value_and_grad(loss, argnums=2, has_aux=True)(ours, variables, XS)
    (value_ref, (carry_ref, outputs_ref)), grads_ref = jax.value_and_grad(loss, argnums=2, has_aux=True)(
        theirs, reference_variables, XS
    )
    np.testing.assert_allclose(jnp.where(mask, outputs, 0), jnp.where(mask, outputs_ref, 0), atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), carry, carry_ref)
    np.testing.assert_allclose(grads, grads_ref, atol=1e-5)
    param_grads = jax.grad(lambda v: loss(ours, v, XS)[0])(variables)["params"]
    param_grads_ref = jax.grad(lambda v: loss(theirs, v, XS)[0])(reference_variables)["params"]
    expected = reference({"A": param_grads["A"], "b": param_grads["b"]})
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), expected["params"], param_grads_ref
    )


def test_gru_and_bidirectional_follow_the_core():
    layer = rl.Bidirectional(rl.GRU(H), rl.GRU(H))
    variables = layer.init(jax.random.key(0), XS)
    outputs = layer.apply(variables, XS, seq_lengths=LENGTHS)
    params = variables["params"]
    _, hs = rnn_jax.bidirectional(
        rnn_jax.gru_step, params["forward_rnn"], params["backward_rnn"], XS, lengths=LENGTHS
    )
    np.testing.assert_allclose(outputs, hs, atol=1e-6)


def test_bad_input_raises_a_clear_error():
    layer = rl.SimpleRNN(H, activation="sigmoid")
    with pytest.raises(ValueError, match="activation"):
        layer.init(jax.random.key(0), XS)
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        rl.SimpleRNN(H).init(jax.random.key(0), XS[0])
