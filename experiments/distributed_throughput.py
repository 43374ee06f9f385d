"""Tokens/s of the data-parallel IMDB training step on 1, 2, 4, 8 (simulated) devices; losses must agree.

    python experiments/distributed_throughput.py                          # 1, 2, 4, 8 simulated CPU devices
    python experiments/distributed_throughput.py --device_counts 1,2,4,8 --no-simulate   # real devices

The study is `rnn_jax.studies.performance.distributed_throughput` (its config, `run` and `main`), also run by
`rnn-jax distributed-throughput`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.performance.distributed_throughput import main

if __name__ == "__main__":
    sys.exit(guarded(main))
