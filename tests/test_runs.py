"""Tests for rnn_jax.runs: the files every run writes."""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.training import runs


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    name: str = "x"


def test_config_metrics_results_round_trip(tmp_path):
    runs.save_config(tmp_path, Config(3))
    assert runs.load_json(tmp_path / "config.json") == {"seed": 3, "name": "x"}
    runs.append_metrics(tmp_path, {"epoch": 1, "loss": jnp.float32(0.5)})
    runs.append_metrics(tmp_path, {"epoch": 2, "loss": np.float64(float("nan"))})
    assert runs.read_metrics(tmp_path) == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": "nan"}]
    runs.save_results(tmp_path, {"accuracy": np.float32(0.25), "shape": (2, 3)})
    assert json.loads((tmp_path / "results.json").read_text()) == {"accuracy": 0.25, "shape": [2, 3]}
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_and_corrupt_files(tmp_path):
    assert runs.read_metrics(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="results.json does not exist"):
        runs.load_json(tmp_path / "results.json")
    (tmp_path / "results.json").write_text('{"accuracy": 0.')
    with pytest.raises(ValueError, match="results.json is not valid JSON .*corrupt"):
        runs.load_json(tmp_path / "results.json")
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "lo')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2 is not valid JSON"):
        runs.read_metrics(tmp_path)


def test_writers_sharing_a_workdir_never_collide(tmp_path):
    """Two sweeps started together both save config.json: each write is whole, none fails, no temp is left."""
    from concurrent.futures import ThreadPoolExecutor

    def save_many(writer):
        for i in range(50):
            runs.save_config(tmp_path, {"writer": writer, "i": i, "pad": "x" * 10_000})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(save_many, range(4)))  # re-raises a writer's error
    config = runs.load_json(tmp_path / runs.CONFIG_FILE)
    assert config["i"] == 49 and config["writer"] in range(4)
    assert [p.name for p in tmp_path.iterdir()] == [runs.CONFIG_FILE]
    assert (tmp_path / runs.CONFIG_FILE).stat().st_mode & 0o044  # readable by others, as write_text made it
