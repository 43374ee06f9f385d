"""The recurrent step's matrix product alone: XLA's dot against NumPy's and torch's, per benchmark shape.

    python experiments/gemm_speed.py --out results/benchmark/gemm
    python experiments/gemm_speed.py --smoke --out /tmp/gemm

The study is `rnn_jax.studies.performance.gemm_speed`, also run by `rnn-jax gemm-speed`; `--help`
lists the flags.
It tells whether a gap in `experiments/benchmark_unroll.py` is XLA's matrix multiply or the loop around it.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.gemm_speed import main

if __name__ == "__main__":
    sys.exit(guarded(main))
