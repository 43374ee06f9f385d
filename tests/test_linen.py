"""rnn_jax.linen: the Linen layers against flax.linen.RNN(SimpleCell / LSTMCell) and nn.Bidirectional with
the same weights, the core's bidirectional unroll, jit, and their errors."""

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
REAL = (jnp.arange(T)[None, :] < LENGTHS[:, None])[..., None]  # [B, T, 1]: right padding
# The call's options are the NNX layers' (rnn_jax.core.layer_call), tested there one by one against
# nnx.RNN; here, the call that uses them all.
CALLS = {"padded-reversed": {"seq_lengths": LENGTHS, "reverse": True}}


def _with_bias(params, key=5):
    """The core's params with a random bias (a misplaced bias shows where a zero one would not)."""
    return {**params, "b": jax.random.normal(jax.random.key(key), params["b"].shape)}


def simple_cell_params(params):
    """flax's `nn.SimpleCell` params holding ours: A = [h.kernel^T | i.kernel^T], b = i.bias."""
    A, b = params["A"], params["b"]
    return {"h": {"kernel": A[:, :H].T}, "i": {"kernel": A[:, H:].T, "bias": b}}


def simple_core_params(cell):
    return {"A": jnp.concatenate([cell["h"]["kernel"].T, cell["i"]["kernel"].T], 1), "b": cell["i"]["bias"]}


def lstm_cell_params(params):
    """flax's `nn.LSTMCell` params holding ours: gate k's rows of A = [hk.kernel^T | ik.kernel^T], b = hk.bias."""
    A, b = params["A"], params["b"]
    cell = {}
    for k, gate in enumerate("ifgo"):
        rows = slice(k * H, (k + 1) * H)
        cell[f"h{gate}"] = {"kernel": A[rows, :H].T, "bias": b[rows]}
        cell[f"i{gate}"] = {"kernel": A[rows, H:].T}
    return cell


def lstm_core_params(cell):
    A = jnp.concatenate(
        [jnp.concatenate([cell[f"h{g}"]["kernel"].T, cell[f"i{g}"]["kernel"].T], 1) for g in "ifgo"]
    )
    return {"A": A, "b": jnp.concatenate([cell[f"h{g}"]["bias"] for g in "ifgo"])}


def _run_every_call(layer, params, carry0):
    """For each call of CALLS: (carry, outputs at real steps), and d loss / d (params, inputs)."""
    results = {}
    for name, call in CALLS.items():

        def loss(params, xs, call=call):
            carry, outputs = layer.apply(
                {"params": params}, xs, initial_carry=carry0, return_carry=True, **call
            )
            outputs = jnp.where(REAL, outputs, 0.0) if "seq_lengths" in call else outputs  # flax: junk
            value = jnp.sum(jnp.sin(3.0 * outputs)) + sum(jnp.sum(jnp.cos(c)) for c in jax.tree.leaves(carry))
            return value, (carry, outputs)

        results[name] = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, XS)
    return results


@pytest.mark.parametrize(
    "ours, theirs, to_flax, to_core",
    [
        (rl.SimpleRNN(H), nn.RNN(nn.SimpleCell(H)), simple_cell_params, simple_core_params),
        (rl.LSTM(H), nn.RNN(nn.LSTMCell(H)), lstm_cell_params, lstm_core_params),
    ],
    ids=["simple", "lstm"],
)
def test_same_outputs_carry_and_gradients_as_flax(ours, theirs, to_flax, to_core):
    params = _with_bias(ours.init(jax.random.key(0), XS)["params"])
    h0 = jax.random.normal(jax.random.key(6), (B, H))
    carry0 = h0 if isinstance(ours, rl.SimpleRNN) else (jnp.cos(h0), h0)  # the LSTM's carry: (c, h)
    results = jax.jit(_run_every_call, static_argnums=0)(ours, params, carry0)
    results_ref = jax.jit(_run_every_call, static_argnums=0)(theirs, {"cell": to_flax(params)}, carry0)
    for name in CALLS:
        (_, (carry, outputs)), (grads, input_grads) = results[name]
        (_, (carry_ref, outputs_ref)), (grads_ref, input_grads_ref) = results_ref[name]
        close = lambda a, b, name=name: np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
        close(outputs, outputs_ref)
        jax.tree.map(close, carry, carry_ref)
        close(input_grads, input_grads_ref)
        jax.tree.map(close, grads, to_core(grads_ref["cell"]))


def test_parameters_are_the_cores():
    variables = rl.SimpleRNN(H, activation="relu", recurrent_init="identity").init(jax.random.key(0), XS)
    assert {name: p.shape for name, p in variables["params"].items()} == {"A": (H, H + F), "b": (H,)}
    np.testing.assert_array_equal(variables["params"]["A"][:, :H], np.eye(H))  # the IRNN's start
    assert set(rl.SimpleRNN(H, use_bias=False).init(jax.random.key(0), XS)["params"]) == {"A"}
    shapes = jax.tree.map(jnp.shape, rl.GRU(H).init(jax.random.key(0), XS)["params"])
    assert shapes == {"A": (2 * H, H + F), "b": (2 * H,), "A_candidate": (H, H + F), "b_candidate": (H,)}


def test_bidirectional_matches_flax_bidirectional_and_the_core():
    ours = rl.Bidirectional(rl.SimpleRNN(H), rl.SimpleRNN(H))
    params = ours.init(jax.random.key(0), XS)["params"]
    params = {
        "forward_rnn": _with_bias(params["forward_rnn"], 5),
        "backward_rnn": _with_bias(params["backward_rnn"], 6),
    }
    carry, outputs = ours.apply({"params": params}, XS, seq_lengths=LENGTHS, return_carry=True)
    theirs = nn.Bidirectional(nn.RNN(nn.SimpleCell(H)), nn.RNN(nn.SimpleCell(H)))
    flax_params = {name: {"cell": simple_cell_params(p)} for name, p in params.items()}
    carry_ref, outputs_ref = theirs.apply({"params": flax_params}, XS, seq_lengths=LENGTHS, return_carry=True)
    np.testing.assert_allclose(outputs, jnp.where(REAL, outputs_ref, 0.0), atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), carry, carry_ref)
    # our layers are drop-ins inside flax's nn.Bidirectional too (it passes them init_key)
    mixed = nn.Bidirectional(rl.SimpleRNN(H), rl.SimpleRNN(H))
    np.testing.assert_allclose(mixed.apply({"params": params}, XS, seq_lengths=LENGTHS), outputs, atol=1e-6)
    # many-to-one: the core's bidirectional unroll
    (carry_f, carry_b), nothing = ours.apply(
        {"params": params}, XS, seq_lengths=LENGTHS, return_carry=True, return_outputs=False
    )
    h_last, _ = rnn_jax.bidirectional(
        rnn_jax.simple_rnn_step, params["forward_rnn"], params["backward_rnn"], XS, lengths=LENGTHS
    )
    assert nothing is None
    np.testing.assert_allclose(jnp.concatenate([carry_f, carry_b], -1), h_last, atol=1e-6)


def test_jit_matches_eager_and_left_padding_reads_the_same_sequences():
    layer = rl.LSTM(H, padding="left")
    variables = layer.init(jax.random.key(0), XS)
    index = ((jnp.arange(T)[None, :] - (T - LENGTHS)[:, None]) % T)[
        ..., None
    ]  # row b moved right by T - length
    xs_left = jnp.take_along_axis(XS, index, 1)
    carry, outputs = jax.jit(lambda v, xs: layer.apply(v, xs, seq_lengths=LENGTHS, return_carry=True))(
        variables, xs_left
    )
    carry_eager, outputs_eager = layer.apply(variables, xs_left, seq_lengths=LENGTHS, return_carry=True)
    np.testing.assert_allclose(outputs, outputs_eager, atol=1e-6)
    right = rl.LSTM(H).apply(variables, XS, seq_lengths=LENGTHS, return_carry=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), carry, right[0])
    np.testing.assert_allclose(outputs, jnp.take_along_axis(right[1], index, 1), atol=1e-6)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: rl.SimpleRNN(H, activation="sigmoid").init(jax.random.key(0), XS),
            ValueError,
            "unknown activation",
        ),
        (lambda: rl.GRU(H, strategy="fastest").init(jax.random.key(0), XS), ValueError, "unknown strategy"),
        (lambda: rl.SimpleRNN(H).init(jax.random.key(0), XS[0]), ValueError, r"\[batch, time, features\]"),
        (
            lambda: rl.SimpleRNN(H).apply(rl.SimpleRNN(H).init(jax.random.key(0), XS), XS[..., :2]),
            ValueError,
            r"4 features .* got shape \(3, 6, 2\)",
        ),
        (
            lambda: rl.SimpleRNN(H).init(jax.random.key(0), XS, seq_lengths=jnp.ones(B)),
            TypeError,
            "seq_lengths must be an integer array",
        ),
        (
            lambda: rl.Bidirectional(rl.SimpleRNN(H), rl.SimpleRNN(H, padding="left")).init(
                jax.random.key(0), XS
            ),
            ValueError,
            "must pad the same way",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
