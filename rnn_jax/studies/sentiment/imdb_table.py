"""IMDB results table: every model over several seeds, mean +/- std, as Markdown and JSON.

    python experiments/imdb_table.py --data_dir ../shared/tfds --out results/imdb
    python experiments/imdb_table.py --models simple_rnn,lstm --optimizer adam --out results/imdb_adam

Each run lives in `<runs>/<model>_seed<seed>` (a normal run folder): a finished run is read back, an
interrupted one is resumed, so the command can be rerun after a crash. Any TrainConfig flag applies
to every run (except --model and --seed, which the table sets).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import sys
from pathlib import Path

from rnn_jax.errors import ConfigError
from rnn_jax.models.classifiers import MODELS
from rnn_jax.studies.command import parse_flags
from rnn_jax.studies.sentiment.imdb import TrainConfig, train_and_evaluate
from rnn_jax.training import checkpoints, runs


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """The table's own flags (every TrainConfig flag applies to each of its runs)."""

    models: str = dataclasses.field(default=",".join(MODELS), metadata={"help": "comma-separated models"})
    seeds: str = dataclasses.field(default="0,1,2", metadata={"help": "comma-separated seeds"})
    runs: str = dataclasses.field(default="runs/imdb_table", metadata={"help": "folder of the run folders"})
    out: str = dataclasses.field(
        default="results/imdb", metadata={"help": "where table.md and table.json go"}
    )
    summarize_only: bool = dataclasses.field(
        default=False, metadata={"help": "train nothing: tabulate the finished runs only"}
    )


PUBLISHED = {  # ../shared/docs/lecture-summary.md (same settings: 10k words, last 500, emb 32, state 32)
    "logreg": "validation ~76 % (Chollet §6.1, 20 words)",
    "simple_rnn": "best validation 84.6 % (Chollet §6.2)",
    "lstm": "test 88.76 % (Wang, slides part 4)",
    "birnn": "validation 89.08 % (Wang, bidirectional LSTM)",
    "stacked": "test 87.4 % (Wang, 3 x stacked LSTM)",
}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def training_settings(workdir: str | Path) -> str:
    """The run's training settings that differ from TrainConfig's (the lecture's) defaults."""
    saved = runs.load_json(Path(workdir) / runs.CONFIG_FILE)
    defaults = dataclasses.asdict(TrainConfig())
    ignore = {"model", "seed", "data_dir", "download"}
    changed = [f"{k}={saved[k]}" for k in sorted(saved) if k not in ignore and saved[k] != defaults.get(k)]
    return ", ".join(changed) or "defaults"


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per model: mean and std of test accuracy, best epoch, epoch seconds over its runs."""
    table = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        settings = sorted({training_settings(r["workdir"]) for r in mine})
        acc_mean, acc_std = _mean_std([100 * r["test_accuracy"] for r in mine])
        sec = [r["epoch_seconds"] for r in mine if r.get("epoch_seconds")]
        table[model] = {
            "test_accuracy_mean": acc_mean,
            "test_accuracy_std": acc_std,
            "test_accuracies": [100 * r["test_accuracy"] for r in mine],
            "seeds": [r["seed"] for r in mine],
            "best_epochs": [r["best_epoch"] for r in mine],
            "num_params": mine[0]["num_params"],
            "num_params_rnn": mine[0]["num_params_rnn"],
            "epoch_seconds_mean": statistics.fmean(sec) if sec else None,
            "skipped_updates": sum(r["skipped_updates"] for r in mine),
            "settings": "; ".join(settings),
        }
    return table


def to_markdown(table: dict[str, dict], command: str) -> str:
    lines = [
        "| model | test accuracy (mean ± std) | runs (seeds) | best epochs | parameters (recurrence) "
        "| train s / epoch | settings (besides the lecture's) | published |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, t in table.items():
        seconds = f"{t['epoch_seconds_mean']:.1f}" if t["epoch_seconds_mean"] else "-"
        runs_text = ", ".join(f"{a:.2f}" for a in t["test_accuracies"])
        lines.append(
            f"| {model} | **{t['test_accuracy_mean']:.2f} ± {t['test_accuracy_std']:.2f} %** "
            f"| {runs_text} ({', '.join(map(str, t['seeds']))}) | "
            f"{', '.join(map(str, t['best_epochs']))} "
            f"| {t['num_params']:,} ({t['num_params_rnn']:,}) "
            f"| {seconds} | {t['settings']} | {PUBLISHED.get(model, '-')} |"
        )
    return "\n".join(lines) + f"\n\nCommand: `{command}`\n"


def _copy_run_files(workdir: Path, target: Path, with_plot: bool) -> None:
    """The run's small files (config, metrics, results; the curves of the first seed) beside the table."""
    target.mkdir(parents=True, exist_ok=True)
    names = [runs.CONFIG_FILE, runs.METRICS_FILE, runs.RESULTS_FILE] + (["curves.png"] if with_plot else [])
    for name in names:
        if (workdir / name).exists():
            shutil.copyfile(workdir / name, target / name)


def _run_or_read(config: TrainConfig, workdir: Path, summarize_only: bool) -> dict | None:
    """The run's results: read when finished, else trained (resumed when it has checkpoints)."""
    if (workdir / runs.RESULTS_FILE).exists():
        result = runs.load_json(workdir / runs.RESULTS_FILE)
        print(f"{workdir}: done, test accuracy {100 * result['test_accuracy']:.2f}%")
        return result
    if summarize_only:
        print(f"{workdir}: not finished, left out")
        return None
    resume = checkpoints.has_checkpoints(workdir)
    print(
        f"=== {config.model} seed {config.seed} -> {workdir}" + (" (resuming)" if resume else ""), flush=True
    )
    return train_and_evaluate(config, workdir, resume=resume, progress=False)


RUN_KEYS = (
    "model",
    "seed",
    "test_accuracy",
    "test_loss",
    "best_epoch",
    "best_validation_accuracy",
    "epochs_run",
    "epoch_seconds",
    "tokens_per_second",
    "tokenize_seconds",
    "skipped_updates",
    "num_params",
    "workdir",
    "device",
)


def _write_table(out: Path, rows: list[dict], command: str, base: TrainConfig | None) -> dict:
    table = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(to_markdown(table, command))
    (out / "table.json").write_text(
        json.dumps(
            {
                "command": command,
                "config": None if base is None else dataclasses.asdict(base),
                "models": table,
                "runs": [{k: r.get(k) for k in RUN_KEYS} for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    return table


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax imdb-table` / `python experiments/imdb_table.py`: train (or read) every run, tabulate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    base, options = parse_flags([TrainConfig, TableOptions], argv, description=__doc__.splitlines()[0])
    models = [m for m in options.models.split(",") if m]
    seeds = [int(s) for s in options.seeds.split(",") if s]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ConfigError(f"unknown models {unknown}; expected some of {list(MODELS)}")
    runs_dir, out = Path(options.runs), Path(options.out)
    command = "python experiments/imdb_table.py " + " ".join(argv)
    rows, table = [], {}
    for model in models:
        for seed in seeds:
            workdir = runs_dir / f"{model}_seed{seed}"
            result = _run_or_read(
                dataclasses.replace(base, model=model, seed=seed), workdir, options.summarize_only
            )
            if result is None:
                continue
            rows.append({**result, "workdir": str(workdir)})
            _copy_run_files(workdir, out / "runs" / workdir.name, with_plot=seed == seeds[0])
            table = _write_table(out, rows, command, None if options.summarize_only else base)
    print((out / "table.md").read_text())
    return table
