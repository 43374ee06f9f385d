"""The project's main job: every demonstration of the Simple RNN lecture, in its order, into one report.

    python experiments/lecture.py --quick --workdir runs/lecture-quick     # <= 3 minutes on 2 CPU cores
    python experiments/lecture.py --workdir runs/lecture                   # the README's figures
    python experiments/lecture.py --smoke --data_dir <tiny imdb> --workdir /tmp/lecture   # the tests

The study is `rnn_jax.studies.lecture.report` (its config, `run` and `main`), also run by
`rnn-jax lecture`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.lecture.report import main

if __name__ == "__main__":
    sys.exit(guarded(main))
