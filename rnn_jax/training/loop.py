"""The one training loop every task shares (it knows no task): steps, epochs, validation, checkpoints.

A `Task` says what is trained: its parameters, its loss and metric sums, its batches, its validation
and test sets, which validation metric picks the best epoch, and any state carried from step to step
(a stateful language model's hidden state). `fit(task, config, workdir)` supplies the rest:

    for each epoch (from the checkpoint's, when resuming):
        for each step: batch = task.gather(train_data, indices[step])     (on device, in the jitted step)
                       state = train_step(state, batch)                    (skipped when not finite)
                       checkpoint every `checkpoint_every_steps`; on SIGTERM / Ctrl-C checkpoint and stop
        validation sums -> metrics; keep the best parameters; checkpoint; metrics.jsonl; early stopping
    test the best parameters; best_params/, results.json, curves.png

Data parallelism (`rnn_jax.training.distributed`): the state is replicated over the mesh except the
carry, which is split along its first axis like the batch rows; each step's indices (first axis =
rows) are split over the mesh; the step is one `jax.jit` with these shardings, so XLA inserts the
gradient all-reduce. Determinism: the task's `epoch_indices(epoch)` is a pure function, the dropout
key of step s is `fold_in(key, s)`, and the epoch's metric sums and the carry are in the checkpointed
state, so a run stopped anywhere and resumed ends with the results of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.errors import ConfigError, ResumeError, RunFolderError, RunNotFoundError, TrainingInterrupted
from rnn_jax.training import checkpoints, distributed, runs
from rnn_jax.training.preemption import StopSignals

logger = logging.getLogger(__name__)

CURVES_FILE = "curves.png"
MODES = ("max", "min")


@dataclasses.dataclass(frozen=True)
class Task:
    """What one task supplies to the loop (all functions pure; the loop jits them).

    Attributes:
      init_params: `key -> params`.
      loss: `(params, batch, carry, dropout_key) -> (loss, (sums, carry))`, training mode; `loss` is
        the scalar differentiated, `sums` a pytree of per-batch sums added up over the epoch.
      eval_sums: `(params, batch, carry) -> (sums, carry)`, evaluation mode.
      zero_sums: `() -> sums` of zeros (the structure `loss` and `eval_sums` return).
      metrics: host `sums -> {"loss": ..., <monitor>: ...}` of Python floats.
      train_data: host arrays, copied once to every device. (The data fields may be left None for
        a task used only with `create_train_state` and `train_step`.)
      gather: `(train_data, indices) -> batch`, run on device inside the training step.
      epoch_indices: `epoch -> [steps_per_epoch, rows, ...]` host indices (a pure function of epoch).
      validation, test: evaluation batches stacked on a leading axis, [num_batches, rows, ...].
      monitor: the validation metric that picks the best epoch; `mode`: "max" or "min" (perplexity).
      init_carry, init_eval_carry: `() -> carry` at the start of each epoch / each evaluation
        (`()` for stateless tasks; a carried state must have the rows as its first axis).
      tokens_per_epoch: token positions one epoch reads (for tokens/s).
      describe: `metrics -> str` for the epoch's printed line.
    """

    init_params: Callable[[jax.Array], Any]
    loss: Callable[..., tuple[jax.Array, tuple[Any, Any]]]
    eval_sums: Callable[..., tuple[Any, Any]]
    zero_sums: Callable[[], Any]
    metrics: Callable[[Any], dict[str, float]]
    train_data: Any = None
    gather: Callable[[Any, jax.Array], Any] | None = None
    epoch_indices: Callable[[int], np.ndarray] | None = None
    validation: Any = None
    test: Any = None
    monitor: str = "accuracy"
    mode: str = "max"
    init_carry: Callable[[], Any] = tuple
    init_eval_carry: Callable[[], Any] = tuple
    tokens_per_epoch: int = 0
    describe: Callable[[dict[str, float]], str] = lambda m: " ".join(f"{k} {v:.4f}" for k, v in m.items())


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The loop's own settings (a task's config supplies them)."""

    num_epochs: int  # epochs at most
    patience: int | None  # stop after this many epochs without a better validation metric (None: never)
    checkpoint_every_steps: int  # also checkpoint every this many steps inside an epoch (0: epoch ends only)
    seed: int  # seed of the initial parameters and the dropout keys
    resumable_changes: tuple[str, ...] = ()  # config fields that may differ when resuming (where, not what)

    @classmethod
    def from_config(cls, config: Any) -> LoopConfig:
        """The loop's settings read from a task's config (any object with the same field names)."""
        return cls(
            **{
                f.name: getattr(config, f.name)
                for f in dataclasses.fields(cls)
                if f.name != "resumable_changes"
            }
        )


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training (a pytree: checkpointed as a whole).

    Attributes:
      step: updates attempted so far (skipped ones included), int32 [].
      params: the model's parameters.
      opt_state: Optax state.
      skipped_updates: updates skipped because the loss or a gradient was not finite, int32 [].
      sums: running sums of the current epoch's training metrics (the task's `sums` pytree).
      carry: the state carried from step to step (`()` for stateless tasks).
    """

    step: jax.Array
    params: Any
    opt_state: Any
    skipped_updates: jax.Array
    sums: Any
    carry: Any = ()


def create_train_state(task: Task, tx: optax.GradientTransformation, key: jax.Array) -> TrainState:
    """Initial parameters from `key`, a fresh optimizer state, step 0, zero sums, the initial carry."""
    params = task.init_params(key)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        skipped_updates=jnp.zeros((), jnp.int32),
        sums=task.zero_sums(),
        carry=task.init_carry(),
    )


def train_step(
    state: TrainState, batch: Any, key: jax.Array, *, task: Task, tx: optax.GradientTransformation
) -> TrainState:
    """One Optax update on `task.loss`; skipped when the loss or a gradient is not finite.

    The carry enters as a constant (no gradient flows into earlier steps: truncated backpropagation
    through time) and leaves updated. A non-finite update keeps params, opt_state and carry as they
    were, adds nothing to the sums and counts one `skipped_updates`. Step s uses dropout key
    `fold_in(key, s)`.
    """
    dropout_key = jax.random.fold_in(key, state.step)
    loss_fn = functools.partial(task.loss, batch=batch, carry=state.carry, dropout_key=dropout_key)
    (loss, (sums, carry)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.isfinite(loss) & jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)])
    )
    keep = functools.partial(jax.tree_util.tree_map, lambda new, old: jnp.where(finite, new, old))
    sums = jax.tree_util.tree_map(lambda total, s: total + jnp.where(finite, s, 0.0), state.sums, sums)
    return TrainState(
        step=state.step + 1,
        params=keep(params, state.params),
        opt_state=keep(opt_state, state.opt_state),
        skipped_updates=state.skipped_updates + (~finite).astype(jnp.int32),
        sums=sums,
        carry=keep(carry, state.carry),
    )


def eval_step(params: Any, batches: Any, *, task: Task) -> Any:
    """The sums of `task.eval_sums` over stacked batches [num_batches, ...], carrying the carry."""

    def body(carry, batch):
        sums, carry = task.eval_sums(params, batch, carry)
        return carry, sums

    _, per_batch = jax.lax.scan(body, task.init_eval_carry(), batches)
    return jax.tree_util.tree_map(lambda x: x.sum(0), per_batch)


def stack_batches(arrays: Any, batch_size: int, multiple_of: int = 1) -> tuple[Any, np.ndarray]:
    """Host arrays [N, ...] padded to whole batches [num_batches, batch_size, ...], and their weights.

    The batch size is at most N and rounded up to a multiple of `multiple_of` (the device count, so
    that each batch splits over the mesh); padding rows are zeros with weight 0.
    """
    n = len(jax.tree_util.tree_leaves(arrays)[0])
    batch_size = max(1, min(batch_size, n))
    batch_size = -(-batch_size // multiple_of) * multiple_of
    num_batches = max(1, math.ceil(n / batch_size))
    pad = num_batches * batch_size - n

    def fold(a):
        a = np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)])
        return a.reshape(num_batches, batch_size, *a.shape[1:])

    return jax.tree_util.tree_map(fold, arrays), fold(np.ones(n, np.float32))


# ----------------------------------------------------------------------------- run folder


def check_workdir(workdir: Path, config: Any, *, resume: bool, resumable_changes: tuple[str, ...]) -> None:
    """Refuses to overwrite a run, or to resume one that is not there or has another config.

    Raises:
      RunFolderError: `workdir` already holds a run and `resume` is False.
      RunNotFoundError: `resume` and there is no config.json.
      ResumeError: `resume` with a config that differs from the saved one (other than `resumable_changes`).
    """
    if not resume:
        if checkpoints.has_checkpoints(workdir) or (workdir / runs.RESULTS_FILE).exists():
            raise RunFolderError(
                f"{workdir} already holds a run; pass --resume to continue it, or choose another --workdir"
            )
        return
    if not (workdir / runs.CONFIG_FILE).exists():
        raise RunNotFoundError(
            f"cannot resume: {workdir / runs.CONFIG_FILE} does not exist; "
            "run without --resume to start a new run there"
        )
    # A field added since the run was saved counts as its default (an older run still resumes).
    saved = {**_field_defaults(config), **runs.load_json(workdir / runs.CONFIG_FILE)}
    current = runs.jsonable(config)
    changed = sorted(
        k for k in set(saved) | set(current) if k not in resumable_changes and saved.get(k) != current.get(k)
    )
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise ResumeError(f"cannot resume {workdir}: the config differs from its config.json ({details})")


def _field_defaults(config: Any) -> dict[str, Any]:
    """The JSON form of a dataclass config's field defaults (fields without one left out)."""
    if not dataclasses.is_dataclass(config):
        return {}
    fields = dataclasses.fields(config)
    return runs.jsonable({f.name: f.default for f in fields if f.default is not dataclasses.MISSING})


def validate_loop_config(config: LoopConfig) -> None:
    """Raises ConfigError naming the first loop setting that makes no sense."""
    if isinstance(config.num_epochs, bool) or not isinstance(config.num_epochs, int) or config.num_epochs < 1:
        raise ConfigError(f"num_epochs must be a positive int, got {config.num_epochs!r}")
    if config.patience is not None and config.patience < 1:
        raise ConfigError(f"patience must be >= 1 or None, got {config.patience}")
    if config.checkpoint_every_steps < 0:
        raise ConfigError(f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}")


def start_run(
    workdir: str | Path,
    config: Any,
    *,
    resume: bool,
    resumable_changes: tuple[str, ...] = (),
    writer: bool = True,
) -> Path:
    """Checks `workdir` (see `check_workdir`) and creates it; call before any expensive preparation."""
    workdir = Path(workdir)
    check_workdir(workdir, config, resume=resume, resumable_changes=resumable_changes)
    if writer:
        runs.make_workdir(workdir)
    return workdir


# ----------------------------------------------------------------------------- the loop


def _new_meta(monitor: str) -> dict[str, Any]:
    return {
        "epochs_done": 0,
        "history": [],
        "best_epoch": 0,
        f"best_validation_{monitor}": None,
        "epochs_without_improvement": 0,
        "finished": False,
        "compile_seconds": [],
    }


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def _abstract(x: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(np.shape(x), x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)


@dataclasses.dataclass
class _Loop:
    """One run's compiled functions, device data and bookkeeping; `fit` drives it epoch by epoch."""

    task: Task
    config: LoopConfig
    tx: optax.GradientTransformation
    workdir: Path
    mesh: Any
    progress: bool
    writer: bool = True
    manager: Any = None
    meta: dict = dataclasses.field(default_factory=dict)
    validation: Any = None  # the validation batches on the mesh
    epoch_start: float = 0.0

    def place(self, state: TrainState) -> TrainState:
        """The state on the mesh: replicated, except the carry, split along its rows."""
        carry = distributed.put_batch(state.carry, self.mesh)
        return distributed.put_replicated(state.replace(carry=()), self.mesh).replace(carry=carry)

    def initial_state(self, resume: bool) -> tuple[TrainState, Any, jax.Array]:
        """`(state, best_params, dropout_key)`: fresh from the seed, or from the newest intact checkpoint."""
        init_key, dropout_key = jax.random.split(jax.random.key(self.config.seed))
        state = create_train_state(self.task, self.tx, init_key)
        best_params = jax.device_get(state.params)
        self.meta = _new_meta(self.task.monitor)
        if resume:
            abstract = functools.partial(jax.tree_util.tree_map, _abstract)
            self.manager, state, best_params, self.meta = checkpoints.restore_latest(
                self.workdir, abstract(state), abstract(best_params), writer=self.writer
            )
            if self.writer:  # metrics.jsonl is rebuilt from the checkpoint: no epoch twice, none missing
                (self.workdir / runs.METRICS_FILE).unlink(missing_ok=True)
                for record in self.meta["history"]:
                    runs.append_metrics(self.workdir, record)
            print(f"resumed from step {int(state.step)} (epoch {self.meta['epochs_done'] + 1})")
        else:
            if self.writer:
                self.manager = checkpoints.checkpoint_manager(self.workdir, writer=True)
                (self.workdir / runs.METRICS_FILE).unlink(missing_ok=True)
        state, dropout_key = self.place(state), distributed.put_replicated(dropout_key, self.mesh)
        return state, best_params, dropout_key

    def compile_step(self, state: TrainState, train_data: Any, dropout_key: jax.Array):
        """The training step `(state, train_data, indices, key) -> state`, compiled ahead of time."""
        step_fn = functools.partial(train_step, task=self.task, tx=self.tx)

        def indices_step(state, data, indices, key):
            return step_fn(state, self.task.gather(data, indices), key)  # gather on device, no host work

        replicated, split = distributed.replicated_sharding(self.mesh), distributed.batch_sharding(self.mesh)
        state_sharding = TrainState(
            step=replicated,
            params=replicated,
            opt_state=replicated,
            skipped_updates=replicated,
            sums=replicated,
            carry=split,
        )
        first = self.task.epoch_indices(0)[0]
        start = time.perf_counter()
        compiled = (
            jax.jit(
                indices_step,
                donate_argnums=0,
                out_shardings=state_sharding,
                in_shardings=(state_sharding, replicated, split, replicated),
            )
            .lower(
                state, train_data, jax.ShapeDtypeStruct(first.shape, jnp.int32, sharding=split), dropout_key
            )
            .compile()
        )
        self.meta["compile_seconds"] = self.meta.get("compile_seconds", []) + [time.perf_counter() - start]
        return compiled

    def save(self, state: TrainState, best_params: Any) -> None:
        if self.writer:
            checkpoints.save(self.manager, int(state.step), state, best_params, self.meta)

    def train_epoch(
        self,
        epoch: int,
        state: TrainState,
        best_params: Any,
        step_fn,
        train_data,
        key,
        stop: StopSignals,
        stop_after_steps: int | None,
    ):
        """Runs epoch `epoch` from the step the state is at; returns `(state, seconds, cpu_seconds, first)`.

        `seconds` / `cpu_seconds` time the training steps alone (checkpoints excluded), wall and CPU.
        Raises `TrainingInterrupted` after checkpointing when a stop signal arrived (or, for tests,
        `_StopAfter` once `stop_after_steps` steps are done).
        """
        from tqdm.auto import tqdm

        indices = self.task.epoch_indices(epoch)
        steps = len(indices)
        first = int(state.step) - epoch * steps
        if first == 0:
            state = state.replace(
                sums=self.task.zero_sums(), carry=distributed.put_batch(self.task.init_carry(), self.mesh)
            )
        # XLA:CPU runs the collectives of simulated devices in one process; with many steps in flight
        # they can deadlock (a device's thread never reaches the all-reduce), so there each step waits.
        sync = self.mesh.devices.size > 1 and self.mesh.devices.flat[0].platform == "cpu"
        bar = tqdm(
            total=steps,
            initial=first,
            desc=f"epoch {epoch + 1}/{self.config.num_epochs}",
            unit="step",
            disable=not self.progress or not self.writer,
            leave=False,
            dynamic_ncols=True,
        )
        seconds = cpu = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        every = self.config.checkpoint_every_steps
        for i in range(first, steps):
            # Each process transfers only its own rows of the step's indices.
            state = step_fn(state, train_data, distributed.put_batch(indices[i], self.mesh), key)
            if sync:
                jax.block_until_ready(state)
            bar.update(1)
            step = epoch * steps + i + 1
            stop_now = stop.requested or (stop_after_steps is not None and step >= stop_after_steps)
            if stop_now or (every and step % every == 0 and i < steps - 1):
                jax.block_until_ready(state)
                seconds, cpu = seconds + time.perf_counter() - t0, cpu + time.process_time() - c0
                self.save(state, best_params)
                if stop_now:
                    bar.close()
                    raise (
                        _StopAfter(step)
                        if not stop.requested
                        else TrainingInterrupted(stop.signal_number, step, str(self.workdir))
                    )
                t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(state)
        bar.close()
        return state, seconds + time.perf_counter() - t0, cpu + time.process_time() - c0, first

    def end_epoch(
        self, epoch: int, state: TrainState, best_params: Any, evaluate, timing
    ) -> tuple[Any, dict]:
        """Validation, the best epoch, early stopping, the checkpoint and metrics.jsonl of `epoch`."""
        seconds, cpu_seconds, first = timing
        task, meta, monitor = self.task, self.meta, self.task.monitor
        train_metrics = task.metrics(jax.device_get(state.sums))
        valid_metrics = task.metrics(jax.device_get(evaluate(state.params, self.validation)))
        skipped_epoch = int(state.skipped_updates) - sum(r["skipped_updates"] for r in meta["history"])
        if _is_better(valid_metrics[monitor], meta[f"best_validation_{monitor}"], task.mode):
            meta.update(
                {
                    f"best_validation_{monitor}": valid_metrics[monitor],
                    "best_epoch": epoch + 1,
                    "epochs_without_improvement": 0,
                }
            )
            best_params = jax.device_get(state.params)
        else:
            meta["epochs_without_improvement"] += 1
        timed = first == 0  # an epoch resumed midway is not timed
        record = {
            "epoch": epoch + 1,
            "step": int(state.step),
            **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"validation_{k}": v for k, v in valid_metrics.items()},
            "epoch_seconds": seconds if timed else None,
            "tokens_per_second": task.tokens_per_epoch / seconds if timed and seconds else None,
            "skipped_updates": skipped_epoch,
            "best_epoch": meta["best_epoch"],
            # CPU time of this process over the same steps: what the epoch costs on a machine that
            # other jobs share (wall time there depends on the load; CPU time much less).
            "epoch_cpu_seconds": cpu_seconds if timed else None,
            "epoch_wall_seconds": time.perf_counter() - self.epoch_start,
        }
        meta["history"].append(record)
        meta["epochs_done"] = epoch + 1
        if self.config.patience is not None and meta["epochs_without_improvement"] >= self.config.patience:
            meta.update(finished=True, stopped_early=True)
        self.save(state, best_params)
        if self.writer:
            runs.append_metrics(self.workdir, record)
        self.report(epoch, record, train_metrics, valid_metrics)
        return best_params, record

    def report(self, epoch: int, record: dict, train_metrics: dict, valid_metrics: dict) -> None:
        seconds, skipped = record["epoch_seconds"], record["skipped_updates"]
        speed = (
            f"{seconds:.2f} s, {self.task.tokens_per_epoch / seconds:,.0f} tokens/s"
            if seconds
            else "resumed mid-epoch, not timed"
        )
        print(
            f"epoch {epoch + 1}/{self.config.num_epochs}: train {self.task.describe(train_metrics)} | "
            f"validation {self.task.describe(valid_metrics)} | {speed} | best epoch {record['best_epoch']}"
            + (f" | {skipped} non-finite updates skipped" if skipped else ""),
            flush=True,
        )
        if skipped:
            logger.warning(
                "epoch %d: skipped %d updates with a non-finite loss or gradient", epoch + 1, skipped
            )
        if self.meta.get("stopped_early"):
            print(
                f"early stopping: no better validation {self.task.monitor} for {self.config.patience} epochs"
            )


class _StopAfter(Exception):
    """Internal: `stop_after_steps` reached (tests of resumption simulate a killed run with it)."""

    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


def fit(
    task: Task,
    config: LoopConfig,
    tx: optax.GradientTransformation,
    workdir: str | Path,
    mesh,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
    extra_results: dict | None = None,
) -> dict[str, Any]:
    """Trains `task`, keeps the best validation epoch, tests it; writes the run folder's files.

    Call `start_run` first (it checks and creates `workdir`). Only process 0 writes.

    Args:
      task: the `Task`.
      config: the `LoopConfig`.
      tx: the Optax transformation.
      workdir: the run folder.
      mesh: the device mesh (`rnn_jax.training.distributed.make_mesh`).
      resume: continue from the newest intact checkpoint in `workdir`.
      progress: show tqdm bars (rate and ETA).
      stop_after_steps: stop as if killed once this many steps are done, after checkpointing;
        returns `{"interrupted": True, "step": ...}` (for tests of resumption).
      extra_results: the task's own entries for results.json (model, sizes, data timings, ...).

    Returns:
      The results written to `results.json`: `test_<metric>` for each of the task's metrics,
      `best_epoch`, `best_validation_<monitor>`, timings, and `extra_results`.

    Raises:
      TrainingInterrupted: SIGTERM or SIGINT arrived; the checkpoint of the current step is written.
      RunNotFoundError, CheckpointError: `resume` without a checkpoint, or with none readable.
    """
    validate_loop_config(config)
    loop = _Loop(task, config, tx, Path(workdir), mesh, progress, writer=distributed.is_main_process())
    try:
        with StopSignals() as stop:
            state, best_params, key = loop.initial_state(resume)
            train_data = distributed.put_replicated(task.train_data, mesh)
            loop.validation = distributed.put_batch(task.validation, mesh, batch_axis=1)
            step_fn = loop.compile_step(state, train_data, key)
            evaluate = jax.jit(functools.partial(eval_step, task=task))
            for epoch in range(loop.meta["epochs_done"], config.num_epochs):
                if loop.meta["finished"]:
                    break
                loop.epoch_start = time.perf_counter()
                state, *timing = loop.train_epoch(
                    epoch, state, best_params, step_fn, train_data, key, stop, stop_after_steps
                )
                best_params, _ = loop.end_epoch(epoch, state, best_params, evaluate, timing)
                if stop.requested:  # arrived during validation: the epoch's checkpoint is written
                    raise TrainingInterrupted(stop.signal_number, int(state.step), str(loop.workdir))
                if loop.meta.get("stopped_early"):
                    break
        return _finish(loop, state, best_params, evaluate, extra_results or {})
    except _StopAfter as stopped:
        return {"interrupted": True, "step": stopped.step}
    finally:
        if loop.manager is not None:
            loop.manager.close()


def _finish(loop: _Loop, state: TrainState, best_params: Any, evaluate, extra: dict) -> dict[str, Any]:
    """Tests the best parameters, saves them, writes results.json and the training curves."""
    task, meta, mesh = loop.task, loop.meta, loop.mesh
    best_params = distributed.put_replicated(best_params, mesh)
    test_metrics = task.metrics(
        jax.device_get(evaluate(best_params, distributed.put_batch(task.test, mesh, batch_axis=1)))
    )
    if loop.writer:
        checkpoints.save_params(loop.workdir / checkpoints.BEST_PARAMS_DIR, best_params)
    results = {
        **extra,
        **{f"test_{k}": v for k, v in test_metrics.items()},
        **_summary(meta, task.monitor, task.tokens_per_epoch),
        "skipped_updates": int(state.skipped_updates),
        "device": jax.devices()[0].device_kind,
        "num_devices": int(mesh.devices.size),
        "num_processes": jax.process_count(),
    }
    if loop.writer:
        runs.save_results(loop.workdir, results)
        try:
            from rnn_jax.training.curves import plot_training_curves

            plot_training_curves(loop.workdir, loop.workdir / CURVES_FILE)
        except ImportError as err:  # matplotlib is optional (the 'plot' / 'train' extra)
            logger.warning("no training-curve plot: %s", err)
    return results


def _summary(meta: dict, monitor: str, tokens_per_epoch: int) -> dict[str, Any]:
    """The epoch history's summary for results.json: best epoch, timings (warm-up epoch left out)."""
    import os

    history = meta["history"]

    def after_warm_up(key):
        values = [r.get(key) for r in history if r.get(key) is not None]
        return values[1:] if len(values) > 1 else values  # the first epoch also warms caches up

    timed, cpu = after_warm_up("epoch_seconds"), after_warm_up("epoch_cpu_seconds")
    epoch_seconds = float(np.mean(timed)) if timed else None
    return {
        "best_epoch": meta["best_epoch"],
        f"best_validation_{monitor}": meta[f"best_validation_{monitor}"],
        "epochs_run": len(history),
        "stopped_early": bool(meta.get("stopped_early", False)),
        "epoch_seconds": epoch_seconds,
        "epoch_seconds_all": [r["epoch_seconds"] for r in history],
        "epoch_cpu_seconds": float(np.mean(cpu)) if cpu else None,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "tokens_per_second": tokens_per_epoch / epoch_seconds if epoch_seconds else None,
        "compile_seconds": meta["compile_seconds"],
        "timing_note": "epoch_seconds: mean time of the training steps of one epoch over the epochs after "
        "the first (warm-up); compilation (compiled ahead of time), validation and "
        "checkpoints excluded; epoch_cpu_seconds: the process's CPU time over the same "
        "steps (all its threads); load_average: the machine's 1-minute load when the run "
        "ended; tokens: the token positions one epoch reads",
    }
