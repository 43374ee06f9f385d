"""Tests of rnn_jax.training.loop on a toy task of its own (no IMDB): carried state, "lower is better",
exact resume, and preemption by a real SIGTERM / SIGINT sent to a training subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.errors import ConfigError, TrainingInterrupted
from rnn_jax.training import distributed, loop, runs
from tests.imdb_fixture import tiny_flags, write_tiny_imdb

REPO_ROOT = Path(__file__).resolve().parents[1]
ROWS, WINDOW, COLUMNS = 4, 5, 60  # a stream cut into ROWS rows, read in windows of WINDOW steps


def _toy_task() -> loop.Task:
    """Predict x_{t+1} = a * x_t from the running mean of the row so far (the carry), squared error.

    The carry [ROWS] is each row's last value: a stateful task whose windows must be read in order.
    """
    rng = np.random.default_rng(0)
    stream = np.cumsum(rng.normal(size=(ROWS, COLUMNS + 1)), axis=1).astype(np.float32)
    valid = np.cumsum(rng.normal(size=(2, ROWS, WINDOW + 1)), axis=2).astype(np.float32)

    def predict(params, window, carry):
        inputs = jnp.concatenate([carry[:, None], window[:, :-1]], axis=1)  # x_{t-1} from the carry
        return params["a"] * inputs + params["b"], window[:, -1]

    def loss(params, batch, carry, dropout_key):
        prediction, last = predict(params, batch, carry)
        errors = (prediction - batch) ** 2
        return errors.mean(), ({"sse": errors.sum(), "count": jnp.float32(errors.size)}, last)

    def eval_sums(params, batch, carry):  # evaluation carries the state from batch to batch too
        return loss(params, batch, carry, None)[1]

    return loop.Task(
        init_params=lambda key: {"a": jax.random.normal(key, ()), "b": jnp.zeros(())},
        loss=loss,
        eval_sums=eval_sums,
        zero_sums=lambda: {"sse": jnp.zeros(()), "count": jnp.zeros(())},
        metrics=lambda s: {"loss": float(s["sse"]) / max(float(s["count"]), 1.0)},
        train_data=stream,
        gather=lambda data, starts: jax.vmap(lambda row, s: jax.lax.dynamic_slice(row, (s,), (WINDOW,)))(
            data, starts
        ),
        epoch_indices=lambda epoch: np.repeat(
            np.arange(0, COLUMNS - WINDOW + 1, WINDOW, dtype=np.int32)[:, None], ROWS, axis=1
        ),
        validation=valid,
        test=valid,
        monitor="loss",
        mode="min",
        init_carry=lambda: jnp.zeros(ROWS),
        init_eval_carry=lambda: jnp.zeros(ROWS),
        tokens_per_epoch=ROWS * COLUMNS,
    )


CONFIG = loop.LoopConfig(num_epochs=4, patience=None, checkpoint_every_steps=5, seed=0)


def _fit(workdir, resume=False, **kwargs):
    mesh = distributed.make_mesh(1)
    loop.start_run(workdir, CONFIG, resume=resume)
    if not resume:
        runs.save_config(workdir, CONFIG)  # the task's job (IMDB saves it once its data has loaded)
    return loop.fit(
        _toy_task(), CONFIG, optax.sgd(1e-3), workdir, mesh, resume=resume, progress=False, **kwargs
    )


def _no_timings(results):
    return {
        k: v
        for k, v in results.items()
        if "seconds" not in k and k not in ("load_average", "tokens_per_second")
    }


def test_carry_reaches_the_next_window():
    task = _toy_task()
    tx = optax.sgd(1e-3)
    state = loop.create_train_state(task, tx, jax.random.key(0))
    batch = task.gather(task.train_data, jnp.zeros(ROWS, jnp.int32))
    new = loop.train_step(state, batch, jax.random.key(1), task=task, tx=tx)
    np.testing.assert_array_equal(new.carry, batch[:, -1])  # the state carried to the next window
    assert int(new.step) == 1 and float(new.sums["count"]) == ROWS * WINDOW


def test_lower_is_better_picks_the_lowest_validation_loss(tmp_path):
    results = _fit(tmp_path / "run")
    records = runs.read_metrics(tmp_path / "run")
    best = min(records, key=lambda r: r["validation_loss"])
    assert results["best_epoch"] == best["epoch"]
    assert results["best_validation_loss"] == best["validation_loss"]
    assert (tmp_path / "run" / "curves.png").is_file() and "test_loss" in results


@pytest.mark.parametrize("stop", [17, 24])  # mid-epoch 2; its last step (12 steps an epoch)
def test_stateful_run_resumes_exactly(tmp_path, stop):
    full = _fit(tmp_path / "full")
    assert _fit(tmp_path / "cut", stop_after_steps=stop) == {"interrupted": True, "step": stop}
    resumed = _fit(tmp_path / "cut", resume=True)
    assert _no_timings(resumed) == _no_timings(full)
    strip = lambda d: [
        {k: v for k, v in r.items() if "seconds" not in k and k != "tokens_per_second"}  # noqa: E731
        for r in runs.read_metrics(d)
    ]
    assert strip(tmp_path / "cut") == strip(tmp_path / "full")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_epochs": 0}, "num_epochs must be a positive int"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"checkpoint_every_steps": -1}, "checkpoint_every_steps"),
    ],
)
def test_bad_loop_config(changes, message):
    import dataclasses

    with pytest.raises(ConfigError, match=message):
        loop.validate_loop_config(dataclasses.replace(CONFIG, **changes))


def test_stack_batches_pads_with_zero_weight_rows():
    (ids,), weights = loop.stack_batches((np.arange(10)[:, None],), batch_size=4, multiple_of=3)
    assert ids.shape == (2, 6, 1) and weights.sum() == 10 and weights.reshape(-1)[10:].sum() == 0


# ----------------------------------------------------------------------------- preemption


def test_training_interrupted_exit_status():
    assert TrainingInterrupted(signal.SIGTERM, 3, "w").exit_status == 143
    assert TrainingInterrupted(signal.SIGINT, 3, "w").exit_status == 130


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_imdb(tmp_path_factory.mktemp("tfds"), num_train=120, num_test=40)


def _imdb_flags(tiny_dir, workdir):
    return [
        *tiny_flags(num_epochs=40, patience=None),
        "--data_dir",
        str(tiny_dir),
        "--workdir",
        str(workdir),
        "--no_progress",
    ]


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_real_signal_checkpoints_and_resume_finishes_the_run(signal_number, tiny_dir, tmp_path):
    from rnn_jax.studies.sentiment.imdb import main

    workdir = tmp_path / "preempted"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen(
        [sys.executable, "experiments/imdb_sentiment.py", *_imdb_flags(tiny_dir, workdir)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:  # training has started: send the signal mid-run
        if line.startswith("epoch 2/40"):
            process.send_signal(signal_number)
            break
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, err
    assert f"stopped: interrupted by signal {signal_number} at step" in err
    step = int(err.split(" at step ")[1].split(":")[0])
    assert 12 <= step < 240 and (workdir / "checkpoints" / str(step)).is_dir()
    if signal_number == signal.SIGINT:
        return  # the same path as SIGTERM; the full comparison below runs once
    resumed = main([*_imdb_flags(tiny_dir, workdir), "--resume"])
    full = main(_imdb_flags(tiny_dir, tmp_path / "uninterrupted"))
    keep = lambda r: {
        k: v
        for k, v in r.items()
        if "seconds" not in k
        and k  # noqa: E731
        not in ("load_average", "tokens_per_second", "compile_seconds")
    }
    assert keep(resumed) == keep(full)


def test_resume_counts_a_field_added_since_as_its_default(tmp_path):
    """A config.json saved before a field existed resumes when the field keeps its default."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Config:
        size: int = 8
        added_later: bool = False

    (tmp_path / runs.CONFIG_FILE).write_text('{"size": 8}')
    loop.check_workdir(tmp_path, Config(), resume=True, resumable_changes=())
    with pytest.raises(ValueError, match=r"config differs .*added_later: False -> True"):
        loop.check_workdir(tmp_path, Config(added_later=True), resume=True, resumable_changes=())
