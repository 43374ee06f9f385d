"""The lecture's count shape(h) x (shape(h) + shape(x)) (+ shape(h) for b), beside the built models' count.

    python experiments/parameter_count.py --workdir runs/parameter_count
    python experiments/parameter_count.py --smoke --workdir /tmp/parameter_count
    rnn-jax parameter-count --help

Counts the numbers in the parameters that `rnn_jax.init_simple_rnn` / `init_lstm` / `init_gru`
actually build for the lecture's sizes (h = x = 32), and the whole IMDB classifier of
`rnn_jax.models.classifiers` (embedding + recurrence + head), each part beside its formula. Writes
config.json, results.json and parameter_count.png into --workdir.
"""

from __future__ import annotations

import dataclasses

import jax

import rnn_jax
from rnn_jax.studies import plots as analysis_plots
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.training import runs


@dataclasses.dataclass(frozen=True)
class ParameterCountConfig:
    """Parameters of the lecture's Simple RNN (and LSTM, GRU, the IMDB classifier) for its sizes."""

    workdir: str = flag("runs/parameter_count", "output folder")
    input_size: int = flag(32, "shape(x): the word-vector (embedding) size")
    hidden_size: int = flag(32, "shape(h): the state size")
    vocab_size: int = flag(10_000, "words of the IMDB classifier's vocabulary (plus padding and OOV ids)")
    seq_len: int = flag(500, "words per review of the IMDB classifier (does not change the count)")


SMOKE = {"input_size": 3, "hidden_size": 2, "vocab_size": 20, "seq_len": 5}

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _imdb_model_counts(config: ParameterCountConfig) -> dict:
    """Per-part parameter counts of the Flax IMDB classifiers (shapes only: nothing is computed)."""
    from rnn_jax.data.tokenizer import NUM_SPECIAL_IDS
    from rnn_jax.models.classifiers import build_model, init_params
    from rnn_jax.studies.sentiment.imdb import TrainConfig

    counts = {}
    for model_name in ("simple_rnn", "lstm", "gru"):
        train_config = TrainConfig(
            model=model_name,
            vocab_size=config.vocab_size,
            seq_len=config.seq_len,
            embedding_size=config.input_size,
            hidden_size=config.hidden_size,
        )
        model = build_model(train_config)
        shapes = jax.eval_shape(lambda model=model: init_params(model, jax.random.key(0), config.seq_len))
        parts = {name: rnn_jax.num_params(tree) for name, tree in shapes.items()}
        num_ids = config.vocab_size + NUM_SPECIAL_IDS
        counts[model_name] = {
            "parts": parts,
            "total": sum(parts.values()),
            "formula": {
                "embedding": num_ids * config.input_size,
                "rnn": GATES[model_name] * config.hidden_size * (config.hidden_size + config.input_size + 1),
                "head": config.hidden_size + 1,
            },
            "num_ids": num_ids,
        }
    return counts


def run(config: ParameterCountConfig) -> dict:
    """Counts, writes the run folder, returns the results dict."""
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    h, x = config.hidden_size, config.input_size
    key = jax.random.key(0)
    built = {
        "simple_rnn": rnn_jax.init_simple_rnn(key, x, h),
        "lstm": rnn_jax.init_lstm(key, x, h),
        "gru": rnn_jax.init_gru(key, x, h),
    }
    results = {
        "input_size": x,
        "hidden_size": h,
        "lecture": {
            "A_shape": list(built["simple_rnn"]["A"].shape),
            "formula_A": h * (h + x),
            "formula_A_plus_b": h * (h + x) + h,
            "simple_rnn_num_params": rnn_jax.simple_rnn_num_params(x, h),
            "built": rnn_jax.num_params(built["simple_rnn"]),
            "built_A": int(built["simple_rnn"]["A"].size),
        },
        "cells": {
            name: {
                "formula": GATES[name] * h * (h + x + 1),
                "built": rnn_jax.num_params(params),
                "shapes": {k: list(v.shape) for k, v in params.items()},
            }
            for name, params in built.items()
        },
    }
    try:
        results["imdb_models"] = _imdb_model_counts(config)
    except ImportError as err:  # the IMDB modules need the 'train' extra
        results["imdb_models"] = {"skipped": f"rnn_jax.models unavailable: {err}"}
    runs.save_results(workdir, results)
    analysis_plots.plot_parameter_count(workdir, workdir / "parameter_count.png")
    return results


def summary_lines(results: dict) -> list[str]:
    """The numbers as Markdown (used by the script and the lecture report)."""
    h, x, lecture = results["hidden_size"], results["input_size"], results["lecture"]
    lines = [
        f"A has shape {lecture['A_shape']} = shape(h) x (shape(h) + shape(x)): "
        f"{h} x ({h} + {x}) = **{lecture['formula_A']:,}** numbers, + shape(h) = {h} for b = "
        f"**{lecture['formula_A_plus_b']:,}**; the built Simple RNN holds **{lecture['built']:,}** "
        f"(A: {lecture['built_A']:,}).",
        "",
        "| cell | formula gates x h x (h + x + 1) | built |",
        "| --- | --- | --- |",
    ]
    for name, c in results["cells"].items():
        lines.append(f"| {name} | {c['formula']:,} | {c['built']:,} |")
    imdb = results.get("imdb_models", {})
    if "skipped" in imdb:
        lines += ["", f"IMDB classifiers: {imdb['skipped']}"]
    elif imdb:
        lines += [
            "",
            "| IMDB classifier | embedding | recurrence | head | total |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, m in imdb.items():
            p, f = m["parts"], m["formula"]
            lines.append(
                f"| {name} | {p.get('embedding', 0):,} ({m['num_ids']:,} ids x {x}) "
                f"| {p.get('rnn', 0):,} (formula {f['rnn']:,}) | {p.get('head', 0):,} "
                f"| {m['total']:,} |"
            )
        lines += [
            "",
            "(Keras' SimpleRNN model of Chollet §6.2 has 320,000 + 2,080 + 33 = 322,113: its "
            "embedding has no rows for the padding and out-of-vocabulary ids.)",
        ]
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/parameter_count.py` / `rnn-jax parameter-count`: the counts, their table, files."""
    return run_experiment(
        ParameterCountConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["parameter_count.png"]
    )
