"""Short vs long memory: accuracy against the gap k for Simple RNN, LSTM and GRU on the lecture's task.

    python experiments/long_memory.py --workdir runs/long_memory
    python experiments/long_memory.py --smoke --workdir /tmp/long_memory

The study is `rnn_jax.studies.lecture.long_memory` (its config, `run` and `main`), also run by
`rnn-jax long-memory`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.lecture.long_memory import main

if __name__ == "__main__":
    sys.exit(guarded(main))
