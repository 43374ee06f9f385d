"""The README's runnable examples run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", [ROOT / "README.md"], ids=lambda p: p.name)
def test_functional_api_example_runs(path, capsys):
    text = path.read_text()
    assert "## Functional API" in text, f"{path.name} lost its Functional API section"
    section = text.split("## Functional API", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the Functional API section has no python example"
    exec(compile(blocks[0], f"{path.name}:Functional API", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    promised = re.findall(r"^print\(.*\)[ \t]+# (\S+(?: \S+)*?)(?: = .*)?$", blocks[0], flags=re.M)
    assert len(promised) >= 4, promised  # every print says what it prints
    for value in promised:
        assert value in printed, f"the example promises {value!r}; it printed:\n{printed}"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert len(commands) >= 1
    first = commands[0]
    assert "pip install" in first and "experiments/lecture.py" in first and "pytest" in first
    ci = (ROOT / ".ci" / "run").read_text()
    test_line = next(line for line in first.splitlines() if "pytest" in line)
    assert test_line.strip() in ci, ".ci/run must run exactly the README's test command"


def test_layout_table_matches_the_folders():
    text = (ROOT / "README.md").read_text()
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    package = ROOT / "rnn_jax"
    folders = sorted(p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__")
    for folder in folders:
        assert f"`rnn_jax/{folder}/`" in layout, f"the README's layout table does not show rnn_jax/{folder}/"
    for row in re.findall(r"`rnn_jax/(\w+)/`: ([^|]+)\|", layout):
        folder, files = row
        for name in re.findall(r"`(\w+\.py)`", files):
            assert (package / folder / name).is_file(), (
                f"README names rnn_jax/{folder}/{name}, which does not exist"
            )
    for name in re.findall(r"`rnn_jax/(\w+\.py)`", layout):
        assert (package / name).is_file(), name


def test_console_commands_are_documented():
    from rnn_jax import cli

    text = (ROOT / "README.md").read_text()
    assert "## Console commands" in text and "rnn-jax --help" in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'rnn-jax = "rnn_jax.cli:entry_point"' in pyproject and cli.COMMANDS


def test_readme_stays_short():
    # The lab notebook lives in docs/ (tests/test_docs.py builds it); the README says what, how, and where.
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move the detail to a page under docs/"
