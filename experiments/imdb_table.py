"""IMDB results table: every model over several seeds, mean +/- std, as Markdown and JSON.

    python experiments/imdb_table.py --data_dir ../shared/tfds --out results/imdb
    python experiments/imdb_table.py --models simple_rnn,lstm --optimizer adam --out results/imdb_adam

The same as `rnn-jax imdb-table` (code: `rnn_jax.studies.sentiment.imdb_table`). Each run lives in
`<runs>/<model>_seed<seed>` (a normal run folder): a finished run is read back, an interrupted one
is resumed, so the command can be rerun after a crash. Any TrainConfig flag applies to every run
(except --model and --seed, which the table sets).
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.imdb_table import main

if __name__ == "__main__":
    sys.exit(guarded(main))
