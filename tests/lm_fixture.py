"""A tiny `imdb_reviews` with all three splits (train, test and unsupervised) in TFDS's array_record format.

`tests/imdb_fixture.py` writes train and test only; the language-model corpus also reads the
`unsupervised` split. `write_tiny_lm_imdb(data_dir)` lays the files out as TFDS does (see that module)
and returns the reviews it wrote, so a test can compare the corpus with the text it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.imdb_fixture import make_reviews


def make_unlabelled_reviews(num: int, seed: int) -> list[tuple[bytes, int]]:
    """Reviews like `make_reviews`' plus a rare word each ("zorbNN", seen once or twice), label -1."""
    rng = np.random.default_rng(seed)
    reviews = []
    for i, (text, _) in enumerate(make_reviews(num, seed)):
        rare = f" zorb{i // 2} {rng.choice(['Plot', 'scene'])}".encode()
        reviews.append((text + rare, -1))
    return reviews


def write_splits(data_dir: str | Path, splits: dict[str, list[tuple[bytes, int]]]) -> Path:
    """Writes `{split name: [(text, label), ...]}` as a prepared `imdb_reviews`; returns `data_dir`."""
    import tensorflow_datasets as tfds
    from array_record.python.array_record_module import ArrayRecordWriter
    from tensorflow_datasets.core import example_serializer

    folder = Path(data_dir) / "imdb_reviews" / "plain_text" / "1.0.0"
    folder.mkdir(parents=True, exist_ok=True)
    features = tfds.features.FeaturesDict(
        {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=["neg", "pos"])}
    )
    serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
    info_splits = []
    for name, reviews in splits.items():
        writer = ArrayRecordWriter(
            str(folder / f"imdb_reviews-{name}.array_record-00000-of-00001"), "group_size:1"
        )
        for text, label in reviews:
            writer.write(
                serializer.serialize_example(features.encode_example({"text": text, "label": label}))
            )
        writer.close()
        info_splits.append(
            {
                "filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
                "name": name,
                "numBytes": "0",
                "shardLengths": [str(len(reviews))],
            }
        )
    info = {
        "configName": "plain_text",
        "fileFormat": "array_record",
        "name": "imdb_reviews",
        "moduleName": "tensorflow_datasets.datasets.imdb_reviews.imdb_reviews_dataset_builder",
        "splits": info_splits,
        "version": "1.0.0",
        "supervisedKeys": {"tuple": {"items": [{"featureKey": "text"}, {"featureKey": "label"}]}},
    }
    (folder / "dataset_info.json").write_text(json.dumps(info))
    features.save_config(str(folder))
    (folder / "label.labels.txt").write_text("neg\npos\n")
    return Path(data_dir)


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
