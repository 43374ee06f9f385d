"""One training run on a memory benchmark: a cell, a task (adding or copy), a length T, a step budget.

The four cells, each a pure step of the core unrolled by `rnn_jax.unroll`:

    simple_rnn  h_t = tanh(A [h_{t-1}; x_t] + b),  A_h orthogonal         (the lecture's cell)
    irnn        h_t = relu(A [h_{t-1}; x_t] + b),  A_h = I, b = 0         (Le, Jaitly & Hinton 2015)
    lstm        forget-gate bias 1                                        (Gers et al. 2000)
    gru         update and reset gates, Cho et al. 2014

The models: adding reads y = w . h_T + c from the last state (many-to-one, MSE); copy reads
logits_t = W h_t + c at every step from one-hot tokens (many-to-many, cross-entropy over the blank
and the 8 symbols). Training draws a fresh batch every step (`rnn_jax.data.memory_tasks`), runs
`steps_per_chunk` optimiser steps inside one jitted `lax.scan`, and after every chunk measures the
metric on a fixed validation batch: it stops early once that reaches the solved threshold, and
saves its state every `save_every_seconds` so that an interrupted run resumes where it stopped.
The final metric is measured on `num_test` fresh test sequences.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice, check_positive_int
from rnn_jax.core.unroll import unroll
from rnn_jax.data import memory_tasks
from rnn_jax.errors import TrainingInterrupted
from rnn_jax.studies.memory import records
from rnn_jax.training import runs
from rnn_jax.training.preemption import StopSignals

TASKS = ("adding", "copy")
CELLS = ("simple_rnn", "irnn", "lstm", "gru")
CELL_LABELS = {
    "simple_rnn": "Simple RNN (tanh)",
    "irnn": "IRNN (ReLU, A_h = I)",
    "lstm": "LSTM",
    "gru": "GRU",
}
OPTIMIZERS = ("adam", "rmsprop", "sgd")


class CellSpec(NamedTuple):
    """A cell's step function and how to build its parameters."""

    step_fn: Callable
    init: Callable[[jax.Array, int, int], dict]


IRNN_INPUT_STD = 1e-3  # Le et al. 2015 draw the IRNN's non-recurrent weights from a small Gaussian


def init_irnn(key: jax.Array, input_size: int, hidden_size: int) -> dict[str, jax.Array]:
    """The IRNN of Le et al. 2015: A = [I | A_x] with A_x ~ N(0, 0.001^2), b = 0, ReLU.

    With the library's default Lecun-normal A_x, the identity recurrence sums inputs of unit scale
    over T steps, and training diverged at T = 200 with Adam 1e-4 and 3e-4 (H = 128; measured).
    """
    params = cells.init_simple_rnn(key, input_size, hidden_size, recurrent_init="identity")
    a_x = IRNN_INPUT_STD * jax.random.normal(jax.random.fold_in(key, 1), (hidden_size, input_size))
    return {"A": params["A"].at[:, hidden_size:].set(a_x), "b": params["b"]}


CELL_SPECS = {
    "simple_rnn": CellSpec(cells.simple_rnn_step, cells.init_simple_rnn),
    "irnn": CellSpec(functools.partial(cells.simple_rnn_step, activation="relu"), lambda *a: init_irnn(*a)),
    "lstm": CellSpec(cells.lstm_step, functools.partial(cells.init_lstm, forget_bias=1.0)),
    "gru": CellSpec(cells.gru_step, cells.init_gru),
}


def check_task_and_cell(task: str, cell: str) -> None:
    check_choice("task", task, TASKS)
    check_choice("cell", cell, CELLS)


def input_size(task: str) -> int:
    """F: two channels (value, marker) for adding, one-hot over the 10 tokens for copy."""
    return 2 if task == "adding" else memory_tasks.COPY_VOCAB_SIZE


def output_size(task: str) -> int:
    """1 (the sum) for adding, 9 classes (blank and the 8 symbols) for copy."""
    return 1 if task == "adding" else memory_tasks.COPY_NUM_CLASSES


def init_model(key: jax.Array, task: str, cell: str, hidden_size: int) -> dict[str, Any]:
    """`{"cell": the core's cell params (A [g*H, H + F], ...), "readout": {"W": [O, H], "b": [O]}}`."""
    check_task_and_cell(task, cell)
    check_positive_int("hidden_size", hidden_size)
    key_cell, key_out = jax.random.split(key)
    readout_size = output_size(task)
    W = jax.nn.initializers.lecun_normal(in_axis=1, out_axis=0)(key_out, (readout_size, hidden_size))
    return {
        "cell": CELL_SPECS[cell].init(key_cell, input_size(task), hidden_size),
        "readout": {"W": W, "b": jnp.zeros((readout_size,))},
    }


def model_inputs(task: str, batch: Any) -> jax.Array:
    """xs [B, T, F]: the adding channels as they are, the copy tokens one-hot."""
    if task == "adding":
        return batch.xs
    return jax.nn.one_hot(batch.tokens, memory_tasks.COPY_VOCAB_SIZE)  # [B, T] -> [B, T, 10]


def predict(params: dict[str, Any], task: str, cell: str, xs: jax.Array) -> jax.Array:
    """Adding: y [B] from h_T. Copy: logits [B, T, 9] from every h_t."""
    step_fn = CELL_SPECS[cell].step_fn
    readout = params["readout"]
    if task == "adding":
        h_last, _ = unroll(step_fn, params["cell"], xs, return_all_states=False)
        return (cells.state_output(h_last) @ readout["W"].T + readout["b"])[:, 0]
    _, states = unroll(step_fn, params["cell"], xs)
    return cells.state_output(states) @ readout["W"].T + readout["b"]  # [B, T, H] -> [B, T, 9]


def loss_fn(params: dict[str, Any], task: str, cell: str, batch: Any) -> jax.Array:
    """Adding: mean squared error. Copy: cross-entropy averaged over all B x (T + 20) steps."""
    prediction = predict(params, task, cell, model_inputs(task, batch))
    if task == "adding":
        return jnp.mean((prediction - batch.targets) ** 2)
    return optax.softmax_cross_entropy_with_integer_labels(prediction, batch.targets).mean()


def make_batch(key: jax.Array, task: str, batch_size: int, seq_len: int) -> Any:
    """A fresh batch: T = seq_len steps for adding, T blanks (T + 20 steps) for copy."""
    if task == "adding":
        return memory_tasks.adding_batch(key, batch_size, seq_len)
    return memory_tasks.copy_batch(key, batch_size, seq_len)


def baseline(task: str, seq_len: int) -> float:
    """The memoryless score: 1/6 for adding, 10 log(8) / (T + 20) for copy."""
    if task == "adding":
        return memory_tasks.ADDING_BASELINE
    return memory_tasks.copy_baseline(seq_len)


def solved_threshold(task: str, seq_len: int, *, adding_mse: float, copy_fraction: float) -> float:
    """Adding: test MSE <= adding_mse. Copy: cross-entropy <= copy_fraction x the baseline."""
    if task == "adding":
        return adding_mse
    return copy_fraction * memory_tasks.copy_baseline(seq_len)


# ----------------------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How one (task, cell, T) model is trained."""

    hidden_size: int = 128
    batch_size: int = 20
    optimizer: str = "adam"  # adam | rmsprop | sgd
    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0  # global-norm clipping
    max_steps: int = 20_000
    steps_per_chunk: int = 200  # optimiser steps per jitted call (and between validations)
    num_validation: int = 500  # fixed validation sequences, measured after every chunk
    num_test: int = 2000  # fresh test sequences, measured once at the end
    threshold: float = 0.01  # solved when the metric <= threshold (early stop on confirmed validation)


def make_optimizer(settings: TrainSettings) -> optax.GradientTransformation:
    """Clipping by global norm, then Adam, RMSProp (decay 0.9, as Arjovsky et al.) or SGD; non-finite
    steps skipped (`optax.apply_if_finite`)."""
    check_choice("optimizer", settings.optimizer, OPTIMIZERS)
    base = {
        "adam": lambda lr: optax.adam(lr),
        "rmsprop": lambda lr: optax.rmsprop(lr, decay=0.9),
        "sgd": lambda lr: optax.sgd(lr),
    }[settings.optimizer](settings.learning_rate)
    # A step whose loss or gradients are not finite (the IRNN's unbounded ReLU state can overflow at
    # large T) is skipped instead of writing NaN into the parameters; after 100 in a row the next is
    # applied, and the parameters it makes non-finite end the run as diverged (`train_one`).
    return optax.apply_if_finite(
        optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), base), max_consecutive_errors=100
    )


def compiled_functions(task: str, cell: str, seq_len: int, settings: TrainSettings):
    """The jitted `chunk(params, opt_state, key) -> (params, opt_state, mean loss)` and
    `evaluate(params, key, num) -> metric` for one (task, cell, T, settings); cached, and shared by
    settings that differ only in the budget or the threshold (which the compiled code never reads)."""
    return _compiled_functions(task, cell, seq_len, dataclasses.replace(settings, max_steps=1, threshold=0.0))


@functools.lru_cache(maxsize=32)
def _compiled_functions(task: str, cell: str, seq_len: int, settings: TrainSettings):
    optimizer = make_optimizer(settings)

    def train_step(carry, key):
        params, opt_state = carry
        batch = make_batch(key, task, settings.batch_size, seq_len)
        loss, grads = jax.value_and_grad(loss_fn)(params, task, cell, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def chunk(params, opt_state, key):
        keys = jax.random.split(key, settings.steps_per_chunk)
        (params, opt_state), losses = jax.lax.scan(train_step, (params, opt_state), keys)
        return params, opt_state, losses.mean()

    @functools.partial(jax.jit, static_argnums=2)
    def evaluate(params, key, num):
        # In slices of 500 sequences so memory stays small at T = 1000.
        slices = max(1, num // 500)
        keys = jax.random.split(key, slices)
        losses = jax.lax.map(
            lambda k: loss_fn(params, task, cell, make_batch(k, task, num // slices, seq_len)), keys
        )
        return losses.mean()

    return chunk, evaluate, optimizer


class RunResult(NamedTuple):
    """What `train_one` returns."""

    params: dict[str, Any]  # the tested model: the confirmed one if solved, else the best on validation
    metric: float  # test MSE (adding) or test cross-entropy (copy) of `params`, on fresh sequences
    solved: bool  # metric <= threshold
    steps: int  # optimiser steps taken (early stop once the validation metric is solved and confirmed)
    seconds: float  # training time in this process and earlier (resumed) ones
    history: list[dict[str, float]]  # per chunk: step, train_loss, validation (and confirmation)
    tested_step: int  # the step of `params`: `steps` when solved, else the best validation's step
    diverged: bool  # the parameters stopped being finite (the run ended there)


class Best(NamedTuple):
    """The parameters with the lowest finite validation metric so far, kept beside the training state
    so that a run that later blows up (a loss spike, NaN) loses nothing: its test uses these."""

    params: dict[str, Any]
    step: int
    validation: float

    def update(self, params, entry: dict[str, float]) -> Best:
        """`self`, or `params` at `entry`'s step when its validation metric is finite and lower."""
        if np.isfinite(entry["validation"]) and entry["validation"] < self.validation:
            return Best(params, int(entry["step"]), float(entry["validation"]))
        return self


def float32_value(x: float) -> float | int:
    """`x` as the shortest decimal that reads back as the same float32 (the metrics are float32
    values; their float64 digits beyond that are noise): 1.4029903, not 1.4029903411865234. Ints,
    such as the step, stay ints."""
    return x if isinstance(x, int) else float(str(np.float32(x)))


def compact_history(history: list[dict]) -> list[dict]:
    """The learning curve with every metric as `float32_value`: half the characters, nothing lost."""
    return [{name: float32_value(value) for name, value in entry.items()} for entry in history]


def _save_state(
    path: Path, params, opt_state, steps: int, seconds: float, history: list, best: Best | None = None
) -> None:
    """The arrays, with their step count and seconds (and the best parameters on validation, with
    their step and metric), in one `.npz` (one atomic rename, so a kill leaves the old state or the
    new, never one step's arrays with another's count); the metadata with the learning curve (a
    `records.curve_table`) in a `.json` beside it, written first, so it is never behind the arrays."""
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    table = records.curve_table(history)
    meta = {"steps": steps, "seconds": seconds, "history": table, "num_leaves": len(leaves)}
    extra = {}
    if best is not None:
        best_leaves = jax.tree_util.tree_leaves(best.params)
        extra = {f"best_{i}": np.asarray(leaf) for i, leaf in enumerate(best_leaves)}
        extra.update(best_step=best.step, best_validation=best.validation)
    runs.write_text_atomic(path.with_suffix(".json"), json.dumps(meta))
    with runs.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, *[np.asarray(leaf) for leaf in leaves], steps=steps, seconds=seconds, **extra)


def saved_steps(state_path: str | os.PathLike) -> int:
    """The step count of the training state `train_one` saved at `state_path` (where the same call
    continues the run; a progress bar starts there), 0 when no state is saved there."""
    path = Path(state_path)
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        return 0
    with np.load(path) as saved:
        return _saved_count(saved, meta_path)[0]


def _saved_count(saved, meta_path: Path) -> tuple[int, float]:
    """(steps, seconds) of a saved state: the `.npz`'s (`saved`, open), or, for states saved before
    the count moved into the `.npz`, the `.json`'s at `meta_path` (read only then: it holds the curve)."""
    if "steps" in saved.files:
        return int(saved["steps"]), float(saved["seconds"])
    meta = json.loads(meta_path.read_text())
    return int(meta["steps"]), float(meta["seconds"])


def _load_state(path: Path, params, opt_state):
    """Restores (params, opt_state, steps, seconds, history, best) saved by `_save_state`, or None.

    The step count is the `.npz`'s; curve entries past it (a kill between the two writes) are
    dropped. States saved before the count moved into the `.npz` take it from the `.json`; states
    saved before the best parameters were kept start `best` at the restored parameters."""
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    treedef = jax.tree_util.tree_structure((params, opt_state))
    params_treedef = jax.tree_util.tree_structure(params)
    with np.load(path) as saved:
        leaves = [jnp.asarray(saved[f"arr_{i}"]) for i in range(meta["num_leaves"])]
        meta["steps"], meta["seconds"] = _saved_count(saved, meta_path)
        best_leaves = None
        if "best_step" in saved.files:
            best_leaves = [jnp.asarray(saved[f"best_{i}"]) for i in range(params_treedef.num_leaves)]
            best_step, best_validation = int(saved["best_step"]), float(saved["best_validation"])
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"{path} holds {len(leaves)} arrays, the model needs {treedef.num_leaves}")
    params, opt_state = jax.tree_util.tree_unflatten(treedef, leaves)
    saved_history = records.curve_entries(meta["history"])
    history = compact_history([entry for entry in saved_history if entry["step"] <= meta["steps"]])
    if best_leaves is not None:
        best = Best(jax.tree_util.tree_unflatten(params_treedef, best_leaves), best_step, best_validation)
    else:
        last = history[-1]["validation"] if history else np.inf
        best = Best(params, meta["steps"], float(last) if np.isfinite(last) else np.inf)
    return params, opt_state, meta["steps"], meta["seconds"], history, best


def parameters_finite(params) -> bool:
    """Whether every parameter is finite. A run ends as diverged only when they are not: a NaN
    validation metric with finite parameters can be a spike (the IRNN's ReLU state overflowing on
    some sequences; the copy task's IRNN at T = 500 came back from overflows to 3e9 and 9.3e15 times
    the baseline within 200 steps). Runs recorded before 2026-12-05 ended at the first non-finite
    validation metric instead."""
    leaves = jax.tree_util.tree_leaves(params)
    return bool(jnp.stack([jnp.isfinite(leaf).all() for leaf in leaves]).all())  # one device sync


def _validate(
    evaluate, params, key_validation, steps: int, train_loss: float, settings: TrainSettings
) -> dict[str, float]:
    """The history entry after `steps`: the validation metric on the fixed set and, when it meets the
    threshold, its confirmation on num_test fresh sequences (never the test set's): the fixed set alone
    can pass by chance near the threshold."""
    validation = float(evaluate(params, key_validation, settings.num_validation))
    entry = {"step": steps, "train_loss": train_loss, "validation": validation}
    if validation <= settings.threshold:
        fresh = jax.random.fold_in(key_validation, steps)
        entry["confirmation"] = float(evaluate(params, fresh, settings.num_test))
    return compact_history([entry])[0]


def confirmed(entry: dict[str, float], threshold: float) -> bool:
    """Whether a history entry ends the run: its validation metric and its confirmation on fresh
    sequences both at most `threshold` (entries from before the confirmation existed have none)."""
    return entry["validation"] <= threshold and entry.get("confirmation", np.inf) <= threshold


def train_one(
    key: jax.Array,
    task: str,
    cell: str,
    seq_len: int,
    settings: TrainSettings,
    *,
    state_path: str | os.PathLike | None = None,
    save_every_seconds: float = 60.0,
    progress: Callable[[int, float, float], None] | None = None,
) -> RunResult:
    """Trains one model until it is solved or the step budget is spent. Solved means the validation
    metric (a fixed set, after every chunk) at most the threshold, confirmed on as many fresh sequences
    as the test uses; the test metric is then measured once, on sequences no decision has seen, for
    the confirmed model or, when unsolved, the one with the lowest validation metric (early stopping:
    a loss spike late in a long run, which happened to the LSTM at T = 200 after 917,000 steps,
    does not decide its record).

    Args:
      key: PRNG key (split into init, training, validation and test keys; chunk i trains on
        fold_in(training key, i), so a resumed run draws the batches an uninterrupted one would).
      task: "adding" or "copy".
      cell: "simple_rnn", "irnn", "lstm" or "gru".
      seq_len: T (adding: the sequence length; copy: the blanks, T + 20 steps in all).
      settings: sizes, optimiser and budget.
      state_path: where to save the training state (an .npz with the arrays and their step count,
        and the best parameters on validation, and a .json beside it with the learning curve); an existing
        state there is resumed. The final state is saved too, so the same call with a larger
        `max_steps` continues a finished run (the batches of one uninterrupted run). None: no saving.
      save_every_seconds: how often the state is saved.
      progress: called after every chunk as `progress(steps, train_loss, validation_metric)`.

    Returns:
      A `RunResult`. The run ends early when it is solved or when its parameters stop being finite
      (diverged; a non-finite validation metric alone is recorded and training goes on).

    Raises:
      TrainingInterrupted: SIGTERM or Ctrl-C arrived; the chunk in flight ended and the state at its
        step is saved in `state_path`, so the same call continues the run.
    """
    check_task_and_cell(task, cell)
    check_positive_int("max_steps", settings.max_steps)
    check_positive_int("steps_per_chunk", settings.steps_per_chunk)
    key_init, key_train, key_validation, key_test = jax.random.split(key, 4)
    chunk, evaluate, optimizer = compiled_functions(task, cell, seq_len, settings)
    params = init_model(key_init, task, cell, settings.hidden_size)
    opt_state = optimizer.init(params)
    steps, seconds, history, best = 0, 0.0, [], Best(params, 0, np.inf)
    state_path = Path(state_path) if state_path is not None else None
    if state_path is not None:
        restored = _load_state(state_path, params, opt_state)
        if restored is not None:
            params, opt_state, steps, seconds, history, best = restored
    last_save = tic = time.perf_counter()
    seconds_before = seconds
    solved = bool(history) and confirmed(history[-1], settings.threshold)
    diverged = not parameters_finite(params)  # a saved state that had diverged trains no further
    with StopSignals() as stop:  # SIGTERM or Ctrl-C: the chunk ends, the state is saved, the run stops
        while steps < settings.max_steps and not (solved or diverged or stop.requested):
            params, opt_state, train_loss = chunk(params, opt_state, jax.random.fold_in(key_train, steps))
            steps += settings.steps_per_chunk
            entry = _validate(evaluate, params, key_validation, steps, float(train_loss), settings)
            history.append(entry)
            best = best.update(params, entry)
            solved = confirmed(entry, settings.threshold)
            diverged = not parameters_finite(params)
            if diverged:
                break  # the run ends as unsolved, tested at its best parameters before
            if progress is not None:
                progress(steps, entry["train_loss"], entry["validation"])
            seconds = seconds_before + time.perf_counter() - tic
            if state_path is not None and time.perf_counter() - last_save >= save_every_seconds:
                _save_state(state_path, params, opt_state, steps, seconds, history, best)
                last_save = time.perf_counter()
    seconds = seconds_before + time.perf_counter() - tic
    if state_path is not None:
        _save_state(state_path, params, opt_state, steps, seconds, history, best)
    if stop.requested and not (solved or diverged or steps >= settings.max_steps):
        saved_in = str(state_path) if state_path is not None else "nowhere (no state_path)"
        raise TrainingInterrupted(stop.signal_number, steps, saved_in, "the same command (or call)")
    # Unsolved: the model tested is the best on validation (a later loss spike or NaN loses nothing).
    if solved or not np.isfinite(best.validation):
        tested, tested_step = params, steps
    else:
        tested, tested_step = best.params, best.step
    metric = float(evaluate(tested, key_test, settings.num_test))
    solved = bool(metric <= settings.threshold)
    return RunResult(tested, metric, solved, steps, seconds, history, tested_step, diverged)
