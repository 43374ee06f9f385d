"""One part of a continued run, read back from its curve and its two stops' records, checked by hand."""

import math

import pytest

from rnn_jax.studies.memory import parts, records, spikes, train
from rnn_jax.training import runs

BASELINE = train.baseline("copy", 200)


def _stop(steps, seconds, metric_ratio, trained=0.5):
    """The record a copy-task run of the LSTM at T = 200 writes when it stops at `steps`."""
    return {
        "cell": "lstm",
        "seq_len": 200,
        "steps": steps,
        "tested_step": steps - 100,
        "seconds": seconds,
        "metric": metric_ratio * BASELINE,
        "threshold": 0.1 * BASELINE,
        "solved": False,
        "diverged": False,
        "machine": {"cpu": "Test CPU"},
        "gradient_norms": {"trained": {"first_input": trained}, "init": {"first_input": 1e-12}},
    }


def _write_run(workdir, ratios, stops):
    """A curve with a validation every 100 steps (validation / baseline = `ratios`) and its stops."""
    history = [
        {"step": 100 * (i + 1), "train_loss": 0.0, "validation": r * BASELINE} for i, r in enumerate(ratios)
    ]
    records.write_curve(workdir / "copy", "lstm", 200, history)
    for record in stops:
        runs.append_metrics(workdir / "copy", record)


def test_a_part_reads_its_spans_stop_verdict_spikes_best_and_worst(tmp_path):
    # steps 100 .. 1200; the first part stops at 400, the second at 1200 (later validations exist:
    # the run went on, and the part must not see them)
    ratios = [0.9, 0.8, 0.7, 0.6, 0.5, 3.0, 0.55, 0.45, 0.4, float("nan"), 0.35, 0.3, 0.01, 0.01]
    _write_run(tmp_path, ratios, [_stop(400, 50.0, 0.6), _stop(1200, 170.0, 0.31, trained=0.25)])
    part = parts.read(tmp_path, "copy", "lstm", 200, 400, 1200, width=400)

    assert [(s.start, s.stop, s.count) for s in part.spans] == [(400, 800, 4), (800, 1200, 3)]
    assert part.spans[0].median == pytest.approx(0.525) and part.spans[1].best == pytest.approx(0.3)
    assert part.record["steps"] == 1200 and part.seconds == 120.0
    assert part.test_ratio == pytest.approx(0.31)
    assert (part.gradient_trained, part.gradient_init) == (0.25, 1e-12)
    # the curve cut at 1200: the best of the first half 0.5, of the last half 0.3 (the NaN left out);
    # the 0.01s after the stop would make the gain 0.49 and the last value solve it
    assert (part.verdict, part.gain) == ("improving", pytest.approx(0.2))
    # 3.0 > 4 x 0.5 starts a spike at 600, 0.55 <= 1.2 x 0.5 ends it at 700; the NaN at 1000 is
    # above 4 x 0.4 too, and 0.35 ends it
    assert [(s.step, s.steps_to_recover) for s in part.spikes] == [(600, 100), (1000, 100)]
    assert (part.best_step, part.best_ratio, part.after_best) == (1200, pytest.approx(0.3), 0)
    assert (part.worst_step, part.worst_ratio) == (1000, math.inf)  # not finite is the worst
    assert part.worst_over_best_before == math.inf


def test_spikes_and_the_worst_belong_to_the_part_they_start_in(tmp_path):
    ratios = [0.5, 0.4, 2.0, 0.45, 0.3, 0.35]  # a spike at 300, inside the first part (0, 300]
    _write_run(tmp_path, ratios, [_stop(300, 10.0, 0.4), _stop(600, 30.0, 0.3)])
    later = parts.read(tmp_path, "copy", "lstm", 200, 300, 600)
    assert later.spikes == []
    assert (later.worst_step, later.worst_ratio) == (400, pytest.approx(0.45))
    assert later.worst_over_best_before == pytest.approx(0.45 / 0.4)
    assert (later.best_step, later.after_best) == (500, 1)
    assert spikes.loss_spikes(records.read_curve(tmp_path / "copy", "lstm", 200), BASELINE)[0].step == 300


@pytest.mark.parametrize(
    "bounds, error, message",
    [
        ((300, 700), KeyError, "stopped at step 700"),
        ((200, 300), KeyError, "stopped at step 200"),
        ((600, 300), ValueError, "must end after they start"),
    ],
)
def test_a_part_between_steps_the_run_never_stopped_at_is_a_clear_error(tmp_path, bounds, error, message):
    _write_run(tmp_path, [0.5, 0.4, 0.3, 0.2, 0.1, 0.1], [_stop(300, 10.0, 0.3), _stop(600, 30.0, 0.1)])
    with pytest.raises(error, match=message):
        parts.read(tmp_path, "copy", "lstm", 200, *bounds)


def test_a_part_without_validations_or_curve_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no learning curve for lstm"):
        parts.read(tmp_path, "copy", "lstm", 200, 0, 100)
    _write_run(tmp_path, [0.5, 0.4], [_stop(200, 10.0, 0.4), _stop(900, 12.0, 0.4)])
    with pytest.raises(
        ValueError, match=r"no validation of lstm at T = 200 on copy in the steps \(200, 900\]"
    ):
        parts.read(tmp_path, "copy", "lstm", 200, 200, 900)
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        parts.read(tmp_path, "copy", "rnn", 200, 0, 200)


def test_a_curve_without_a_finite_validation_is_a_clear_error(tmp_path):
    _write_run(tmp_path, [float("nan"), float("inf")], [_stop(100, 1.0, 1.0), _stop(200, 2.0, 1.0)])
    with pytest.raises(ValueError, match="no finite validation of lstm at T = 200 on copy up to step 200"):
        parts.read(tmp_path, "copy", "lstm", 200, 100, 200)
