"""The lecture's count shape(h) x (shape(h) + shape(x)) (+ shape(h) for b), beside the built models' count.

    python experiments/parameter_count.py --workdir runs/parameter_count
    python experiments/parameter_count.py --smoke --workdir /tmp/parameter_count

The study is `rnn_jax.studies.lecture.parameter_count` (its config, `run` and `main`), also run by
`rnn-jax parameter-count`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.lecture.parameter_count import main

if __name__ == "__main__":
    sys.exit(guarded(main))
