"""A tiny `imdb_reviews` with all three splits (train, test and unsupervised) in TFDS's array_record format.

`tests/imdb_fixture.py` writes train and test only; the language-model corpus also reads the
`unsupervised` split. `write_tiny_lm_imdb(data_dir)` lays the files out as TFDS does (see that module)
and returns the reviews it wrote, so a test can compare the corpus with the text it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.imdb_fixture import make_reviews, write_splits  # noqa: F401  (re-exported)


def make_unlabelled_reviews(num: int, seed: int) -> list[tuple[bytes, int]]:
    """Reviews like `make_reviews`' plus a rare word each ("zorbNN", seen once or twice), label -1."""
    rng = np.random.default_rng(seed)
    reviews = []
    for i, (text, _) in enumerate(make_reviews(num, seed)):
        rare = f" zorb{i // 2} {rng.choice(['Plot', 'scene'])}".encode()
        reviews.append((text + rare, -1))
    return reviews


def write_tiny_lm_imdb(
    data_dir: str | Path, num_train: int = 30, num_test: int = 40, num_unsupervised: int = 50, seed: int = 0
) -> dict[str, list[bytes]]:
    """Writes train, test and unsupervised splits under `data_dir`; returns each split's texts."""
    splits = {
        "train": make_reviews(num_train, seed),
        "test": make_reviews(num_test, seed + 1),
        "unsupervised": make_unlabelled_reviews(num_unsupervised, seed + 2),
    }
    write_splits(data_dir, splits)
    return {name: [text for text, _ in reviews] for name, reviews in splits.items()}
