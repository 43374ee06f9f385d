"""The language models' table: finished run folders -> table.md / table.json, the context and cue plots.

    python experiments/lm_table.py --runs runs/lm/simple_rnn runs/lm/lstm runs/lm/kneser_ney \
        --out results/lm/full
    rnn-jax lm-table --help

Reads each run's `config.json` and `results.json` (RNN and count models alike; nothing is trained or
recomputed) and writes one row per run to `table.md` and `results.json`: test and validation
perplexity, parameters, training tokens, training time, tokens/s, effective context. It copies each
run's small files (config, metrics, results, printed lines, PNGs; never checkpoints) into
`out/runs/<name>/` and draws the RNNs' context usage in one figure (`context_usage.png`: loss
against context length, far context perturbed, gradient norms) and their cue tests
(`cue_test.png`: p(the lecture's answer) and the cues' lift against the gap N).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.studies.command import run_experiment
from rnn_jax.training import runs

COPIED = ("config.json", "metrics.jsonl", "results.json", "stdout.txt", "curves.png", "context_usage.png")


@dataclasses.dataclass(frozen=True)
class LMTableConfig:
    """One table of finished language-model runs."""

    runs: tuple[str, ...] = dataclasses.field(
        default=(), metadata={"help": "finished run folders (RNN or count models), one row each"}
    )
    out: str = dataclasses.field(default="results/lm/table", metadata={"help": "folder for the table"})
    command: str | None = dataclasses.field(
        default=None, metadata={"help": "the command line that made the runs, written under the table"}
    )

    @property
    def workdir(self) -> str:  # run_experiment's name for the output folder
        return self.out


def read_run(folder: str | Path) -> dict[str, Any]:
    """The row of one finished run: its results with the config's sizes; RunNotFoundError otherwise."""
    folder = Path(folder)
    results_path = folder / runs.RESULTS_FILE
    if not results_path.exists():
        raise RunNotFoundError(f"{results_path} does not exist: {folder} holds no finished run")
    results = runs.load_json(results_path)
    config = runs.load_json(folder / runs.CONFIG_FILE) if (folder / runs.CONFIG_FILE).exists() else {}
    train_seconds = results.get("fit_seconds") or _training_seconds(folder) or None
    return {
        "name": folder.name,
        "model": results.get("model"),
        "test_perplexity": results.get("test_perplexity"),
        "validation_perplexity": results.get("validation_perplexity"),
        "num_params": results.get("num_params"),
        "train_tokens": results.get("train_tokens"),
        "train_minutes": train_seconds / 60 if train_seconds else None,
        "tokens_per_second": results.get("tokens_per_second"),
        "effective_context": results.get("effective_context"),
        "softmax": config.get("softmax") if results.get("model") not in ("kneser_ney", "unigram") else None,
        "context": results.get("context"),
        "cue_test": results.get("cue_test"),
        "next_words": results.get("next_words"),
    }


def _training_seconds(folder: Path) -> float:
    """The training steps' seconds summed over the epochs of metrics.jsonl (0 when there is none)."""
    if not (folder / runs.METRICS_FILE).exists():
        return 0.0
    return sum(record.get("epoch_seconds", 0.0) for record in runs.read_metrics(folder))


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def to_markdown(rows: list[dict], command: str | None) -> str:
    lines = [
        "| run | model | test perplexity | validation perplexity | parameters | training tokens | "
        "training minutes | training tokens/s | effective context |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        model = f"{r['model']} ({r['softmax']} softmax)" if r["softmax"] else r["model"]
        lines.append(
            f"| {r['name']} | {model} | "
            f"**{_cell(r['test_perplexity'], '.2f')}** | {_cell(r['validation_perplexity'], '.2f')} | "
            f"{_cell(r['num_params'], ',')} | {_cell(r['train_tokens'], ',')} | "
            f"{_cell(r['train_minutes'], '.1f')} | {_cell(r['tokens_per_second'], ',.0f')} | "
            f"{_cell(r['effective_context'], 'd')} |"
        )
    if command:
        lines += ["", f"Made by: `{command}`"]
    return "\n".join(lines) + "\n"


def plot_cue_tests(rows: list[dict], path: Path) -> bool:
    """Per RNN run with a cue test, against the gap N: p(the lecture's answer) and the cues' lift."""
    from rnn_jax.studies.plots import pyplot, save_figure

    cues = [(r["name"], r["cue_test"]) for r in rows if (r["cue_test"] or {}).get("probability_by_gap")]
    if not cues:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, cue in cues:
        for ax, key in zip(axes, ("probability_by_gap", "lift_by_gap"), strict=True):
            values = dict(
                sorted((int(k), v) for k, v in (cue.get(key) or {}).items())
            )  # JSON: "0", "10", "100"
            ax.plot(list(values), list(values.values()), "o-", label=name)
    first = cues[0][1]
    axes[0].set_yscale("log")
    axes[0].set_ylabel(f'p("{first["answer"]}" | its cue, N words, "{first["prompt"]}")')
    axes[1].axhline(0.0, color="gray", lw=0.8)
    axes[1].set_ylabel("lift of the own language over the other cues (nats)")
    for ax in axes:
        ax.set_xlabel("N, words of review text between the cue and the prompt")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)
    return True


def run(config: LMTableConfig) -> dict[str, Any]:
    if not config.runs:
        raise ConfigError("--runs names no run folder")
    rows = [read_run(folder) for folder in config.runs]
    names = [r["name"] for r in rows]
    if len(set(names)) != len(names):
        raise ConfigError(f"two runs share a folder name ({names}): each row is named by its folder")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    for folder, row in zip(config.runs, rows, strict=True):
        target = out / "runs" / row["name"]
        target.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            if (Path(folder) / name).exists() and Path(folder).resolve() != target.resolve():
                shutil.copy2(Path(folder) / name, target / name)
    (out / "table.md").write_text(to_markdown(rows, config.command))
    contexts = {r["name"]: r["context"] for r in rows if r["context"]}
    if contexts:
        from rnn_jax.studies.next_word.context_usage import plot_context_usage

        plot_context_usage(contexts, out / "context_usage.png")
    plot_cue_tests(rows, out / "cue_test.png")
    results = {
        "rows": [{k: v for k, v in r.items() if k != "context"} for r in rows],
        "command": config.command,
    }
    runs.save_config(out, config)
    runs.save_results(out, results)
    return results


def summary_lines(results: dict) -> list[str]:
    return [
        f"{r['name']:<16} test perplexity {r['test_perplexity']:.2f}"
        + (f", {r['tokens_per_second']:,.0f} training tokens/s" if r.get("tokens_per_second") else "")
        for r in results["rows"]
    ]


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax lm-table` / `python experiments/lm_table.py`."""
    return run_experiment(LMTableConfig, run, summary_lines, argv, outputs=("table.md",))
