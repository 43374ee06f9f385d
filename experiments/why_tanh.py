"""Why tanh: with zero inputs and no activation h_100 = A^100 h_0 vanishes (0.9^100) or explodes (1.2^100).

    python experiments/why_tanh.py --workdir runs/why_tanh
    python experiments/why_tanh.py --smoke --workdir /tmp/why_tanh      # the tests' tiny setting

The study is `rnn_jax.studies.lecture.why_tanh` (its config, `run` and `main`), also run by
`rnn-jax why-tanh`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.lecture.why_tanh import main

if __name__ == "__main__":
    sys.exit(guarded(main))
