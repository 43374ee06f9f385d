"""The long-memory sweep: accuracy against the gap k for Simple RNN, LSTM and GRU on the lecture's task.

    python experiments/long_memory.py --workdir runs/long_memory
    python experiments/long_memory.py --smoke --workdir /tmp/long_memory
    rnn-jax long-memory --help

The task (`rnn_jax.data.long_memory`): "... MARKER ANSWER (k - 1 distractors) QUERY", predict the
answer from the last state; k = 1 is "clouds are in the ___", large k is "I grew up in China ... I
speak fluent ___". For every cell and gap a fresh classifier is trained (Adam, fresh batches, early
stop at the target training accuracy or the step budget) and tested on fresh sequences. Reports, for
each cell, the largest k whose mean test accuracy over seeds is >= --threshold. Writes config.json,
metrics.jsonl (one record per cell, gap and seed), results.json and long_memory.png into --workdir.

The classifier reads one-hot tokens (x_t = e_token, F = vocabulary size: the input half A_x of the
cell's matrix is the embedding), unrolls with `rnn_jax.unroll` and reads out `logits = W h_T + c`.

Why this study keeps its own training loop instead of the shared one in `rnn_jax.training`: a sweep
trains dozens of small classifiers for a few thousand steps each, so the cost is dispatch and
compilation, not arithmetic. Here `steps_per_chunk` optimizer steps (batch sampling included) run
inside one `lax.scan`, one jitted call per chunk, and the gap is a traced argument, so one
compilation per cell serves every gap of the sweep (all gaps share seq_len = max gap + 2). The
shared loop dispatches one jitted step per host-side batch and checkpoints and validates once per
epoch; that would make the sweep many times slower, and this task has nothing for its features to
act on: batches are fresh samples (no epochs, no validation set to select on, nothing to overfit)
and a run of seconds needs no checkpoint to resume.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice, check_positive_int
from rnn_jax.core.unroll import unroll
from rnn_jax.data.long_memory import Batch, TaskSpec, make_batch, sample_gaps
from rnn_jax.errors import ConfigError
from rnn_jax.studies import plots
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.training import runs

CELLS = ("simple_rnn", "lstm", "gru")


# ----------------------------------------------------------------------------- the classifier


def _step_fn(cell: str):
    return {"simple_rnn": cells.simple_rnn_step, "lstm": cells.lstm_step, "gru": cells.gru_step}[cell]


def init_classifier(
    key: jax.Array, cell: str, vocab_size: int, hidden_size: int, num_classes: int, *, keep_bias: float = 1.0
) -> dict[str, Any]:
    """Parameters of a one-hot-input recurrent classifier.

    Args:
      key: PRNG key.
      cell: "simple_rnn", "lstm" or "gru" (each with the library's default initialisation).
      vocab_size: V, the one-hot input size F.
      hidden_size: H.
      num_classes: C.
      keep_bias: the gated cells' bias towards keeping their state at initialisation: the LSTM's
        forget-gate bias (Keras' `unit_forget_bias`, 1.0) and, negated, the GRU's update-gate
        bias (h_t = (1 - z) h_{t-1} + z n, so b_z = -1 keeps sigmoid(1) = 73 % of h per step, as
        the LSTM's forget gate does). The Simple RNN has no gate and ignores it.

    Returns:
      `{"cell": the cell's params (A [g*H, H + V], ...), "readout": {"W": [C, H], "b": [C]}}`.
    """
    check_choice("cell", cell, CELLS)
    key_cell, key_out = jax.random.split(key)
    init = {"simple_rnn": cells.init_simple_rnn, "lstm": cells.init_lstm, "gru": cells.init_gru}[cell]
    W = jax.nn.initializers.lecun_normal(in_axis=1, out_axis=0)(key_out, (num_classes, hidden_size))
    if cell == "lstm":
        cell_params = cells.init_lstm(key_cell, vocab_size, hidden_size, forget_bias=keep_bias)
    else:
        cell_params = init(key_cell, vocab_size, hidden_size)
    if cell == "gru":
        cell_params["b"] = cell_params["b"].at[:hidden_size].set(-keep_bias)  # update gate z first
    return {"cell": cell_params, "readout": {"W": W, "b": jnp.zeros((num_classes,))}}


def classifier_logits(params: dict[str, Any], tokens: jax.Array, cell: str) -> jax.Array:
    """logits = W h_T + c, with h_T the last state after reading the one-hot tokens.

    Args:
      params: from `init_classifier`.
      tokens: [B, T] int.
      cell: the cell the params were built for.

    Returns:
      logits, [B, C].
    """
    vocab_size = params["cell"]["A"].shape[1] - cells.hidden_size_of(params["cell"], _step_fn(cell))
    xs = jax.nn.one_hot(tokens, vocab_size, dtype=params["cell"]["A"].dtype)  # [B, T] -> [B, T, V]
    h_last, _ = unroll(_step_fn(cell), params["cell"], xs, return_all_states=False)
    h = cells.state_output(h_last)  # [B, H]
    return h @ params["readout"]["W"].T + params["readout"]["b"]


def loss_and_accuracy(params: dict[str, Any], batch: Batch, cell: str) -> tuple[jax.Array, jax.Array]:
    """Mean softmax cross-entropy and accuracy of the classifier on a batch."""
    logits = classifier_logits(params, batch.tokens, cell)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch.labels).mean()
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == batch.labels)
    return loss, accuracy


# ----------------------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How one classifier is trained on the task."""

    hidden_size: int = 32  # H, the lecture's state size
    batch_size: int = 64  # sequences per step (fresh ones every step)
    learning_rate: float = 3e-3  # Adam
    max_grad_norm: float = 1.0  # global-norm clipping, so exploding gradients cannot derail a run
    max_steps: int = 4000  # training budget per (cell, gap)
    steps_per_chunk: int = 50  # steps jitted together between progress updates and the stop check
    target_accuracy: float = 0.99  # stop early once a chunk's mean training accuracy reaches this
    num_test: int = 1024  # fresh test sequences for the final accuracy
    keep_bias: float = 1.0  # LSTM forget-gate bias / minus the GRU update-gate bias at initialisation
    train_gaps: str = "curriculum"  # "exact" (gap k only), "mixed" (uniform in [1, k]) or "curriculum"
    curriculum_steps: int = 1000  # "curriculum": the largest gap rises linearly from 1 to k over these steps


class TrainResult(NamedTuple):
    """What `train_classifier` returns."""

    params: dict[str, Any]
    steps: int  # training steps actually taken (early stop)
    train_loss: float  # mean loss of the last chunk
    train_accuracy: float  # mean accuracy of the last chunk
    test_accuracy: float  # on settings.num_test fresh sequences
    history: list[dict[str, float]]  # one record per chunk: step, loss, accuracy


def make_optimizer(settings: TrainSettings) -> optax.GradientTransformation:
    """Adam after global-norm clipping."""
    return optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), optax.adam(settings.learning_rate))


TRAIN_GAPS = ("exact", "mixed", "curriculum")


def training_gaps(key: jax.Array, settings: TrainSettings, gap: jax.Array, step: jax.Array) -> jax.Array:
    """The gaps of one training batch for a classifier tested at gap k = `gap`.

        exact:       k for every sequence
        mixed:       uniform in [1, k] per sequence
        curriculum:  uniform in [1, k_step], k_step = clip(1 + (k - 1) step / curriculum_steps, 1, k)

    Why not "exact": trained on gap k alone, the loss sits at chance (log C) until the gradient
    through k steps happens to pick out the answer, and that plateau outgrows the step budget as k
    grows (the lecture's earlier table: every cell at chance from some k on, train loss 2.08 = log 8
    for all 2,000 steps). Shorter gaps in the batch teach the cell to store the answer; the test at
    exactly k then measures how long it keeps it.
    """
    if settings.train_gaps == "exact":
        return gap
    if settings.train_gaps == "mixed":
        return sample_gaps(key, settings.batch_size, gap)
    progress = (gap - 1) * step // max(settings.curriculum_steps, 1)
    return sample_gaps(key, settings.batch_size, jnp.clip(1 + progress, 1, gap))


def make_train_chunk(
    spec: TaskSpec, settings: TrainSettings, cell: str, optimizer: optax.GradientTransformation
) -> Callable:
    """`(params, opt_state, key, gap, first_step) -> (params, opt_state, mean loss, mean accuracy)`.

    `settings.steps_per_chunk` optimizer steps in one `lax.scan`, each on a fresh batch whose gaps
    `training_gaps` draws. Not jitted: the caller jits it (tests run it as is); `gap` and
    `first_step` may be traced, so one compilation serves all gaps.
    """

    def train_step(carry, inputs):
        params, opt_state = carry
        key, gap, step = inputs
        key_gaps, key_batch = jax.random.split(key)
        batch = make_batch(key_batch, spec, settings.batch_size, training_gaps(key_gaps, settings, gap, step))
        (loss, accuracy), grads = jax.value_and_grad(loss_and_accuracy, has_aux=True)(params, batch, cell)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, accuracy)

    def chunk(params, opt_state, key, gap, first_step):
        keys = jax.random.split(key, settings.steps_per_chunk)
        gaps = jnp.full((settings.steps_per_chunk,), gap, jnp.int32)
        steps = first_step + jnp.arange(settings.steps_per_chunk)
        (params, opt_state), (losses, accuracies) = jax.lax.scan(
            train_step, (params, opt_state), (keys, gaps, steps)
        )
        return params, opt_state, losses.mean(), accuracies.mean()

    return chunk


@functools.lru_cache(maxsize=16)
def _compiled(spec: TaskSpec, settings: TrainSettings, cell: str) -> tuple[Callable, Callable]:
    """The jitted training chunk and evaluation for one (task layout, settings, cell), cached."""
    chunk = jax.jit(make_train_chunk(spec, settings, cell, make_optimizer(settings)))

    def evaluate_batch(params, key, gap, num):
        return loss_and_accuracy(params, make_batch(key, spec, num, gap), cell)[1]

    return chunk, jax.jit(evaluate_batch, static_argnums=3)


STOP_CHECK_SIZE = 256  # sequences at exactly gap k that must reach the target before an early stop


def _reached_target_at_gap(settings: TrainSettings, steps: int, accuracy_at_gap: Callable[[], float]) -> bool:
    """Whether a run whose training batches reached the target may stop: with mixed or curriculum gaps
    the batches hold easier gaps than k, so the curriculum must be complete and the accuracy at
    exactly k (on held-out sequences) must reach the target too."""
    if settings.train_gaps == "exact":
        return True
    if settings.train_gaps == "curriculum" and steps < settings.curriculum_steps:
        return False
    return accuracy_at_gap() >= settings.target_accuracy


def train_classifier(
    key: jax.Array,
    spec: TaskSpec,
    cell: str,
    gap: int,
    settings: TrainSettings = TrainSettings(),
    *,
    progress: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Trains one classifier at one gap until it reaches the target accuracy or the step budget.

    Args:
      key: PRNG key (split into init, training and test keys).
      spec: the task layout (its seq_len is fixed across a sweep, so the compilation is reused).
      cell: "simple_rnn", "lstm" or "gru".
      gap: steps from the answer to the query, in [1, seq_len - 2].
      settings: sizes and budget.
      progress: called after every chunk as `progress(steps_done, loss, accuracy)`.

    Returns:
      A `TrainResult`; its test accuracy is measured on `settings.num_test` fresh sequences.

    Raises:
      ValueError: for an unknown cell, a gap outside [1, seq_len - 2] or a non-positive budget.
    """
    check_choice("cell", cell, CELLS)
    check_choice("train_gaps", settings.train_gaps, TRAIN_GAPS)
    check_positive_int("max_steps", settings.max_steps)
    check_positive_int("steps_per_chunk", settings.steps_per_chunk)
    spec.check_gap(gap)
    key_init, key_train, key_test = jax.random.split(key, 3)
    key_check = jax.random.fold_in(key_test, 1)
    params = init_classifier(
        key_init, cell, spec.vocab_size, settings.hidden_size, spec.num_answers, keep_bias=settings.keep_bias
    )
    opt_state = make_optimizer(settings).init(params)
    chunk, evaluate_batch = _compiled(spec, settings, cell)
    gap = jnp.asarray(gap, jnp.int32)
    history, steps, loss, accuracy = [], 0, float("nan"), float("nan")
    num_chunks = -(-settings.max_steps // settings.steps_per_chunk)
    for chunk_key in jax.random.split(key_train, num_chunks):
        params, opt_state, loss, accuracy = chunk(params, opt_state, chunk_key, gap, steps)
        steps += settings.steps_per_chunk
        loss, accuracy = float(loss), float(accuracy)
        history.append({"step": steps, "loss": loss, "accuracy": accuracy})
        if progress is not None:
            progress(steps, loss, accuracy)
        if accuracy >= settings.target_accuracy and _reached_target_at_gap(
            settings, steps, lambda p=params: float(evaluate_batch(p, key_check, gap, STOP_CHECK_SIZE))
        ):
            break
    test_accuracy = float(evaluate_batch(params, key_test, gap, settings.num_test))
    return TrainResult(params, steps, loss, accuracy, test_accuracy, history)


def largest_gap_reaching(accuracies: dict[int, float], threshold: float = 0.9) -> int | None:
    """The largest gap k whose accuracy is >= threshold (None when no gap reaches it)."""
    passing = [gap for gap, accuracy in accuracies.items() if accuracy >= threshold]
    return max(passing) if passing else None


# ----------------------------------------------------------------------------- the sweep


@dataclasses.dataclass(frozen=True)
class LongMemoryConfig:
    """Test accuracy against the answer-to-query gap k, per recurrent cell."""

    workdir: str = flag("runs/long_memory", "output folder")
    cells: str = flag("simple_rnn,lstm,gru", "comma-separated cells to compare")
    gaps: str = flag(
        "1,2,5,10,15,20,25,30,40,50,60,80,100,120", "comma-separated gaps k (1 = the short-term case)"
    )
    num_seeds: int = flag(1, "independent runs per (cell, gap); accuracy is their mean")
    hidden_size: int = flag(32, "H, the state size (the lecture's 32)")
    num_answers: int = flag(8, "answer classes; chance = 1 / num_answers")
    num_fillers: int = flag(16, "filler words (distractors are fillers or answer words)")
    batch_size: int = flag(64, "fresh sequences per training step")
    learning_rate: float = flag(3e-3, "Adam learning rate")
    max_steps: int = flag(4000, "training budget per (cell, gap, seed)")
    steps_per_chunk: int = flag(50, "steps per jitted chunk (progress and early-stop granularity)")
    target_accuracy: float = flag(0.99, "stop training once a chunk's training accuracy reaches this")
    keep_bias: float = flag(1.0, "LSTM forget-gate bias and minus the GRU update-gate bias at init")
    train_gaps: str = flag(
        "curriculum", "training gaps: k only, uniform in [1, k], or a curriculum 1 -> k", choices=TRAIN_GAPS
    )
    curriculum_steps: int = flag(1000, "steps over which the curriculum's largest gap rises to k")
    num_test: int = flag(1024, "fresh test sequences per (cell, gap, seed)")
    threshold: float = flag(0.9, "report the largest gap whose mean test accuracy reaches this")
    seed: int = flag(0, "base seed (run s of a (cell, gap) uses fold_in(seed, gap, s))")


SMOKE = {
    "gaps": "1,3",
    "cells": "simple_rnn",
    "hidden_size": 8,
    "batch_size": 16,
    "max_steps": 20,
    "steps_per_chunk": 10,
    "num_test": 64,
}


def _parse_list(name: str, text: str, kind):
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ConfigError(f"{name} must be a comma-separated list, got {text!r}") from err
    if not values:
        raise ConfigError(f"{name} must not be empty")
    return values


def _cells_and_gaps(config: LongMemoryConfig) -> tuple[list[str], list[int]]:
    """The cells and the sorted distinct gaps of the sweep; a ConfigError for a bad one."""
    cell_names = _parse_list("cells", config.cells, str)
    for cell in cell_names:
        if cell not in CELLS:
            raise ConfigError(f"unknown cell {cell!r}; expected one of {', '.join(map(repr, CELLS))}")
    gaps = sorted(set(_parse_list("gaps", config.gaps, int)))
    if gaps[0] < 1:
        raise ConfigError(f"gaps must be >= 1, got {gaps[0]}")
    return cell_names, gaps


def _train_settings(config: LongMemoryConfig) -> TrainSettings:
    return TrainSettings(
        hidden_size=config.hidden_size,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        max_steps=config.max_steps,
        steps_per_chunk=config.steps_per_chunk,
        target_accuracy=config.target_accuracy,
        num_test=config.num_test,
        keep_bias=config.keep_bias,
        train_gaps=config.train_gaps,
        curriculum_steps=config.curriculum_steps,
    )


def _train_one(
    config: LongMemoryConfig, spec: TaskSpec, settings: TrainSettings, cell: str, gap: int, seed: int
) -> dict:
    """Trains and tests one (cell, gap, seed); returns its metrics record."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), gap), seed)
    tic = time.perf_counter()
    result = train_classifier(key, spec, cell, gap, settings)
    return {
        "cell": cell,
        "gap": gap,
        "seed": seed,
        "test_accuracy": result.test_accuracy,
        "train_accuracy": result.train_accuracy,
        "train_loss": result.train_loss,
        "steps": result.steps,
        "seconds": time.perf_counter() - tic,
    }


def _results(config: LongMemoryConfig, spec: TaskSpec, records: list[dict], seconds: float) -> dict:
    """The sweep's results.json: mean accuracy and steps per cell and gap, the largest gap reached."""
    accuracy: dict[str, dict[str, list]] = {}
    steps_taken: dict[str, dict[str, list]] = {}
    for r in records:
        accuracy.setdefault(r["cell"], {}).setdefault(str(r["gap"]), []).append(r["test_accuracy"])
        steps_taken.setdefault(r["cell"], {}).setdefault(str(r["gap"]), []).append(r["steps"])
    mean_accuracy = {
        cell: {gap: float(np.mean(v)) for gap, v in by_gap.items()} for cell, by_gap in accuracy.items()
    }
    return {
        "task": {
            "seq_len": spec.seq_len,
            "vocab_size": spec.vocab_size,
            "num_answers": spec.num_answers,
            "num_fillers": spec.num_fillers,
        },
        "chance": 1.0 / config.num_answers,
        "threshold": config.threshold,
        "accuracy": mean_accuracy,
        "steps": {
            cell: {gap: float(np.mean(v)) for gap, v in by_gap.items()}
            for cell, by_gap in steps_taken.items()
        },
        "largest_gap_at_threshold": {
            cell: largest_gap_reaching({int(g): a for g, a in by_gap.items()}, config.threshold)
            for cell, by_gap in mean_accuracy.items()
        },
        "seconds": seconds,
    }


def run(config: LongMemoryConfig, *, progress: bool = True) -> dict:
    """Trains and tests every (cell, gap, seed), writes the run folder, returns the results dict.

    All gaps share one sequence length (max gap + 2), so one compilation per cell serves the sweep.
    """
    from tqdm.auto import tqdm

    cell_names, gaps = _cells_and_gaps(config)
    spec = TaskSpec(seq_len=gaps[-1] + 2, num_answers=config.num_answers, num_fillers=config.num_fillers)
    settings = _train_settings(config)
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    jobs = [(cell, gap, s) for cell in cell_names for gap in gaps for s in range(config.num_seeds)]
    bar = tqdm(jobs, desc="long memory", unit="run", disable=not progress)
    start = time.perf_counter()
    records = []
    for cell, gap, s in bar:
        bar.set_postfix_str(f"{cell} k={gap} seed={s}")
        records.append(_train_one(config, spec, settings, cell, gap, s))
        runs.append_metrics(workdir, records[-1])
    results = _results(config, spec, records, time.perf_counter() - start)
    runs.save_results(workdir, results)
    plots.plot_long_memory(workdir, workdir / "long_memory.png")
    return results


def summary_lines(results: dict) -> list[str]:
    """Accuracy per cell and gap as a Markdown table, and the largest gap at the threshold."""
    cell_names = list(results["accuracy"])
    gaps = sorted({int(g) for by_gap in results["accuracy"].values() for g in by_gap})
    lines = [
        "| k | " + " | ".join(plots.CELL_LABELS.get(c, c) for c in cell_names) + " |",
        "| --- " * (len(cell_names) + 1) + "|",
    ]
    for gap in gaps:
        row = []
        for cell in cell_names:
            a = results["accuracy"][cell].get(str(gap))
            steps = results["steps"][cell].get(str(gap))
            row.append("" if a is None else f"{a:.3f} ({steps:.0f} steps)")
        lines.append(f"| {gap} | " + " | ".join(row) + " |")
    lines.append(
        "| **largest k with ≥ {:.0%}** | ".format(results["threshold"])
        + " | ".join(f"**{results['largest_gap_at_threshold'][c]}**" for c in cell_names)
        + " |"
    )
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/long_memory.py` / `rnn-jax long-memory`: the sweep, its table, its files."""
    return run_experiment(
        LongMemoryConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["long_memory.png"]
    )
