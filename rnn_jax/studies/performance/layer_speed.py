"""The Flax layers against the layers they replace: `rnn_jax.nnx.SimpleRNN` against `nnx.RNN(nnx.SimpleCell)`
and `rnn_jax.linen.SimpleRNN` against `flax.linen.RNN(nn.SimpleCell)`, timed as their users run them.

    python experiments/layer_speed.py --out results/benchmark/layers
    rnn-jax layer-speed --shapes lecture --repeats 10

NNX: `nnx.jit` of the forward pass, and of `nnx.grad` of sum(outputs^2) (fwd+bwd). Linen: `jax.jit`
of `apply` and of `jax.grad` of the same loss. Same weights on both sides (copied across), same inputs
[B, T, F] at the benchmark's shapes; every variant in every round, interleaved, so load changes hit all
of them; medians in ms and the ratio flax / ours (above 1: ours is faster). Writes config.json,
results.json (with the machine: CPU model, cores, load) and results.md to --out.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

import rnn_jax.linen
import rnn_jax.nnx
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import run_experiment
from rnn_jax.studies.performance.gemm_speed import SHAPES
from rnn_jax.training import runs


@dataclasses.dataclass(frozen=True)
class LayerSpeedConfig:
    """rnn_jax's NNX and Linen Simple RNN layers against flax's, forward and forward + backward."""

    out: str = dataclasses.field(default="runs/layer_speed", metadata={"help": "output folder"})
    shapes: str = dataclasses.field(
        default="lecture,medium,large", metadata={"help": "comma-separated names"}
    )
    repeats: int = dataclasses.field(default=10, metadata={"help": "timed rounds (median reported)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed of weights and inputs"})

    @property
    def workdir(self) -> str:
        return self.out


SMOKE = {"shapes": "smoke", "repeats": 2}


def _loss(outputs: jax.Array) -> jax.Array:
    return jnp.sum(outputs**2)


def _nnx_pair(input_size: int, hidden: int, seed: int):
    ours = rnn_jax.nnx.SimpleRNN(input_size, hidden, rngs=nnx.Rngs(seed))
    cell = nnx.SimpleCell(input_size, hidden, rngs=nnx.Rngs(seed + 1))
    cell.dense_h.kernel[...] = ours.A[...][:, :hidden].T  # A = [A_h | A_x] acts on [h; x]
    cell.dense_i.kernel[...] = ours.A[...][:, hidden:].T
    cell.dense_i.bias[...] = ours.b[...]
    return ours, nnx.RNN(cell)


def _variants(shape, seed: int) -> dict:
    """name -> a call that runs one jitted fwd or fwd+bwd and blocks until it is done."""
    batch, seq_len, input_size, hidden = shape
    xs = jax.random.normal(jax.random.key(seed), (batch, seq_len, input_size))
    carry0 = jnp.zeros((batch, hidden))
    variants = {}
    for name, model in zip(("nnx ours", "nnx flax"), _nnx_pair(input_size, hidden, seed), strict=True):
        forward = nnx.jit(lambda m, x: m(x, initial_carry=carry0))
        backward = nnx.jit(nnx.grad(lambda m, x: _loss(m(x, initial_carry=carry0))))
        variants[f"{name} fwd"] = lambda f=forward, m=model: f(m, xs).block_until_ready()
        variants[f"{name} fwd+bwd"] = lambda f=backward, m=model: jax.block_until_ready(f(m, xs))
    ours = rnn_jax.linen.SimpleRNN(hidden)
    params = ours.init(jax.random.key(seed), xs)["params"]
    A, b = params["A"], params["b"]
    flax_params = {"cell": {"h": {"kernel": A[:, :hidden].T}, "i": {"kernel": A[:, hidden:].T, "bias": b}}}
    for name, module, p in (
        ("linen ours", ours, params),
        ("linen flax", nn.RNN(nn.SimpleCell(hidden)), flax_params),
    ):
        forward = jax.jit(lambda p, x, module=module: module.apply({"params": p}, x))
        backward = jax.jit(jax.grad(lambda p, x, module=module: _loss(module.apply({"params": p}, x))))
        variants[f"{name} fwd"] = lambda f=forward, p=p: f(p, xs).block_until_ready()
        variants[f"{name} fwd+bwd"] = lambda f=backward, p=p: jax.block_until_ready(f(p, xs))
    return variants


def _time_shape(name: str, shape, config: LayerSpeedConfig) -> list[dict]:
    variants = _variants(shape, config.seed)
    for call in variants.values():  # compile, warm up
        call()
        call()
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(config.repeats):
        for variant, call in variants.items():
            tic = time.perf_counter()
            call()
            times[variant].append(time.perf_counter() - tic)
    rows = []
    for framework in ("nnx", "linen"):
        for mode in ("fwd", "fwd+bwd"):
            ours = statistics.median(times[f"{framework} ours {mode}"]) * 1e3
            theirs = statistics.median(times[f"{framework} flax {mode}"]) * 1e3
            rows.append(
                {
                    "shape": name,
                    "B, T, F, H": list(shape),
                    "framework": framework,
                    "mode": mode,
                    "ours_ms": ours,
                    "flax_ms": theirs,
                    "flax_over_ours": theirs / ours,
                }
            )
    return rows


def run(config: LayerSpeedConfig) -> dict:
    names = [n.strip() for n in config.shapes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown or not names:
        raise ConfigError(f"unknown shape names {unknown or names}; expected some of {list(SHAPES)}")
    if config.repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {config.repeats}")
    from tqdm.auto import tqdm

    out = runs.make_workdir(config.out)
    runs.save_config(out, config)
    machine = runs.machine()
    rows = [
        row
        for n in tqdm(names, desc="layer speed", unit="shape")
        for row in _time_shape(n, SHAPES[n], config)
    ]
    machine["load_average_1min_end"] = runs.machine()["load_average_1min"]
    results = {"machine": machine, "rows": rows}
    runs.save_results(out, results)
    (Path(out) / "results.md").write_text("\n".join(summary_lines(results)) + "\n")
    return results


def summary_lines(results: dict) -> list[str]:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpu_count']} cores, load {m['load_average_1min']:.2f} -> "
        f"{m['load_average_1min_end']:.2f}; jax {m['jax']}",
        "",
        "| shape (B, T, F, H) | layer | pass | rnn_jax ms | flax ms | flax / rnn_jax |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["rows"]:
        shape = ", ".join(map(str, r["B, T, F, H"]))
        lines.append(
            f"| {r['shape']} ({shape}) | {r['framework']} | {r['mode']} | {r['ours_ms']:.3f} | "
            f"{r['flax_ms']:.3f} | {r['flax_over_ours']:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax layer-speed` / `python experiments/layer_speed.py`."""
    return run_experiment(LayerSpeedConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["results.md"])
