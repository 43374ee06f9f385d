"""The Simple RNN as one persistent GPU kernel per direction of time, written in Pallas (Triton backend).

Shapes: B batch, T time steps, F input size, H hidden size, Bt the batch tile of one kernel program.

    Z_x = X A_x^T + b                        one XLA matmul before the kernel, [T, B, H]
    grid over batch tiles (Bt rows each), one program per tile, all T steps in one launch:
        W = A_h^T                            loaded once, stays on chip for the whole loop
        h = h0
        for t in 0..T-1:                     (T-1..0 when reverse=True), a lax.fori_loop on chip
            h = where(lo <= t < hi, act(h W + Z_x[t]), h)
            S[t] = h                         written each step
    hs = where(mask, S, 0)

`lo <= t < hi` is the padding mask: [0, length) for right padding, [T - length, T) for left padding,
[0, T) without lengths. The backward kernel runs the reverse recurrence on chip, carrying only dh
(g_t is the cotangent of S_t, the mask m_t as above):

    for t in T-1..0:                         (0..T-1 when reverse=True)
        g    = dh + g_t
        dz_t = m_t * g * act'(z_t)           act'(z_t) read off S_t: 1 - S_t^2 for tanh
        dh   = where(m_t, dz_t A_h, g)       padded steps pass dh through unchanged
        dZ[t] = dz_t

and the weight gradients stay single large matmuls over all T*B rows, as in `rnn_jax.core.fused`:
dA_h = dZ^T S_prev is written out in `_recurrence_bwd`; dA_x = dZ^T X, db = sum dZ and dX = dZ A_x
are JAX's transpose of the input projection above, which stays outside the `jax.custom_vjp`.
The activations and act'(z) from the output are `fused._act` and `fused._act_grad_from_output`.

Backend: Triton, chosen after reading jax 0.10.2's `jax/_src/pallas` (installed here) and 0.11.2's
(the GPU machine's version, README Performance):
  * Only the Triton lowering has a general `jnp.dot` on register tiles: the step's [Bt, H] x [H, H]
    matmul lowers for any power-of-two tile with M, N, K >= 16 (lecture: Bt 16, H 32), and with
    `precision=HIGHEST` it is an IEEE float32 dot (`tt.dot` inputPrecision=ieee), so the kernel
    matches `strategy="step"` at rtol 1e-5 under `JAX_DEFAULT_MATMUL_PRECISION=highest`; at the
    default precision it uses TF32, as XLA's own matmuls do.
  * Mosaic GPU (`plgpu`), Triton's successor and since jax 0.10 the default for `pl.pallas_call`
    on GPU (`jax_pallas_use_mosaic_gpu=True`, hence the explicit `pltriton.CompilerParams` below),
    has no `dot_general` lowering in 0.10.2 or 0.11.2: a matmul is `plgpu.wgmma` (Hopper) or
    `plgpu.tcgen05_mma` (Blackwell), with M a multiple of 64 (the lecture's batch of 32 would be
    padded to 64), operands in swizzled shared memory, and float32 only as TF32, so the rtol 1e-5
    tests could not pass on the GPU. Its `pl.pallas_call` entry point is itself deprecated in
    favour of `plgpu.kernel`.
  * jax 0.11.2 still ships the Triton backend; it warns once per lowering (`jax-pallas-triton`:
    "deprecated and will be removed in a future JAX version"). When it goes, this ~60-line kernel
    moves to `plgpu.kernel` + `wgmma` (or to jax_triton); the interface and tests here stay.
  * The kernel also runs on CPU in Pallas interpret mode (the tests), and lowers for CUDA on a
    CPU-only jaxlib: JAX builds the Triton IR itself and leaves PTX compilation to XLA on the GPU.

Limits (`check_supported`): H a power of two in [16, `MAX_HIDDEN`] = [16, 128], since W = A_h^T
must stay on chip (128 x 128 float32 = 64 KiB, half a program's register budget at 4 warps; 256 x 256
would be 256 KiB, the whole register file, more than shared memory); float32 (float64 too in
interpret mode); the batch is padded to a multiple of the tile `BLOCK_BATCH`. Reverse mode only
(a `jax.custom_vjp`): no `jax.jvp` / `jax.jacfwd`.

GPU check, run on an NVIDIA H200 (jax 0.11.2; `bash experiments/gpu_pallas_check.sh OUT`,
results/benchmark/gpu_h200_pallas): this module's tests pass with the compiled kernels (44 passed,
`JAX_PLATFORMS=cuda JAX_DEFAULT_MATMUL_PRECISION=highest python -m pytest tests/test_pallas_rnn.py`),
and fwd+bwd takes 0.559 ms on the lecture shape (32, 500, 32, 32) against 3.296 ms for the default
(strategy="auto") and 1.305 ms for torch.nn.RNN on cuDNN, timed side by side (docs/performance.md).
`strategy="auto"` still never picks "pallas": it is reverse mode only (auto keeps `jax.jvp` /
`jax.jacfwd`, which `rnn_jax.analysis` uses), takes only H in {16, 32, 64, 128} and float32, and
rests on the Triton backend that jax 0.11 deprecates. Pass `strategy="pallas"` to train on a GPU.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton

from rnn_jax.core import fused
from rnn_jax.core._validation import check_choice

PADDINGS = ("right", "left")
MIN_HIDDEN = 16  # Triton's dot wants every matmul dimension >= 16
MAX_HIDDEN = 128  # the largest H whose weight A_h stays on chip (see the module docstring)
BLOCK_BATCH = 16  # batch rows per kernel program: one program per tile, tiles run in parallel
NUM_WARPS = 4  # Triton warps per program
GPU_DTYPES = (jnp.float32,)
INTERPRET_DTYPES = (jnp.float32, jnp.float64)
# strategy="pallas" off the GPU: False raises a ValueError; True runs the kernels in Pallas
# interpret mode (slow, for tests). Read at trace time, so set it before jitting.
INTERPRET_OFF_GPU = False


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def check_supported(hidden: int, dtype, *, interpret: bool, block_batch: int = BLOCK_BATCH) -> None:
    """Raises a ValueError naming the limit when the kernels cannot run this H, dtype or tile."""
    if not (_is_power_of_two(hidden) and MIN_HIDDEN <= hidden <= MAX_HIDDEN):
        sizes = ", ".join(str(2**k) for k in range(MIN_HIDDEN.bit_length() - 1, MAX_HIDDEN.bit_length()))
        raise ValueError(
            f"strategy='pallas' needs the hidden size H to be a power of two from {MIN_HIDDEN} "
            f"to {MAX_HIDDEN} ({sizes}: A_h must stay on chip), got H={hidden}; "
            "use strategy='auto' for other sizes"
        )
    allowed = INTERPRET_DTYPES if interpret else GPU_DTYPES
    if jnp.dtype(dtype) not in [jnp.dtype(d) for d in allowed]:
        names = ", ".join(jnp.dtype(d).name for d in allowed) + (" in interpret mode" if interpret else "")
        raise ValueError(
            f"strategy='pallas' supports dtype {names}, got {jnp.dtype(dtype).name}; "
            "use strategy='auto' for other dtypes"
        )
    if not (_is_power_of_two(block_batch) and block_batch >= MIN_HIDDEN):
        raise ValueError(f"block_batch must be a power of two >= {MIN_HIDDEN}, got {block_batch}")


def _resolve_interpret(interpret: bool | None) -> bool:
    """None: compiled kernels on a GPU, interpret mode elsewhere if INTERPRET_OFF_GPU, else an error."""
    if interpret is not None:
        return bool(interpret)
    backend = jax.default_backend()
    if backend == "gpu":
        return False
    if INTERPRET_OFF_GPU:
        return True
    raise ValueError(
        f"strategy='pallas' runs a Triton GPU kernel and needs a GPU, but JAX's default backend "
        f"is {backend!r}; use strategy='auto' here (tests: set "
        "rnn_jax.core.pallas_rnn.INTERPRET_OFF_GPU = True for Pallas interpret mode)"
    )


def _matmul_precision():
    """The kernel dot's precision: JAX's default matmul precision, which Triton would otherwise ignore.

    Pallas' Triton lowering reads `precision=None` as DEFAULT (a TF32 dot) whatever
    `jax_default_matmul_precision` says, so the configured value is passed on explicitly.
    """
    name = jax.config.jax_default_matmul_precision
    if name is None:
        return None
    try:
        return lax.Precision(name)
    except ValueError:
        return lax.DotAlgorithmPreset[name]


def _step_index(i, seq_len: int, walk_backward: bool):
    """The time step of loop iteration i. Triton lowers no reversed loops, so reversal is arithmetic."""
    return seq_len - 1 - i if walk_backward else i


# ----------------------------------------------------------------------------- kernels


def _forward_kernel(
    w_ref, z_ref, h0_ref, lo_ref, hi_ref, h_last_ref, *s_ref, activation, reverse, seq_len, precision
):
    """One batch tile, all T steps: h = where(lo <= t < hi, act(h W + Z_x[t]), h); S[t] = h."""
    w = w_ref[...]  # [H, H], read once for all T steps
    lo, hi = lo_ref[...][:, None], hi_ref[...][:, None]  # [Bt] -> [Bt, 1]

    def body(i, carry):
        h, z_t = carry
        t = _step_index(i, seq_len, reverse)
        # Load the next step's input now, so that its memory latency overlaps this step's matmul.
        z_next = z_ref[_step_index(jnp.minimum(i + 1, seq_len - 1), seq_len, reverse)]
        h_new = fused._act(activation, jnp.dot(h, w, precision=precision) + z_t)
        h = jnp.where((lo <= t) & (t < hi), h_new.astype(h.dtype), h)
        if s_ref:
            s_ref[0][t] = h
        return h, z_next

    h_last, _ = lax.fori_loop(0, seq_len, body, (h0_ref[...], z_ref[_step_index(0, seq_len, reverse)]))
    h_last_ref[...] = h_last


def _backward_kernel(
    a_ref, s_ref, g_last_ref, lo_ref, hi_ref, *refs, activation, reverse, seq_len, precision
):
    """One batch tile, all T steps backward: dz_t = m_t (dh + g_t) act'(z_t); dh = where(m_t, dz_t A_h, g)."""
    *g_ref, dz_ref, dh0_ref = refs
    a_h = a_ref[...]  # [H, H], read once
    lo, hi = lo_ref[...][:, None], hi_ref[...][:, None]
    walk_backward = not reverse  # the backward pass walks time the other way round

    def load(i):
        t = _step_index(i, seq_len, walk_backward)
        return s_ref[t], (g_ref[0][t] if g_ref else None)

    def body(i, carry):
        dh, s_t, g_t = carry
        t = _step_index(i, seq_len, walk_backward)
        s_next, g_next = load(jnp.minimum(i + 1, seq_len - 1))  # prefetch, as in the forward kernel
        g = dh if g_t is None else dh + g_t
        d_act = fused._act_grad_from_output(activation, s_t)
        dz = g if d_act is None else g * d_act
        real = (lo <= t) & (t < hi)
        dz = jnp.where(real, dz, jnp.zeros((), dz.dtype))
        dz_ref[t] = dz
        dh = jnp.where(real, jnp.dot(dz, a_h, precision=precision).astype(dz.dtype), g)
        return dh, s_next, g_next

    dh0, _, _ = lax.fori_loop(0, seq_len, body, (g_last_ref[...], *load(0)))
    dh0_ref[...] = dh0


def _call(kernel, inputs, outputs, *, block_batch: int, interpret: bool):
    """pallas_call over batch tiles. Inputs/outputs: ("w" | "steps" | "tile" | "rows", array or aval)."""
    spec_of = {
        "w": lambda a: pl.BlockSpec(a.shape, lambda i: (0, 0)),  # the whole [H, H] weight
        "steps": lambda a: pl.BlockSpec((a.shape[0], block_batch, a.shape[2]), lambda i: (0, i, 0)),
        "tile": lambda a: pl.BlockSpec((block_batch, a.shape[1]), lambda i: (i, 0)),  # [Bt, H]
        "rows": lambda a: pl.BlockSpec((block_batch,), lambda i: (i,)),  # [Bt]
    }
    tile_rows = [a.shape[0] for kind, a in inputs if kind == "tile"]  # [Bp, H]: the padded batch
    return pl.pallas_call(
        kernel,
        grid=(tile_rows[0] // block_batch,),
        in_specs=[spec_of[kind](a) for kind, a in inputs],
        out_specs=[spec_of[kind](a) for kind, a in outputs],
        out_shape=[jax.ShapeDtypeStruct(a.shape, a.dtype) for _, a in outputs],
        interpret=interpret,
        # Explicit Triton: without compiler_params, jax >= 0.10 lowers pallas_call with Mosaic GPU.
        compiler_params=pltriton.CompilerParams(num_warps=NUM_WARPS),
    )(*[a for _, a in inputs])


def _forward(A_h, z_x, h0, lo, hi, activation, reverse, keep_states, interpret, block_batch, precision):
    """z_x [T, Bp, H], h0 [Bp, H], lo/hi [Bp] -> (h_last [Bp, H], S [T, Bp, H] or None)."""
    kernel = functools.partial(
        _forward_kernel, activation=activation, reverse=reverse, seq_len=z_x.shape[0], precision=precision
    )
    outputs = [("tile", h0)] + ([("steps", z_x)] if keep_states else [])
    # W = A_h^T in [in, out] layout, transposed once by XLA: the kernel runs h @ W.
    out = _call(
        kernel,
        [("w", A_h.T), ("steps", z_x), ("tile", h0), ("rows", lo), ("rows", hi)],
        outputs,
        block_batch=block_batch,
        interpret=interpret,
    )
    return out[0], (out[1] if keep_states else None)


# ----------------------------------------------------------------------------- custom VJP


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8, 9, 10))
def _recurrence(
    A_h, z_x, h0, lo, hi, activation, reverse, return_all_states, interpret, block_batch, precision
):
    """The recurrence alone: (A_h, Z_x, h0) -> (h_last, S or None), S the carried states [T, Bp, H]."""
    return _forward(
        A_h, z_x, h0, lo, hi, activation, reverse, return_all_states, interpret, block_batch, precision
    )


def _recurrence_fwd(
    A_h, z_x, h0, lo, hi, activation, reverse, return_all_states, interpret, block_batch, precision
):
    h_last, S = _forward(A_h, z_x, h0, lo, hi, activation, reverse, True, interpret, block_batch, precision)
    return (h_last, S if return_all_states else None), (A_h, h0, lo, hi, S)


def _recurrence_bwd(
    activation, reverse, return_all_states, interpret, block_batch, precision, residuals, cotangents
):
    A_h, h0, lo, hi, S = residuals
    g_last, g_S = cotangents
    inputs = [("w", A_h), ("steps", S), ("tile", g_last), ("rows", lo), ("rows", hi)]
    if return_all_states:
        inputs.append(("steps", g_S))
    kernel = functools.partial(
        _backward_kernel, activation=activation, reverse=reverse, seq_len=S.shape[0], precision=precision
    )
    dZ, dh0 = _call(
        kernel, inputs, [("steps", S), ("tile", h0)], block_batch=block_batch, interpret=interpret
    )
    # S_prev[t] is the state step t read: S[t-1] (S[t+1] when reversed), h0 for the first step.
    if reverse:
        S_prev = jnp.concatenate([S[1:], h0[None]], axis=0)
    else:
        S_prev = jnp.concatenate([h0[None], S[:-1]], axis=0)
    hidden = A_h.shape[0]
    dA_h = dZ.reshape(-1, hidden).T @ S_prev.reshape(-1, hidden)  # [T*B, H]^T [T*B, H] -> [H, H]
    return dA_h, dZ, dh0, None, None


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def _round_up(n: int, multiple: int) -> int:
    return max(1, -(-n // multiple)) * multiple


def simple_rnn_unroll(
    params: dict,
    xs: jax.Array,
    h0: jax.Array,
    lengths: jax.Array | None = None,
    *,
    padding: str = "right",
    activation: str = "tanh",
    reverse: bool = False,
    return_all_states: bool = True,
    interpret: bool | None = None,
    block_batch: int = BLOCK_BATCH,
) -> tuple[jax.Array, jax.Array | None]:
    """The Simple RNN over a batch with the persistent Pallas kernels of this module's docstring.

    (Long only through this docstring and its argument checks; the computation is two calls.)

        h_t = act(A [h_{t-1}; x_t] + b),  padded steps keep h and output zeros.

    Usually reached through `rnn_jax.unroll(simple_rnn_step, ..., strategy="pallas")`, which
    validates the arguments first.

    Args:
      params: `{"A": [H, H + F], "b": [H]}` (`b` optional).
      xs: [B, T, F] inputs, batch-major.
      h0: [B, H] initial state.
      lengths: [B] real tokens per sequence; None when every step is real.
      padding: where the padding sits when `lengths` is given: "right" or "left".
      activation: "tanh", "identity" or "relu".
      reverse: run from t = T-1 down to 0; `hs[:, t]` stays aligned with `xs[:, t]`.
      return_all_states: False returns `hs = None` (the states are still kept for the gradient).
      interpret: True runs the kernels in Pallas interpret mode (any backend), False compiles them
        for the GPU; None = compiled on a GPU, interpret mode elsewhere when `INTERPRET_OFF_GPU`,
        else a ValueError.
      block_batch: batch rows per kernel program, a power of two >= 16; the batch is padded to a
        multiple of it.

    Returns:
      `(h_last, hs)`: [B, H] and [B, T, H] (or None).
    """
    check_choice("activation", activation, fused.ACTIVATIONS)
    check_choice("padding", padding, PADDINGS)
    interpret = _resolve_interpret(interpret)
    A, b = params["A"], params.get("b")
    dtype = jnp.result_type(A, xs, h0, *([] if b is None else [b]))
    hidden = A.shape[0]
    check_supported(hidden, dtype, interpret=interpret, block_batch=block_batch)
    A, xs, h0 = A.astype(dtype), xs.astype(dtype), h0.astype(dtype)
    batch, seq_len = xs.shape[0], xs.shape[1]
    A_h, A_x = A[:, :hidden], A[:, hidden:]

    z_x = jnp.einsum("btf,hf->tbh", xs, A_x)  # [B, T, F] -> [T, B, H], one matmul for all steps
    if b is not None:
        z_x = z_x + b.astype(dtype)
    if lengths is None:
        lo = jnp.zeros((batch,), jnp.int32)
        hi = jnp.full((batch,), seq_len, jnp.int32)
    else:
        lengths = jnp.asarray(lengths, jnp.int32)
        lo = jnp.zeros_like(lengths) if padding == "right" else seq_len - lengths
        hi = lengths if padding == "right" else jnp.full_like(lengths, seq_len)
    # Pad the batch to whole tiles; padded rows have no real step (lo = hi = 0) and stay zero.
    rows = _round_up(batch, block_batch) - batch
    z_x = jnp.pad(z_x, ((0, 0), (0, rows), (0, 0)))
    h0_padded = jnp.pad(h0, ((0, rows), (0, 0)))
    lo, hi = jnp.pad(lo, (0, rows)), jnp.pad(hi, (0, rows))

    h_last, S = _recurrence(
        A_h,
        z_x,
        h0_padded,
        lo,
        hi,
        activation,
        bool(reverse),
        bool(return_all_states),
        interpret,
        int(block_batch),
        _matmul_precision(),
    )
    h_last = h_last[:batch]
    if S is None:
        return h_last, None
    S = S[:, :batch]
    if lengths is not None:
        t = jnp.arange(seq_len)[:, None]
        real = (lo[:batch] <= t) & (t < hi[:batch])  # [T, B]
        S = jnp.where(real[..., None], S, jnp.zeros((), S.dtype))
    return h_last, jnp.swapaxes(S, 0, 1)  # [T, B, H] -> [B, T, H]
