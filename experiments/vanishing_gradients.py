"""The lecture's defect of the Simple RNN as numbers: ||dh_100/dx_1|| ~ 0, beside ||dh_2/dx_1||.

    python experiments/vanishing_gradients.py --workdir runs/vanishing_gradients
    python experiments/vanishing_gradients.py --imdb_run runs/imdb/simple_rnn_seed0 --workdir ...
    python experiments/vanishing_gradients.py --smoke --workdir /tmp/vanishing_gradients

The study is `rnn_jax.studies.lecture.vanishing_gradients` (its config, `run` and `main`), also run by
`rnn-jax vanishing-gradients`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.lecture.vanishing_gradients import main

if __name__ == "__main__":
    sys.exit(guarded(main))
