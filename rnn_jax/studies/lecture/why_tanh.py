"""Why tanh: with zero inputs and no activation h_100 = A^100 h_0 vanishes (0.9^100) or explodes (1.2^100).

    python experiments/why_tanh.py --workdir runs/why_tanh
    python experiments/why_tanh.py --smoke --workdir /tmp/why_tanh      # the tests' tiny setting
    rnn-jax why-tanh --help

The recurrent matrix is `radius * Q` with Q orthogonal (`rnn_jax.core.analysis.scaled_orthogonal`): a
normal matrix with every eigenvalue of modulus `radius`, so ||A^t h_0|| / ||h_0|| = radius^t exactly
(checked in float64 to ~1e-13, and in float32). The float32 run continues until the state overflows
to inf / NaN; the same runs with tanh stay inside (-1, 1). Writes config.json, metrics.jsonl (one
curve per line), results.json and why_tanh.png into --workdir.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core import analysis
from rnn_jax.errors import ConfigError
from rnn_jax.studies import plots as analysis_plots
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.training import runs


@dataclasses.dataclass(frozen=True)
class WhyTanhConfig:
    """Zero inputs, h_t = act(A_h h_{t-1}) with spectral radius 0.9 and 1.2, with and without tanh."""

    workdir: str = flag("runs/why_tanh", "output folder")
    hidden_size: int = flag(32, "H, size of the state (the lecture's 32)")
    radii: str = flag("0.9,1.2", "comma-separated spectral radii of the recurrent matrix")
    num_steps: int = flag(100, "the lecture's horizon: compare ||h_t|| / ||h_0|| with radius^t here")
    overflow_steps: int = flag(1000, "steps of the float32 run that looks for the overflow to inf / NaN")
    seed: int = flag(0, "seed of the orthogonal matrix and of h_0")


SMOKE = {"hidden_size": 4, "num_steps": 100, "overflow_steps": 600}


def _parse_radii(text: str) -> list[float]:
    try:
        radii = [float(r) for r in text.split(",") if r.strip()]
    except ValueError as err:
        raise ConfigError(f"radii must be comma-separated numbers, got {text!r}") from err
    if not radii or min(radii) <= 0:
        raise ConfigError(f"radii must be positive numbers, got {text!r}")
    return radii


def _first(mask: np.ndarray) -> int | None:
    """1-based step of the first True, None when there is none."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) + 1 if hits.size else None


def _trajectory(A_h, h0, num_steps, activation):
    """||h_t|| / ||h_0|| for t = 0..num_steps (float64 on the host), and the states."""
    hidden = A_h.shape[0]
    params = {
        "A": jnp.concatenate([A_h, jnp.zeros((hidden, 1), A_h.dtype)], axis=1),
        "b": jnp.zeros((hidden,), A_h.dtype),
    }
    hs = analysis.zero_input_states(params, h0, num_steps, activation=activation)
    hs64 = np.asarray(hs, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.sum(hs64**2, axis=-1))  # float64 on the host: no early overflow
    ratio = np.concatenate([[1.0], norms / float(np.linalg.norm(np.asarray(h0, np.float64)))])
    return ratio, hs64


def _float64_record(key_matrix, key_h0, config: WhyTanhConfig, radius: float) -> tuple[dict, jax.Array]:
    """The exact check, on the matrix built in float64: ||A^n h_0|| / ||h_0|| against radius^n.

    Returns the record's float64 entries and h_0 (unit norm, float64).
    """
    theory = radius**config.num_steps
    with jax.enable_x64(True):
        A64 = analysis.scaled_orthogonal(key_matrix, config.hidden_size, radius, jnp.float64)
        h0_64 = jax.random.normal(key_h0, (config.hidden_size,), jnp.float64)
        h0_64 = h0_64 / jnp.linalg.norm(h0_64)
        ratio64, _ = _trajectory(A64, h0_64, config.num_steps, "identity")
        A64_host = np.asarray(A64)
    eigenvalues = np.abs(np.linalg.eigvals(A64_host))
    return {
        "float64_ratio": float(ratio64[config.num_steps]),
        "float64_relative_error": float(abs(ratio64[config.num_steps] / theory - 1)),
        "eigenvalue_modulus_min": float(eigenvalues.min()),
        "eigenvalue_modulus_max": float(eigenvalues.max()),
        "normality_defect": float(np.abs(A64_host @ A64_host.T - A64_host.T @ A64_host).max()),
    }, h0_64


def _float32_record(key_matrix, h0_64, config: WhyTanhConfig, radius: float):
    """float32, the dtype a model trains in, run on until it overflows; and the same run with tanh.

    Returns the record's float32 and tanh entries, and the two norm-ratio curves.
    """
    theory = radius**config.num_steps
    A32 = analysis.scaled_orthogonal(key_matrix, config.hidden_size, radius, jnp.float32)
    h0_32 = jnp.asarray(h0_64, jnp.float32)
    ratio32, hs32 = _trajectory(A32, h0_32, config.overflow_steps, "identity")
    tanh_ratio, tanh_hs = _trajectory(A32, h0_32, config.overflow_steps, "tanh")
    return (
        {
            "float32_ratio": float(ratio32[config.num_steps]),
            "float32_relative_error": float(abs(ratio32[config.num_steps] / theory - 1)),
            "float32_first_inf_step": _first(np.isinf(hs32).any(axis=-1)),
            "float32_first_nan_step": _first(np.isnan(hs32).any(axis=-1)),
            "float32_first_zero_step": _first((hs32 == 0).all(axis=-1)),  # underflow: h_t == 0 exactly
            "float32_max": float(np.finfo(np.float32).max),
            "tanh_ratio": float(tanh_ratio[config.num_steps]),
            "tanh_max_abs_state": float(np.abs(tanh_hs).max()),
            "tanh_all_finite": bool(np.isfinite(tanh_hs).all()),
        },
        ratio32,
        tanh_ratio,
    )


def run(config: WhyTanhConfig) -> dict:
    """Runs the demonstration and writes the run folder; returns the results dict."""
    radii = _parse_radii(config.radii)
    if config.overflow_steps < config.num_steps:
        raise ConfigError(
            f"overflow_steps ({config.overflow_steps}) must be >= num_steps ({config.num_steps})"
        )
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    key_matrix, key_h0 = jax.random.split(jax.random.key(config.seed))
    results = {"num_steps": config.num_steps, "hidden_size": config.hidden_size, "radii": {}}
    for radius in radii:
        record = {"theory": radius**config.num_steps}
        float64, h0_64 = _float64_record(key_matrix, key_h0, config, radius)
        float32, ratio32, tanh_ratio = _float32_record(key_matrix, h0_64, config, radius)
        results["radii"][str(radius)] = {**record, **float64, **float32}
        for activation, ratio in (("identity", ratio32), ("tanh", tanh_ratio)):
            runs.append_metrics(
                workdir,
                {
                    "radius": radius,
                    "activation": activation,
                    "dtype": "float32",
                    "norm_ratio": [float(r) for r in ratio],
                },
            )
    results["lecture_check"] = {
        "0.9^100": 0.9**100,
        "1.2^100": 1.2**100,
        "lecture_says": {"0.9^100": 2.66e-5, "1.2^100": 82_817_974.52},
    }
    runs.save_results(workdir, results)
    analysis_plots.plot_why_tanh(workdir, workdir / "why_tanh.png")
    return results


def summary_lines(results: dict) -> list[str]:
    """The numbers as Markdown table rows (used by the script and the lecture report)."""
    n = results["num_steps"]
    lines = [
        f"| radius | radius^{n} | float64 ‖h_{n}‖/‖h_0‖ (rel. error) | float32 ‖h_{n}‖/‖h_0‖ "
        f"(rel. error) | float32: first step with inf / NaN / h = 0 "
        f"| with tanh: ‖h_{n}‖/‖h_0‖, max abs(h) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for radius, r in results["radii"].items():
        lines.append(
            f"| {radius} | {r['theory']:.10g} "
            f"| {r['float64_ratio']:.10g} ({r['float64_relative_error']:.1e}) "
            f"| {r['float32_ratio']:.7g} ({r['float32_relative_error']:.1e}) "
            f"| {r['float32_first_inf_step']} / {r['float32_first_nan_step']} "
            f"/ {r['float32_first_zero_step']} "
            f"| {r['tanh_ratio']:.4g}, {r['tanh_max_abs_state']:.4f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/why_tanh.py` / `rnn-jax why-tanh`: the demonstration, its table, its files."""
    return run_experiment(WhyTanhConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["why_tanh.png"])
