"""The memory sweep: models, training, resuming, the results file and the command's errors (tiny settings)."""

import dataclasses
import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.cli import guarded
from rnn_jax.core import analysis, cells
from rnn_jax.errors import ConfigError, ResumeError, TrainingInterrupted
from rnn_jax.studies.memory import plots, records, sweep, train
from rnn_jax.training import runs

TINY = train.TrainSettings(
    hidden_size=6, batch_size=4, max_steps=20, steps_per_chunk=10, num_validation=8, num_test=8
)


@pytest.mark.parametrize(
    "task, cell", [("adding", "simple_rnn"), ("copy", "irnn"), ("adding", "lstm"), ("copy", "gru")]
)
def test_predict_matches_a_python_loop(task, cell):
    params = train.init_model(jax.random.key(0), task, cell, 5)
    batch = train.make_batch(jax.random.key(1), task, 3, 6)
    xs = train.model_inputs(task, batch)
    step_fn = train.CELL_SPECS[cell].step_fn
    h = cells.initial_state(step_fn, params["cell"], (3,))
    outputs = []
    for t in range(xs.shape[1]):
        h = step_fn(params["cell"], h, xs[:, t])
        outputs.append(cells.state_output(h) @ params["readout"]["W"].T + params["readout"]["b"])
    expected = outputs[-1][:, 0] if task == "adding" else jnp.stack(outputs, axis=1)
    np.testing.assert_allclose(train.predict(params, task, cell, xs), expected, rtol=2e-5, atol=1e-6)


def test_irnn_starts_as_the_papers_irnn():
    params = train.init_model(jax.random.key(0), "adding", "irnn", 8)["cell"]
    np.testing.assert_array_equal(params["A"][:, :8], np.eye(8))
    assert float(jnp.std(params["A"][:, 8:])) < 0.01 and float(jnp.max(jnp.abs(params["b"]))) == 0.0
    assert float(train.CELL_SPECS["irnn"].step_fn(params, -jnp.ones(8), jnp.zeros(2)).max()) == 0.0  # ReLU


def test_training_beats_the_baseline_on_a_short_adding_problem():
    settings = train.TrainSettings(
        hidden_size=16, batch_size=32, max_steps=300, steps_per_chunk=100, num_validation=256, num_test=256
    )
    result = train.train_one(jax.random.key(0), "adding", "lstm", 4, settings)
    assert result.metric < 0.5 * train.baseline("adding", 4)
    assert [h["step"] for h in result.history] == [100, 200, 300]


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    whole = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY)
    half = train.train_one(
        jax.random.key(3),
        "copy",
        "gru",
        3,
        dataclasses.replace(TINY, max_steps=10),
        state_path=tmp_path / "state.npz",
    )  # saves only its final state (save_every_seconds: 60)
    assert half.steps == 10 and (tmp_path / "state.npz").exists()
    resumed = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY, state_path=tmp_path / "state.npz")
    assert resumed.steps == 20 and [h["step"] for h in resumed.history] == [10, 20]
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), whole.params, resumed.params
    )
    assert resumed.metric == pytest.approx(whole.metric, rel=1e-5)


def test_a_state_carries_its_own_step_count_and_old_two_file_states_still_load(tmp_path):
    """A kill between writing the arrays and the .json beside them must not pair one step's arrays
    with another's count: the count lives in the .npz. States committed before (arrays in the .npz,
    count in the .json) still resume."""
    state = tmp_path / "state.npz"
    assert train.saved_steps(state) == 0  # nothing saved: a run starts at step 0
    half = dataclasses.replace(TINY, max_steps=10)
    train.train_one(jax.random.key(3), "copy", "gru", 3, half, state_path=state)
    params = train.init_model(jax.random.key(0), "copy", "gru", TINY.hidden_size)
    opt_state = train.compiled_functions("copy", "gru", 3, TINY)[2].init(params)
    meta = json.loads(state.with_suffix(".json").read_text())
    assert meta["steps"] == 10 and not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]

    history = records.curve_entries(meta["history"])
    ahead = {**meta, "steps": 20, "history": records.curve_table([*history, {"step": 20, "validation": 0.0}])}
    state.with_suffix(".json").write_text(json.dumps(ahead))  # as after a kill between the two writes
    restored = train._load_state(state, params, opt_state)
    assert restored[2] == 10 and restored[4] == history and train.saved_steps(state) == 10
    num_params = len(jax.tree_util.tree_leaves(params))
    with np.load(state) as saved:  # the curve stays in the .json: the .npz does not grow with the run
        assert set(saved.files) == (
            {f"arr_{i}" for i in range(meta["num_leaves"])}
            | {f"best_{i}" for i in range(num_params)}
            | {"steps", "seconds", "best_step", "best_validation"}
        )

    with np.load(state) as saved:  # the old form: no step count inside the .npz
        arrays = [saved[f"arr_{i}"] for i in range(meta["num_leaves"])]
    with open(state, "wb") as f:
        np.savez(f, *arrays)
    old_meta = {**meta, "history": history}  # and the curve as a list of dicts, as it was stored then
    state.with_suffix(".json").write_text(json.dumps(old_meta))
    assert train.saved_steps(state) == 10  # the count from the .json
    resumed = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY, state_path=state)
    whole = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY)
    assert resumed.steps == 20 and resumed.metric == pytest.approx(whole.metric, rel=1e-5)


def test_an_unsolved_run_is_tested_at_its_best_validation_so_a_late_blow_up_loses_nothing(tmp_path):
    """A long run can blow up after its best point (the LSTM at T = 200 did, at step 917,000): the
    state keeps the best parameters on validation, and the test measures those, not the wreck."""
    state = tmp_path / "state.npz"
    settings = dataclasses.replace(TINY, steps_per_chunk=5)
    before = train.train_one(
        jax.random.key(3), "copy", "gru", 3, dataclasses.replace(settings, max_steps=10), state_path=state
    )
    assert not before.solved
    assert before.tested_step == min(before.history, key=lambda h: h["validation"])["step"]

    num_params = len(jax.tree_util.tree_leaves(before.params))
    with np.load(state) as saved:
        arrays = dict(saved)
    for i in range(num_params):  # the latest parameters blown up, as a loss spike leaves them
        arrays[f"arr_{i}"] = arrays[f"arr_{i}"] * 1e3
    with open(state, "wb") as f:
        np.savez(f, **arrays)

    after = train.train_one(jax.random.key(3), "copy", "gru", 3, settings, state_path=state)
    assert after.steps == 20 and min(h["validation"] for h in after.history[2:]) > 10 * before.metric
    assert after.tested_step == before.tested_step and after.metric == pytest.approx(before.metric, rel=1e-6)
    jax.tree.map(np.testing.assert_array_equal, after.params, before.params)


def test_the_learning_curve_is_stored_with_float32_digits_and_loses_nothing(tmp_path):
    """The curves are float32 metrics: their float64 digits only made the committed states large."""
    values = np.float32([1.4029903411865234, 0.1, 3e-7, 123456.78, np.nan])
    history = [{"step": 200, "train_loss": float(v), "validation": float(v)} for v in values]
    compact = train.compact_history(history)
    assert compact[0] == {"step": 200, "train_loss": 1.4029903, "validation": 1.4029903}
    assert isinstance(compact[0]["step"], int)
    for entry, v in zip(compact, values, strict=True):  # the same float32 values, NaN included
        np.testing.assert_array_equal(np.float32(entry["validation"]), v)
    assert len(json.dumps(compact[:2])) < 0.8 * len(json.dumps(history[:2]))

    state = tmp_path / "state.npz"  # a run's state and its curve are written compact
    result = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY, state_path=state)
    saved = records.curve_entries(json.loads(state.with_suffix(".json").read_text())["history"])
    assert saved == train.compact_history(saved) == result.history


@pytest.mark.parametrize("fresh_metric, steps, solved", [(0.5, 20, False), (0.0, 10, True)])
def test_a_run_stops_only_when_fresh_sequences_confirm_the_validation_set(
    monkeypatch, fresh_metric, steps, solved
):
    chunk, _, optimizer = train.compiled_functions("adding", "gru", 3, TINY)
    key_validation = jax.random.split(jax.random.key(0), 4)[2]  # as train_one splits its key

    def evaluate(params, key, num):  # the fixed validation set passes; fresh sequences say fresh_metric
        fixed = np.array_equal(jax.random.key_data(key), jax.random.key_data(key_validation))
        return 0.0 if fixed else fresh_metric

    monkeypatch.setattr(train, "compiled_functions", lambda *args: (chunk, evaluate, optimizer))
    result = train.train_one(jax.random.key(0), "adding", "gru", 3, TINY)
    assert (result.steps, result.solved) == (steps, solved)
    assert [h["confirmation"] for h in result.history] == [fresh_metric] * (steps // 10)
    # A state saved before the confirmation existed, stopped by its validation set alone, trains on.
    assert not train.confirmed({"validation": 0.0}, TINY.threshold)


def test_the_optimizer_skips_non_finite_steps_until_100_in_a_row():
    optimizer = train.make_optimizer(TINY)
    params = {"w": jnp.ones(3)}
    opt_state = optimizer.init(params)
    update = jax.jit(optimizer.update)  # eager, the optimizer chain's ops dispatch one by one (26 s)
    for _ in range(101):
        assert train.parameters_finite(params)
        updates, opt_state = update({"w": jnp.full(3, jnp.nan)}, opt_state, params)
        params = optax.apply_updates(params, updates)
    assert not train.parameters_finite(params)  # the 101st is applied: the run's end (diverged)


def test_a_nan_validation_metric_with_finite_parameters_is_a_spike_not_the_end(monkeypatch):
    chunk, evaluate, optimizer = train.compiled_functions("copy", "irnn", 3, TINY)
    calls = []

    def nan_first(params, key, num):  # the first validation overflows, as the IRNN's ReLU state can
        calls.append(num)
        return float("nan") if len(calls) == 1 else evaluate(params, key, num)

    monkeypatch.setattr(train, "compiled_functions", lambda *args: (chunk, nan_first, optimizer))
    result = train.train_one(jax.random.key(0), "copy", "irnn", 3, TINY)
    assert (result.steps, result.diverged, result.tested_step) == (20, False, 20)
    assert np.isnan(result.history[0]["validation"]) and np.isfinite(result.metric)


def test_parameters_that_stop_being_finite_end_the_run_tested_at_their_best(monkeypatch, tmp_path):
    settings = dataclasses.replace(TINY, max_steps=40)
    chunk, evaluate, optimizer = train.compiled_functions("copy", "irnn", 3, settings)

    def nan_from_step_20(params, opt_state, key):
        params, opt_state, loss = chunk(params, opt_state, key)
        if len(chunk_calls) == 1:
            params = jax.tree_util.tree_map(lambda leaf: jnp.full_like(leaf, jnp.nan), params)
        chunk_calls.append(1)
        return params, opt_state, loss

    chunk_calls = []
    monkeypatch.setattr(train, "compiled_functions", lambda *args: (nan_from_step_20, evaluate, optimizer))
    state = tmp_path / "state.npz"
    result = train.train_one(jax.random.key(0), "copy", "irnn", 3, settings, state_path=state)
    assert (result.steps, result.diverged, result.tested_step) == (20, True, 10)
    assert np.isfinite(result.metric) and train.parameters_finite(result.params)
    # The saved state has diverged: a larger budget trains it no further.
    more = train.train_one(
        jax.random.key(0), "copy", "irnn", 3, dataclasses.replace(settings, max_steps=80), state_path=state
    )
    assert (more.steps, more.diverged, more.metric) == (20, True, result.metric) and len(chunk_calls) == 2


def test_sigterm_saves_the_state_and_the_same_call_continues(tmp_path):
    whole = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY)

    def terminate_after_the_first_chunk(steps, loss, validation):
        if steps == 10:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="at step 10") as stopped:
        train.train_one(
            jax.random.key(3),
            "copy",
            "gru",
            3,
            TINY,
            state_path=tmp_path / "state.npz",
            progress=terminate_after_the_first_chunk,
        )
    assert stopped.value.exit_status == 143 and (tmp_path / "state.npz").exists()
    resumed = train.train_one(jax.random.key(3), "copy", "gru", 3, TINY, state_path=tmp_path / "state.npz")
    assert resumed.steps == 20 and resumed.metric == pytest.approx(whole.metric, rel=1e-5)


def test_gradient_norms_are_the_exact_jacobians_of_the_last_state():
    params = train.init_model(jax.random.key(0), "adding", "lstm", 5)
    key = jax.random.key(4)
    norms = sweep.first_input_gradient_norms(params, "adding", "lstm", 6, key, 3)
    xs = train.make_batch(key, "adding", 3, 6).xs
    # d h_T / d x_1 by the core's analysis function (forward mode) for each sequence.
    direct = [
        float(jnp.linalg.norm(analysis.input_jacobians(cells.lstm_step, params["cell"], x)[-1])) for x in xs
    ]
    assert norms["first_input"] == pytest.approx(float(np.median(direct)), rel=1e-4)

    # d h_T / d v_{p1} through a Python loop over the step.
    def last_state(value, x, p1):
        state = cells.initial_state(cells.lstm_step, params["cell"])
        for t in range(6):
            state = cells.lstm_step(params["cell"], state, x[t].at[0].set(value) if t == p1 else x[t])
        return state.h

    marked = []
    for x in xs:
        p1 = int(jnp.argmax(x[:, 1]))
        marked.append(float(jnp.linalg.norm(jax.jacrev(last_state)(x[p1, 0], x, p1))))
    assert norms["first_marked_value"] == pytest.approx(float(np.median(marked)), rel=1e-4)


def test_the_verdict_tells_the_cells_limit_from_the_budgets():
    history = lambda values: [{"step": 10 * i, "validation": v} for i, v in enumerate(values, 1)]  # noqa: E731
    # The best of the last half against the best of the first, in units of the baseline (0.5).
    flat = sweep.verdict(history([0.5, 0.4, 0.4, 0.399]), 0.5, False, 0.4, 0.05)
    assert flat == ("flat", pytest.approx(0.002))
    improving = sweep.verdict(history([0.5, 0.4, 0.3, 0.35]), 0.5, False, 0.3, 0.05)
    assert improving == ("improving", pytest.approx(0.2))
    assert sweep.verdict(history([0.5, 0.4, 0.3, 0.01]), 0.5, True, 0.01, 0.05)[0] == "solved"
    # Coming down to the baseline from above is not progress: only the gain below the baseline counts.
    assert sweep.verdict(history([0.9, 0.7, 0.51, 0.5]), 0.5, False, 0.5, 0.05) == (
        "flat",
        pytest.approx(0.0),
    )
    # Stopped on the validation threshold, missed on the test sequences.
    assert sweep.verdict(history([0.5, 0.4, 0.3, 0.04]), 0.5, False, 0.06, 0.05)[0] == "validation only"
    assert sweep.verdict(history([0.5, 0.4, float("nan")]), 0.5, False, float("nan"), 0.05)[0] == "diverged"
    # Diverged (its parameters not finite) though tested at a finite best; a NaN spike alone is not.
    assert sweep.verdict(history([0.5, 0.3, float("nan")]), 0.5, False, 0.3, 0.05, True)[0] == "diverged"
    assert sweep.verdict(history([0.5, float("nan"), 0.3, 0.29]), 0.5, False, 0.29, 0.05)[0] == "improving"
    found, gain = sweep.verdict(history([0.5]), 0.5, False, 0.5, 0.05)  # too short to halve: not flat
    assert found == "improving" and np.isnan(gain)

    # Gained, then ended inside a loss spike not yet back within 1.2 x the best before it: neither
    # the budget's limit nor the cell's (the GRU at T = 100 went to 75 x the baseline and stayed).
    spiked = sweep.verdict(history([0.5, 0.4, 0.3, 0.2, 40.0, 30.0]), 0.5, False, 0.2, 0.05)
    assert spiked == ("in a spike", pytest.approx(0.2))
    back = sweep.verdict(history([0.5, 0.4, 0.3, 0.2, 40.0, 0.23]), 0.5, False, 0.2, 0.05)
    assert back[0] == "improving"  # 0.23 <= 1.2 x 0.2: back from the spike
    # A run whose last half gained nothing stays flat, spike or not.
    assert sweep.verdict(history([0.5, 0.2, 0.3, 0.3, 40.0, 30.0]), 0.5, False, 0.2, 0.05)[0] == "flat"
    assert "in a spike" in sweep.VERDICTS


def test_the_sweep_writes_results_in_the_published_shape_and_resumes(tmp_path, capsys):
    workdir = str(tmp_path / "memory")
    sweep.main(["--task", "adding", "--smoke", "--cells", "simple_rnn,lstm", "--workdir", workdir])
    sweep.main(["--task", "copy", "--smoke", "--cells", "gru", "--workdir", workdir])
    results = json.loads((tmp_path / "memory" / "results.json").read_text())
    assert results["adding"]["baseline"] == pytest.approx(1 / 6)
    entry = results["adding"]["lstm"]["5"]
    assert isinstance(entry["test_mse"], float) and isinstance(entry["solved"], bool) and entry["steps"] == 20
    assert entry["verdict"] in sweep.VERDICTS
    copy = results["copy"]["gru"]["5"]
    assert copy["baseline"] == pytest.approx(10 * np.log(8) / 25) and isinstance(
        copy["test_cross_entropy"], float
    )
    assert set(results["largest_solved"]) == {"adding", "copy"}
    for name in (
        "adding/learning_curves.png",
        "copy/learning_curves.png",
        "largest_solved.png",
        "adding/curves/lstm_T5.json",
        "adding/config.json",
    ):
        assert (tmp_path / "memory" / name).exists(), name
    record = json.loads((tmp_path / "memory" / "adding" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["gradient_norms"]["init"]["first_input"] > 0
    capsys.readouterr()
    # A rerun trains nothing it has recorded.
    out = sweep.main(["--task", "adding", "--smoke", "--cells", "lstm", "--workdir", workdir])
    assert "0 runs trained" in out["notes"][0] and "2 found done" in out["notes"][0]
    assert set(out["adding"]) == {"baseline", "simple_rnn", "lstm"}
    assert "| 5 |" in capsys.readouterr().out
    # --report_only trains nothing and rewrites the files, the gradient table included.
    sweep.main(["--task", "copy", "--smoke", "--report_only", "--max_steps", "999", "--workdir", workdir])
    assert "d h_T / d x_1 trained" in (tmp_path / "memory" / "table.md").read_text()
    # A larger budget continues every unsolved run from its final state; its new record replaces the old.
    adding = tmp_path / "memory" / "adding"
    assert not any(r["solved"] for r in runs.read_metrics(adding))  # 20 steps solve nothing
    old = {cell: records.read_curve(adding, cell, 5) for cell in ("simple_rnn", "lstm")}
    assert all((adding / "state" / f"{cell}_T5.npz").exists() for cell in old)  # the final states stay
    out = sweep.main(
        [
            "--task",
            "adding",
            "--smoke",
            "--cells",
            "simple_rnn,lstm",
            "--max_steps",
            "30",
            "--workdir",
            workdir,
        ]
    )
    assert "2 runs trained" in out["notes"][0]
    # Each run shows its own bar over its steps, a continued run's from the step it was saved at.
    err = capsys.readouterr().err
    assert "lstm T=5:  67%" in err and "20/30 [" in err and "30/30 [" in err  # rate: step/s or s/step
    for cell in old:
        assert out["adding"][cell]["5"]["steps"] == 30
        curve = records.read_curve(adding, cell, 5)
        assert [h["step"] for h in curve] == [10, 20, 30] and curve[:2] == old[cell]
    assert len(runs.read_metrics(adding)) == 4  # both records kept; results.json reads the last
    # Other settings in the same folder are refused: the records would not be comparable.
    with pytest.raises(ResumeError, match=r"lstm T=5 \(30\).*not a smaller one \(10\)"):
        sweep.main(["--task", "adding", "--smoke", "--max_steps", "10", "--workdir", workdir])
    # The budget is per (cell, T): a cell the larger budget did not reach may run a smaller one.
    out = sweep.main(
        ["--task", "adding", "--smoke", "--cells", "gru", "--max_steps", "10", "--workdir", workdir]
    )
    assert out["adding"]["gru"]["5"]["max_steps"] == 10 and out["adding"]["lstm"]["5"]["steps"] == 30
    # A diverged run (its parameters no longer finite) is final: a larger budget skips it.
    diverged = {
        **runs.read_metrics(adding)[-1],
        "cell": "lstm",
        "metric": 0.1,  # tested at its best parameters before
        "solved": False,
        "diverged": True,
        "parameters_finite": False,
    }
    runs.append_metrics(adding, diverged)
    out = sweep.main(
        ["--task", "adding", "--smoke", "--cells", "lstm", "--max_steps", "40", "--workdir", workdir]
    )
    assert "0 runs trained" in out["notes"][0]
    # One recorded as diverged before 2026-12-05 (at its first NaN validation metric, the metric stored
    # as the string "nan", its parameters finite) trains on from its state.
    old_rule = {**diverged, "cell": "gru", "metric": float("nan")}
    del old_rule["parameters_finite"]
    runs.append_metrics(adding, old_rule)
    assert runs.read_metrics(adding)[-1]["metric"] == "nan"
    out = sweep.main(
        ["--task", "adding", "--smoke", "--cells", "gru", "--max_steps", "40", "--workdir", workdir]
    )
    assert "1 run trained" in out["notes"][0] and out["adding"]["gru"]["5"]["steps"] == 40
    assert runs.read_metrics(adding)[-1]["parameters_finite"] is True
    # So is a run its confirmed validation stopped early though the test missed ("validation only");
    # one stopped by the validation set alone (before the confirmation existed) trains on.
    early = {
        **runs.read_metrics(adding)[-1],
        "cell": "simple_rnn",
        "metric": 0.5,
        "steps": 10,
        "max_steps": 30,
        "diverged": False,
    }
    runs.append_metrics(adding, {**early, "confirmed": True})
    rerun = [
        "--task",
        "adding",
        "--smoke",
        "--cells",
        "simple_rnn",
        "--max_steps",
        "30",
        "--workdir",
        workdir,
    ]
    assert "0 runs trained" in sweep.main(rerun)["notes"][0]
    runs.append_metrics(adding, early)
    assert "1 run trained" in sweep.main(rerun)["notes"][0]
    with pytest.raises(ResumeError, match="batch_size"):
        sweep.main(["--task", "adding", "--smoke", "--batch_size", "3", "--workdir", workdir])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task", "parity"], "task"),
        (["--cells", "simple_rnn,transformer"], "unknown cell 'transformer'"),
        (["--lengths", "1,50"], "lengths must be >= 2 for the adding task"),
        (["--task", "copy", "--lengths", "0"], "lengths must be >= 1 for the copy task"),
        (["--lengths", "ten"], "comma-separated list"),
        (["--adding_threshold", "0.5"], "adding_threshold must lie in"),
        (["--copy_fraction", "1.5"], "copy_fraction must lie in"),
        (["--hidden_sizes", "simple_rnn=8"], "missing irnn, lstm, gru"),
        (["--learning_rates", "simple_rnn=1e-3,irnn=0,lstm=1e-3,gru=1e-3"], "irnn must be > 0"),
        (["--max_steps", "0"], "max_steps must be >= 1"),
    ],
)
def test_bad_settings_are_one_clear_error(flags, message, tmp_path, capsys):
    with pytest.raises(ConfigError, match=message):
        sweep.main([*flags, "--smoke", "--workdir", str(tmp_path)])
    assert guarded(sweep.main, [*flags, "--smoke", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_unknown_task_or_cell_in_the_library_raise():
    with pytest.raises(ValueError, match="task"):
        train.init_model(jax.random.key(0), "parity", "lstm", 4)
    with pytest.raises(ValueError, match="cell"):
        train.init_model(jax.random.key(0), "adding", "rnn", 4)


def test_the_learning_curves_mark_the_model_tested_when_it_is_not_the_last():
    steps, values = [200, 400, 600], [0.5, 0.2, 3.0]
    assert plots.tested_point({"steps": 600, "tested_step": 400}, steps, values) == (400, 0.2)
    assert plots.tested_point({"steps": 600, "tested_step": 600}, steps, values) is None
    assert plots.tested_point({"steps": 600}, steps, values) is None  # an older record: tested at the end


def test_the_table_names_the_runs_still_improving_and_those_that_ended_in_a_spike():
    entry = lambda found: {"test_cross_entropy": 0.05, "solved": False, "steps": 1000, "verdict": found}  # noqa: E731
    results = {
        "copy": {
            "irnn": {"100": entry("improving")},
            "gru": {"100": entry("in a spike"), "200": entry("flat")},
        },
        "largest_solved": {"copy": {"irnn": None, "gru": None}},
    }
    text = "\n".join(sweep.summary_lines(results))
    assert "| 100 | 0.05 ✗ improving (1,000) | 0.05 ✗ in a spike (1,000) |" in text
    assert "Still improving when the budget ran out (a longer one may solve them): IRNN" in text
    assert "Ended inside a loss spike, tested at their best before it (the spikes below): GRU T = 100" in text
    assert "GRU T = 200" not in text  # flat: in neither list
