"""The README's runnable examples run as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", [ROOT / "README.md"],
                         ids=lambda p: p.name)
def test_functional_api_example_runs(path, capsys):
    text = path.read_text()
    assert "## Functional API" in text, f"{path.name} lost its Functional API section"
    section = text.split("## Functional API", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the Functional API section has no python example"
    exec(compile(blocks[0], f"{path.name}:Functional API", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert "2080" in printed and "(4, 32)" in printed and "(4, 500, 64)" in printed


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert len(commands) >= 1
    first = commands[0]
    assert "pip install" in first and "experiments/lecture.py" in first and "pytest" in first
    ci = (ROOT / ".ci" / "run").read_text()
    test_line = next(line for line in first.splitlines() if "pytest" in line)
    assert test_line.strip() in ci, ".ci/run must run exactly the README's test command"
