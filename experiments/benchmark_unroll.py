"""Benchmark of jitted RNN unrolling: rnn_jax's strategies against Python loops, Flax and PyTorch.

    python experiments/benchmark_unroll.py                      # the default run (a few minutes)
    python experiments/benchmark_unroll.py --smoke --out /tmp/b # seconds: tiny shapes, 2 repeats
    python experiments/benchmark_unroll.py --config 16,1000,64,128 --configs ""

The study is `rnn_jax.studies.performance.benchmark` (its config, `run` and `main`), also run by
`rnn-jax benchmark`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.benchmark import main

if __name__ == "__main__":
    sys.exit(guarded(main))
