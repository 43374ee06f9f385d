"""IMDB movie-review sentiment with the lecture's Simple RNN (and baselines): one training run.

    python experiments/imdb_sentiment.py --model simple_rnn --data_dir ../shared/tfds
    python experiments/imdb_sentiment.py --model lstm --workdir runs/imdb/lstm --resume

The same as the console command `rnn-jax imdb`. Every flag is a field of
`rnn_jax.studies.sentiment.imdb.TrainConfig` (see --help); `--workdir`, `--resume` and `--no_progress` are the
run's own. With `--resume` the run's config.json supplies the defaults. A mistake of the user's
prints one line `error: ...` (exit status 2; `--debug` shows the traceback); SIGTERM or Ctrl-C
checkpoints the current step and exits with 143 / 130.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.imdb import main

if __name__ == "__main__":
    sys.exit(guarded(main))
