"""Where the Simple RNN's fwd+bwd time goes on this backend: each part of `rnn_jax.core.fused`, timed alone.

    python experiments/unroll_parts.py                                   # medium and lecture shapes
    taskset -c 0 python experiments/unroll_parts.py --out results/benchmark/parts_1core   # one core
    rnn-jax unroll-parts --help

Parts (time-major inside, S = the states [T, B, H], dZ = the pre-activation gradients):
  forward scan, W in [in, out] layout   what rnn_jax runs: h @ W_h with W_h = A_h^T made once
  forward scan, h @ A_h.T per step      the same loop with the transpose inside each step's matmul
  backward scan                         dz = (dh + g_t) (1 - s_t^2); dh = dz @ A_h, T times
  backward scan, two half-batch scans   the same work as two independent scans (parallel or not?)
  dA_h = dZ^T S_prev, dA_x = dZ^T X     the weight gradients as single matmuls over T*B rows
  fwd+bwd (default)                     jax.grad of the sum of all states through rnn_jax.unroll

Running it pinned to one core (`taskset -c 0`) next to a normal run tells which parts use both
cores. Interleaved rounds in a seeded shuffled order; medians and minima. Output: results.json
and a Markdown table in `--out`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

import rnn_jax
from rnn_jax.core import fused
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import parse_config
from rnn_jax.training import runs

SHAPES = {"lecture": (32, 500, 32, 32), "medium": (64, 200, 128, 256), "large": (128, 100, 512, 1024)}


@dataclasses.dataclass(frozen=True)
class PartsConfig:
    """Timing the parts of the Simple RNN's fused fwd+bwd."""

    shapes: str = dataclasses.field(
        default="medium,lecture", metadata={"help": f"comma-separated named shapes B,T,F,H: {SHAPES}"}
    )
    repeats: int = dataclasses.field(default=20, metadata={"help": "timed rounds (median, min)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed of data and round order"})
    out: str = dataclasses.field(default="results/benchmark/parts", metadata={"help": "output folder"})


def _forward(h0, A, b, xs):
    """The library's own forward scan (weights transposed once, [in, out] layout)."""
    return fused._forward(A, b, xs, h0, None, "tanh", False, True, 1, False)[1]


def _forward_transposed_per_step(h0, A, b, xs):
    """The same loop as it was before that change: h @ A_h.T inside each step's matmul."""
    hidden = h0.shape[-1]
    A_h, A_x = A[:, :hidden], A[:, hidden:]

    def body(h, x_t):
        h = jnp.tanh(h @ A_h.T + x_t @ A_x.T + b)
        return h, h

    return jax.lax.scan(body, h0, jnp.swapaxes(xs, 0, 1))[1]


def _backward_scan(A, S, g):
    """dz = (dh + g_t) (1 - s_t^2); dh = dz @ A_h, over T steps in reverse."""
    A_h = A[:, : S.shape[-1]]

    def body(dh, inputs):
        g_t, s_t = inputs
        dz = (dh + g_t) * (1 - s_t * s_t)
        return dz @ A_h, dz

    return jax.lax.scan(body, jnp.zeros(S.shape[1:]), (g, S), reverse=True)


def _backward_two_scans(A, S, g):
    """The same work as two independent half-batch scans."""
    half = S.shape[1] // 2
    return (_backward_scan(A, S[:, :half], g[:, :half]), _backward_scan(A, S[:, half:], g[:, half:]))


def _weight_grads(h0, dZ, S, xs):
    """dA_h = dZ^T S_prev and dA_x = dZ^T X as single matmuls over T*B rows."""
    hidden = h0.shape[-1]
    S_prev = jnp.concatenate([h0[None], S[:-1]], axis=0)
    dA_h = dZ.reshape(-1, hidden).T @ S_prev.reshape(-1, hidden)
    dA_x = jnp.einsum("tbh,btf->hf", dZ, xs)
    return dA_h, dA_x


def _fwd_bwd(params, xs):
    """jax.grad of the sum of all states through rnn_jax.unroll (the default strategy)."""
    return jax.grad(lambda p: jnp.sum(rnn_jax.unroll(rnn_jax.simple_rnn_step, p, xs)[1]))(params)


def _parts(shape: tuple[int, int, int, int], key) -> dict[str, tuple[Callable, tuple]]:
    """Each part's label -> (function, its arguments), on seeded inputs of `shape` (B, T, F, H)."""
    batch, seq_len, input_size, hidden = shape
    keys = jax.random.split(key, 4)
    params = rnn_jax.init_simple_rnn(keys[0], input_size, hidden)
    A, b = params["A"], params["b"]
    xs = jax.random.normal(keys[1], (batch, seq_len, input_size))
    S = jnp.tanh(jax.random.normal(keys[2], (seq_len, batch, hidden)))
    dZ = jax.random.normal(keys[3], (seq_len, batch, hidden))
    h0 = jnp.zeros((batch, hidden))  # closed over (a constant of the jitted function), as before
    return {
        "forward scan, W in [in, out] layout (rnn_jax)": (functools.partial(_forward, h0), (A, b, xs)),
        "forward scan, h @ A_h.T per step": (functools.partial(_forward_transposed_per_step, h0), (A, b, xs)),
        "backward scan": (_backward_scan, (A, S, dZ)),
        "backward scan, two half-batch scans": (_backward_two_scans, (A, S, dZ)),
        "dA_h = dZ^T S_prev and dA_x = dZ^T X": (functools.partial(_weight_grads, h0), (dZ, S, xs)),
        "fwd+bwd (rnn_jax.unroll default)": (_fwd_bwd, (params, xs)),
    }


def _time_parts(parts: dict[str, tuple[Callable, tuple]], repeats: int, order: random.Random) -> dict:
    """Compiles and warms up every part, then times `repeats` rounds in a shuffled order."""
    for fn, args in parts.values():
        jax.block_until_ready(fn(*args))  # compile
        jax.block_until_ready(fn(*args))  # warm up
    times: dict[str, list[float]] = {label: [] for label in parts}
    for _ in range(repeats):
        for label in order.sample(list(parts), len(parts)):
            fn, args = parts[label]
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[label].append(time.perf_counter() - start)
    return times


def run(config: PartsConfig) -> dict:
    """Times every part on every shape, writes results.json and results.md; returns the results."""
    key = jax.random.PRNGKey(config.seed)
    order = random.Random(config.seed)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    results = {
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "cpus_allowed": affinity,
        "loadavg_start": os.getloadavg()[0],
        "rows": [],
    }
    names = [s.strip() for s in config.shapes.split(",") if s.strip()]
    unknown = [name for name in names if name not in SHAPES]
    if unknown:  # before any timing, so that a typo does not cost a whole run
        raise ConfigError(f"unknown shape {unknown[0]!r}; expected some of {list(SHAPES)}")
    for name in names:
        parts = {label: (jax.jit(fn), args) for label, (fn, args) in _parts(SHAPES[name], key).items()}
        for label, values in _time_parts(parts, config.repeats, order).items():
            results["rows"].append(
                {
                    "shape": name,
                    "B,T,F,H": list(SHAPES[name]),
                    "part": label,
                    "median_ms": statistics.median(values) * 1e3,
                    "min_ms": min(values) * 1e3,
                    "rounds": len(values),
                }
            )
    results["loadavg_end"] = os.getloadavg()[0]
    workdir = runs.make_workdir(config.out)
    runs.save_config(workdir, config)
    runs.save_results(workdir, results)
    (workdir / "results.md").write_text("\n".join(summary_lines(results)) + "\n")
    return results


def summary_lines(results: dict) -> list[str]:
    lines = [
        f"backend {results['backend']}, jax {results['jax']}, CPUs allowed {results['cpus_allowed']}, "
        f"load average {results['loadavg_start']:.2f} -> {results['loadavg_end']:.2f}",
        "",
        "| shape (B,T,F,H) | part | median ms | min ms |",
        "| --- | --- | ---: | ---: |",
    ]
    for r in results["rows"]:
        shape = ",".join(map(str, r["B,T,F,H"]))
        lines.append(f"| {r['shape']} ({shape}) | {r['part']} | {r['median_ms']:.3g} | {r['min_ms']:.3g} |")
    return lines


def main(argv: Sequence[str] | None = None) -> dict:
    """`python experiments/unroll_parts.py` / `rnn-jax unroll-parts`: time the parts, print the table."""
    config = parse_config(PartsConfig, list(sys.argv[1:] if argv is None else argv), description=__doc__)
    results = run(config)
    print("\n".join(summary_lines(results)))
    print(f"wrote {config.out}/results.json and results.md")
    return results
