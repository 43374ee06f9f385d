"""Initialisers for the halves of the lecture's matrix A = [A_h | A_x]: recurrent and input weights.

Matrices here are laid out like the lecture's A: [out_features, in_features], so `z = A @ v`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core._validation import check_choice, check_positive_int

INPUT_INITS = ("lecun", "glorot")
RECURRENT_INITS = ("orthogonal", "identity", "random")


def input_weights(
    key: jax.Array, hidden_size: int, input_size: int, init: str = "lecun", dtype=jnp.float32
) -> jax.Array:
    """The input half A_x of shape [hidden_size, input_size].

    Args:
      key: PRNG key.
      hidden_size: H, rows.
      input_size: F, columns (the fan-in).
      init: "lecun" (normal, variance 1/F, as Flax's Dense) or "glorot" (uniform, as Keras).
      dtype: floating dtype of the result.

    Returns:
      A_x, [H, F].
    """
    check_choice("input_init", init, INPUT_INITS)
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("input_size", input_size)
    make = {"lecun": jax.nn.initializers.lecun_normal, "glorot": jax.nn.initializers.glorot_uniform}[init]
    return make(in_axis=1, out_axis=0)(key, (hidden_size, input_size), dtype)


def recurrent_weights(
    key: jax.Array, hidden_size: int, init: str = "orthogonal", scale: float = 1.0, dtype=jnp.float32
) -> jax.Array:
    """The recurrent half A_h of shape [hidden_size, hidden_size], with spectral radius `scale`.

    - "orthogonal": `scale * Q` with Q a random orthogonal matrix (Keras' and Flax's default).
      Every eigenvalue has modulus `scale`, and the matrix is normal, so for any vector v
      ||A_h^n v|| = scale^n ||v|| exactly: the lecture's 0.9^100 and 1.2^100 demonstrations.
    - "identity": `scale * I` (IRNN, Le et al. 2015, with relu).
    - "random": a Gaussian matrix rescaled so that its largest eigenvalue modulus equals `scale`
      (echo-state style; not normal, so only the asymptotic growth rate is `scale`). Computing the
      eigenvalues runs on the host, so this one is not traceable under jit.

    Args:
      key: PRNG key.
      hidden_size: H.
      init: one of "orthogonal", "identity", "random".
      scale: the spectral radius of the result; must be >= 0.
      dtype: floating dtype of the result.

    Returns:
      A_h, [H, H].
    """
    check_choice("recurrent_init", init, RECURRENT_INITS)
    check_positive_int("hidden_size", hidden_size)
    if not scale >= 0:
        raise ValueError(f"recurrent_scale must be >= 0, got {scale}")
    shape = (hidden_size, hidden_size)
    # Half precisions are built in float32 and cast: the QR behind "orthogonal" has no bf16 kernel.
    build = jnp.dtype(dtype) if jnp.dtype(dtype) in (jnp.float32, jnp.float64) else jnp.float32
    if init == "orthogonal":
        w = scale * jax.nn.initializers.orthogonal()(key, shape, build)
    elif init == "identity":
        w = scale * jnp.eye(hidden_size, dtype=build)
    else:
        w = jax.random.normal(key, shape, build)
        w = w * (scale / spectral_radius(w))
    return w.astype(dtype)


def spectral_radius(matrix: jax.Array) -> float:
    """The largest eigenvalue modulus of a square matrix (computed on the host, float64)."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(matrix, np.float64)))))
