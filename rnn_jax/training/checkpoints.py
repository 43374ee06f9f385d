"""Orbax checkpoints of a training run: save, restore the newest intact one, and best parameters.

A checkpoint at step s is `checkpoints/<s>/` with two items: `state` (`{"train_state", "best_params"}`,
arrays) and `meta` (JSON: the epoch history and best-epoch bookkeeping of `rnn_jax.training.loop`).
The two newest are kept. A checkpoint that cannot be read (a corrupt or missing file) is moved aside
to `checkpoints_corrupt/<s>/` with a warning naming it, and the next older one is tried, so one bad
file loses at most the steps since the previous checkpoint, never the run.

In a multi-process run only process 0 writes (host copies of the replicated state); every process reads.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax

from rnn_jax.errors import CheckpointError, RunNotFoundError

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
CORRUPT_DIR = "checkpoints_corrupt"
BEST_PARAMS_DIR = "best_params"


def _this_process_only():
    import orbax.checkpoint as ocp

    index = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=index, active_processes={index})


def checkpoint_manager(workdir: Path, *, writer: bool):
    """The run's `orbax.checkpoint.CheckpointManager` (synchronous saves, the 2 newest kept)."""
    import orbax.checkpoint as ocp

    options = {}
    if jax.process_count() > 1:  # no cross-process barriers: process 0 writes, the others only read
        if writer:
            (workdir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        options = {"create": False, "multiprocessing_options": _this_process_only()}
    return ocp.CheckpointManager(
        (workdir / CHECKPOINT_DIR).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False, **options),
    )


def has_checkpoints(workdir: Path) -> bool:
    folder = workdir / CHECKPOINT_DIR
    return folder.exists() and any(folder.iterdir())


def save(manager, step: int, state: Any, best_params: Any, meta: dict) -> float:
    """Writes the checkpoint of `step`; returns the seconds it took."""
    import orbax.checkpoint as ocp

    start = time.perf_counter()
    if jax.process_count() > 1:  # host copies of the replicated state, written by process 0 alone
        state = jax.device_get(state)
    if step in manager.all_steps():  # a stop on an epoch's last step, then the epoch's end on resume
        manager.delete(step)  # the end-of-epoch checkpoint (with that epoch's metrics) replaces it
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave({"train_state": state, "best_params": best_params}),
            meta=ocp.args.JsonSave(meta),
        ),
        force=True,
    )
    manager.wait_until_finished()
    return time.perf_counter() - start


@contextlib.contextmanager
def _quiet_failures(settle_seconds: float = 0.2):
    """Keeps the tracebacks that orbax's and TensorStore's background threads print while a corrupt
    checkpoint fails to load ("RuntimeError: Event loop is closed", dozens of them) off the terminal;
    they are logged at DEBUG level instead. On a failure, waits `settle_seconds` for the stragglers."""
    noise = io.StringIO()
    try:
        with contextlib.redirect_stderr(noise):
            try:
                yield
            except Exception:
                time.sleep(settle_seconds)
                raise
    finally:
        if noise.getvalue():
            logger.debug("suppressed while reading a checkpoint:\n%s", noise.getvalue())


def _restore_step(manager, step: int, abstract_state: Any, abstract_params: Any):
    import orbax.checkpoint as ocp

    with _quiet_failures():
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(
                    {"train_state": abstract_state, "best_params": abstract_params}
                ),
                meta=ocp.args.JsonRestore(),
            ),
        )
    return restored.state["train_state"], restored.state["best_params"], restored.meta


def restore_latest(workdir: Path, abstract_state: Any, abstract_params: Any, *, writer: bool):
    """`(manager, state, best_params, meta)` from the newest checkpoint that can be read.

    Unreadable ones are moved aside (by the writing process) with a warning on stderr.

    Raises:
      RunNotFoundError: there is no checkpoint at all.
      CheckpointError: there are checkpoints, but none can be read.
    """
    manager = checkpoint_manager(workdir, writer=writer)
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        raise RunNotFoundError(
            f"cannot resume: no checkpoint in {workdir / CHECKPOINT_DIR}; run without "
            "--resume to start this run from the beginning"
        )
    failures = []
    for step in steps:
        try:
            return (manager, *_restore_step(manager, step, abstract_state, abstract_params))
        except Exception as err:  # orbax raises many kinds (ValueError, KeyError, OSError, tensorstore)
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
            failures.append(f"{step} ({reason})")
            print(
                f"warning: checkpoint {workdir / CHECKPOINT_DIR / str(step)} cannot be read ({reason}); "
                "trying the one before it",
                file=sys.stderr,
                flush=True,
            )
            manager = _set_aside(manager, workdir, step, writer=writer)
    raise CheckpointError(
        f"cannot resume {workdir}: no checkpoint can be read (steps "
        f"{'; '.join(failures)}); start the run again without --resume in a new --workdir"
    )


def _set_aside(manager, workdir: Path, step: int, *, writer: bool):
    """Moves the unreadable checkpoint of `step` to checkpoints_corrupt/ (nothing is deleted)."""
    manager.close()
    if writer:
        target = workdir / CORRUPT_DIR / str(step)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(workdir / CHECKPOINT_DIR / str(step)), str(target))
    return checkpoint_manager(workdir, writer=writer)


def save_params(path: Path, params: Any) -> None:
    """Writes a parameter tree with orbax (in a multi-process run: process 0 alone, host copies)."""
    import orbax.checkpoint as ocp

    options = {}
    if jax.process_count() > 1:
        params, options = jax.device_get(params), {"multiprocessing_options": _this_process_only()}
    with ocp.StandardCheckpointer(**options) as checkpointer:
        checkpointer.save(path.absolute(), params, force=True)


def load_params(path: Path, abstract_params: Any) -> Any:
    """Reads a parameter tree written by `save_params` into the structure of `abstract_params`.

    Raises:
      RunNotFoundError: `path` does not exist (the run has not finished).
      CheckpointError: it is corrupt or does not match the structure.
    """
    import orbax.checkpoint as ocp

    path = path.absolute()
    if not path.exists():
        raise RunNotFoundError(f"{path} does not exist: the run has not finished (resume it first)")
    try:
        with _quiet_failures(), ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(path, abstract_params)
    except Exception as err:
        raise CheckpointError(
            f"{path} is corrupt or does not match config.json ({type(err).__name__}: {err})"
        ) from err
