"""How far back a classifier's last state reads at step 0, random against language-model starts.

    python experiments/pretrained_start.py --pretrained_lm runs/pretrain_full/lm_simple_rnn --radii 1.0 \
        --data_dir ../shared/tfds --out results/pretrain/start_reach

The study is `rnn_jax.studies.sentiment.pretrained_start` (its config, `run` and `main`), also run by
`rnn-jax pretrained-start`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.sentiment.pretrained_start import main

if __name__ == "__main__":
    sys.exit(guarded(main))
