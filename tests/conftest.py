"""Shared pytest setup: deterministic CPU JAX, float32 by default, real-data location."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TFDS = REPO_ROOT.parent / "shared" / "tfds"


@pytest.fixture(scope="session")
def real_tfds_dir() -> Path:
    """The prepared IMDB copy (TFDS_DATA_DIR, else ../shared/tfds); skips the test when absent."""
    path = Path(os.environ.get("TFDS_DATA_DIR", SHARED_TFDS))
    if not (path / "imdb_reviews").is_dir():
        pytest.skip(f"no prepared imdb_reviews under {path} (set TFDS_DATA_DIR)")
    return path
