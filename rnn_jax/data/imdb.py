"""IMDB reviews through tensorflow-datasets: locate (or download) `imdb_reviews` and split it.

The data is read with `tfds.data_source` from TFDS's `array_record` files, which needs
`tensorflow-datasets` and `array_record` but no TensorFlow. A portable copy written by `rnn-jax export-imdb`
(`rnn_jax.data.portable`) is read instead wherever a folder holds one and no TFDS copy: the same
records, for machines without TFDS. Where it is looked for, first match wins:

  1. the `data_dir` argument (the `--data_dir` flag of the experiment scripts);
  2. the `TFDS_DATA_DIR` environment variable;
  3. TFDS's own default, `~/tensorflow_datasets`.

When the dataset is not there and `download=True`, TFDS downloads and prepares it in the array_record
format; preparing opens the archive with TensorFlow, so it needs the `download` extra
(`pip install "simple-rnn-jax[download]"`, i.e. `tensorflow-cpu`). Otherwise `DatasetNotFoundError` says
where it looked and what to do.

Splits (as in the lecture): the 25,000 labelled training reviews are shuffled with `split_seed` and
cut into 20,000 train / 5,000 validation; test is TFDS's test split.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnn_jax.data import portable
from rnn_jax.errors import DatasetNotFoundError  # noqa: F401  (raised here; re-exported)

DATASET = "imdb_reviews"
CONFIG = "plain_text"
VERSION = "1.0.0"
NUM_TRAIN = 20_000
NUM_VALIDATION = 5_000


class Split(NamedTuple):
    """Raw labelled reviews: `texts` (bytes, as TFDS stores them) and `labels` [N] int32 (1 = positive)."""

    texts: list[bytes]
    labels: np.ndarray


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The TFDS data directory to use: `data_dir`, else `$TFDS_DATA_DIR`, else TFDS's default."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("TFDS_DATA_DIR"):
        return Path(os.environ["TFDS_DATA_DIR"]).expanduser()
    return Path("~/tensorflow_datasets").expanduser()


def dataset_dir(data_dir: str | os.PathLike) -> Path:
    """Where TFDS keeps the prepared files: `<data_dir>/imdb_reviews/plain_text/1.0.0`."""
    return Path(data_dir) / DATASET / CONFIG / VERSION


def is_prepared(data_dir: str | os.PathLike) -> bool:
    """True when `data_dir` holds a prepared `imdb_reviews` in the array_record format."""
    folder = dataset_dir(data_dir)
    return (folder / "dataset_info.json").exists() and any(folder.glob(f"{DATASET}-train.array_record*"))


def is_readable(data_dir: str | os.PathLike) -> bool:
    """True when `data_dir` holds a prepared TFDS copy or a portable one (`rnn-jax export-imdb`)."""
    return is_prepared(data_dir) or portable.is_portable(data_dir)


def can_download() -> bool:
    """Preparing `imdb_reviews` from the internet needs TensorFlow (the `download` extra)."""
    return importlib.util.find_spec("tensorflow") is not None


def _not_found_message(folder: Path, reason: str) -> str:
    return (
        f"IMDB (TFDS '{DATASET}', array_record) not found: looked in {folder} ({reason}).\n"
        "What to do: point --data_dir or TFDS_DATA_DIR at a folder that holds "
        f"{DATASET}/{CONFIG}/{VERSION} (on the development machines: ../shared/tfds), or, on a "
        "machine with internet access, install the download extra (pip install 'simple-rnn-jax[download]', "
        "which brings tensorflow-cpu) and run again with download enabled so that TFDS downloads "
        "and prepares it there."
    )


def load_sources(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> dict:
    """The TFDS random-access sources `{"train": ..., "test": ...}` of `imdb_reviews`.

    Args:
      data_dir: TFDS data directory (see the module docstring for the fallbacks).
      download: prepare the dataset with TFDS when it is missing (needs TensorFlow and internet).

    Returns:
      A dict of `tfds` data sources; `source[i]` is `{"text": bytes, "label": int}`. Where `data_dir`
      holds no TFDS copy but a portable one (`rnn-jax export-imdb`), its `PortableSource`s, read the
      same way without TFDS.

    Raises:
      DatasetNotFoundError: the dataset is missing and cannot (or may not) be downloaded.
      CorruptDatasetError: a portable copy's file cannot be read.
    """
    root = resolve_data_dir(data_dir)
    if not is_prepared(root) and portable.is_portable(root):
        return portable.load_portable(root)  # rnn-jax export-imdb's copy: no TFDS needed
    import tensorflow_datasets as tfds  # heavy; only needed here

    if not is_prepared(root):
        if not download:
            raise DatasetNotFoundError(_not_found_message(dataset_dir(root), "download disabled"))
        if not can_download():
            raise DatasetNotFoundError(
                _not_found_message(
                    dataset_dir(root), "and TensorFlow, which TFDS needs to prepare it, is not installed"
                )
            )
        builder = tfds.builder(DATASET, data_dir=str(root), file_format="array_record")
        builder.download_and_prepare()
    return tfds.data_source(DATASET, data_dir=str(root), download=False)


def _read(source, indices: np.ndarray) -> Split:
    records = source.__getitems__([int(i) for i in indices])
    texts = [r["text"] for r in records]
    labels = np.asarray([r["label"] for r in records], np.int32)
    return Split(texts, labels)


def load_imdb(
    data_dir: str | os.PathLike | None = None,
    *,
    split_seed: int = 0,
    num_validation: int = NUM_VALIDATION,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    download: bool = True,
) -> dict[str, Split]:
    """The labelled IMDB reviews as `{"train", "validation", "test"}` splits.

    The training split is permuted with `numpy.random.default_rng(split_seed)`; its last
    `num_validation` reviews (after the permutation) are the validation set, the rest are train
    (20,000 / 5,000 for the full data). Test is TFDS's test split, in its stored order.

    Args:
      data_dir: TFDS data directory; see `resolve_data_dir`.
      split_seed: seed of the train/validation permutation.
      num_validation: validation reviews taken from TFDS's train split.
      max_train_examples: keep only the first N training reviews (smoke runs); None = all.
      max_eval_examples: keep only the first N validation and the first N test reviews; None = all.
      download: see `load_sources`.

    Returns:
      A dict of `Split(texts, labels)`.
    """
    sources = load_sources(data_dir, download=download)
    missing = [split for split in ("train", "test") if split not in sources]
    if missing:
        raise DatasetNotFoundError(
            f"the IMDB copy in {resolve_data_dir(data_dir)} has no {' or '.join(missing)} split, "
            "which the classifiers read (export it with rnn-jax export-imdb --splits train test)"
        )
    num_labelled = len(sources["train"])
    if not 0 < num_validation < num_labelled:
        raise ValueError(
            f"num_validation must lie in [1, {num_labelled - 1}] (the train split has "
            f"{num_labelled} reviews), got {num_validation}"
        )
    for name, value in (("max_train_examples", max_train_examples), ("max_eval_examples", max_eval_examples)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be a positive int or None, got {value}")
    order = np.random.default_rng(split_seed).permutation(num_labelled)
    train_idx, valid_idx = order[: num_labelled - num_validation], order[num_labelled - num_validation :]
    test_idx = np.arange(len(sources["test"]))
    train_idx = train_idx[:max_train_examples]
    valid_idx, test_idx = valid_idx[:max_eval_examples], test_idx[:max_eval_examples]
    return {
        "train": _read(sources["train"], train_idx),
        "validation": _read(sources["train"], valid_idx),
        "test": _read(sources["test"], test_idx),
    }
