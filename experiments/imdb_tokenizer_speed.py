"""Times the IMDB tokenizer on every labelled review: words, the 10,000-word vocabulary, padded ids.

    python experiments/imdb_tokenizer_speed.py --data_dir ../shared/tfds --out results/imdb/tokenizer.json

Reports wall and CPU seconds per repeat (CPU time is what the work costs when other jobs share the
machine), and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from rnn_jax.data.imdb import load_imdb
from rnn_jax.data.tokenizer import build_vocabulary, encode, tokenize


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="TFDS data dir (default: $TFDS_DATA_DIR)")
    parser.add_argument("--vocab_size", type=int, default=10_000)
    parser.add_argument("--seq_len", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    splits = load_imdb(args.data_dir, download=False)
    texts = [t for split in splits.values() for t in split.texts]
    num_train = len(splits["train"].texts)
    wall, cpu = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        words = tokenize(texts)
        vocab = build_vocabulary(words[:num_train], args.vocab_size)
        ids, lengths = encode(words, vocab, args.seq_len, "post")
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    result = {"num_reviews": len(texts), "num_words": int(sum(map(len, words))), "vocab_size": len(vocab),
              "seq_len": args.seq_len, "wall_seconds": wall, "cpu_seconds": cpu,
              "best_wall_seconds": min(wall), "best_cpu_seconds": min(cpu),
              "load_average": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
