"""Unrolling a cell over time with `jax.lax.scan`: padding-aware, reversible, bidirectional, stacked.

The loop that `unroll` runs, in pseudo-code (time-major inside, batch-major at the interface):

    h = h0
    for t in range(T):                       # reversed when reverse=True
        h_new = step_fn(params, h, xs[:, t])
        h = where(t is a real token, h_new, h)   # padded steps never change the state
        hs[:, t] = where(t is a real token, h, 0)
    return h, hs

There is no Python loop over time: the body is traced once and `lax.scan` runs it T times.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core import cells, fused
from rnn_jax.core._validation import check_choice, check_floating, check_ndim, check_positive_int, is_concrete

StepFn = Callable[[Any, Any, jax.Array], Any]

PADDINGS = ("right", "left")
AUTO_SIMPLE_RNN = "custom_jvp"  # what strategy="auto" runs for simple_rnn_step
# lax.scan's unroll factor when `unroll=None`, per JAX backend (measured with
# experiments/benchmark_unroll.py; README.md, Performance). On a GPU each loop iteration costs
# kernel launches, and unrolling 4 steps made the Simple RNN, LSTM and GRU 1.5-2.2x faster in
# fwd+bwd on an H200; on the 2-core CPU it did not win (LSTM: 1.7x slower at 4).
SCAN_UNROLL = {"cpu": 1, "gpu": 4}
SCAN_UNROLL_OTHER = 1  # backends not measured (TPU)
# "pallas" (issue 14): rnn_jax.core.pallas_rnn, opt-in; "auto" never picks it (reverse mode only,
# H <= 128, float32, and a deprecated Pallas backend), although it was the fastest on an H200.
STRATEGIES = ("auto", "step", "hoisted", "custom_vjp", "custom_jvp", "pallas")
_SIMPLE_RNN_ONLY = ("hoisted", "custom_vjp", "custom_jvp", "pallas")
_RESET_STRATEGIES = ("auto", "step", "hoisted")  # the ones whose scan takes `resets`


def _simple_rnn_activation(step_fn: StepFn) -> str | None:
    """The activation name if `step_fn` is `simple_rnn_step` (or a partial of it), else None."""
    if step_fn is cells.simple_rnn_step:
        return "tanh"
    if (
        isinstance(step_fn, functools.partial)
        and step_fn.func is cells.simple_rnn_step
        and not step_fn.args
        and set(step_fn.keywords) <= {"activation"}
    ):
        return step_fn.keywords.get("activation", "tanh")
    return None


def default_scan_unroll(backend: str | None = None) -> int:
    """The measured faster `lax.scan` unroll factor for `backend` (default: `jax.default_backend()`)."""
    return SCAN_UNROLL.get(backend or jax.default_backend(), SCAN_UNROLL_OTHER)


def _resolve_strategy(strategy: str, step_fn: StepFn, *, resets: bool = False) -> str:
    """Which implementation runs. "hoisted", "custom_vjp", "custom_jvp", "pallas": the Simple RNN only.

    "auto" runs `AUTO_SIMPLE_RNN` = "custom_jvp" for the Simple RNN (the cuDNN-style backward pass
    of `rnn_jax.core.fused`) and "step" for the other cells. Measured on a quiet 2-core AMD EPYC with
    `python experiments/benchmark_unroll.py --gated_configs "" --unroll_factor_configs ""
    --repeats 20 --compile_lengths 100,10000 --python_unrolled_max_len 100
    --out results/benchmark/simple_rnn` (medians, fwd+bwd in ms,
    custom_jvp / custom_vjp / step / hoisted / flax.linen.RNN(SimpleCell)):
    lecture (32, 500, 32, 32) 4.04 / 3.83 / 6.49 / 5.83 / 6.27,
    medium (64, 200, 128, 256) 77.2 / 75.4 / 80.3 / 87.8 / 87.9,
    large (128, 100, 512, 1024) 645 / 623 / 738 / 716 / 685.
    The two custom rules run the same matmuls and their 2-5 % gap is within the run-to-run spread
    (README.md, Performance), so auto takes "custom_jvp", which keeps `jax.jvp` / `jax.jacfwd`
    working (rnn_jax.analysis uses them) where "custom_vjp" cannot. On an H200 the same ranking
    held (results/benchmark/gpu_h200). The scan's unroll factor and the input hoisting are chosen
    per backend: `SCAN_UNROLL`, `rnn_jax.core.fused.HOIST_INPUT`. "pallas" (the persistent GPU
    kernels of `rnn_jax.core.pallas_rnn`) stays opt-in: on an H200 it ran the lecture shape's
    fwd+bwd in 0.56 ms against auto's 3.30 (results/benchmark/gpu_h200_pallas), but it has no
    forward mode, takes only H in {16, 32, 64, 128} in float32, and rests on a deprecated backend.
    """
    check_choice("strategy", strategy, STRATEGIES)
    activation = _simple_rnn_activation(step_fn)
    if strategy in _SIMPLE_RNN_ONLY and activation is None:
        raise ValueError(
            f"strategy={strategy!r} applies to simple_rnn_step only; "
            f"got step_fn={getattr(step_fn, '__name__', step_fn)!r}"
        )
    if resets and strategy not in _RESET_STRATEGIES:
        raise ValueError(
            f"resets are supported by the strategies {', '.join(map(repr, _RESET_STRATEGIES))}, "
            f"not strategy={strategy!r}"
        )
    if strategy == "auto":
        return AUTO_SIMPLE_RNN if activation is not None and not resets else "step"
    return strategy


def valid_mask(lengths: jax.Array, seq_len: int, padding: str = "right") -> jax.Array:
    """Which time steps hold real tokens: [T, *lengths.shape] booleans.

    Right padding (`[w1 w2 w3 0 0]`): step t is real when t < length.
    Left padding (`[0 0 w1 w2 w3]`, Keras' `pad_sequences` default): real when t >= T - length.
    """
    check_choice("padding", padding, PADDINGS)
    t = jnp.arange(seq_len).reshape((seq_len,) + (1,) * jnp.ndim(lengths))
    if padding == "right":
        return t < lengths
    return t >= seq_len - lengths


def _check_lengths(lengths: Any, batch_shape: tuple[int, ...], seq_len: int) -> jax.Array:
    # Values are checked on the caller's object: a concrete array captured by a jitted closure
    # becomes a tracer once passed through jnp.asarray.
    values = np.asarray(lengths) if is_concrete(lengths) else None
    lengths = jnp.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    if lengths.shape != batch_shape:
        raise ValueError(
            f"lengths must have shape {list(batch_shape)} (one per sequence), got shape {list(lengths.shape)}"
        )
    if values is not None and values.size:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > seq_len:
            raise ValueError(
                f"lengths must lie in [0, {seq_len}] (the sequence length T), got values from {low} to {high}"
            )
    return lengths


def _check_resets(resets: Any, batch_shape: tuple[int, ...], seq_len: int) -> jax.Array:
    """`resets` [*batch, T] bool -> time-major [T, *batch], as the scan reads it."""
    resets = jnp.asarray(resets)
    if resets.dtype != jnp.bool_:
        raise TypeError(f"resets must be a boolean array, got dtype {resets.dtype}")
    if resets.shape != (*batch_shape, seq_len):
        raise ValueError(
            f"resets must have shape {[*batch_shape, seq_len]} (one flag per sequence and step), "
            f"got shape {list(resets.shape)}"
        )
    return jnp.moveaxis(resets, -1, 0)


def _check_xs(xs: Any) -> None:
    check_ndim("xs", xs, (2, 3), "[B, T, F] or [T, F]")
    check_floating("xs", xs)
    if xs.shape[-2] == 0:
        raise ValueError(f"xs must have at least one time step, got shape {tuple(xs.shape)}")


def _check_h0(step_fn: StepFn, params: Any, h0: Any, x_0: jax.Array) -> None:
    """h0 has the batch shape of xs, and the step maps it to a state of its own structure and shapes."""
    batch_shape = tuple(x_0.shape[:-1])
    for leaf in jax.tree_util.tree_leaves(h0):
        if tuple(jnp.shape(leaf)[:-1]) != batch_shape:
            raise ValueError(
                f"h0 must have shape [{', '.join(map(str, batch_shape + ('H',)))}] to match xs "
                f"(batch shape {list(batch_shape)}), got {jnp.shape(leaf)}"
            )
    try:
        out = jax.eval_shape(step_fn, params, h0, x_0)
    except (ValueError, TypeError) as err:
        raise type(err)(f"step_fn rejected h0 or params: {err}") from err
    in_struct = jax.tree_util.tree_structure(h0)
    out_struct = jax.tree_util.tree_structure(out)
    in_shapes = [tuple(jnp.shape(x)) for x in jax.tree_util.tree_leaves(h0)]
    out_shapes = [tuple(x.shape) for x in jax.tree_util.tree_leaves(out)]
    if in_struct != out_struct or in_shapes != out_shapes:
        raise ValueError(
            f"h0 must have the structure and shapes of the state step_fn returns: "
            f"got h0 shapes {in_shapes}, step_fn returns {out_shapes} ({out_struct})"
        )


def unroll(
    step_fn: StepFn,
    params: Any,
    xs: jax.Array,
    h0: Any = None,
    *,
    lengths: jax.Array | None = None,
    padding: str = "right",
    reverse: bool = False,
    return_all_states: bool = True,
    unroll: int | None = None,
    remat: bool = False,
    strategy: str = "auto",
    resets: jax.Array | None = None,
) -> tuple[Any, Any]:
    """Runs `step_fn` over the time axis of `xs` with `jax.lax.scan`.

    (Longer than a screen only through this docstring, which documents every option; the body
    checks the arguments and dispatches to one function per strategy.)

        h_t = step_fn(params, h_{t-1}, x_t),  t = 1..T   (t = T..1 when reverse=True)

    Args:
      step_fn: `(params, h, x_t) -> h_t`, e.g. `simple_rnn_step`, `lstm_step`, `gru_step`, or a
        `functools.partial` of one (`partial(simple_rnn_step, activation="relu")`).
      params: the cell's parameters.
      xs: inputs, [B, T, F] (batch-major) or [T, F] (one sequence).
      h0: initial state, [B, H] or [H] (an `LSTMState` for the LSTM); zeros when None.
      lengths: [B] (or [] for one sequence) number of real tokens per sequence; None = all real.
      padding: where the padding sits when `lengths` is given: "right" or "left" (Keras default).
        Padded steps never change the state, so the final state is the state at the last real
        token (for reverse: after the first real token), and padded positions of `hs` are zero.
      reverse: run from the last real token to the first; `hs[:, t]` stays aligned with `xs[:, t]`.
      return_all_states: False for many-to-one: `hs` is None and no [B, T, H] buffer is kept.
      unroll: how many steps `lax.scan` unrolls per loop iteration (a speed knob; the results
        agree up to float rounding). None = `default_scan_unroll()`: 1 on CPU, 4 on GPU, as measured.
      remat: recompute the step in the backward pass (`jax.checkpoint`) instead of storing its
        intermediates: less memory for long sequences, more compute.
      strategy: "auto" (the fastest measured: see `_resolve_strategy`), "step" (one matmul on
        [h; x] per step, differentiated by JAX), or, for the Simple RNN only: "hoisted" (A_x @ x_t
        for all t as one matmul before the scan, which then carries only A_h @ h), "custom_vjp"
        (`rnn_jax.core.fused`: a hand-written backward pass whose scan carries only dh, the weight
        gradients then computed as single matmuls over all steps, as cuDNN does; reverse mode
        only, no `jax.jvp`/`jax.jacfwd`) or "custom_jvp" (the same backward pass obtained by
        transposing a custom JVP, so forward mode works too). With the "custom_*" strategies
        `remat` has no effect: they keep only the states for the backward pass anyway.
        "pallas" (`rnn_jax.core.pallas_rnn`): one persistent Triton kernel for all T steps forward
        and one backward, on a GPU only, for H a power of two in [16, 128] and float32; a
        ValueError elsewhere. Reverse mode only; `unroll` and `remat` have no effect.
      resets: [B, T] (or [T]) booleans, True where the state is zeroed before step t reads it:

            h_t = step_fn(params, 0 if resets[t] else h_{t-1}, x_t)

        so several sequences packed into one stream (a language model's reviews, each ending in
        an end-of-review token) are each read from a zero state, as Haiku's `ResetCore` does. A
        reset at a padded step has no effect. Only the "step" and "hoisted" strategies take
        `resets` ("auto" runs "step" then); the others raise a ValueError.

    Returns:
      `(h_last, hs)`: the final state ([B, H] or [H]) and all states ([B, T, H] or [T, H]; None
      when `return_all_states=False`). For the LSTM both are `LSTMState`s.
    """
    _check_xs(xs)
    check_choice("padding", padding, PADDINGS)
    unroll = default_scan_unroll() if unroll is None else unroll
    check_positive_int("unroll", unroll)
    strategy = _resolve_strategy(strategy, step_fn, resets=resets is not None)
    batch_shape = tuple(xs.shape[:-2])
    seq_len = xs.shape[-2]
    if h0 is None:
        h0 = cells.initial_state(step_fn, params, batch_shape)
    _check_h0(step_fn, params, h0, xs[..., 0, :])
    mask = None
    if lengths is not None:
        lengths = _check_lengths(lengths, batch_shape, seq_len)
        mask = valid_mask(lengths, seq_len, padding)
    if resets is not None:
        resets = _check_resets(resets, batch_shape, seq_len)

    if strategy == "pallas":  # issue 14: the persistent Pallas kernels take lengths, not a mask
        return _pallas_unroll(
            params,
            xs,
            h0,
            lengths,
            padding=padding,
            activation=_simple_rnn_activation(step_fn),
            reverse=reverse,
            return_all_states=return_all_states,
        )

    if strategy in ("custom_vjp", "custom_jvp"):
        return _fused_unroll(
            params,
            xs,
            h0,
            mask,
            activation=_simple_rnn_activation(step_fn),
            reverse=reverse,
            return_all_states=return_all_states,
            unroll=unroll,
            rule=strategy.removeprefix("custom_"),
        )

    return _scan_unroll(
        step_fn,
        params,
        xs,
        h0,
        mask,
        resets,
        hoisted=strategy == "hoisted",
        reverse=reverse,
        return_all_states=return_all_states,
        unroll=unroll,
        remat=remat,
    )


def _scan_unroll(
    step_fn: StepFn,
    params: Any,
    xs: jax.Array,
    h0: Any,
    mask: jax.Array | None,
    resets: jax.Array | None,
    *,
    hoisted: bool,
    reverse: bool,
    return_all_states: bool,
    unroll: int,
    remat: bool,
) -> tuple[Any, Any]:
    """The "step" and "hoisted" strategies: one `lax.scan` over time (see `unroll`)."""
    xs_time_major = jnp.swapaxes(xs, 0, 1) if xs.ndim == 3 else xs  # [B, T, F] -> [T, B, F]
    if hoisted:
        activation = cells.get_activation(_simple_rnn_activation(step_fn))
        hidden = params["A"].shape[0]
        A_h, A_x = params["A"][:, :hidden], params["A"][:, hidden:]  # slices of A, no copy under jit
        inputs = xs_time_major @ A_x.T  # [T, B, F] -> [T, B, H], one matmul for all steps
        if params.get("b") is not None:
            inputs = inputs + params["b"]

        def step(p, h, z_t):
            return activation(h @ A_h.T + z_t)
    else:
        inputs = xs_time_major
        step = step_fn

    def body(carry, inp):
        x_t, valid_t, reset_t = inp
        read = carry
        if reset_t is not None:
            zero = reset_t[..., None]
            read = jax.tree_util.tree_map(lambda s: jnp.where(zero, jnp.zeros_like(s), s), carry)
        new = step(params, read, x_t)
        if valid_t is not None:
            keep = valid_t[..., None]
            new = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), new, carry)
            out = jax.tree_util.tree_map(lambda n: jnp.where(keep, n, jnp.zeros_like(n)), new)
        else:
            out = new
        return new, (out if return_all_states else None)

    if remat:
        body = jax.checkpoint(body)
    h_last, hs = jax.lax.scan(body, h0, (inputs, mask, resets), reverse=reverse, unroll=unroll)
    if hs is not None and xs.ndim == 3:
        hs = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), hs)  # [T, B, H] -> [B, T, H]
    return h_last, hs


def _fused_unroll(params, xs, h0, mask, **options) -> tuple[jax.Array, jax.Array | None]:
    """`rnn_jax.core.fused.simple_rnn_unroll`, which wants a batch: one sequence [T, F] becomes [1, T, F]."""
    if xs.ndim == 3:
        return fused.simple_rnn_unroll(params, xs, h0, mask, **options)
    h_last, hs = fused.simple_rnn_unroll(
        params, xs[None], h0[None], None if mask is None else mask[:, None], **options
    )
    return h_last[0], (None if hs is None else hs[0])


def _pallas_unroll(params, xs, h0, lengths, **options) -> tuple[jax.Array, jax.Array | None]:
    """`rnn_jax.core.pallas_rnn.simple_rnn_unroll` (issue 14); one sequence [T, F] becomes [1, T, F]."""
    # Imported here: Pallas loads only for strategy="pallas", and `import rnn_jax` stays as light as before.
    from rnn_jax.core import pallas_rnn

    if xs.ndim == 3:
        return pallas_rnn.simple_rnn_unroll(params, xs, h0, lengths, **options)
    h_last, hs = pallas_rnn.simple_rnn_unroll(
        params, xs[None], h0[None], None if lengths is None else lengths[None], **options
    )
    return h_last[0], (None if hs is None else hs[0])


def _concat(a: Any, b: Any) -> Any:
    return jax.tree_util.tree_map(lambda x, y: jnp.concatenate([x, y], axis=-1), a, b)


def bidirectional(
    step_fn: StepFn,
    params_forward: Any,
    params_backward: Any,
    xs: jax.Array,
    h0: tuple[Any, Any] | None = None,
    *,
    backward_step_fn: StepFn | None = None,
    **unroll_options,
) -> tuple[Any, Any]:
    """A forward and a backward unroll over the same (possibly padded) inputs, concatenated.

        hs[:, t] = [forward h_t ; backward h_t]     (each half [.., H])

    Args:
      step_fn: the forward cell's step (also the backward's unless `backward_step_fn` is given).
      params_forward, params_backward: each direction's parameters.
      xs: [B, T, F] or [T, F].
      h0: `(h0_forward, h0_backward)` or None for zeros.
      backward_step_fn: the backward cell's step, when it differs.
      **unroll_options: `lengths`, `padding`, `return_all_states`, `unroll`, `remat`, `strategy`
        as for `unroll` (not `reverse`). Padding is respected in both directions: the backward
        pass starts at each sequence's last real token.

    Returns:
      `(h_last, hs)`: `h_last` = [forward final; backward final] [.., 2H] (the backward final
      state is the one after reading the first token), `hs` [B, T, 2H] or None.
    """
    if "reverse" in unroll_options:
        raise ValueError("bidirectional runs both directions; do not pass reverse")
    h0_forward, h0_backward = (None, None) if h0 is None else h0
    forward_last, forward_hs = unroll(step_fn, params_forward, xs, h0_forward, **unroll_options)
    backward_last, backward_hs = unroll(
        backward_step_fn or step_fn, params_backward, xs, h0_backward, reverse=True, **unroll_options
    )
    hs = None if forward_hs is None else _concat(forward_hs, backward_hs)
    return _concat(forward_last, backward_last), hs


def stacked_unroll(
    step_fn: StepFn | Sequence[StepFn],
    layer_params: Sequence[Any],
    xs: jax.Array,
    h0: Sequence[Any] | None = None,
    *,
    return_all_states: bool = True,
    **unroll_options,
) -> tuple[list[Any], Any]:
    """Stacked layers: layer k reads the output states of layer k - 1 (layer 0 reads `xs`).

    Args:
      step_fn: one step for every layer, or one per layer.
      layer_params: one parameter dict per layer; layer k's input size is layer k - 1's H.
      xs: [B, T, F] or [T, F].
      h0: one initial state per layer, or None for zeros.
      return_all_states: keep the top layer's states (lower layers' are always needed).
      **unroll_options: as for `unroll` (`lengths`, `padding`, `reverse`, `unroll`, `remat`, ...).

    Returns:
      `(h_lasts, hs)`: the list of every layer's final state, and the top layer's states.
    """
    num_layers = len(layer_params)
    if num_layers == 0:
        raise ValueError("stacked_unroll needs at least one layer in layer_params")
    step_fns = list(step_fn) if isinstance(step_fn, Sequence) else [step_fn] * num_layers
    h0s = [None] * num_layers if h0 is None else list(h0)
    if len(step_fns) != num_layers or len(h0s) != num_layers:
        raise ValueError(
            f"got {num_layers} layer_params, {len(step_fns)} step functions and "
            f"{len(h0s)} initial states; they must match"
        )
    h_lasts, inputs, hs = [], xs, None
    for k in range(num_layers):
        top = k == num_layers - 1
        h_last, hs = unroll(
            step_fns[k],
            layer_params[k],
            inputs,
            h0s[k],
            return_all_states=return_all_states or not top,
            **unroll_options,
        )
        h_lasts.append(h_last)
        if not top:
            inputs = cells.state_output(hs)
    return h_lasts, hs
