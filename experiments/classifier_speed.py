"""Training tokens/s of the IMDB classifiers at a given size (default E = H = 256, T = 500), and the
minutes a full 20-epoch run on 20,000 reviews would take at that rate.

    python experiments/classifier_speed.py --workdir results/pretrain/classifier_speed_cpu
    python experiments/classifier_speed.py --smoke --workdir /tmp/cs

The study is `rnn_jax.studies.sentiment.classifier_speed`, also run by `rnn-jax classifier-speed`;
`--help` lists the flags. It times `rnn-jax imdb`'s own training step on synthetic full-length reviews.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.classifier_speed import main

if __name__ == "__main__":
    sys.exit(guarded(main))
