"""Loss spikes: found where the definition puts them, measured against the baseline, reported."""

import math

import pytest

from rnn_jax.studies.memory import records, spikes, train
from rnn_jax.training import runs


def curve(values, every=200):
    return [{"step": every * (i + 1), "train_loss": v, "validation": v} for i, v in enumerate(values)]


def test_spikes_start_above_factor_times_the_best_and_end_back_near_it():
    # best 0.4 by step 600; 2.0 > 4 x 0.4 starts a spike, peak 3.0; 0.45 <= 1.2 x 0.4 ends it;
    # then best 0.3, and a NaN starts a second spike that never ends
    history = curve([1.0, 0.5, 0.4, 2.0, 3.0, 0.6, 0.45, 0.3, float("nan"), 0.5])
    found = spikes.loss_spikes(history, baseline=2.0)
    assert found == [
        spikes.Spike(step=800, best_before=0.2, peak=1.5, recovered_step=1400, last_step=2000),
        spikes.Spike(step=1800, best_before=0.15, peak=math.inf, recovered_step=None, last_step=2000),
    ]
    assert found[0].steps_to_recover == 600 and found[1].steps_to_recover is None


def test_a_value_at_exactly_the_factor_or_a_slow_climb_is_no_spike():
    assert spikes.loss_spikes(curve([1.0, 0.5, 2.0]), baseline=1.0) == []  # 2.0 = 4 x 0.5, not above
    assert spikes.loss_spikes(curve([0.1 * 1.9**i for i in range(6)]), baseline=1.0) == [
        spikes.Spike(step=800, best_before=0.1, peak=0.1 * 1.9**5, recovered_step=None, last_step=1200)
    ]  # each value under 4 x the one before it, but the fourth is above 4 x the best
    assert spikes.loss_spikes([], baseline=1.0) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"baseline": 0.0}, "baseline must be > 0"),
        ({"baseline": 1.0, "factor": 1.1, "recovered": 1.2}, "need 1 <= recovered < factor"),
        ({"baseline": 1.0, "recovered": 0.5}, "need 1 <= recovered < factor"),
    ],
)
def test_impossible_settings_are_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        spikes.loss_spikes(curve([1.0]), **kwargs)


def test_the_report_lists_each_runs_spikes_from_its_latest_record(tmp_path):
    task_dir = tmp_path / "copy"
    baseline = train.baseline("copy", 100)
    record = {"task": "copy", "cell": "lstm", "seq_len": 100, "baseline": baseline}
    runs.append_metrics(task_dir, {**record, "steps": 400})
    runs.append_metrics(task_dir, {**record, "steps": 1000})  # a continuation: one row per spike, not two
    values = [baseline * r for r in (0.5, 0.3, 30.0, 0.33, 0.2)]
    records.write_curve(task_dir, "lstm", 100, curve(values))
    lines = spikes.spike_lines(tmp_path)
    rows = [line for line in lines if line.startswith("| copy")]
    assert rows == ["| copy | LSTM | 100 | 600 | 0.3 | 30 | 200 steps later |"]
    assert spikes.spike_lines(tmp_path / "empty") == []
