"""The lecture's studies (rnn_jax.studies, run by experiments/*.py): each smoke setting runs and writes
its files; the numbers are right."""

import json
from pathlib import Path

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.lecture import long_memory, parameter_count, vanishing_gradients, why_tanh
from rnn_jax.studies.lecture import report as lecture
from rnn_jax.training import runs


def _files(workdir: Path, *names: str) -> None:
    for name in ("config.json", "results.json", *names):
        assert (workdir / name).is_file() and (workdir / name).stat().st_size > 0, name


def test_why_tanh_numbers_match_the_lecture(tmp_path, capsys):
    results = why_tanh.main(["--smoke", "--workdir", str(tmp_path)])
    _files(tmp_path, "metrics.jsonl", "why_tanh.png")
    vanish, explode = results["radii"]["0.9"], results["radii"]["1.2"]
    assert vanish["theory"] == pytest.approx(2.656e-5, rel=1e-3)
    assert explode["theory"] == pytest.approx(82_817_974.52, rel=1e-10)
    # float64 with a normal matrix: exact to rounding; float32: to float32 rounding over 100 steps.
    assert vanish["float64_ratio"] == pytest.approx(0.9**100, rel=1e-12)
    assert explode["float64_ratio"] == pytest.approx(82_817_974.52, rel=1e-10)
    assert vanish["float32_ratio"] == pytest.approx(0.9**100, rel=1e-4)
    assert explode["float32_ratio"] == pytest.approx(1.2**100, rel=1e-4)
    assert explode["eigenvalue_modulus_min"] == pytest.approx(1.2, rel=1e-12)
    # float32 overflows near 1.2^t ~ 3.4e38, t ~ 487; tanh never does.
    assert 450 < explode["float32_first_inf_step"] <= explode["float32_first_nan_step"] < 600
    assert vanish["float32_first_inf_step"] is None
    assert explode["tanh_all_finite"] and explode["tanh_max_abs_state"] < 1.0
    curves = runs.read_metrics(tmp_path)
    assert {(c["radius"], c["activation"]) for c in curves} == {
        (0.9, "identity"),
        (0.9, "tanh"),
        (1.2, "identity"),
        (1.2, "tanh"),
    }
    assert json.loads((tmp_path / "config.json").read_text())["hidden_size"] == why_tanh.SMOKE["hidden_size"]
    assert "82817974.52" in capsys.readouterr().out


def test_parameter_count_matches_the_formula(tmp_path):
    results = parameter_count.main(["--workdir", str(tmp_path)])  # the lecture's sizes: cheap
    _files(tmp_path, "parameter_count.png")
    assert results["lecture"]["formula_A"] == 2_048 and results["lecture"]["built"] == 2_080
    assert {c["built"] for c in results["cells"].values()} == {2_080, 8_320, 6_240}
    assert all(c["built"] == c["formula"] for c in results["cells"].values())
    simple = results["imdb_models"]["simple_rnn"]
    assert simple["parts"]["rnn"] == 2_080 and simple["parts"]["embedding"] == 10_002 * 32
    assert simple["total"] == 10_002 * 32 + 2_080 + 33


def test_vanishing_gradients_says_when_there_is_no_imdb_run(tmp_path):
    config = vanishing_gradients.VanishingGradientsConfig(workdir=str(tmp_path))
    curve, note = vanishing_gradients._imdb_curve(str(tmp_path / "no_such_run"), "simple_rnn", config, None)
    assert curve is None and "no finished IMDB simple_rnn run at" in note and "skipped" in note


@pytest.mark.parametrize(
    "script, argv, error, match",
    [
        (why_tanh, ["--radii", "0.9,x"], ValueError, "radii must be comma-separated numbers"),
        (why_tanh, ["--radii", "-1"], ValueError, "radii must be positive"),
        (why_tanh, ["--overflow_steps", "10"], ValueError, r"overflow_steps \(10\) must be >= num_steps"),
        (vanishing_gradients, ["--seq_len", "1"], ValueError, "seq_len must be >= 2"),
        (long_memory, ["--cells", "simple_rnn,transformer"], ValueError, "unknown cell 'transformer'"),
        (long_memory, ["--gaps", "0,2"], ValueError, "gaps must be >= 1"),
        (lecture, ["--quick", "--smoke"], ValueError, "choose one of --quick and --smoke"),
    ],
)
def test_script_errors(tmp_path, script, argv, error, match):
    with pytest.raises(error, match=match) as caught:
        script.main([*argv, "--workdir", str(tmp_path)])
    assert isinstance(caught.value, ConfigError)  # a user's mistake: `rnn-jax` prints one line for it


def test_lecture_smoke_writes_one_report_with_every_stage(tmp_path):
    from tests.lm_fixture import write_tiny_lm_imdb

    data_dir = tmp_path / "tfds"  # the three splits: the classifiers' and the language model's
    write_tiny_lm_imdb(data_dir, num_train=120, num_test=60)
    workdir = tmp_path / "lecture"
    argv = ["--smoke", "--data_dir", str(data_dir), "--workdir", str(workdir)]
    results = lecture.main(argv)
    _files(workdir, "metrics.jsonl", "report.md")
    stages = [r["stage"] for r in runs.read_metrics(workdir)]
    assert stages == [
        "parameter_count",
        "why_tanh",
        "imdb_simple_rnn",
        "vanishing_gradients",
        "long_memory",
        "imdb_lstm",
        "next_word",
    ]
    next_word = results["stages"]["next_word"]["models"]
    assert set(next_word) == {"simple_rnn", "kneser_ney"} and next_word["simple_rnn"]["test_perplexity"] > 1
    report = (workdir / "report.md").read_text()
    assert "python experiments/lecture.py --smoke --data_dir" in report
    for figure in (
        "parameter_count/parameter_count.png",
        "why_tanh/why_tanh.png",
        "imdb_simple_rnn/curves.png",
        "vanishing_gradients/vanishing_gradients.png",
        "long_memory/long_memory.png",
        "imdb_lstm/curves.png",
        "next_word/simple_rnn/context_usage.png",
    ):
        assert f"]({figure})" in report and (workdir / figure).is_file(), figure
    assert "Simple RNN trained on IMDB" in report  # the trained model's Jacobians were computed
    # The vanishing-gradient and long-memory scripts ran their smoke settings (the same `run` as `main`).
    vanishing = results["stages"]["vanishing_gradients"]
    assert {"simple_rnn_radius_0.9", "lstm", "gru", "imdb_simple_rnn"} <= set(vanishing["models"])
    assert vanishing["models"]["simple_rnn_radius_0.9"]["ratio_100_to_2"] < 1e-6  # dh_100/dx_1 ~ 0
    curves = runs.read_metrics(workdir / "vanishing_gradients")
    assert len(curves[0]["frobenius"]) == vanishing_gradients.SMOKE["seq_len"]
    memory = results["stages"]["long_memory"]
    assert set(memory["accuracy"]["simple_rnn"]) == {"1", "3"} and memory["chance"] == 1 / 8
    assert len(runs.read_metrics(workdir / "long_memory")) == 2
    for stage, figure in (
        ("vanishing_gradients", "vanishing_gradients.png"),
        ("long_memory", "long_memory.png"),
        ("why_tanh", "why_tanh.png"),
        ("parameter_count", "parameter_count.png"),
    ):
        _files(workdir / stage, figure)
    assert results["summary"]["simple_rnn_params_32_32"] == 12  # smoke sizes h = 2, x = 3
    assert 0.0 <= results["summary"]["imdb_lstm_test_accuracy"] <= 1.0
    # A second run reuses the finished IMDB run folder instead of training again.
    path, reused = lecture._train_imdb("lstm", "smoke", str(data_dir), workdir / "imdb_lstm", None, 0, False)
    assert path == workdir / "imdb_lstm"
    assert reused["test_accuracy"] == results["stages"]["imdb_lstm"]["test_accuracy"]


def test_lecture_skips_imdb_with_a_clear_message(tmp_path):
    config = lecture.LectureConfig(data_dir=str(tmp_path / "empty"))
    data_dir, note = lecture._resolve_data_dir(config)
    assert data_dir is None and f"IMDB is not prepared under {tmp_path / 'empty'}" in note
    assert lecture._imdb_lines({"skipped": note}, tmp_path, "lstm")[0] == f"**Skipped**: {note}"
