"""A tiny `imdb_reviews` in TFDS's own array_record format, written without TensorFlow or network.

`write_tiny_imdb(data_dir)` lays out `<data_dir>/imdb_reviews/plain_text/1.0.0/` exactly as
`tfds.builder("imdb_reviews", file_format="array_record").download_and_prepare()` does (dataset_info.json,
features.json, label.labels.txt, one shard per split), with short reviews stored as bytes like the
real data, so `tfds.data_source("imdb_reviews", data_dir=..., download=False)` reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

POSITIVE = ["great", "wonderful", "loved", "excellent", "brilliant", "fun"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "waste", "dull"]
NEUTRAL = ["the", "movie", "film", "a", "plot", "actor", "was", "and", "it", "this", "of", "scene"]


def make_reviews(num: int, seed: int) -> list[tuple[bytes, int]]:
    """`num` reviews (bytes, label) whose label is readable from a few sentiment words."""
    rng = np.random.default_rng(seed)
    reviews = []
    for i in range(num):
        label = i % 2
        cue = POSITIVE if label else NEGATIVE
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(3, 30))))
        for _ in range(int(rng.integers(1, 4))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
        text = " ".join(words).capitalize() + ".<br /><br />" + str(rng.choice(NEUTRAL)).upper() + "!"
        reviews.append((text.encode(), label))
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


def write_tiny_imdb(data_dir: str | Path, num_train: int = 120, num_test: int = 40, seed: int = 0) -> Path:
    """Writes the tiny dataset under `data_dir`; returns `data_dir`."""
    splits = {"train": make_reviews(num_train, seed), "test": make_reviews(num_test, seed + 1)}
    return write_splits(data_dir, splits)


TINY_CONFIG = {
    "vocab_size": 30,
    "seq_len": 16,
    "embedding_size": 8,
    "hidden_size": 8,
    "batch_size": 8,
    "num_epochs": 1,
    "eval_batch_size": 16,
    "checkpoint_every_steps": 0,
    "num_validation": 20,
    "max_train_examples": 48,
    "max_eval_examples": 20,
}


def tiny_flags(**changes) -> list[str]:
    """The command-line flags of the tiny classifier run on this fixture (`--no-download` included)."""
    flags = ["--no-download"]
    for name, value in {**TINY_CONFIG, **changes}.items():
        flags += [f"--{name}", str(value)]
    return flags
