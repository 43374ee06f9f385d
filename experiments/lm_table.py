"""One table and the context-usage and cue-test plots of finished language-model runs.

    python experiments/lm_table.py --runs runs/lm/simple_rnn runs/lm/lstm --out results/lm/full

The study is `rnn_jax.studies.next_word.lm_table` (its config, `run` and `main`), also run by
`rnn-jax lm-table`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.next_word.lm_table import main

if __name__ == "__main__":
    sys.exit(guarded(main))
