"""Training tokens/s of the language models: rnn_jax against PyTorch's word_language_model, side by side.

    python experiments/lm_speed.py --data_dir ../shared/tfds --workdir results/lm/speed
    python experiments/lm_speed.py --smoke --workdir /tmp/s   # seconds, tiny corpus

The study is `rnn_jax.studies.next_word.lm_speed` (its config, `run` and `main`), also run by
`rnn-jax lm-speed`; `--help` lists the flags. A user's mistake prints one `error: ...` line
(exit status 2); `--debug` shows its traceback.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.next_word.lm_speed import main

if __name__ == "__main__":
    sys.exit(guarded(main))
