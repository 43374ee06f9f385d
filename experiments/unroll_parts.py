"""Where the Simple RNN's fwd+bwd time goes on this backend: each part of `rnn_jax.fused`, timed alone.

    python experiments/unroll_parts.py                                   # medium and lecture shapes
    taskset -c 0 python experiments/unroll_parts.py --out results/benchmark/parts_1core   # one core

The study is `rnn_jax.studies.performance.unroll_parts` (its config, `run` and `main`), also run by
`rnn-jax unroll-parts`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.unroll_parts import main

if __name__ == "__main__":
    sys.exit(guarded(main))
