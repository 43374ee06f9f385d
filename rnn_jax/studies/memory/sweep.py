"""The memory sweep: every cell at every length T on the adding problem or the copy task, resumable.

    rnn-jax memory --task adding --workdir results/memory
    rnn-jax memory --task copy --cells lstm --lengths 100,200 --workdir results/memory
    rnn-jax memory --task adding --smoke --workdir /tmp/memory

Each (cell, T) is trained on its own (`rnn_jax.studies.memory.train.train_one`) and tested on fresh
sequences; its record goes into `<workdir>/<task>/metrics.jsonl` and its learning curve into
`<workdir>/<task>/curves/<cell>_T<T>.json` as soon as it ends, so a sweep runs in parts: a rerun with
the same workdir skips the (cell, T) it has and resumes a run cut off mid-way from its saved state
(SIGTERM or Ctrl-C saves it at the step it reached). A rerun with a larger `--max_steps` gives every
unsolved, finite (cell, T) the longer budget: it continues from the run's final state
(`<workdir>/<task>/state/`), on the batches one uninterrupted run would draw, and its new record
replaces the old. The budget belongs to each (cell, T): a rerun may give the (cell, T) it selects a
larger one, never a smaller one, and other (cell, T) of the workdir keep theirs. Cells may run in
separate processes at once on the same workdir.
`<workdir>/results.json` gathers both tasks in the shape

    {"adding": {"baseline": 0.167, "<cell>": {"<T>": {"test_mse", "solved", "steps", ...}}},
     "copy": {"<cell>": {"<T>": {"test_cross_entropy", "baseline", "solved", "steps", ...}}}}

For each trained model the record also holds the exact norm of d h_T / d x_1 (the gradient that must
carry the first input to the end; for adding also at the first marked step) beside the same model at
initialisation, by reverse-mode differentiation through the same scan (`last_state_input_jacobians`,
tested against `rnn_jax.core.analysis.input_jacobians`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core import cells
from rnn_jax.core.unroll import unroll
from rnn_jax.errors import ConfigError, ResumeError
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.studies.memory import records, spikes, train
from rnn_jax.training import runs

# the gradient section's heading after "<task>: " (docs_tables cuts table.md there)
GRADIENTS_HEADING = "exact ||d h_T / d x_1||"

DEFAULT_LENGTHS = {"adding": "50,100,200,400,750,1000", "copy": "10,50,100,200,500"}
METRIC_NAME = {"adding": "test_mse", "copy": "test_cross_entropy"}
# Settings that change what a (cell, T) run computes; a rerun in the same workdir must keep them.
_RUN_FIELDS = (
    "hidden_sizes",
    "learning_rates",
    "optimizer",
    "batch_size",
    "max_grad_norm",
    "steps_per_chunk",
    "num_validation",
    "num_test",
    "adding_threshold",
    "copy_fraction",
    "seed",
)


# What the anchor papers report, beside our cells and lengths. Hochreiter & Schmidhuber's adding
# problem differs in form (values in [-1, 1], the first marker among the first ten steps, length
# T to 1.1 T, target 0.5 + (X1 + X2) / 4, solved at absolute error < 0.04), so the lags compare, the
# losses do not. Le et al. and Arjovsky et al. report learning curves, not tables: "solved" there is
# the curve reaching near-zero MSE within their training run.
PUBLISHED = {
    (
        "adding",
        "lstm",
        100,
    ): "solved after 74,000 training sequences (Hochreiter & Schmidhuber 1997, Table 7)",
    (
        "adding",
        "lstm",
        500,
    ): "solved after 209,000 training sequences (Hochreiter & Schmidhuber 1997, Table 7)",
    (
        "adding",
        "lstm",
        1000,
    ): "solved after 853,000 training sequences (Hochreiter & Schmidhuber 1997, Table 7)",
    ("adding", "irnn", 150): "solved (Le et al. 2015, Figure 2)",
    ("adding", "irnn", 200): "solved (Le et al. 2015, Figure 2)",
    ("adding", "irnn", 300): "solved (Le et al. 2015, Figure 2)",
    ("adding", "irnn", 400): "solved (Le et al. 2015, Figure 2)",
    ("adding", "lstm", 150): "solved (Le et al. 2015, Figure 2)",
    ("adding", "lstm", 200): "solved (Le et al. 2015, Figure 2)",
    ("adding", "lstm", 300): "solved (Le et al. 2015, Figure 2)",
    ("adding", "lstm", 400): "solved (Le et al. 2015, Figure 2)",
    # Arjovsky et al. 2016, Figure 1 (copy task, T = 100, 200, 300, 500): their LSTM beats the
    # baseline only at T = 100 and solves none of the lengths
    ("copy", "lstm", 100): "below the baseline, not solved (Arjovsky et al. 2016, Figure 1)",
    ("copy", "lstm", 200): "stuck at the baseline (Arjovsky et al. 2016, Figure 1)",
    ("copy", "lstm", 500): "stuck at the baseline (Arjovsky et al. 2016, Figure 1)",
}


def published_lines(task: str) -> list[str]:
    """The anchor papers' figures for `task`, as Markdown bullets."""
    rows = sorted((t, cell, text) for (k, cell, t), text in PUBLISHED.items() if k == task)
    return [f"- {train.CELL_LABELS[cell]}, T = {t}: {text}" for t, cell, text in rows]


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    """Adding problem or copy task: every cell at every length T, trained and tested on fresh data."""

    task: str = flag("adding", "the benchmark", choices=train.TASKS)
    workdir: str = flag("runs/memory", "output folder (one subfolder per task, results.json for both)")
    cells: str = flag("simple_rnn,irnn,lstm,gru", "comma-separated cells of this run")
    lengths: str = flag("", "comma-separated T (default: adding 50..1000, copy 10..500)")
    hidden_sizes: str = flag(
        "simple_rnn=128,irnn=128,lstm=64,gru=64", "H per cell (about 17k parameters each but the GRU's 13k)"
    )
    learning_rates: str = flag("simple_rnn=1e-3,irnn=1e-4,lstm=1e-3,gru=1e-3", "learning rate per cell")
    optimizer: str = flag("adam", "optimiser after clipping", choices=train.OPTIMIZERS)
    batch_size: int = flag(20, "fresh sequences per step (Arjovsky et al. 2016)")
    max_grad_norm: float = flag(1.0, "global-norm gradient clipping")
    max_steps: int = flag(20_000, "step budget per (cell, T)")
    steps_per_chunk: int = flag(200, "optimiser steps per jitted call, between validations")
    num_validation: int = flag(500, "fixed validation sequences (stop once solved, confirmed on fresh ones)")
    num_test: int = flag(2000, "fresh test sequences for the reported metric")
    adding_threshold: float = flag(0.01, "adding is solved at test MSE <= this")
    copy_fraction: float = flag(0.1, "copy is solved at cross-entropy <= this fraction of the baseline")
    num_gradient_sequences: int = flag(8, "test sequences for the median |d h_T / d x_1|")
    save_every_seconds: float = flag(60.0, "how often a running (cell, T) saves its state")
    report_only: bool = flag(
        False, "train nothing: rewrite results.json, table.md and the plots from the records"
    )
    seed: int = flag(0, "base seed: (cell, T) trains from fold_in(seed, T)")


SMOKE = {
    "lengths": "5",
    "hidden_sizes": "simple_rnn=8,irnn=8,lstm=4,gru=4",
    "max_steps": 20,
    "steps_per_chunk": 10,
    "num_validation": 16,
    "num_test": 16,
    "num_gradient_sequences": 2,
}


def _parse_list(name: str, text: str, kind) -> list:
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ConfigError(f"{name} must be a comma-separated list, got {text!r}") from err
    if not values:
        raise ConfigError(f"{name} must not be empty")
    return values


def _per_cell(name: str, text: str, kind) -> dict[str, Any]:
    """'simple_rnn=128,lstm=64' -> {"simple_rnn": 128, "lstm": 64}; every cell must be named."""
    values = {}
    for item in _parse_list(name, text, str):
        cell, sep, value = item.partition("=")
        if not sep or cell.strip() not in train.CELLS:
            raise ConfigError(
                f"{name} must read cell=value for cells in {', '.join(train.CELLS)}, got {item!r}"
            )
        try:
            values[cell.strip()] = kind(value)
        except ValueError as err:
            raise ConfigError(f"{name}: {value!r} is not a valid value for {cell}") from err
    missing = [c for c in train.CELLS if c not in values]
    if missing:
        raise ConfigError(f"{name} must give every cell a value; missing {', '.join(missing)}")
    return values


def validate(config: MemoryConfig) -> tuple[list[str], list[int]]:
    """The cells and the sorted lengths of the run; a ConfigError for any bad setting."""
    if config.task not in train.TASKS:
        raise ConfigError(
            f"unknown task {config.task!r}; expected one of {', '.join(map(repr, train.TASKS))}"
        )
    cells = _parse_list("cells", config.cells, str)
    for cell in cells:
        if cell not in train.CELLS:
            raise ConfigError(f"unknown cell {cell!r}; expected one of {', '.join(map(repr, train.CELLS))}")
    lengths = sorted(set(_parse_list("lengths", config.lengths or DEFAULT_LENGTHS[config.task], int)))
    smallest = 2 if config.task == "adding" else 1
    if lengths[0] < smallest:
        raise ConfigError(
            f"lengths must be >= {smallest} for the {config.task} task"
            + (" (a marker in each half)" if config.task == "adding" else " (at least one step of blanks)")
            + f", got {lengths[0]}"
        )
    for name, value in (("hidden_sizes", config.hidden_sizes), ("learning_rates", config.learning_rates)):
        kind = int if name == "hidden_sizes" else float
        for cell, v in _per_cell(name, value, kind).items():
            if not v > 0:
                raise ConfigError(f"{name}: {cell} must be > 0, got {v}")
    if not 0.0 < config.adding_threshold < train.baseline("adding", 2):
        raise ConfigError(
            f"adding_threshold must lie in (0, {train.baseline('adding', 2):.4f}) (below the baseline), "
            f"got {config.adding_threshold}"
        )
    if not 0.0 < config.copy_fraction < 1.0:
        raise ConfigError(f"copy_fraction must lie in (0, 1), got {config.copy_fraction}")
    for name in (
        "batch_size",
        "max_steps",
        "steps_per_chunk",
        "num_validation",
        "num_test",
        "num_gradient_sequences",
    ):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(config, name)}")
    if not config.max_grad_norm > 0:
        raise ConfigError(f"max_grad_norm must be > 0, got {config.max_grad_norm}")
    return cells, lengths


def settings_for(config: MemoryConfig, cell: str, seq_len: int) -> train.TrainSettings:
    """The `TrainSettings` of one (cell, T)."""
    return train.TrainSettings(
        hidden_size=_per_cell("hidden_sizes", config.hidden_sizes, int)[cell],
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        learning_rate=_per_cell("learning_rates", config.learning_rates, float)[cell],
        max_grad_norm=config.max_grad_norm,
        max_steps=config.max_steps,
        steps_per_chunk=config.steps_per_chunk,
        num_validation=config.num_validation,
        num_test=config.num_test,
        threshold=train.solved_threshold(
            config.task, seq_len, adding_mse=config.adding_threshold, copy_fraction=config.copy_fraction
        ),
    )


# ----------------------------------------------------------------------------- gradients


def last_state_input_jacobians(params: dict, cell: str, xs: jax.Array) -> jax.Array:
    """The exact d h_T / d x_s for every step s of one sequence: [H, T, F] (reverse mode, one pass per
    component of h_T). Its slice s = 0 is `rnn_jax.core.analysis.input_jacobians(...)[-1]` (tested)."""
    step_fn = train.CELL_SPECS[cell].step_fn

    def last_state(xs):
        h_last, _ = unroll(step_fn, params["cell"], xs, return_all_states=False)
        return cells.state_output(h_last)

    return jax.jacrev(last_state)(xs)


@functools.partial(jax.jit, static_argnames=("task", "cell"))
def _gradient_norms(params: dict, batch: Any, *, task: str, cell: str) -> dict[str, jax.Array]:
    xs = train.model_inputs(task, batch)  # [N, T, F]
    jacobians = jax.vmap(lambda x: last_state_input_jacobians(params, cell, x))(xs)  # [N, H, T, F]
    norms = {"first_input": jnp.linalg.norm(jacobians[:, :, 0, :], axis=(1, 2))}
    if task == "adding":
        first_marked = jnp.argmax(batch.xs[:, :, 1], axis=1)  # p1, [N]
        value_grads = jnp.take_along_axis(jacobians[..., 0], first_marked[:, None, None], axis=2)  # [N, H, 1]
        norms["first_marked_value"] = jnp.linalg.norm(value_grads[..., 0], axis=1)
    return norms


def first_input_gradient_norms(
    params: dict, task: str, cell: str, seq_len: int, key: jax.Array, num_sequences: int
) -> dict[str, float]:
    """Medians over `num_sequences` test sequences of the exact ||d h_T / d x_1|| (Frobenius) and, for
    adding, of ||d h_T / d v_{p1}||: the gradient through which the first marked value reaches h_T."""
    batch = train.make_batch(key, task, num_sequences, seq_len)
    norms = _gradient_norms(params, batch, task=task, cell=cell)
    return {name: float(jnp.median(values)) for name, values in norms.items()}


# ----------------------------------------------------------------------------- the sweep


def _task_dir(config: MemoryConfig) -> Path:
    return Path(config.workdir) / config.task


def _check_or_save_config(config: MemoryConfig, selected: list[tuple[str, int]], last: dict) -> None:
    """Saves the task's config.json, or checks a rerun keeps the settings its records were made with
    and gives the `selected` (cell, T) no smaller budget than their `last` records had."""
    path = _task_dir(config) / runs.CONFIG_FILE
    if path.exists():
        saved = runs.load_json(path)
        changed = [
            f"{name} ({saved.get(name)!r} -> {getattr(config, name)!r})"
            for name in _RUN_FIELDS
            if name in saved and saved[name] != runs.jsonable(getattr(config, name))
        ]
        if changed:
            raise ResumeError(
                f"{path.parent} holds runs made with other settings: {', '.join(changed)}; "
                "use another --workdir or the same settings"
            )
    _check_budgets(config, selected, last)
    runs.save_config(_task_dir(config), config)


def _check_budgets(config: MemoryConfig, jobs: list[tuple[str, int]], last: dict) -> None:
    """Refuses a budget smaller than the one a (cell, T) of this run was already given (`last`: the
    last records): a larger --max_steps continues a run, a smaller one cannot undo it. Other (cell, T)
    in the folder may hold any budget (the copy task's short T run longer than its long T)."""
    larger = [
        f"{cell} T={seq_len} ({last[(cell, seq_len)]['max_steps']})"
        for cell, seq_len in jobs
        if last.get((cell, seq_len), {}).get("max_steps", 0) > config.max_steps
    ]
    if larger:
        raise ResumeError(
            f"{_task_dir(config)} holds runs with a larger max_steps: {', '.join(larger)}; a rerun may "
            f"give them a larger budget, not a smaller one ({config.max_steps}); pick other --cells or "
            "--lengths, or use another --workdir"
        )


def _done(config: MemoryConfig, last: dict) -> set[tuple[str, int]]:
    """The (cell, T) whose `last` record is final for this budget: solved, diverged (its parameters
    no longer finite), stopped by a confirmed validation metric, or trained for max_steps.

    Not final, so they train on: a run stopped early by its validation set alone, before the
    confirmation on fresh sequences existed; and a run recorded as diverged before 2026-12-05, when a
    run ended at its first non-finite validation metric with finite parameters (its record has no
    `parameters_finite`)."""
    return {
        key
        for key, r in last.items()
        if r["solved"]
        or r.get("parameters_finite", True) is False
        or r.get("confirmed", False)
        or r["steps"] >= config.max_steps
    }


def _best_ratio(values: list[float], baseline: float) -> float:
    """min(values) / baseline over the finite values; NaN when there is none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(min(finite) / baseline) if finite else float("nan")


def _train_and_record(config: MemoryConfig, cell: str, seq_len: int, bar) -> dict:
    """Trains, tests and measures one (cell, T); appends its record and writes its learning curve.
    `bar` is the sweep's bar over its runs; the run shows its steps on a bar of its own below it."""
    from tqdm.auto import tqdm

    task_dir = _task_dir(config)
    settings = settings_for(config, cell, seq_len)
    key = jax.random.fold_in(
        jax.random.fold_in(jax.random.key(config.seed), seq_len), train.CELLS.index(cell)
    )
    state_path = task_dir / "state" / f"{cell}_T{seq_len}.npz"
    state_path.parent.mkdir(parents=True, exist_ok=True)

    # The run's own bar, over its steps (a continued run's starts at the saved step): rate and ETA.
    steps_bar = tqdm(
        total=settings.max_steps,
        initial=min(train.saved_steps(state_path), settings.max_steps),
        desc=f"{cell} T={seq_len}",
        unit="step",
        leave=False,
        disable=bar.disable,
    )

    def progress(steps, loss, validation):
        steps_bar.set_postfix_str(f"loss {loss:.4g}, validation {validation:.4g}", refresh=False)
        steps_bar.update(steps - steps_bar.n)

    with steps_bar:
        result = train.train_one(
            key,
            config.task,
            cell,
            seq_len,
            settings,
            state_path=state_path,
            save_every_seconds=config.save_every_seconds,
            progress=progress,
        )
        steps_bar.refresh()  # its last count, which a fast run reaches within tqdm's refresh interval
    key_gradient = jax.random.fold_in(key, 7)
    init_params = train.init_model(jax.random.split(key, 4)[0], config.task, cell, settings.hidden_size)
    gradients = {
        "trained": first_input_gradient_norms(
            result.params, config.task, cell, seq_len, key_gradient, config.num_gradient_sequences
        ),
        "init": first_input_gradient_norms(
            init_params, config.task, cell, seq_len, key_gradient, config.num_gradient_sequences
        ),
    }
    baseline = train.baseline(config.task, seq_len)
    half = [h["validation"] for h in result.history[len(result.history) // 2 :]]
    record = {
        "task": config.task,
        "cell": cell,
        "seq_len": seq_len,
        "metric": result.metric,
        "baseline": baseline,
        "threshold": settings.threshold,
        "solved": result.solved,
        # stopped by a confirmed validation metric: final even when the test missed ("validation only")
        "confirmed": bool(result.history) and train.confirmed(result.history[-1], settings.threshold),
        "steps": result.steps,
        "tested_step": result.tested_step,  # the tested model's step (the best on validation if unsolved)
        "diverged": result.diverged,
        "parameters_finite": not result.diverged,  # the final state's: False ends the run for good
        "max_steps": settings.max_steps,
        "seconds": result.seconds,
        "hidden_size": settings.hidden_size,
        "learning_rate": settings.learning_rate,
        # Last half of the budget: the best validation metric relative to the baseline (about 1: flat).
        "last_half_best_vs_baseline": _best_ratio(half, baseline),
        "gradient_norms": gradients,
        "machine": runs.machine(),  # the seconds above were measured here (load average at the end)
    }
    records.write_curve(task_dir, cell, seq_len, result.history)
    runs.append_metrics(task_dir, record)  # the final state stays: a larger --max_steps continues it
    return record


FLAT_GAIN = 0.01  # a last half of the budget that gains less than 1 % of the baseline is flat
VERDICTS = ("solved", "flat", "improving", "in a spike", "diverged", "validation only")


def verdict(
    history: list[dict[str, float]],
    baseline: float,
    solved: bool,
    metric: float,
    threshold: float,
    diverged: bool = False,
) -> tuple[str, float]:
    """What ended an unsolved run: the cell ("flat"), the budget ("improving") or neither yet
    ("in a spike"); with the gain.

    The gain is (the best validation metric in the first half of the run, capped at the baseline,
    minus the best in the last half) / baseline: only progress below the memoryless
    baseline counts (a run coming down to the baseline from above has learned nothing to remember).
    "flat": a gain below `FLAT_GAIN` (the cell's limit at this budget; evidence, not proof: a
    plateau can precede progress); "improving": at or above it (the budget's limit), unless the
    run ended inside a loss spike it has not come back from (`spikes.loss_spikes`), which is "in a
    spike": its gain was made before the spike, its test measures the best parameters before it, and
    whether more steps bring it back is not known (the LSTM at T = 100 came back after 103,400 steps
    and solved the task; the GRU at T = 100 never did: 70 to 106 times the baseline from 1.82 M to
    2.7 M steps); "diverged": the run's parameters stopped being finite (`diverged`), or its test
    metric is not finite (a NaN validation metric alone is a spike); "solved" when solved;
    "validation only" when the run stopped because its validation metric met `threshold` but the
    test metric did not. NaN gain when the history is too short to halve.
    """
    values = [h["validation"] for h in history]
    half = len(values) // 2
    gain = (
        (min(_best_ratio(values[:half], baseline), 1.0) - _best_ratio(values[half:], baseline))
        if half
        else float("nan")
    )
    if solved:
        return "solved", gain
    if diverged or not np.isfinite(metric):
        return "diverged", gain
    if values and values[-1] <= threshold:
        return "validation only", gain
    if gain < FLAT_GAIN:  # a NaN gain (too short to halve) is not flat
        return "flat", gain
    trail = spikes.loss_spikes(history, baseline)
    return ("in a spike" if trail and trail[-1].recovered_step is None else "improving"), gain


def gather_results(workdir: str | Path) -> dict:
    """results.json of both tasks from their metrics.jsonl (the last record of a (cell, T) wins)."""
    results: dict[str, Any] = {}
    for task in train.TASKS:
        latest = records.latest_records(Path(workdir) / task)
        if not latest:
            continue
        batch_size = runs.load_json(Path(workdir) / task / runs.CONFIG_FILE)["batch_size"]
        by_cell: dict[str, Any] = {"baseline": train.baseline("adding", 2)} if task == "adding" else {}
        for r in latest.values():
            entry = {
                METRIC_NAME[task]: r["metric"],
                "solved": r["solved"],
                "steps": r["steps"],
                # the step of the model tested: the best on validation when unsolved (older records:
                # the last step, as they were tested)
                "tested_step": r.get("tested_step", r["steps"]),
                "training_sequences": r["steps"] * batch_size,
                "max_steps": r["max_steps"],
                "seconds": r["seconds"],
                "threshold": r["threshold"],
                "grad_first_input_trained": r["gradient_norms"]["trained"]["first_input"],
                "grad_first_input_init": r["gradient_norms"]["init"]["first_input"],
            }
            if task == "copy":
                entry["baseline"] = r["baseline"]
            history = records.read_curve(Path(workdir) / task, r["cell"], r["seq_len"])
            entry["verdict"], entry["last_half_gain_vs_baseline"] = verdict(
                history,
                r["baseline"],
                r["solved"],
                float(r["metric"]),
                r["threshold"],
                r.get("diverged", False),
            )
            by_cell.setdefault(r["cell"], {})[str(r["seq_len"])] = entry
        results[task] = by_cell
    results["largest_solved"] = {
        task: {
            cell: max([int(t) for t, e in by_t.items() if e["solved"]], default=None)
            for cell, by_t in by_cell.items()
            if cell in train.CELLS
        }
        for task, by_cell in results.items()
    }
    return results


def run(config: MemoryConfig, *, progress: bool = True) -> dict:
    """Trains every (cell, T) of the run not already recorded in the workdir; returns results.json."""
    from tqdm.auto import tqdm

    from rnn_jax.studies.memory import plots

    cells, lengths = validate(config)
    last = records.latest_records(_task_dir(config))
    if not config.report_only:
        _check_or_save_config(config, [(c, t) for c in cells for t in lengths], last)
    done = _done(config, last)
    jobs = [] if config.report_only else [(c, t) for c in cells for t in lengths if (c, t) not in done]
    bar = tqdm(jobs, desc=f"memory {config.task}", unit="run", disable=not progress)
    start = time.perf_counter()
    for cell, seq_len in bar:
        bar.set_postfix_str(f"{cell} T={seq_len}")
        if (cell, seq_len) in last and not (_task_dir(config) / "state" / f"{cell}_T{seq_len}.npz").exists():
            bar.write(f"{cell} T={seq_len}: no final state saved; the longer budget retrains it from step 0")
        _train_and_record(config, cell, seq_len, bar)
        runs.save_results(config.workdir, gather_results(config.workdir))
    results = gather_results(config.workdir)
    results["notes"] = [
        f"{len(jobs)} run{'' if len(jobs) == 1 else 's'} trained in {time.perf_counter() - start:.0f} s; "
        f"{len(done)} found done in {_task_dir(config)}",
        f"learning curves: {_task_dir(config) / 'learning_curves.png'}",
    ]
    runs.save_results(config.workdir, {k: v for k, v in results.items() if k != "notes"})
    table = summary_lines(results) + gradient_lines(config.workdir) + spikes.spike_lines(config.workdir)
    runs.write_text_atomic(Path(config.workdir) / "table.md", "\n".join(table) + "\n")
    for task in train.TASKS:
        plots.plot_learning_curves(config.workdir, task)
    plots.plot_largest_solved(config.workdir)
    return results


def gradient_lines(workdir: str | Path) -> list[str]:
    """Per task and cell, at the largest T it solved and at the largest T it ran: the exact median
    ||d h_T / d x_1|| trained and at initialisation (for adding also ||d h_T / d v_{p1}||)."""
    lines = []
    for task in train.TASKS:
        latest = records.latest_records(Path(workdir) / task)
        if not latest:
            continue
        marked = task == "adding"
        lines += [
            f"{task}: {GRADIENTS_HEADING} (median of 8 test sequences), trained / at initialisation"
            + (", and ||d h_T / d v_p1|| through the first marked value" if marked else ""),
            "",
            "| cell | T | solved | d h_T / d x_1 trained | at init |"
            + (" d h_T / d v_p1 trained | at init |" if marked else ""),
            "| --- " * (7 if marked else 5) + "|",
        ]
        for cell in train.CELLS:
            ran = sorted(t for c, t in latest if c == cell)
            solved = [t for t in ran if latest[(cell, t)]["solved"]]
            for t in sorted({*(solved[-1:]), *(ran[-1:])}):
                r = latest[(cell, t)]
                g = r["gradient_norms"]
                row = [
                    train.CELL_LABELS[cell],
                    str(t),
                    "yes" if r["solved"] else "no",
                    _sci(g["trained"]["first_input"]),
                    _sci(g["init"]["first_input"]),
                ]
                if marked:
                    row += [_sci(g["trained"]["first_marked_value"]), _sci(g["init"]["first_marked_value"])]
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _sci(value) -> str:
    value = float(value)
    return "NaN" if value != value else ("0 (underflow)" if value == 0 else f"{value:.2e}")


def summary_lines(results: dict) -> list[str]:
    """One Markdown table per task: the metric, solved or not, and the steps, per cell and T."""
    lines = []
    for task in train.TASKS:
        if task not in results:
            continue
        by_cell = {c: v for c, v in results[task].items() if c in train.CELLS}
        cells = [c for c in train.CELLS if c in by_cell]
        lengths = sorted({int(t) for v in by_cell.values() for t in v})
        lines += [
            f"{task}: {METRIC_NAME[task]}, ✓ solved or ✗ not, and the steps; an unsolved run is *flat* "
            f"when the last half of its budget gained less than {FLAT_GAIN:.0%} of the baseline (the "
            "cell's limit), *improving* (the budget's limit) or *in a spike* (it gained, then ended "
            "inside a loss spike it has not come back from: tested at its best before the spike)",
            "",
        ]
        lines.append("| T | " + " | ".join(train.CELL_LABELS[c] for c in cells) + " |")
        lines.append("| --- " * (len(cells) + 1) + "|")
        for t in lengths:
            row = []
            for c in cells:
                e = by_cell[c].get(str(t))
                if e is None:
                    row.append("")
                else:
                    value = float(e[METRIC_NAME[task]])  # "nan" (a string in JSON) when it diverged
                    shown = "diverged (NaN)" if value != value else f"{value:.4g}"
                    found = e.get("verdict")
                    mark = "✓" if e["solved"] else "✗" + (f" {found}" if found and value == value else "")
                    row.append(f"{shown} {mark} ({e['steps']:,})")
            lines.append(f"| {t} | " + " | ".join(row) + " |")
        largest = results["largest_solved"][task]
        lines.append(
            "| **largest solved T** | " + " | ".join(f"**{largest.get(c) or 'none'}**" for c in cells) + " |"
        )
        for found, heading in [
            ("improving", "Still improving when the budget ran out (a longer one may solve them): "),
            ("in a spike", "Ended inside a loss spike, tested at their best before it (the spikes below): "),
        ]:
            runs_found = [
                f"{train.CELL_LABELS[c]} T = {t}"
                for c in cells
                for t in lengths
                if by_cell[c].get(str(t), {}).get("verdict") == found
            ]
            if runs_found:
                lines += ["", heading + ", ".join(runs_found)]
        lines.append("")
        if published_lines(task):
            lines += ["Published figures for the same cells:", *published_lines(task), ""]
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax memory` / `python experiments/memory.py`: the sweep, its table and its files."""
    return run_experiment(
        MemoryConfig,
        run,
        summary_lines,
        argv,
        smoke=SMOKE,
        outputs=["largest_solved.png"],
    )
