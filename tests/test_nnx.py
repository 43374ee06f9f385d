"""rnn_jax.nnx: the NNX layers against flax's nnx.RNN cells with the same weights, a Python loop over the
core's steps, separate unrolls, finite differences, jit, and their errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

import rnn_jax
import rnn_jax.nnx as rn

B, T, F, H = 3, 6, 4, 5
XS = jax.random.normal(jax.random.key(2), (B, T, F))
LENGTHS = jnp.array([6, 3, 1])
REAL = (jnp.arange(T)[None, :] < LENGTHS[:, None])[..., None]  # [B, T, 1]: right padding
CALLS = {
    "plain": {},
    "padded": {"seq_lengths": LENGTHS},
    "reversed": {"reverse": True},
    "padded-reversed": {"seq_lengths": LENGTHS, "reverse": True},
    "padded-reversed-keep_order": {"seq_lengths": LENGTHS, "reverse": True, "keep_order": True},
}


def _rows(k):
    return slice(k * H, (k + 1) * H)


# flax's parameters as slices of ours: (path in the cell, rows of A or b, which part): "h" is A_h^T,
# "x" is A_x^T (flax's kernels are [in, out]), "b" the bias.
SIMPLE_CELL = [(("dense_h", "kernel"), _rows(0), "h"), (("dense_i", "kernel"), _rows(0), "x")]
SIMPLE_CELL += [(("dense_i", "bias"), _rows(0), "b")]
LSTM_CELL = [
    entry
    for k, (x_name, h_name) in enumerate([("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho")])
    for entry in [
        ((h_name, "kernel"), _rows(k), "h"),
        ((h_name, "bias"), _rows(k), "b"),
        ((x_name, "kernel"), _rows(k), "x"),
    ]
]
OPTIMIZED_LSTM_CELL = [(("dense_h", "kernel"), slice(None), "h"), (("dense_h", "bias"), slice(None), "b")]
OPTIMIZED_LSTM_CELL += [(("dense_i", "kernel"), slice(None), "x")]


def _flax_value(params, rows, part):
    if part == "b":
        return params["b"][rows]
    block = params["A"][rows]
    return (block[:, :H] if part == "h" else block[:, H:]).T


def _core_params(layout, get, num_gates):
    """Ours, {"A": [g*H, H + F], "b": [g*H]}, assembled from flax's parameters `get(path)`."""
    A, b = jnp.full((num_gates * H, H + F), jnp.nan), jnp.full((num_gates * H,), jnp.nan)
    for path, rows, part in layout:
        value = get(path)
        if part == "b":
            b = b.at[rows].set(value)
        else:
            A = A.at[rows, :H].set(value.T) if part == "h" else A.at[rows, H:].set(value.T)
    return {"A": A, "b": b}


FLAX_CELLS = {  # flax's cell: how its parameters map onto ours, its number of gates
    nnx.SimpleCell: (SIMPLE_CELL, 1),
    nnx.LSTMCell: (LSTM_CELL, 4),
    nnx.OptimizedLSTMCell: (OPTIMIZED_LSTM_CELL, 4),
}


def ours_with_bias(layer_type, key=0):
    """Our layer with a random bias (a misplaced bias shows where a zero one would not)."""
    ours = layer_type(F, H, rngs=nnx.Rngs(key))
    ours.b[...] = jax.random.normal(jax.random.key(5 + key), ours.b.shape)
    return ours


def flax_copy(ours, cell_type):
    """flax's `nnx.RNN(cell_type(F, H))` with the weights of `ours`."""
    layout, num_gates = FLAX_CELLS[cell_type]
    cell = cell_type(F, H, rngs=nnx.Rngs(1))
    for (module, param), rows, part in layout:
        getattr(getattr(cell, module), param)[...] = _flax_value(ours.cell_params(), rows, part)
    copied = _core_params(layout, lambda path: getattr(getattr(cell, path[0]), path[1])[...], num_gates)
    jax.tree.map(np.testing.assert_array_equal, copied, ours.cell_params())  # every weight was copied
    return nnx.RNN(cell)


# Gradients (the costly part to compile) for the calls that use seq_lengths, forwards and reversed; the
# calls between them differ only in which outputs are flipped, which the outputs themselves show.
GRADIENT_CALLS = ("padded", "padded-reversed")


def _run_every_call(model, carry0):
    """For each call of CALLS: ((carry, outputs at real steps), d loss / d (params, inputs) or None)."""
    results = {}
    for name, call in CALLS.items():

        def loss(model, xs, call=call):
            carry, outputs = model(xs, initial_carry=carry0, return_carry=True, **call)
            outputs = jnp.where(REAL, outputs, 0.0) if "seq_lengths" in call else outputs  # flax: junk
            value = jnp.sum(jnp.sin(3.0 * outputs)) + sum(jnp.sum(jnp.cos(c)) for c in jax.tree.leaves(carry))
            return value, (carry, outputs)

        if name in GRADIENT_CALLS:
            (_, aux), grads = nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(model, XS)
            results[name] = aux, grads
        else:
            results[name] = loss(model, XS)[1], None
    return results


@pytest.mark.parametrize(
    "layer_type, cell_type",
    [(rn.SimpleRNN, nnx.SimpleCell), (rn.LSTM, nnx.LSTMCell)],
    ids=["simple", "lstm"],
)
def test_same_outputs_carry_and_gradients_as_flax(layer_type, cell_type):
    ours = ours_with_bias(layer_type)
    h0 = jax.random.normal(jax.random.key(6), (B, H))
    carry0 = h0 if layer_type is rn.SimpleRNN else (jnp.cos(h0), h0)  # the LSTM's carry: (c, h), as flax's
    results = nnx.jit(_run_every_call)(ours, carry0)
    results_ref = nnx.jit(_run_every_call)(flax_copy(ours, cell_type), carry0)
    layout, num_gates = FLAX_CELLS[cell_type]
    for name in CALLS:
        (carry, outputs), gradients = results[name]
        (carry_ref, outputs_ref), gradients_ref = results_ref[name]
        close = lambda a, b, name=name: np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
        close(outputs, outputs_ref)
        jax.tree.map(close, carry, carry_ref)
        if name not in GRADIENT_CALLS:
            continue
        (grads, input_grads), (grads_ref, input_grads_ref) = gradients, gradients_ref
        close(input_grads, input_grads_ref)
        cell_grads = grads_ref["cell"]
        param_grads_ref = _core_params(layout, lambda path, g=cell_grads: g[path[0]][path[1]][...], num_gates)
        jax.tree.map(close, {"A": grads["A"][...], "b": grads["b"][...]}, param_grads_ref)


def test_lstm_matches_flax_optimized_lstm_cell():
    ours = ours_with_bias(rn.LSTM)
    carry, outputs = ours(XS, seq_lengths=LENGTHS, reverse=True, return_carry=True)
    carry_ref, outputs_ref = flax_copy(ours, nnx.OptimizedLSTMCell)(
        XS, seq_lengths=LENGTHS, reverse=True, return_carry=True
    )
    np.testing.assert_allclose(outputs, jnp.where(REAL, outputs_ref, 0.0), atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), carry, carry_ref)


@pytest.mark.parametrize("b, t, f, h", [(1, 1, 1, 1), (2, 7, 3, 8), (4, 3, 9, 2)])
@pytest.mark.parametrize("layer_type", [rn.SimpleRNN, rn.LSTM, rn.GRU])
def test_shapes(layer_type, b, t, f, h):
    # traced only (nnx.eval_shape, jax.eval_shape): the shapes without compiling anything
    graphdef, state = nnx.split(
        nnx.eval_shape(
            lambda: rn.Bidirectional(layer_type(f, h, rngs=nnx.Rngs(0)), layer_type(f, h, rngs=nnx.Rngs(1)))
        )
    )
    inputs = jax.ShapeDtypeStruct((b, t, f), jnp.float32)
    lengths = jax.ShapeDtypeStruct((b,), jnp.int32)

    def call(state, inputs, lengths):
        both = nnx.merge(graphdef, state)
        return both.forward_rnn(inputs, seq_lengths=lengths, return_carry=True), both(
            inputs, seq_lengths=lengths
        )

    (carry, outputs), merged = jax.eval_shape(call, state, inputs, lengths)
    assert outputs.shape == (b, t, h) and merged.shape == (b, t, 2 * h)
    expected = ((b, h), (b, h)) if layer_type is rn.LSTM else (b, h)  # the LSTM's carry: (c, h)
    assert jax.tree.map(lambda c: c.shape, carry) == expected


def test_outputs_at_padded_steps_are_zero_and_the_carry_starts_at_zeros():
    layer = rn.LSTM(F, H, rngs=nnx.Rngs(0))
    carry, outputs = layer(XS, seq_lengths=LENGTHS, return_carry=True)
    assert float(jnp.abs(jnp.where(REAL, 0.0, outputs)).max()) == 0.0 and jnp.all(outputs[0] != 0)
    np.testing.assert_array_equal(carry[1], outputs[jnp.arange(B), LENGTHS - 1])  # h at the last real step
    zeros = layer.initialize_carry((B,))
    assert jax.tree.map(jnp.shape, zeros) == ((B, H), (B, H)) and not any(jnp.any(z) for z in zeros)
    np.testing.assert_array_equal(layer(XS, initial_carry=zeros, seq_lengths=LENGTHS), outputs)


def _loop_reference(step_fn, params, xs, lengths, reverse):
    """A Python loop per sequence over its real steps: (last states [B, H], outputs [B, T, H] aligned)."""
    last, outputs = [], np.zeros((B, T, H), np.float32)
    for b in range(B):
        h = jnp.zeros(H)
        steps = range(int(lengths[b]))
        for t in reversed(steps) if reverse else steps:
            h = step_fn(params, h, xs[b, t])
            outputs[b, t] = h
        last.append(h)
    return jnp.stack(last), outputs


@pytest.mark.parametrize("reverse, keep_order", [(False, False), (True, True), (True, False)])
def test_gru_is_the_cores_gru_step_in_a_python_loop(reverse, keep_order):
    layer = rn.GRU(F, H, rngs=nnx.Rngs(0))
    carry, outputs = layer(XS, seq_lengths=LENGTHS, reverse=reverse, keep_order=keep_order, return_carry=True)
    last, expected = _loop_reference(rnn_jax.gru_step, layer.cell_params(), XS, LENGTHS, reverse)
    if reverse and not keep_order:  # in the order computed: row b's real steps flipped, padding last
        expected = np.stack(
            [np.concatenate([e[:n][::-1], e[n:]]) for e, n in zip(expected, LENGTHS, strict=True)]
        )
    np.testing.assert_allclose(carry, last, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)


def _gru_pair(reset_bias):
    """Our GRU and flax's GRUCell with the same weights: z negated (flax's z weighs the old state)."""
    ours = rn.GRU(F, H, rngs=nnx.Rngs(0))
    ours.b[...] = jax.random.normal(jax.random.key(5), (2 * H,)).at[H:].set(reset_bias)
    ours.b_candidate[...] = jax.random.normal(jax.random.key(6), (H,))
    A, b, A_n, b_n = ours.A[...], ours.b[...], ours.A_candidate[...], ours.b_candidate[...]
    z, r = _rows(0), _rows(1)
    cell = nnx.GRUCell(F, H, rngs=nnx.Rngs(1))  # dense_i, dense_h: columns (r, z, n); dense_h has no bias
    cell.dense_i.kernel[...] = jnp.concatenate([A[r, H:].T, -A[z, H:].T, A_n[:, H:].T], axis=1)
    cell.dense_h.kernel[...] = jnp.concatenate([A[r, :H].T, -A[z, :H].T, A_n[:, :H].T], axis=1)
    cell.dense_i.bias[...] = jnp.concatenate([b[r], -b[z], b_n])
    return ours, nnx.RNN(cell)


def test_gru_matches_flax_gru_cell_only_while_the_reset_gate_is_open():
    run = nnx.jit(lambda layer: layer(XS))  # compiled once for ours and once for flax's
    ours, theirs = _gru_pair(reset_bias=100.0)  # r = sigmoid(100) = 1: r * (W h) = W (r * h)
    np.testing.assert_allclose(run(ours), run(theirs), atol=1e-5)
    ours, theirs = _gru_pair(reset_bias=0.0)  # r = 1/2 or so: Cho et al.'s reset differs from flax's
    assert float(jnp.abs(run(ours) - run(theirs)).max()) > 1e-3


@pytest.mark.parametrize("reverse", [False, True])
def test_left_padding_matches_right_padding_of_the_same_sequences(reverse):
    right = rn.SimpleRNN(F, H, reverse=reverse, keep_order=True, rngs=nnx.Rngs(0))
    left = rn.SimpleRNN(F, H, padding="left", reverse=reverse, keep_order=True, rngs=nnx.Rngs(0))
    # Row b moved right by T - length: xs_left[b, s] = XS[b, s - (T - length)].
    index = ((jnp.arange(T)[None, :] - (T - LENGTHS)[:, None]) % T)[..., None]  # [B, T, 1]
    carry, outputs = right(XS, seq_lengths=LENGTHS, return_carry=True)
    carry_left, outputs_left = left(jnp.take_along_axis(XS, index, 1), seq_lengths=LENGTHS, return_carry=True)
    np.testing.assert_allclose(carry_left, carry, atol=1e-6)
    np.testing.assert_allclose(outputs_left, jnp.take_along_axis(outputs, index, 1), atol=1e-6)


def test_resets_match_separate_unrolls_of_each_segment():
    layer = rn.LSTM(F, H, rngs=nnx.Rngs(0))
    resets = jnp.zeros((B, T), bool).at[0, 3].set(True).at[1, 2].set(True)  # row 2: no reset
    outputs = layer(XS, resets=resets)
    cuts = jnp.array([3, 2, T])
    # each row's first segment, then its second one moved to the front: right-padded unrolls from zero
    first = layer(XS, seq_lengths=cuts)
    second = layer(
        jnp.stack([jnp.roll(XS[b], -int(cuts[b]) % T, axis=0) for b in range(B)]), seq_lengths=T - cuts
    )
    for b in range(B):
        cut = int(cuts[b])
        np.testing.assert_allclose(outputs[b, :cut], first[b, :cut], atol=1e-6)
        np.testing.assert_allclose(outputs[b, cut:], second[b, : T - cut], atol=1e-6)


def test_time_major_and_many_to_one_agree_with_the_plain_call():
    layer = rn.GRU(F, H, rngs=nnx.Rngs(0))
    carry, outputs = layer(XS, seq_lengths=LENGTHS, return_carry=True)
    carry_t, outputs_t = layer(
        jnp.swapaxes(XS, 0, 1), seq_lengths=LENGTHS, time_major=True, return_carry=True
    )
    np.testing.assert_allclose(outputs_t, jnp.swapaxes(outputs, 0, 1), atol=1e-6)
    np.testing.assert_allclose(carry_t, carry, atol=1e-6)
    carry_only, nothing = layer(XS, seq_lengths=LENGTHS, return_carry=True, return_outputs=False)
    assert nothing is None
    np.testing.assert_allclose(carry_only, carry, atol=1e-6)


def test_irnn_and_numerical_gradients_in_float64():
    layer = rn.SimpleRNN(F, H, activation="relu", recurrent_init="identity", rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(layer.A[...][:, :H], np.eye(H))
    graphdef, state = nnx.split(ours_with_bias(rn.SimpleRNN))
    with jax.enable_x64(True):
        # the Simple RNN's call runs the fused backward pass (strategy "auto"): against finite differences
        state, xs = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), (state, XS))

        @jax.jit
        def f(state, xs):
            outputs = nnx.merge(graphdef, state)(xs, seq_lengths=LENGTHS, reverse=True)
            return jnp.sum(jnp.sin(outputs))

        check_grads(f, (state, xs), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_bidirectional_matches_flax_bidirectional_and_the_core():
    forward, backward = ours_with_bias(rn.SimpleRNN, 0), ours_with_bias(rn.SimpleRNN, 1)
    forward_ref, backward_ref = flax_copy(forward, nnx.SimpleCell), flax_copy(backward, nnx.SimpleCell)
    (carry_f, carry_b), outputs = rn.Bidirectional(forward, backward)(
        XS, seq_lengths=LENGTHS, return_carry=True
    )
    (ref_f, ref_b), outputs_ref = nnx.Bidirectional(forward_ref, backward_ref)(
        XS, seq_lengths=LENGTHS, return_carry=True
    )
    np.testing.assert_allclose(outputs, jnp.where(REAL, outputs_ref, 0.0), atol=1e-5)
    np.testing.assert_allclose(carry_f, ref_f, atol=1e-5)
    np.testing.assert_allclose(carry_b, ref_b, atol=1e-5)
    # and, left-padded, the core's bidirectional unroll
    left = [rn.SimpleRNN(F, H, padding="left", rngs=nnx.Rngs(k)) for k in range(2)]
    h_last, hs = rnn_jax.bidirectional(
        rnn_jax.simple_rnn_step, *(layer.cell_params() for layer in left), XS, lengths=LENGTHS, padding="left"
    )
    (carry_f, carry_b), outputs = rn.Bidirectional(*left)(XS, seq_lengths=LENGTHS, return_carry=True)
    np.testing.assert_allclose(outputs, hs, atol=1e-6)
    np.testing.assert_allclose(jnp.concatenate([carry_f, carry_b], -1), h_last, atol=1e-6)


def test_jit_matches_eager():
    # (training with nnx.Optimizer and nnx.value_and_grad: docs/flax_layers.md, run by tests/test_docs.py)
    model = rn.SimpleRNN(F, H, rngs=nnx.Rngs(0))
    jitted = nnx.jit(lambda model, xs: model(xs, seq_lengths=LENGTHS, return_carry=True))(model, XS)
    eager = model(XS, seq_lengths=LENGTHS, return_carry=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), jitted, eager)


def test_dtype_sets_the_computation_dtype():
    layer = rn.LSTM(F, H, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    outputs = layer(XS)
    assert outputs.dtype == jnp.bfloat16 and layer.A[...].dtype == jnp.float32
    np.testing.assert_allclose(outputs.astype(jnp.float32), rn.LSTM(F, H, rngs=nnx.Rngs(0))(XS), atol=0.05)


def _layer():
    return rn.SimpleRNN(F, H, rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: rn.SimpleRNN(F, H, activation="sigmoid", rngs=nnx.Rngs(0)),
            ValueError,
            "unknown activation",
        ),
        (lambda: rn.GRU(F, H, strategy="fastest", rngs=nnx.Rngs(0)), ValueError, "unknown strategy"),
        (lambda: rn.LSTM(F, H, padding="middle", rngs=nnx.Rngs(0)), ValueError, "unknown padding"),
        (
            lambda: _layer()(XS[0]),
            ValueError,
            r"\[batch, time, features\] \(3 dimensions\), got shape \(6, 4\)",
        ),
        (lambda: _layer()(XS[..., :2]), ValueError, r"4 features .* got shape \(3, 6, 2\)"),
        (lambda: _layer()(XS.astype(jnp.int32)), TypeError, "inputs must be a floating array"),
        (lambda: _layer()(XS, seq_lengths=jnp.ones(B)), TypeError, "seq_lengths must be an integer array"),
        (
            lambda: _layer()(XS, seq_lengths=jnp.ones(2, int)),
            ValueError,
            r"seq_lengths must have shape \[3\]",
        ),
        (
            lambda: _layer()(XS, seq_lengths=jnp.array([7, 1, 1])),
            ValueError,
            r"seq_lengths must lie in \[0, 6\]",
        ),
        (
            lambda: rn.LSTM(F, H, rngs=nnx.Rngs(0))(XS, initial_carry=jnp.zeros((B, H))),
            TypeError,
            r"\(c, h\)",
        ),
        (
            lambda: rn.LSTM(F, H, strategy="custom_vjp", rngs=nnx.Rngs(0))(XS),
            ValueError,
            "simple_rnn_step only",
        ),
        (
            lambda: rn.Bidirectional(_layer(), rn.SimpleRNN(F, H, padding="left", rngs=nnx.Rngs(1))),
            ValueError,
            "must pad the same way",
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
