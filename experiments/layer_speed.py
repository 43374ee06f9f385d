"""rnn_jax's NNX and Linen Simple RNN layers against flax's nnx.RNN / nn.RNN(SimpleCell), fwd and fwd+bwd.

    python experiments/layer_speed.py --out results/benchmark/layers
    python experiments/layer_speed.py --smoke --out /tmp/layers

The study is `rnn_jax.studies.performance.layer_speed`, also run by `rnn-jax layer-speed`; `--help`
lists the flags. Same weights on both sides, timed side by side in one run.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.layer_speed import main

if __name__ == "__main__":
    sys.exit(guarded(main))
