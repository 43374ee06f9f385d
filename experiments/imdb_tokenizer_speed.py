"""Times the IMDB tokenizer on every labelled review: words, the 10,000-word vocabulary, padded ids.

    python experiments/imdb_tokenizer_speed.py --data_dir ../shared/tfds --out results/imdb/tokenizer.json

The study is `rnn_jax.studies.sentiment.tokenizer_speed` (its config, `run` and `main`), also run by
`rnn-jax tokenizer-speed`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.tokenizer_speed import main

if __name__ == "__main__":
    sys.exit(guarded(main))
