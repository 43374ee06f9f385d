"""The project's main job: every demonstration of the Simple RNN lecture, in its order, into one report.

    python experiments/lecture.py --quick --workdir runs/lecture-quick     # <= 3 minutes on 2 CPU cores
    python experiments/lecture.py --workdir runs/lecture                   # the README's figures
    python experiments/lecture.py --smoke --data_dir <tiny imdb> --workdir /tmp/lecture   # the tests
    rnn-jax lecture --help

Stages (each one a run folder under --workdir, written by the study module of the same name):

    1. parameter_count      shape(h) x (shape(h) + shape(x)) beside the built models' counts
    2. why_tanh             0.9^100 vanishes, 1.2^100 explodes, float32 overflow, tanh stays in (-1, 1)
    3. imdb_simple_rnn      the Simple RNN on IMDB with the lecture's settings (studies.sentiment.imdb)
    4. vanishing_gradients  ||dh_100/dx_1|| beside ||dh_2/dx_1||: random Simple RNNs, LSTM, GRU and
                            the Simple RNN just trained on IMDB
    5. long_memory          "clouds are in the ___" vs "I grew up in China ... I speak fluent ___"
    6. imdb_lstm            the LSTM on IMDB with the same settings, beside the Simple RNN and the
                            published figures
    7. next_word            the lecture's "clouds are in the ___" made real: Simple RNN and LSTM
                            language models of the reviews' text beside a Kneser-Ney trigram
                            (rnn_jax.studies.next_word.language_model), their top-5 next words, effective
                            context and the long-range cue test

and writes `report.md` (the numbers, the PNG figures and the command that produced it),
`config.json`, `metrics.jsonl` (one record per stage) and `results.json` into --workdir. The IMDB
stages are skipped, with the reason in the report, when the dataset is not available. An IMDB
run folder that already holds a finished run is reused and an interrupted one is resumed, so the
job can be run again after an interruption without retraining.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax

from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import flag, parse_config
from rnn_jax.studies.lecture import long_memory, parameter_count, vanishing_gradients, why_tanh
from rnn_jax.studies.next_word import language_model
from rnn_jax.studies.sentiment.imdb import TrainConfig, train_and_evaluate
from rnn_jax.training import runs

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_TFDS = REPO_ROOT.parent / "shared" / "tfds"

PUBLISHED = [
    (
        "SimpleRNN(32)",
        "validation peaks at 84.6 % (epoch 4 of 10), then 74-83 %",
        "Chollet, Deep Learning with Python, §6.2",
    ),
    ("LSTM(32)", "test 88.76 %", "Shusen Wang, RNN slides part 4"),
    ("LSTM(32)", "validation up to 89 %", "Chollet §6.2"),
]


@dataclasses.dataclass(frozen=True)
class LectureConfig:
    """Runs every demonstration of the Simple RNN lecture and writes one Markdown report."""

    workdir: str = flag("runs/lecture", "output folder of the report and of every stage's run folder")
    quick: bool = flag(False, "small settings that finish in <= 3 minutes on 2 CPU cores")
    smoke: bool = flag(False, "tiny settings for the tests (seconds; needs a tiny --data_dir for IMDB)")
    data_dir: str | None = flag(
        None,
        "TFDS data dir holding imdb_reviews (None: $TFDS_DATA_DIR, "
        "else ../shared/tfds when prepared, else ~/tensorflow_datasets)",
    )
    imdb: bool = flag(True, "run the IMDB stages (--no-imdb skips them)")
    imdb_simple_rnn_run: str | None = flag(
        None, "reuse this finished IMDB Simple RNN run folder instead of training one"
    )
    imdb_lstm_run: str | None = flag(None, "reuse this finished IMDB LSTM run folder instead of training one")
    seed: int = flag(0, "seed of every stage")


# ----------------------------------------------------------------------------- stage settings


def _setting(config: LectureConfig) -> str:
    if config.quick and config.smoke:
        raise ConfigError("choose one of --quick and --smoke")
    return "smoke" if config.smoke else "quick" if config.quick else "full"


def _stage_config(cls, setting: str, workdir: Path, quick: dict, **fixed):
    """The config of a stage's study: its defaults ("full"), QUICK or its module's SMOKE, then `fixed`."""
    overrides = {"full": {}, "quick": quick, "smoke": sys.modules[cls.__module__].SMOKE}[setting]
    return cls(**{**overrides, **fixed, "workdir": str(workdir)})


QUICK = {
    "why_tanh": {},
    "vanishing_gradients": {"seq_len": 150, "radii": "0.5,1.0,1.5"},
    "long_memory": {
        "gaps": "1,20,40,60",
        "cells": "simple_rnn,lstm,gru",
        "max_steps": 1000,
        "curriculum_steps": 400,
        "num_test": 512,
    },
}


def _imdb_train_config(model: str, setting: str, data_dir: str, seed: int) -> TrainConfig:
    common = {"model": model, "data_dir": data_dir, "download": False, "seed": seed}
    if setting == "full":  # the lecture's: 10,000 words, the last 500 of each review, E = H = 32
        return TrainConfig(**common)
    if setting == "quick":
        return TrainConfig(
            **common,
            seq_len=200,
            num_epochs=2,
            max_train_examples=4000,
            max_eval_examples=2000,
            checkpoint_every_steps=0,
        )
    return TrainConfig(
        **common,
        vocab_size=30,
        seq_len=16,
        embedding_size=8,
        hidden_size=8,
        batch_size=8,
        num_epochs=1,
        eval_batch_size=16,
        checkpoint_every_steps=0,
        num_validation=20,
        max_train_examples=48,
        max_eval_examples=20,
    )


def _resolve_data_dir(config: LectureConfig) -> tuple[str | None, str]:
    """(data_dir, '') when IMDB can be read, else (None, why not)."""
    from rnn_jax.data import imdb as data

    if config.data_dir:
        root = Path(config.data_dir)
    elif os.environ.get("TFDS_DATA_DIR"):
        root = Path(os.environ["TFDS_DATA_DIR"])
    elif data.is_prepared(SHARED_TFDS):
        root = SHARED_TFDS
    else:
        root = data.resolve_data_dir(None)
    if data.is_readable(root):
        return str(root), ""
    return None, (
        f"IMDB is not prepared under {root}: point --data_dir or TFDS_DATA_DIR at a folder "
        "holding imdb_reviews (see README)"
    )


def _train_imdb(
    model: str, setting: str, data_dir: str, workdir: Path, reuse: str | None, seed: int, progress: bool
) -> tuple[Path, dict]:
    """A finished IMDB run folder and its results: reused, resumed or trained here."""
    if reuse:
        path = Path(reuse)
        return path, runs.load_json(path / runs.RESULTS_FILE)
    if (workdir / runs.RESULTS_FILE).exists() and (workdir / "best_params").exists():
        return workdir, runs.load_json(workdir / runs.RESULTS_FILE)
    resume = (workdir / runs.CONFIG_FILE).exists()
    config = _imdb_train_config(model, setting, data_dir, seed)
    return workdir, train_and_evaluate(config, workdir, resume=resume, progress=progress)


# ----------------------------------------------------------------------------- the stages


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every stage reads: the lecture's config, its setting, folders and the IMDB data."""

    config: LectureConfig
    setting: str  # "full", "quick" or "smoke"
    workdir: Path
    data_dir: str | None  # None: IMDB is not available
    data_note: str  # why not
    progress: bool


IMDB_KEYS = (
    "test_accuracy",
    "best_validation_accuracy",
    "best_epoch",
    "epochs_run",
    "num_params",
    "num_params_rnn",
    "num_train",
    "epoch_seconds",
)


def _imdb_stage(model: str) -> Callable[[_Job, dict], dict]:
    def stage(job: _Job, results: dict) -> dict:
        reuse = getattr(job.config, f"imdb_{model}_run")
        if job.data_dir is None and reuse is None:
            return {"skipped": job.data_note}
        path, imdb = _train_imdb(
            model,
            job.setting,
            job.data_dir,
            job.workdir / f"imdb_{model}",
            reuse,
            job.config.seed,
            job.progress,
        )
        return {"run": str(path), **{k: imdb.get(k) for k in IMDB_KEYS}}

    return stage


def _parameter_count_stage(job: _Job, results: dict) -> dict:
    return parameter_count.run(
        _stage_config(parameter_count.ParameterCountConfig, job.setting, job.workdir / "parameter_count", {})
    )


def _why_tanh_stage(job: _Job, results: dict) -> dict:
    return why_tanh.run(
        _stage_config(
            why_tanh.WhyTanhConfig,
            job.setting,
            job.workdir / "why_tanh",
            QUICK["why_tanh"],
            seed=job.config.seed,
        )
    )


def _vanishing_stage(job: _Job, results: dict) -> dict:
    simple = results["stages"].get("imdb_simple_rnn", {}).get("run")  # the model stage 3 trained
    config = _stage_config(
        vanishing_gradients.VanishingGradientsConfig,
        job.setting,
        job.workdir / "vanishing_gradients",
        QUICK["vanishing_gradients"],
        imdb_run=simple,
        imdb_lstm_run=None,
        data_dir=job.data_dir,
        seed=job.config.seed,
    )
    return vanishing_gradients.run(config, progress=job.progress)


def _long_memory_stage(job: _Job, results: dict) -> dict:
    config = _stage_config(
        long_memory.LongMemoryConfig,
        job.setting,
        job.workdir / "long_memory",
        QUICK["long_memory"],
        seed=job.config.seed,
    )
    return long_memory.run(config, progress=job.progress)


# Next-word prediction: smaller than the README's table (studies.next_word.language_model) to fit the job.
NEXT_WORD = {
    "full": {
        "max_train_reviews": 20_000,
        "embedding_size": 128,
        "hidden_size": 128,
        "max_eval_reviews": 500,
        "context_positions": 300,
    },
    "quick": {
        "max_train_reviews": 3_000,
        "embedding_size": 64,
        "hidden_size": 64,
        "max_eval_reviews": 100,
        "context_positions": 100,
        "checkpoint_every_steps": 0,
        # measured: test perplexity 1,066.9 carrying the state across reviews, 445.6 resetting it
        # (docs/language_model.md, "The carried state on the quick lecture's test text")
        "reset_at_review_end": True,
    },
}
NEXT_WORD_MODELS = {
    "full": ("simple_rnn", "lstm", "kneser_ney"),
    "quick": ("simple_rnn", "kneser_ney"),
    "smoke": ("simple_rnn", "kneser_ney"),
}
NEXT_WORD_KEYS = (
    "test_perplexity",
    "validation_perplexity",
    "train_tokens",
    "num_params",
    "effective_context",
    "next_words",
    "cue_test",
    "tokens_per_second",
)


def _next_word_stage(job: _Job, results: dict) -> dict:
    if job.data_dir is None:
        return {"skipped": job.data_note}
    overrides = language_model.SMOKE if job.setting == "smoke" else NEXT_WORD[job.setting]
    models = {}
    for model in NEXT_WORD_MODELS[job.setting]:
        workdir = job.workdir / "next_word" / model
        config = language_model.LMConfig(
            **{
                **overrides,
                "model": model,
                "data_dir": job.data_dir,
                "download": False,
                "seed": job.config.seed,
            }
        )
        if (workdir / runs.RESULTS_FILE).exists():
            out = runs.load_json(workdir / runs.RESULTS_FILE)
        else:
            try:
                out = language_model.train_and_evaluate(
                    config, workdir, resume=(workdir / runs.CONFIG_FILE).exists(), progress=job.progress
                )
            except ConfigError as err:  # e.g. a data copy without the unsupervised split
                return {"skipped": f"next-word prediction: {err}"}
        models[model] = {"run": str(workdir), **{k: out.get(k) for k in NEXT_WORD_KEYS}}
    return {"models": models}


# (name = the stage's run folder, the report's section title, the stage), in the lecture's order
STAGES: list[tuple[str, str, Callable[[_Job, dict], dict]]] = [
    ("parameter_count", "1. The parameter count", _parameter_count_stage),
    ("why_tanh", "2. Why tanh", _why_tanh_stage),
    ("imdb_simple_rnn", "3. The Simple RNN on IMDB", _imdb_stage("simple_rnn")),
    ("vanishing_gradients", "4. The defect: ∂h_100/∂x_1 ≈ 0", _vanishing_stage),
    ("long_memory", "5. Short and long memory", _long_memory_stage),
    ("imdb_lstm", "6. The LSTM comparison", _imdb_stage("lstm")),
    ("next_word", "7. Next-word prediction: clouds are in the ___", _next_word_stage),
]


# ----------------------------------------------------------------------------- the job


def run(config: LectureConfig, argv: list[str], *, progress: bool = True) -> dict:
    """Runs the stages, writes the report; returns the results dict."""
    from tqdm.auto import tqdm

    setting = _setting(config)
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    command = "python experiments/lecture.py " + " ".join(shlex.quote(a) for a in argv)
    data_dir, data_note = (None, "skipped: --no-imdb") if not config.imdb else _resolve_data_dir(config)
    job = _Job(config, setting, workdir, data_dir, data_note, progress)
    results: dict = {"setting": setting, "command": command, "stages": {}, "seed": config.seed}
    sections: dict[str, list[str]] = {}
    start = time.perf_counter()
    bar = tqdm(STAGES, desc="lecture", unit="stage", disable=not progress)
    for name, title, stage in bar:
        bar.set_postfix_str(name)
        tic = time.perf_counter()
        stage_results = stage(job, results)
        seconds = time.perf_counter() - tic
        results["stages"][name] = stage_results
        runs.append_metrics(
            workdir, {"stage": name, "seconds": seconds, "skipped": stage_results.get("skipped")}
        )
        sections[name] = [f"## {title}", "", f"*Stage time: {seconds:.1f} s; run folder `{name}/`.*", ""]
    results["seconds"] = time.perf_counter() - start
    results["summary"] = _summary(results)
    runs.save_results(workdir, results)
    (workdir / "report.md").write_text(_report(config, results, sections, workdir))
    return results


def _summary(results: dict) -> dict:
    """The lecture's claims as a handful of numbers."""
    stages = results["stages"]
    tanh = stages["why_tanh"]["radii"]
    summary = {
        "simple_rnn_params_32_32": stages["parameter_count"]["lecture"]["built"],
        "ratio_100_radius_0.9": tanh.get("0.9", {}).get("float64_ratio"),
        "ratio_100_radius_1.2": tanh.get("1.2", {}).get("float64_ratio"),
        "float32_inf_step_radius_1.2": tanh.get("1.2", {}).get("float32_first_inf_step"),
        "largest_gap_at_90_percent": stages["long_memory"]["largest_gap_at_threshold"],
    }
    for model in ("simple_rnn", "lstm"):
        summary[f"imdb_{model}_test_accuracy"] = stages[f"imdb_{model}"].get("test_accuracy")
    vg = stages["vanishing_gradients"]["models"]
    summary["dh100_dx1_over_dh2_dx1"] = {name: m["ratio_100_to_2"] for name, m in vg.items()}
    return summary


# ----------------------------------------------------------------------------- the report


def _image(path: Path, workdir: Path) -> str:
    if not path.exists():
        return f"*(no figure: {path.name} was not written)*"
    return f"![{path.stem}]({os.path.relpath(path, workdir)})"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _header_lines(results: dict) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        "# The Simple RNN lecture, reproduced",
        "",
        f"Produced by `{results['command']}` ({results['setting']} setting) on {now}, "
        f"{platform.machine()} {jax.default_backend()} ({os.cpu_count()} CPU cores visible), "
        f"JAX {jax.__version__}; total {results['seconds']:.0f} s. Every number below is read from the "
        "stage's `results.json` in the folder named in its section.",
        "",
    ]


def _parameter_count_lines(pc: dict, workdir: Path) -> list[str]:
    return parameter_count.summary_lines(pc) + [
        "",
        _image(workdir / "parameter_count" / "parameter_count.png", workdir),
        "",
    ]


def _why_tanh_lines(wt: dict, workdir: Path) -> list[str]:
    lines = [
        "Zero inputs, no activation, no bias: h_t = A_h^t h_0 with A_h = radius x (orthogonal matrix), a "
        "normal matrix whose eigenvalues all have modulus `radius` (measured: "
        + ", ".join(
            f"{r}: {v['eigenvalue_modulus_min']:.15g} to {v['eigenvalue_modulus_max']:.15g}, "
            f"max abs(A Aᵀ - Aᵀ A) = {v['normality_defect']:.1e}"
            for r, v in wt["radii"].items()
        )
        + f"), so ‖h_{wt['num_steps']}‖ / ‖h_0‖ = radius^{wt['num_steps']} exactly. "
        "The lecture: 0.9^100 ≈ 2.66e-5, 1.2^100 = 82,817,974.52.",
        "",
    ]
    return (
        lines
        + why_tanh.summary_lines(wt)
        + [
            "",
            "With tanh the state stays inside (-1, 1) and never overflows; note that tanh cures the "
            "explosion, not the vanishing (radius 0.9 with tanh still shrinks).",
            "",
            _image(workdir / "why_tanh" / "why_tanh.png", workdir),
            "",
        ]
    )


def _vanishing_lines(vg: dict, workdir: Path) -> list[str]:
    lines = (
        [
            f"Exact Jacobians ∂h_t/∂x_1 of one sequence by forward-mode autodiff through the scan "
            f"({vg['dtype']}); Frobenius norms. Random models read N(0, 1) inputs; the IMDB model reads a "
            "real test review's word vectors.",
            "",
        ]
        + vanishing_gradients.summary_lines(vg)
        + [""]
    )
    return (
        lines
        + [f"- {note}" for note in vg["notes"]]
        + ["", _image(workdir / "vanishing_gradients" / "vanishing_gradients.png", workdir), ""]
    )


# The field's own measures of memory, beside this toy task: a study of its own (hours on 2 cores).
MEMORY_BENCHMARKS_LINES = [
    "Where the field measures memory (the adding problem and the copy task, the tanh RNN, the IRNN, "
    "the LSTM and the GRU up to T = 1,000, beside Hochreiter & Schmidhuber 1997, Le et al. 2015 and "
    "Arjovsky et al. 2016): `rnn-jax memory --task adding|copy`, its table in `results/memory/table.md` "
    "and the page docs/memory.md.",
    "",
]


def _long_memory_lines(lm: dict, workdir: Path) -> list[str]:
    return (
        [
            f"Task: `... MARKER ANSWER (k - 1 distractors) QUERY`, {lm['task']['num_answers']} answers "
            f"(chance {lm['chance']:.3f}), sequences of {lm['task']['seq_len']} tokens, one classifier "
            "trained per cell "
            "and gap on a curriculum of gaps rising from 1 to k (test accuracy at exactly k on fresh "
            "sequences; training steps until 99 % accuracy at k or the budget in brackets).",
            "",
        ]
        + long_memory.summary_lines(lm)
        + ["", _image(workdir / "long_memory" / "long_memory.png", workdir), ""]
        + MEMORY_BENCHMARKS_LINES
    )


def _comparison_lines(results: dict) -> list[str]:
    """The IMDB accuracies beside the published ones, the long-memory gaps, the setting's caveat."""
    stages = results["stages"]
    simple, lstm = stages["imdb_simple_rnn"], stages["imdb_lstm"]
    lines = [
        "| model | test accuracy here | published (same sizes) |",
        "| --- | --- | --- |",
        f"| Simple RNN(32) | {_pct(simple.get('test_accuracy'))} | {PUBLISHED[0][1]} ({PUBLISHED[0][2]}) |",
        f"| LSTM(32) | {_pct(lstm.get('test_accuracy'))} | {PUBLISHED[1][1]} ({PUBLISHED[1][2]}); "
        f"{PUBLISHED[2][1]} ({PUBLISHED[2][2]}) |",
        "",
    ]
    largest = stages["long_memory"]["largest_gap_at_threshold"]
    lines += [
        "On the synthetic task the largest gap with ≥ 90 % accuracy is "
        + ", ".join(f"{cell}: {k}" for cell, k in largest.items())
        + ".",
        "",
    ]
    if results["setting"] != "full":
        lines += [
            f"*{results['setting']} setting: smaller data and budgets than the lecture's; run "
            "without --quick for the full figures.*",
            "",
        ]
    return lines


def _report(config: LectureConfig, results: dict, sections: dict, workdir: Path) -> str:
    """report.md: a header, one section per stage in the lecture's order, the configuration."""
    stages = results["stages"]
    lines = _header_lines(results)
    lines += sections["parameter_count"] + _parameter_count_lines(stages["parameter_count"], workdir)
    lines += sections["why_tanh"] + _why_tanh_lines(stages["why_tanh"], workdir)
    lines += sections["imdb_simple_rnn"] + _imdb_lines(stages["imdb_simple_rnn"], workdir, "simple_rnn")
    lines += sections["vanishing_gradients"] + _vanishing_lines(stages["vanishing_gradients"], workdir)
    lines += sections["long_memory"] + _long_memory_lines(stages["long_memory"], workdir)
    lines += sections["imdb_lstm"] + _imdb_lines(stages["imdb_lstm"], workdir, "lstm")
    lines += sections["next_word"] + _next_word_lines(stages["next_word"], workdir)
    lines += _comparison_lines(results)
    lines += ["## Configuration", "", "```json", json.dumps(dataclasses.asdict(config), indent=2), "```", ""]
    return "\n".join(lines)


def _next_word_lines(stage: dict, workdir: Path) -> list[str]:
    if "skipped" in stage:
        return [f"**Skipped**: {stage['skipped']}", ""]
    models = stage["models"]
    lines = [
        '| model | test perplexity | training tokens | effective context | top 5 after "clouds are in the" |',
        "| --- | --- | --- | --- | --- |",
    ]
    for name, m in models.items():
        top = m["next_words"].get("clouds are in the") if m.get("next_words") else None
        top_text = ", ".join(f"{w} {100 * p:.1f} %" for w, p in top) if isinstance(top, list) else str(top)
        lines.append(
            f"| {name} | {m['test_perplexity']:.1f} | {m['train_tokens']:,} | "
            f"{m.get('effective_context') or '-'} | {top_text} |"
        )
    lines.append("")
    for name, m in models.items():
        cue = m.get("cue_test") or {}
        if "probability_by_gap" in cue:
            gaps = ", ".join(f"{gap}: {p:.3g}" for gap, p in cue["probability_by_gap"].items())
            lifts = ", ".join(f"{gap}: {v:+.2f}" for gap, v in (cue.get("lift_by_gap") or {}).items())
            lines += [
                f'Cue test, {name}: p("{cue["answer"]}") after "{cue["cue"]}", N words of review '
                f'text and "{cue["prompt"]}", by N: {gaps}.'
                + (
                    f" Lift of the right language over the other cues (nats), by N: {lifts}." if lifts else ""
                ),
                "",
            ]
        figure = Path(m["run"]) / "context_usage.png"
        if figure.exists():
            lines += [_image(figure, workdir), ""]
    return lines


def _imdb_lines(stage: dict, workdir: Path, model: str) -> list[str]:
    if "skipped" in stage:
        return [f"**Skipped**: {stage['skipped']}", ""]
    run_dir = Path(stage["run"])
    lines = [
        f"Run folder `{os.path.relpath(run_dir, workdir)}` (`rnn_jax.train.train_and_evaluate`): "
        f"{stage['num_train']} training reviews, {stage['num_params']:,} parameters "
        f"({stage['num_params_rnn']:,} in the recurrence); best validation accuracy "
        f"{_pct(stage['best_validation_accuracy'])} at epoch {stage['best_epoch']} of "
        f"{stage['epochs_run']}; **test accuracy {_pct(stage['test_accuracy'])}** with the best "
        f"epoch's parameters.",
        "",
    ]
    try:
        train_config = runs.load_json(run_dir / runs.CONFIG_FILE)
        c = train_config
        lines += [
            f"Settings: vocabulary {c['vocab_size']:,} words, last {c['seq_len']} words, "
            f"embedding {c['embedding_size']}, state {c['hidden_size']}, "
            f"{train_config['optimizer']} lr {train_config['learning_rate']}, batch "
            f"{train_config['batch_size']}, up to {train_config['num_epochs']} epochs.",
            "",
        ]
    except (FileNotFoundError, ValueError, KeyError):
        pass
    lines += [_image(run_dir / "curves.png", workdir), ""]
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/lecture.py` / `rnn-jax lecture`: every stage, report.md, the summary printed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_config(LectureConfig, argv)
    results = run(config, argv)
    report = Path(config.workdir) / "report.md"
    print(json.dumps(results["summary"], indent=2))
    print(f"wrote {report} in {results['seconds']:.0f} s")
    return results
