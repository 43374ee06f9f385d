"""rnn-jax: the lecture's Simple RNN as pure JAX functions.

Shape legend used throughout the package:
  B  batch size             T  sequence length (time steps)
  F  input size (x_t)       H  hidden size (h_t)
  V  vocabulary size        E  embedding size

The core (`cells`, `initializers`, `unroll`) imports only JAX. Flax models, Optax training,
TFDS data and plotting live in their own modules above it.
"""

from rnn_jax.core.cells import (
    ACTIVATIONS,
    LSTMState,
    get_activation,
    gru_step,
    hidden_size_of,
    init_gru,
    init_lstm,
    init_simple_rnn,
    initial_state,
    lstm_step,
    num_params,
    simple_rnn_num_params,
    simple_rnn_step,
    state_output,
)
from rnn_jax.core.initializers import input_weights, recurrent_weights, spectral_radius
from rnn_jax.core.unroll import bidirectional, stacked_unroll, unroll, valid_mask

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LSTMState",
    "bidirectional",
    "get_activation",
    "gru_step",
    "hidden_size_of",
    "init_gru",
    "init_lstm",
    "init_simple_rnn",
    "initial_state",
    "input_weights",
    "lstm_step",
    "num_params",
    "recurrent_weights",
    "simple_rnn_num_params",
    "simple_rnn_step",
    "spectral_radius",
    "stacked_unroll",
    "state_output",
    "unroll",
    "valid_mask",
]
