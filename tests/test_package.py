"""Package-level guarantees: the folders are layers (each imports only the ones below it), the pure
core imports only JAX, and `import rnn_jax` pulls in no TensorFlow, TFDS, matplotlib or torch."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_jax import cli

PACKAGE = Path(__file__).resolve().parents[1] / "rnn_jax"
CORE_MODULES = sorted(p.name for p in (PACKAGE / "core").glob("*.py"))
CORE_ALLOWED = {
    "jax",
    "numpy",
    "rnn_jax",
    "__future__",
    "typing",
    "collections",
    "functools",
    "dataclasses",
    "math",
    "warnings",
}
# The floors, bottom first: a module may import rnn_jax modules of its own floor's folder or of lower floors.
# nnx.py and linen.py: the Flax recurrent layers, on the models' floor (they import only the core).
FLOORS = {
    "errors": 0,
    "core": 0,
    "data": 1,
    "nnx": 2,
    "linen": 2,
    "models": 2,
    "training": 3,
    "studies": 4,
    "cli": 5,
}
# Imports within one floor, folder -> the folders it may import: the models run the Flax layers.
SAME_FLOOR = {"models": {"nnx", "linen"}}
FLAX_LAYERS = ("nnx.py", "linen.py")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "rnn_jax":  # `from rnn_jax import x`: x is a public name or a folder
                names.extend(f"rnn_jax.{alias.name}" for alias in node.names)
    return names


def _floor_of(module: str) -> int | None:
    """The floor of an rnn_jax module name (None: the package's public names, the core's re-exports)."""
    parts = module.split(".")
    if parts[0] != "rnn_jax" or len(parts) == 1:
        return None
    return FLOORS.get(parts[1].removesuffix(".py"), FLOORS["core"])


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_imports_only_jax(module):
    extra = {name.split(".")[0] for name in _imports(PACKAGE / "core" / module)} - CORE_ALLOWED
    assert not extra, f"rnn_jax/core/{module} imports {sorted(extra)}; the pure core may import only JAX"


def test_every_module_lives_on_a_floor():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in FLOORS and p.name != "__init__.py"]
    folders = [p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert not loose, f"modules outside the layer folders: {loose}"
    assert set(folders) <= set(FLOORS), f"folders without a floor: {set(folders) - set(FLOORS)}"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_imports_point_downward(path):
    relative = path.relative_to(PACKAGE)
    own = FLOORS[relative.parts[0].removesuffix(".py")]
    folder = relative.parts[0]
    for name in _imports(path):
        floor = _floor_of(name)
        if floor is None or name.split(".")[1] == folder:
            continue
        if floor == own and name.split(".")[1] in SAME_FLOOR.get(folder, ()):
            continue
        assert floor < own, (
            f"rnn_jax/{relative} (floor {own}) imports {name} (floor {floor}): arrows point down"
        )


@pytest.mark.parametrize("module", FLAX_LAYERS)
def test_the_flax_layers_import_only_the_core_and_errors(module):
    ours = {name for name in _imports(PACKAGE / module) if name.split(".")[0] == "rnn_jax"}
    beyond = {
        name for name in ours if name.split(".")[:2] not in (["rnn_jax", "core"], ["rnn_jax", "errors"])
    }
    assert not beyond, f"rnn_jax/{module} imports {sorted(beyond)}; the Flax layers sit on the pure core only"


def test_import_rnn_jax_pulls_no_heavy_dependency():
    code = (
        "import sys, rnn_jax; heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'matplotlib', "
        "'torch', 'orbax', 'flax', 'optax') if m in sys.modules]; print(heavy); assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_python_loop_over_time_in_the_core():
    # The scan is the only loop over time; `for` loops in the core run over gates or layers.
    for module in ("cells.py", "initializers.py", "unroll.py", "_validation.py"):
        for node in ast.walk(ast.parse((PACKAGE / "core" / module).read_text())):
            if isinstance(node, ast.For):
                source = ast.unparse(node.iter)
                assert "shape" not in source and "seq_len" not in source, f"{module}: loop over {source}"


# rnn_jax/studies/ by topic: a topic may use the topics listed before it (the next-word model is the
# sentiment classifiers' pretrained start; the lecture's report runs both; the benchmarks time the IMDB
# training step), never one after it, so the topics form no circle. command.py and plots.py are shared.
STUDY_TOPICS = ["next_word", "sentiment", "lecture", "memory", "performance"]


def _topics_imported(path: Path) -> set[str]:
    """The study topics a module of `rnn_jax/studies/<topic>/` imports, in any spelling: `rnn_jax.studies.
    lecture.report`, `from rnn_jax.studies import lecture`, `from ..lecture import report`, `from . import x`."""
    topics = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # a relative import, resolved against rnn_jax.studies.<topic>.<module>
            base = ["rnn_jax", "studies", path.parent.name][: 3 - (node.level - 1)] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            names = [".".join(module + [alias.name]) for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["rnn_jax", "studies"] and len(parts) > 2 and parts[2] in STUDY_TOPICS:
                topics.add(parts[2])
    return topics


def test_studies_are_grouped_by_topic():
    studies = PACKAGE / "studies"
    loose = sorted(
        p.name for p in studies.glob("*.py") if p.name not in ("__init__.py", "command.py", "plots.py")
    )
    assert not loose, f"study modules outside a topic folder: {loose}"
    folders = sorted(p.name for p in studies.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(STUDY_TOPICS)
    for topic in STUDY_TOPICS:
        docstring = ast.get_docstring(ast.parse((studies / topic / "__init__.py").read_text()))
        assert docstring, f"studies/{topic}/__init__.py has no docstring saying its topic"
        unnamed = [p.stem for p in (studies / topic).glob("*.py") if p.name != "__init__.py"]
        unnamed = [m for m in unnamed if f"`{m}`" not in docstring and topic != "memory"]
        assert not unnamed, f"studies/{topic}/__init__.py's docstring does not name {unnamed}"


@pytest.mark.parametrize("topic", STUDY_TOPICS)
def test_study_topics_import_only_earlier_topics(topic):
    allowed = set(STUDY_TOPICS[: STUDY_TOPICS.index(topic) + 1])
    for path in (PACKAGE / "studies" / topic).glob("*.py"):
        later = _topics_imported(path) - allowed
        assert not later, f"studies/{topic}/{path.name} imports the later topics {sorted(later)}"


def test_study_topics_import_each_other_in_no_circle():
    graph = {
        topic: set().union(*(_topics_imported(p) for p in (PACKAGE / "studies" / topic).glob("*.py")))
        - {topic}
        for topic in STUDY_TOPICS
    }
    done: set[str] = set()

    def visit(topic: str, path: tuple[str, ...]) -> None:
        assert topic not in path, (
            f"the study topics import each other in a circle: {' -> '.join(path + (topic,))}"
        )
        if topic not in done:
            for other in graph[topic]:
                visit(other, path + (topic,))
            done.add(topic)

    for topic in STUDY_TOPICS:
        visit(topic, ())


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_console_command_imports_and_has_main(command):
    module_name = cli.COMMANDS[command][0]
    parts = module_name.split(".")
    assert parts[:2] == ["rnn_jax", "studies"] and parts[2] in STUDY_TOPICS and len(parts) == 4, module_name
    module = importlib.import_module(module_name)
    assert callable(getattr(module, "main", None)), f"{module_name} (rnn-jax {command}) has no main(argv)"
