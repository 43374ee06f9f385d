"""Compares finished IMDB runs made on different device/process counts: same losses and accuracies?

    python experiments/distributed_compare.py results/distributed/imdb_1dev results/distributed/imdb_8dev \
        --output results/distributed/imdb_same_results.md

The study is `rnn_jax.studies.performance.distributed_compare` (its config, `run` and `main`), also run by
`rnn-jax distributed-compare`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.distributed_compare import main

if __name__ == "__main__":
    sys.exit(guarded(main))
