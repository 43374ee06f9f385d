"""Package-level guarantees: the pure core imports only JAX, and `import rnn_jax` pulls in no
TensorFlow, TFDS, matplotlib or torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnn_jax"
CORE_MODULES = ["cells.py", "initializers.py", "unroll.py", "_validation.py"]
CORE_ALLOWED = {"jax", "numpy", "rnn_jax", "__future__", "typing", "collections", "functools", "dataclasses"}


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_imports_only_jax(module):
    extra = _top_level_imports(PACKAGE / module) - CORE_ALLOWED
    assert not extra, f"rnn_jax/{module} imports {sorted(extra)}; the pure core may import only JAX"


def test_import_rnn_jax_pulls_no_heavy_dependency():
    code = ("import sys, rnn_jax; heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'matplotlib', "
            "'torch', 'orbax') if m in sys.modules]; print(heavy); assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_python_loop_over_time_in_the_core():
    # The scan is the only loop over time; `for` loops in the core run over gates or layers.
    for module in CORE_MODULES:
        for node in ast.walk(ast.parse((PACKAGE / module).read_text())):
            if isinstance(node, ast.For):
                source = ast.unparse(node.iter)
                assert "shape" not in source and "seq_len" not in source, f"{module}: loop over {source}"
