"""Times the IMDB tokenizer on every labelled review: words, the 10,000-word vocabulary, padded ids.

    python experiments/imdb_tokenizer_speed.py --data_dir ../shared/tfds --out results/imdb/tokenizer.json
    rnn-jax tokenizer-speed --help

Reports wall and CPU seconds per repeat (CPU time is what the work costs when other jobs share the
machine), and the machine's load average.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from rnn_jax.studies.command import flag, parse_config


@dataclasses.dataclass(frozen=True)
class TokenizerSpeedConfig:
    """Times the IMDB tokenizer on every labelled review."""

    data_dir: str | None = flag(None, "TFDS data dir (default: $TFDS_DATA_DIR)")
    vocab_size: int = flag(10_000, "words of the vocabulary built from the training reviews")
    seq_len: int = flag(500, "ids per padded review")
    repeats: int = flag(3, "timed repeats (the best is reported too)")
    out: str | None = flag(None, "JSON file for the figures")


def run(config: TokenizerSpeedConfig) -> dict:
    """Tokenizes, builds the vocabulary and encodes `repeats` times; returns the figures."""
    from rnn_jax.data.imdb import load_imdb
    from rnn_jax.data.tokenizer import build_vocabulary, encode, tokenize

    splits = load_imdb(config.data_dir, download=False)
    texts = [t for split in splits.values() for t in split.texts]
    num_train = len(splits["train"].texts)
    wall, cpu = [], []
    for _ in range(config.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        words = tokenize(texts)
        vocab = build_vocabulary(words[:num_train], config.vocab_size)
        ids, lengths = encode(words, vocab, config.seq_len, "post")
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "num_reviews": len(texts),
        "num_words": int(sum(map(len, words))),
        "vocab_size": len(vocab),
        "seq_len": config.seq_len,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "best_wall_seconds": min(wall),
        "best_cpu_seconds": min(cpu),
        "load_average": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/imdb_tokenizer_speed.py` / `rnn-jax tokenizer-speed`: time, print, save."""
    config = parse_config(TokenizerSpeedConfig, argv, description=__doc__.splitlines()[0])
    result = run(config)
    print(json.dumps(result, indent=2))
    if config.out:
        Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        Path(config.out).write_text(json.dumps(result, indent=2) + "\n")
    return result
