"""Next-word prediction on the IMDB reviews' text: an RNN language model or an n-gram baseline.

    python experiments/language_model.py --model simple_rnn --data_dir ../shared/tfds --workdir runs/lm/srnn
    python experiments/language_model.py --model kneser_ney --data_dir ../shared/tfds --workdir runs/lm/kn
    python experiments/language_model.py --smoke --workdir /tmp/lm-smoke        # seconds

The same as `rnn-jax lm` (code: `rnn_jax.studies.next_word.language_model`). Each run writes config.json,
vocab.json, metrics.jsonl, results.json (test_perplexity, validation_perplexity, num_params,
train_tokens, tokens_per_second, the top-5 next words after the lecture's prompts) and curves.png.
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.next_word.language_model import main

if __name__ == "__main__":
    sys.exit(guarded(main))
