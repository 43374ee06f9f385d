"""Test accuracy against the number of labelled reviews, with and without a pretrained start.

    python experiments/label_curve.py --tables results/pretrain/curve/* --out results/pretrain/label_curve

The study is `rnn_jax.studies.sentiment.label_curve` (its config, `run` and `main`), also run by
`rnn-jax label-curve`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.label_curve import main

if __name__ == "__main__":
    sys.exit(guarded(main))
