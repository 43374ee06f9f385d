"""rnn_jax.studies.performance.benchmark and unroll_parts: their smoke settings run and write their files (no timing
is asserted: benchmarks are not tests)."""

import json

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.performance import benchmark, gemm_speed, layer_speed, unroll_parts


def test_benchmark_smoke_writes_its_files(tmp_path):
    benchmark.main(["--smoke", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["rows"] and "loadavg" in results["machine"]
    for name in ("config.json", "results.json", "results.md", "benchmark.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| config |" in (tmp_path / "results.md").read_text()


def test_unroll_parts_times_every_part(tmp_path):
    results = unroll_parts.main(["--shapes", "lecture", "--repeats", "2", "--out", str(tmp_path)])
    assert len(results["rows"]) == 6
    assert all(r["rounds"] == 2 and 0 < r["min_ms"] <= r["median_ms"] for r in results["rows"])
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == results["rows"]
    assert "| lecture (32,500,32,32) | backward scan |" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="unknown shape 'huge'") as caught:
        unroll_parts.main(["--shapes", "huge", "--out", str(tmp_path / "bad")])
    assert isinstance(caught.value, ConfigError)  # a user's mistake: one line on the command line
    assert not (tmp_path / "bad").exists()  # rejected before any timing or file


def test_benchmark_rejects_a_bad_config(tmp_path):
    with pytest.raises(ValueError, match="--config must be four positive integers B,T,F,H") as caught:
        benchmark.parse_shape("32,500,32")
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(ConfigError, match=r"unknown shape names \['huge'\]"):
        benchmark.main(["--configs", "lecture,huge", "--out", str(tmp_path)])


def test_python_loop_len_zero_skips_the_loops_and_a_negative_one_is_refused(tmp_path):
    results = benchmark.main(
        ["--smoke", "--python_loop_len", "0", "--compile_lengths", "4", "--out", str(tmp_path)]
    )
    assert results["python_loop"] == [] and any("skipped" in note for note in results["notes"])
    with pytest.raises(ConfigError, match="--python_loop_len must be >= 0"):
        benchmark.main(["--smoke", "--python_loop_len", "-1", "--out", str(tmp_path / "bad")])


def test_gemm_speed_smoke_times_every_library_it_has(tmp_path):
    results = gemm_speed.main(["--smoke", "--out", str(tmp_path)])
    row = results["rows"][0]
    assert row["shape"] == "smoke" and all(row[c] > 0 for c in ("xla_chain_us", "xla_call_us", "numpy_us"))
    assert results["machine"]["cpu"] and "| smoke (4, 12, 8, 16) |" in (tmp_path / "results.md").read_text()
    with pytest.raises(ConfigError, match=r"unknown shape names \['huge'\]"):
        gemm_speed.main(["--shapes", "huge", "--out", str(tmp_path / "bad")])


def test_layer_speed_smoke_times_both_frameworks(tmp_path):
    results = layer_speed.main(["--smoke", "--out", str(tmp_path)])
    assert {(r["framework"], r["mode"]) for r in results["rows"]} == {
        ("nnx", "fwd"),
        ("nnx", "fwd+bwd"),
        ("linen", "fwd"),
        ("linen", "fwd+bwd"),
    }
    assert all(r["ours_ms"] > 0 and r["flax_ms"] > 0 for r in results["rows"])
    assert "| smoke (4, 12, 8, 16) | nnx | fwd+bwd |" in (tmp_path / "results.md").read_text()
