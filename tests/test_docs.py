"""The documentation site: it builds offline with warnings as errors, its API reference holds every public
name, its examples run and print what their comments say, and its links and figures point at files that exist."""

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rnn_jax

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not {"_build", "_generated"} & set(p.relative_to(DOCS).parts))
MARKDOWN = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *PAGES]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
RESULTS_PATH = re.compile(r"`(results/[^`\s]+)`")


def _sphinx_or_skip():
    try:
        import myst_parser  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI installs the test extra, which brings the docs extra: missing is a failure there
        pytest.skip('the docs extra is not installed: pip install -e ".[docs]"')


@pytest.fixture(scope="module")
def built_html(tmp_path_factory) -> Path:
    """`sphinx-build -W --keep-going -b html docs` into a temporary folder, with a fresh environment."""
    _sphinx_or_skip()
    out = tmp_path_factory.mktemp("docs")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-E",
        "-q",
        "-b",
        "html",
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / "html"),
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert result.returncode == 0, f"the docs build failed:\n{result.stdout}\n{result.stderr}"
    return out / "html"


def _ids(html_dir: Path) -> set[str]:
    ids = set()
    for page in html_dir.rglob("*.html"):
        ids.update(re.findall(r'id="([^"]+)"', page.read_text()))
    return ids


def _public_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(rnn_jax.__path__, "rnn_jax.")]
    return sorted(name for name in names if not any(part.startswith("_") for part in name.split(".")))


def _public_names(module) -> list[str]:
    """A module's `__all__`, else the functions and classes it defines whose names do not start with `_`."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


@pytest.mark.slow
def test_docs_build_offline_with_warnings_as_errors(built_html):
    conf = (DOCS / "conf.py").read_text()
    assert "sphinx.ext.intersphinx" not in conf, (
        "intersphinx fetches inventories from the internet at build time"
    )
    for page in built_html.rglob("*.html"):
        html = page.read_text()
        remote = re.findall(r'<(?:img|script|link)[^>]+(?:src|href)="(https?:[^"]+)"', html)
        assert not remote, f"{page.name} loads {remote} from the internet"
        for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
            assert (page.parent / src).is_file(), (
                f"{page.name} shows an image that is not in the build: {src}"
            )
    for name in (
        "index",
        "getting_started",
        "functional_api",
        "lecture",
        "imdb",
        "performance",
        "distributed",
        "commands",
        "api/index",
    ):
        assert (built_html / f"{name}.html").is_file(), name


@pytest.mark.slow
def test_the_pages_show_their_figures_and_tables(built_html):
    lecture = (built_html / "lecture.html").read_text()
    assert lecture.count("<img") >= 6 and "parameter_count.png" in lecture and "why_tanh.png" in lecture
    for page in ("lecture", "imdb", "performance", "distributed"):
        assert "<table" in (built_html / f"{page}.html").read_text(), f"{page} lost its tables"
    commands = re.sub(r"<[^>]+>", "", (built_html / "commands.html").read_text())
    from rnn_jax import cli

    for name in cli.COMMANDS:
        assert f"rnn-jax {name}" in commands, f"the commands page does not list rnn-jax {name}"


@pytest.mark.slow
def test_every_public_name_is_in_the_api_reference(built_html):
    ids = _ids(built_html / "api")
    missing = [f"rnn_jax.{name}" for name in rnn_jax.__all__ if f"rnn_jax.{name}" not in ids]
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        if f"module-{module_name}" not in ids:
            missing.append(module_name)
            continue
        for name in _public_names(module):
            obj = getattr(module, name)
            reexported = (
                name in rnn_jax.__all__ and getattr(rnn_jax, name) is obj
            )  # documented as rnn_jax.NAME
            if not reexported and f"{module_name}.{name}" not in ids:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _expected_prints(block: str) -> list[str]:
    """The comments of the block's `print(...)  # value` lines, in order."""
    return [
        line.split("  #", 1)[1].strip()
        for line in block.splitlines()
        if line.strip().startswith("print(") and "  #" in line
    ]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _python_blocks(p.read_text())], ids=lambda p: str(p.relative_to(DOCS))
)
def test_the_examples_run_and_print_what_they_say(page, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples read committed results by their paths from the project root
    namespace = {"__name__": "__docs__"}
    for number, block in enumerate(_python_blocks(page.read_text())):
        exec(compile(block, f"{page.name}, python block {number}", "exec"), namespace)
        printed = capsys.readouterr().out.splitlines()
        expected = _expected_prints(block)
        assert len(printed) == len(expected), (number, printed, expected)
        for got, comment in zip(printed, expected, strict=True):
            # the comment is the printed value, possibly followed by an explanation
            assert comment == got or comment.startswith((got + " ", got + ":")), (number, got, comment)


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_result_paths_exist(path):
    text = path.read_text()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # links in code blocks are not links
    for target in LINK.findall(prose):
        if re.match(r"^(https?|mailto):", target) or target.startswith("#"):
            continue
        file = target.removeprefix("path:").split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.name} links to {target}, which does not exist"
    for result in RESULTS_PATH.findall(text):
        if "..." in result:  # a placeholder (`results/...png`), not a path
            continue
        pattern = re.sub(r"\{[^}]*\}", "*", result).rstrip("/")
        assert list(ROOT.glob(pattern)), f"{path.name} names {result}, which is not in the repository"


def test_the_readme_example_is_the_docs_example():
    # README.md shows the Functional API example of docs/functional_api.md: one text, tested twice
    readme = _python_blocks((ROOT / "README.md").read_text().split("## Functional API", 1)[1])[0]
    assert readme == _python_blocks((DOCS / "functional_api.md").read_text())[0]
