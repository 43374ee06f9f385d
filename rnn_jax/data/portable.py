"""A portable copy of `imdb_reviews`: the same reviews without tensorflow-datasets or array_record.

    rnn-jax export-imdb --data_dir ../shared/tfds --out /path/to/copy     # all splits, 38 MB
    rnn-jax imdb --data_dir /path/to/copy ...                            # read like a TFDS folder

(the command is `rnn_jax.studies.sentiment.export_imdb`; this module writes and reads the files).

For a machine that has JAX but neither TFDS nor internet access (an offline GPU node, say): the
prepared TFDS copy is 81 MiB of array_record files and needs two packages to read; this copy is
38 MB (train, test and unsupervised; 19 MB for train and test) and needs NumPy and the
standard library. `rnn_jax.data.imdb.load_sources` reads it wherever a TFDS folder is expected,
so every command's `--data_dir` (and `TFDS_DATA_DIR`) takes either.

Layout, one file per split, `<out>/imdb_reviews/portable/<split>.npz` (`numpy.savez`, no pickles):

    labels    [N] int32             TFDS's label, 1 = positive (-1 in `unsupervised`)
    offsets   [N + 1] int64         review i is text[offsets[i]:offsets[i + 1]]
    text_xz   [bytes] uint8         the N reviews' bytes, concatenated, then LZMA (xz) compressed
    sha256    str                   the SHA-256 of the uncompressed bytes, checked on loading

The records keep TFDS's order and bytes, so a split read from here equals the split read through
`tfds.data_source` record for record (tested), and every run on it is the same run.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import zipfile
from pathlib import Path

import numpy as np

from rnn_jax.errors import CorruptDatasetError, DatasetNotFoundError

DATASET = "imdb_reviews"
FOLDER = "portable"
SPLITS = ("train", "test", "unsupervised")
_FIELDS = ("labels", "offsets", "text_xz", "sha256")


class PortableSource:
    """One split in memory, read as `tfds.data_source` reads: `len()`, `[i]` and `__getitems__`.

    A record is `{"text": bytes, "label": int}`, as TFDS gives it.
    """

    def __init__(self, text: bytes, offsets: np.ndarray, labels: np.ndarray):
        self._text, self._offsets, self._labels = text, offsets, labels

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> dict:
        start, stop = int(self._offsets[index]), int(self._offsets[index + 1])
        return {"text": self._text[start:stop], "label": int(self._labels[index])}

    def __getitems__(self, indices) -> list[dict]:
        return [self[int(i)] for i in indices]


def portable_dir(data_dir: str | os.PathLike) -> Path:
    """Where a portable copy keeps its files: `<data_dir>/imdb_reviews/portable`."""
    return Path(data_dir) / DATASET / FOLDER


def is_portable(data_dir: str | os.PathLike) -> bool:
    """True when `data_dir` holds a portable copy with at least the train split."""
    return (portable_dir(data_dir) / "train.npz").is_file()


def _corrupt(path: Path, reason: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"the portable IMDB file {path} cannot be read ({reason}); write it again with "
        "rnn-jax export-imdb --data_dir <a prepared TFDS copy> --out <folder>"
    )


def load_split(path: str | os.PathLike) -> PortableSource:
    """One split's file as a `PortableSource`.

    Raises:
      CorruptDatasetError: the file is truncated, not an export of this module, or its text does
        not match its checksum.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            fields = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _corrupt(path, f"{type(err).__name__}: {err}") from None
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        raise _corrupt(path, f"no {', '.join(missing)}")
    try:
        text = lzma.decompress(fields["text_xz"].tobytes())
    except lzma.LZMAError as err:
        raise _corrupt(path, f"LZMAError: {err}") from None
    labels, offsets, checksum = fields["labels"], fields["offsets"], str(fields["sha256"])
    if hashlib.sha256(text).hexdigest() != checksum:
        raise _corrupt(path, "its text does not match its SHA-256")
    if offsets.shape != (len(labels) + 1,) or offsets[0] != 0 or offsets[-1] != len(text):
        raise _corrupt(path, "its offsets do not fit its text")
    return PortableSource(text, offsets, labels)


def load_portable(data_dir: str | os.PathLike) -> dict[str, PortableSource]:
    """Every split of the portable copy in `data_dir`, as `{"train": ..., "test": ..., ...}`."""
    folder = portable_dir(data_dir)
    if not is_portable(data_dir):
        raise DatasetNotFoundError(f"no portable IMDB copy in {folder} (no train.npz)")
    paths = {split: folder / f"{split}.npz" for split in SPLITS}
    return {split: load_split(path) for split, path in paths.items() if path.is_file()}


def write_split(path: str | os.PathLike, records) -> int:
    """Writes `records` (an iterable of `{"text": bytes, "label": int}`) to `path`; returns their number."""
    texts, labels = [], []
    for record in records:
        texts.append(bytes(record["text"]))
        labels.append(int(record["label"]))
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    text = b"".join(texts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")  # renamed when complete: never half a file
    np.savez(
        partial,
        labels=np.asarray(labels, np.int32),
        offsets=offsets,
        text_xz=np.frombuffer(lzma.compress(text, preset=6), np.uint8),
        sha256=np.asarray(hashlib.sha256(text).hexdigest()),
    )
    partial.replace(path)
    return len(texts)
