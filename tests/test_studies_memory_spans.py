"""A learning curve per span of steps: median, best and worst validation / baseline, checked by hand."""

import math

import pytest

from rnn_jax.data import memory_tasks
from rnn_jax.studies.memory import records, spans


def _curve(values, every=100):
    return [{"step": every * (i + 1), "train_loss": 0.0, "validation": v} for i, v in enumerate(values)]


def test_spans_are_half_open_and_the_last_is_cut_at_stop():
    assert spans.even_bounds(0, 250, 100) == [(0, 100), (100, 200), (200, 250)]
    assert spans.even_bounds(1435200, 1800000, 50000)[-1] == (1785200, 1800000)
    assert spans.even_bounds(5, 6, 10) == [(5, 6)]


def test_median_best_and_worst_per_span_relative_to_the_baseline():
    # steps 100 .. 800; the baseline 2 halves every value
    curve = _curve([8.0, 4.0, 6.0, float("nan"), 2.0, 1.0, float("inf"), 3.0])
    got = spans.summarize(curve, 2.0, [(0, 300), (300, 600), (600, 800), (800, 900)])
    assert got[0] == spans.Span(0, 300, 3, 3.0, 2.0, 4.0)  # steps 100, 200, 300
    assert got[1] == spans.Span(300, 600, 2, 0.75, 0.5, 1.0)  # 400 is NaN, left out: 500, 600
    assert got[2] == spans.Span(600, 800, 1, 1.5, 1.5, 1.5)  # 700 is inf, left out: 800
    empty = got[3]
    assert (empty.start, empty.stop, empty.count) == (800, 900, 0)
    assert all(math.isnan(x) for x in (empty.median, empty.best, empty.worst))
    assert spans.column(got, "median") == "3.000 0.750 1.500 nan"
    assert spans.column(got, "best", digits=1) == "2.0 0.5 1.5 nan"
    assert spans.column(got, "count") == "3 2 1 0"


def test_a_committed_curve_is_read_relative_to_the_tasks_baseline(tmp_path):
    baseline = memory_tasks.copy_baseline(200)
    records.write_curve(tmp_path / "copy", "lstm", 200, _curve([baseline * r for r in (0.5, 0.4, 0.3, 0.2)]))
    got = spans.read(tmp_path, "copy", "lstm", 200, spans.even_bounds(0, 400, 200))
    assert spans.column(got, "median", digits=2) == "0.45 0.25"
    assert [s.count for s in got] == [2, 2]
    records.write_curve(tmp_path / "adding", "irnn", 400, _curve([memory_tasks.ADDING_BASELINE / 10]))
    assert spans.read(tmp_path, "adding", "irnn", 400, [(0, 100)])[0].best == pytest.approx(0.1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: spans.even_bounds(0, 100, 0), "width must be at least 1"),
        (lambda d: spans.even_bounds(100, 100, 10), "must end after they start"),
        (lambda d: spans.summarize(_curve([1.0]), 0.0, [(0, 100)]), "positive finite"),
        (lambda d: spans.summarize(_curve([1.0]), float("nan"), [(0, 100)]), "positive finite"),
        (lambda d: spans.read(d, "copying", "lstm", 200, [(0, 1)]), "unknown task 'copying'"),
        (lambda d: spans.read(d, "copy", "lstm", 200, [(0, 1)]), "no learning curve for lstm"),
        (lambda d: spans.read(d, "copy", "rnn", 200, [(0, 1)]), "unknown cell 'rnn'"),
        (lambda d: spans.column([], "mean"), "unknown field 'mean'"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
