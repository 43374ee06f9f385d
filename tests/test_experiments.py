"""experiments/*.py are thin (a docstring, one import of a study's `main`, `guarded`), and every study's
console command (`rnn-jax NAME`) answers --help."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_jax import cli

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
# script -> the study module whose main it runs
SCRIPTS = {
    "lecture": "lecture.report",
    "benchmark_unroll": "performance.benchmark",
    "unroll_parts": "performance.unroll_parts",
    "gemm_speed": "performance.gemm_speed",
    "layer_speed": "performance.layer_speed",
    "long_memory": "lecture.long_memory",
    "vanishing_gradients": "lecture.vanishing_gradients",
    "why_tanh": "lecture.why_tanh",
    "parameter_count": "lecture.parameter_count",
    "distributed_throughput": "performance.distributed_throughput",
    "distributed_compare": "performance.distributed_compare",
    "imdb_tokenizer_speed": "sentiment.tokenizer_speed",
    "lm_speed": "next_word.lm_speed",
    "classifier_speed": "sentiment.classifier_speed",
    "lm_table": "next_word.lm_table",
    "label_curve": "sentiment.label_curve",
    "memory": "memory.sweep",
}
STUDY_COMMANDS = [name for name in cli.COMMANDS if name not in ("imdb", "imdb-table")]


@pytest.mark.parametrize("script, study", SCRIPTS.items())
def test_script_is_thin(script, study):
    source = (EXPERIMENTS / f"{script}.py").read_text()
    assert len(source.splitlines()) < 60, f"experiments/{script}.py has {len(source.splitlines())} lines"
    tree = ast.parse(source)
    assert ast.get_docstring(tree) and f"python experiments/{script}.py" in ast.get_docstring(tree)
    assert not [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    imports = {
        (node.module, alias.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert {(f"rnn_jax.studies.{study}", "main"), ("rnn_jax.cli", "guarded")} <= imports


@pytest.mark.parametrize("command", STUDY_COMMANDS)
def test_command_help_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code in (0, None)
    assert "--" in capsys.readouterr().out  # the flags are listed


def test_every_script_is_a_console_command():
    modules = {module.removeprefix("rnn_jax.studies.") for module, _ in cli.COMMANDS.values()}
    assert set(SCRIPTS.values()) <= modules


def test_script_runs_and_a_bad_flag_is_one_error_line(tmp_path):
    script = str(EXPERIMENTS / "why_tanh.py")
    result = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "--overflow_steps" in result.stdout, result.stderr
    result = subprocess.run(
        [sys.executable, script, "--radii", "0.9,x", "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1] == "error: radii must be comma-separated numbers, got '0.9,x'"
    )
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_the_gpu_state256_script_runs_its_chains_on_a_tiny_portable_copy(tmp_path):
    """experiments/gpu_state256.sh (issue 21, item 3 on a GPU) in SMOKE mode, the LSTM's two chains:
    language model -> classifier from it, and the control, read from an `rnn-jax export-imdb` copy."""
    from rnn_jax.studies.sentiment import export_imdb
    from tests.lm_fixture import write_tiny_lm_imdb

    write_tiny_lm_imdb(tmp_path / "tfds", num_train=60, num_test=40, num_unsupervised=40)
    export_imdb.export(export_imdb.ExportConfig(data_dir=str(tmp_path / "tfds"), out=str(tmp_path / "copy")))
    env = {
        **os.environ,
        "SMOKE": "1",
        "MODELS": "lstm",
        "DATA_DIR": str(tmp_path / "copy"),
        "RUNS_DIR": str(tmp_path / "runs"),
        "BUDGET_S": "400",
    }
    result = subprocess.run(
        ["bash", str(EXPERIMENTS / "gpu_state256.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = (tmp_path / "out" / "summary.md").read_text().splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["lm_lstm", "lstm_control", "lstm_start"]
    assert all(row.split("|")[4].strip() == "0" for row in rows), rows  # every run ended normally
    assert "test perplexity" in rows[0] and all("%" in row for row in rows[1:])
    assert {"logs.tar", "results.tar", "lm_lstm.tar"} <= {p.name for p in (tmp_path / "out").iterdir()}
