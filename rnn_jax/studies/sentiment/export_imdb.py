"""`rnn-jax export-imdb`: a portable copy of imdb_reviews, read without tensorflow-datasets.

    rnn-jax export-imdb --data_dir ../shared/tfds --out /tmp/imdb_copy                 # all splits
    rnn-jax export-imdb --data_dir ../shared/tfds --out /tmp/imdb_copy --splits train test

Then `--data_dir /tmp/imdb_copy` (or `TFDS_DATA_DIR=/tmp/imdb_copy`) works for every command that
reads IMDB, on a machine with neither TFDS nor internet access. The format is
`rnn_jax.data.portable`'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rnn_jax.data import imdb, portable
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import flag, parse_config


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Writes a portable copy of imdb_reviews (read without TFDS) from a prepared TFDS copy."""

    data_dir: str | None = flag(None, "the prepared TFDS copy (None: $TFDS_DATA_DIR, else TFDS's default)")
    out: str = flag("", "folder of the copy (it gets imdb_reviews/portable/<split>.npz)")
    splits: tuple[str, ...] = flag(portable.SPLITS, f"splits to copy, some of {portable.SPLITS}")


def export(config: ExportConfig) -> dict[str, int]:
    """Copies `config.splits` of the TFDS copy in `config.data_dir` to `config.out`: {split: reviews}.

    Raises:
      ConfigError: no `--out`, an unknown split, or a split the TFDS copy lacks.
      DatasetNotFoundError: no prepared TFDS copy in `data_dir`.
    """
    if not config.out:
        raise ConfigError("--out is required: the folder to write the portable copy to")
    unknown = [s for s in config.splits if s not in portable.SPLITS]
    if unknown or not config.splits:
        got = ", ".join(config.splits) or "none"
        raise ConfigError(f"--splits must name some of {', '.join(portable.SPLITS)}, got {got}")
    sources = imdb.load_sources(config.data_dir, download=False)
    missing = [s for s in config.splits if s not in sources]
    if missing:
        raise ConfigError(f"the IMDB copy in {config.data_dir} has no split {', '.join(missing)}")
    folder = portable.portable_dir(config.out)
    return {
        s: portable.write_split(folder / f"{s}.npz", sources[s].__getitems__(list(range(len(sources[s])))))
        for s in config.splits
    }


def main(argv: list[str] | None = None) -> dict[str, int]:
    """`rnn-jax export-imdb`."""
    config = parse_config(ExportConfig, argv)
    counts = export(config)
    folder = portable.portable_dir(config.out)
    for split, count in counts.items():
        print(f"{split}: {count:,} reviews, {(folder / f'{split}.npz').stat().st_size / 1e6:.1f} MB")
    print(f"wrote {folder}; read it with --data_dir {Path(config.out)}")
    return counts
