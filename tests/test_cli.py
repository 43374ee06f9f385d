"""Tests of rnn_jax.cli: the console command, and a user's mistake as one `error:` line with status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnn_jax import cli
from rnn_jax.errors import ConfigError, RunFolderError
from tests.imdb_fixture import tiny_flags, write_tiny_imdb

TINY = [*tiny_flags(), "--no_progress"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_imdb(tmp_path_factory.mktemp("tfds"), num_train=120, num_test=40)


@pytest.fixture(scope="module")
def finished(tiny_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("runs") / "done"
    assert cli.main(["imdb", *TINY, "--data_dir", str(tiny_dir), "--workdir", str(workdir)]) == 0
    return workdir


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "cnn"], "invalid choice 'cnn' for argument '--model'"),
        (["--hidden_size", "big"], "Error parsing --hidden_size"),
        (["--unknown_flag", "1"], "Unrecognized options: --unknown_flag"),
        (["--seq_len", "0"], "seq_len must be a positive int"),
        (["--model", "stacked", "--num_layers", "1"], "needs num_layers >= 2"),
        (["--batch_size", "64"], "only 48 training reviews for batch_size 64"),
    ],
)
def test_bad_flag_values_are_one_line(flags, message, tiny_dir, tmp_path, capsys):
    argv = ["imdb", *TINY, "--data_dir", str(tiny_dir), "--workdir", str(tmp_path / "w"), *flags]
    assert cli.main(argv) == 2
    assert message in _error_line(capsys)


def test_missing_data_is_one_line(tmp_path, capsys):
    assert (
        cli.main(["imdb", *TINY, "--data_dir", str(tmp_path / "none"), "--workdir", str(tmp_path / "w")]) == 2
    )
    assert "looked in" in _error_line(capsys)


def test_run_folder_errors_are_one_line(finished, tiny_dir, tmp_path, capsys):
    base = ["imdb", *TINY, "--data_dir", str(tiny_dir)]
    assert cli.main([*base, "--workdir", str(finished)]) == 2
    assert "already holds a run; pass --resume" in _error_line(capsys)
    assert cli.main([*base, "--workdir", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "cannot resume" in _error_line(capsys)
    assert cli.main([*base, "--workdir", str(finished), "--resume", "--hidden_size", "9"]) == 2
    assert "config differs from its config.json (hidden_size: 8 -> 9)" in _error_line(capsys)


def test_debug_shows_the_traceback(finished, tiny_dir, monkeypatch):
    base = ["imdb", *TINY, "--data_dir", str(tiny_dir), "--workdir", str(finished)]
    with pytest.raises(RunFolderError):
        cli.main([*base, "--debug"])
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ConfigError):
        cli.main([*base, "--model", "cnn"])


def test_unknown_command_and_help(capsys):
    assert cli.main(["train-everything"]) == 2
    assert "unknown command 'train-everything'" in _error_line(capsys)
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)


def test_unexpected_errors_keep_their_traceback():
    def broken(argv):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        cli.guarded(broken, [])


def test_installed_console_command_prints_one_line(tmp_path):
    script = Path(sys.executable).parent / "rnn-jax"
    assert script.exists(), "pip install -e . installs the rnn-jax console command ([project.scripts])"
    result = subprocess.run(
        [str(script), "imdb", "--model", "cnn", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: invalid choice 'cnn'")


def test_no_readable_checkpoint_prints_warnings_and_one_error_no_traceback(finished, tiny_dir, tmp_path):
    import shutil

    workdir = tmp_path / "corrupt"
    shutil.copytree(finished, workdir)
    (workdir / "results.json").unlink()
    for data in workdir.glob("checkpoints/*/state/d/*"):
        data.write_bytes(b"garbage")
    script = Path(sys.executable).parent / "rnn-jax"
    result = subprocess.run(
        [str(script), "imdb", *TINY, "--data_dir", str(tiny_dir), "--workdir", str(workdir), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert all(line.startswith("warning: checkpoint ") for line in lines[:-1]) and len(lines) >= 2, (
        result.stderr
    )
    assert lines[-1].startswith("error: cannot resume") and "no checkpoint can be read" in lines[-1]
