"""Shared pytest setup: deterministic CPU JAX, float32 by default, real-data location."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The tests run tiny shapes, so their time is XLA compiling, not running: LLVM's optimisation level 0
# compiles about twice as fast (measured on 2 cores: tests/test_cells.py and test_memory_tasks.py 28 s of
# CPU against 53 s) and changes results only at float rounding. Your own XLA_FLAGS are kept and
# extended; one that names a level (for example --xla_backend_optimization_level=3) wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TFDS = REPO_ROOT.parent / "shared" / "tfds"


@pytest.fixture(scope="session")
def real_tfds_dir() -> Path:
    """The prepared IMDB copy (TFDS_DATA_DIR, else ../shared/tfds); skips the test when absent."""
    path = Path(os.environ.get("TFDS_DATA_DIR", SHARED_TFDS))
    if not (path / "imdb_reviews").is_dir():
        pytest.skip(f"no prepared imdb_reviews under {path} (set TFDS_DATA_DIR)")
    return path
