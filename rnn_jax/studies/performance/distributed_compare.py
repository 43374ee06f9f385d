"""Compares finished IMDB runs made on different device/process counts: same losses and accuracies?

    python experiments/distributed_compare.py results/distributed/imdb_1dev results/distributed/imdb_8dev \
        --output results/distributed/imdb_same_results.md
    rnn-jax distributed-compare --help

The first run folder is the reference; for every other one the table gives the largest absolute
difference of any per-epoch metric (train/validation loss and accuracy) and of the test loss and
accuracy. Reads only the run folders' `config.json`, `metrics.jsonl` and `results.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from rnn_jax.training import runs

EPOCH_KEYS = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")
TEST_KEYS = ("test_loss", "test_accuracy")


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """The run folders to compare and where to write the table."""

    workdirs: tuple[str, ...]  # finished run folders; the first is the reference
    output: str | None = None  # also write the table to this Markdown file


def parse_args(argv: list[str] | None = None) -> CompareConfig:
    """The command line (positional run folders, so by hand rather than from the dataclass)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+", help="finished run folders; the first is the reference")
    parser.add_argument("--output", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    return CompareConfig(workdirs=tuple(args.workdirs), output=args.output)


def compare(workdirs: list[str]) -> str:
    """A Markdown table: one row per run, differences from the first."""
    loaded = [(Path(w), runs.read_metrics(w), runs.load_json(Path(w) / runs.RESULTS_FILE)) for w in workdirs]
    _, ref_metrics, ref_results = loaded[0]
    lines = [
        "| run | devices | processes | test accuracy | test loss | max epoch-metric diff | max test diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for path, metrics, results in loaded:
        if len(metrics) != len(ref_metrics):
            raise ValueError(f"{path} ran {len(metrics)} epochs, the reference {len(ref_metrics)}")
        epoch_diff = max(
            abs(a[k] - b[k]) for a, b in zip(metrics, ref_metrics, strict=True) for k in EPOCH_KEYS
        )
        test_diff = max(abs(results[k] - ref_results[k]) for k in TEST_KEYS)
        lines.append(
            f"| {path.name} | {results.get('num_devices', 1)} | {results.get('num_processes', 1)} | "
            f"{results['test_accuracy']:.4f} | {results['test_loss']:.6f} | {epoch_diff:.1e} | "
            f"{test_diff:.1e} |"
        )
    return "\n".join(lines) + "\n"


def run(config: CompareConfig) -> str:
    """The comparison table, also written to `config.output` when given."""
    table = compare(list(config.workdirs))
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        Path(config.output).write_text(table)
    return table


def main(argv: list[str] | None = None) -> str:
    """`python experiments/distributed_compare.py` / `rnn-jax distributed-compare`: print the table."""
    table = run(parse_args(argv))
    print(table)
    return table
