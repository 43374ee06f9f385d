"""Shared pytest setup: deterministic CPU JAX, float32 by default, real-data location."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _fast_compile_flags() -> str:
    """XLA:CPU flags that make the tests' many tiny compiles cheap (their time is compiling, not running).

    - LLVM's optimisation level 0: about twice as fast to compile (tests/test_cells.py and
      test_memory_tasks.py: 28 s of CPU against 53 s).
    - The legacy elemental emitters instead of the MLIR fusion emitters, and one LLVM module per
      program: four of the slowest test files take about half the time they take at level 0 alone
      (AMD EPYC, one core; the command and figures are in CONTRIBUTING.md).

    All three change results only at float rounding. The two newer flags are unknown to older jaxlibs,
    and XLA aborts on an unknown flag, so they are kept only when a throwaway interpreter accepts them.
    """
    flags = "--xla_backend_optimization_level=0"
    newer = "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1"
    probe = [sys.executable, "-c", "import jax.numpy as jnp; jnp.ones(2).block_until_ready()"]
    env = {**os.environ, "XLA_FLAGS": newer, "JAX_PLATFORMS": "cpu"}
    try:
        accepted = subprocess.run(probe, env=env, capture_output=True, timeout=120).returncode == 0
    except subprocess.TimeoutExpired:
        accepted = False
    return f"{flags} {newer}" if accepted else flags


# Your own XLA_FLAGS are kept and extended; set any flag that names an optimisation level (for example
# --xla_backend_optimization_level=3) to keep XLA's defaults. The pytest-xdist workers and the tests'
# subprocesses inherit the flags, so only the first process probes.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_fast_compile_flags()}".strip()

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TFDS = REPO_ROOT.parent / "shared" / "tfds"


@pytest.fixture(scope="session")
def real_tfds_dir() -> Path:
    """The prepared IMDB copy (TFDS_DATA_DIR, else ../shared/tfds); skips the test when absent."""
    path = Path(os.environ.get("TFDS_DATA_DIR", SHARED_TFDS))
    if not (path / "imdb_reviews").is_dir():
        pytest.skip(f"no prepared imdb_reviews under {path} (set TFDS_DATA_DIR)")
    return path
