"""Is it the matrix multiply or the loop around it? The recurrent step's matmul timed alone, per library.

    python experiments/gemm_speed.py --out results/benchmark/gemm
    rnn-jax gemm-speed --shapes lecture,medium --repeats 50

One step of the Simple RNN multiplies [h_{t-1}; x_t] [B, H + F] by A^T [H + F, H] (the hoisted
variant: h [B, H] by A_h^T [H, H]). This times exactly that product, at the benchmark's shapes:

    xla_chain_us   jitted `lax.fori_loop` of N dependent products h <- tanh(h @ W), per product: XLA's
                   dot and a loop iteration, no Python (what one step of the scan costs at least)
    xla_call_us    one jitted `jnp.dot` per Python call (dispatch included)
    numpy_us       `np.dot` per call (OpenBLAS or whatever NumPy was built with)
    torch_us       `torch.mm` per call, and `torch_chain_us`: N dependent tanh(h @ W) in a Python loop

Each figure is the median over `--repeats` rounds (every library in each round, interleaved, so load
changes hit all of them). Beside them, `scan_step_us`: the forward pass of `rnn_jax.unroll` (default
strategy) divided by T, from the same shapes, so a reader sees how much of a scan step is the product.
Writes config.json, results.json (with the machine: CPU model, cores, load) and results.md to --out.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import rnn_jax
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import run_experiment
from rnn_jax.training import runs

SHAPES = {  # (B, T, F, H), as in rnn_jax.studies.performance.benchmark
    "lecture": (32, 500, 32, 32),
    "medium": (64, 200, 128, 256),
    "large": (128, 100, 512, 1024),
    "smoke": (4, 12, 8, 16),
}


@dataclasses.dataclass(frozen=True)
class GemmConfig:
    """The recurrent step's matrix product alone: XLA against NumPy and torch, per shape."""

    out: str = dataclasses.field(default="runs/gemm_speed", metadata={"help": "output folder"})
    shapes: str = dataclasses.field(
        default="lecture,medium,large", metadata={"help": "comma-separated names"}
    )
    chain_length: int = dataclasses.field(default=200, metadata={"help": "N products per timed chain"})
    repeats: int = dataclasses.field(default=30, metadata={"help": "timed rounds (median reported)"})
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed of the operands"})

    @property
    def workdir(self) -> str:
        return self.out


SMOKE = {"shapes": "smoke", "chain_length": 5, "repeats": 2}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _timed(fn, number: int) -> float:
    """Seconds per call of `fn` over `number` calls."""
    tic = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - tic) / number


def _peers(shape, config: GemmConfig) -> dict:
    """name -> (callable, products per call) for one shape."""
    batch, seq_len, input_size, hidden = shape
    key_h, key_w, key_x = jax.random.split(jax.random.key(config.seed), 3)
    hx = jax.random.normal(key_h, (batch, hidden + input_size))
    w = jax.random.normal(key_w, (hidden + input_size, hidden)) / np.sqrt(hidden + input_size)
    w_h = w[:hidden]
    n = config.chain_length

    @jax.jit
    def chain(h, w_h):
        return jax.lax.fori_loop(0, n, lambda _, h: jnp.tanh(h @ w_h), h)

    dot = jax.jit(jnp.dot)
    h0 = hx[:, :hidden]
    params = rnn_jax.init_simple_rnn(key_w, input_size, hidden)
    xs = jax.random.normal(key_x, (batch, seq_len, input_size))
    scan = jax.jit(lambda p, xs: rnn_jax.unroll(rnn_jax.simple_rnn_step, p, xs)[1])
    peers = {
        "xla_chain_us": (lambda: chain(h0, w_h).block_until_ready(), n),
        "xla_call_us": (lambda: dot(hx, w).block_until_ready(), 1),
        "scan_step_us": (lambda: scan(params, xs).block_until_ready(), seq_len),
    }
    hx_np, w_np = np.asarray(hx), np.asarray(w)
    peers["numpy_us"] = (lambda: np.dot(hx_np, w_np), 1)
    torch = _torch()
    if torch is not None:
        hx_t, w_t, w_h_t = (torch.from_numpy(np.array(a)) for a in (hx, w, w_h))
        h0_t = hx_t[:, :hidden].contiguous()

        def torch_chain():
            h = h0_t
            with torch.no_grad():
                for _ in range(n):
                    h = torch.tanh(h @ w_h_t)
            return h

        peers["torch_us"] = (lambda: torch.mm(hx_t, w_t), 1)
        peers["torch_chain_us"] = (torch_chain, n)
    return peers


def _time_shape(name: str, shape, config: GemmConfig) -> dict:
    peers = _peers(shape, config)
    for fn, _ in peers.values():  # compile and warm up
        fn()
        fn()
    times: dict[str, list[float]] = {peer: [] for peer in peers}
    for _ in range(config.repeats):
        for peer, (fn, products) in peers.items():
            number = 1 if products > 1 else 50  # single products are microseconds: time 50 calls
            times[peer].append(_timed(fn, number) / products * 1e6)
    batch, seq_len, input_size, hidden = shape
    row = {"shape": name, "B": batch, "T": seq_len, "F": input_size, "H": hidden}
    row.update({peer: statistics.median(values) for peer, values in times.items()})
    return row


def run(config: GemmConfig) -> dict:
    names = [n.strip() for n in config.shapes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown or not names:
        raise ConfigError(f"unknown shape names {unknown or names}; expected some of {list(SHAPES)}")
    for field in ("chain_length", "repeats"):
        if getattr(config, field) < 1:
            raise ConfigError(f"--{field} must be >= 1, got {getattr(config, field)}")
    from tqdm.auto import tqdm

    out = runs.make_workdir(config.out)
    runs.save_config(out, config)
    machine = runs.machine()
    rows = [_time_shape(name, SHAPES[name], config) for name in tqdm(names, desc="gemm", unit="shape")]
    machine["load_average_1min_end"] = runs.machine()["load_average_1min"]
    torch = _torch()
    machine["torch"] = None if torch is None else torch.__version__
    machine["numpy"] = np.__version__
    results = {"machine": machine, "rows": rows}
    if torch is None:
        results["notes"] = [
            "torch is not installed (pip install 'simple-rnn-jax[torch]'): its columns are empty"
        ]
    runs.save_results(out, results)
    (Path(out) / "results.md").write_text("\n".join(summary_lines(results)) + "\n")
    return results


_COLUMNS = ("xla_chain_us", "xla_call_us", "numpy_us", "torch_us", "torch_chain_us", "scan_step_us")


def summary_lines(results: dict) -> list[str]:
    """The table of microseconds per product (and per scan step), and the machine."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpu_count']} cores, load {m['load_average_1min']:.2f} -> "
        f"{m['load_average_1min_end']:.2f}; jax {m['jax']}, numpy {m['numpy']}, torch {m['torch']}",
        "",
        "| shape (B, T, F, H) | " + " | ".join(_COLUMNS) + " |",
        "| --- " * (len(_COLUMNS) + 1) + "|",
    ]
    for r in results["rows"]:
        cells = [f"{r[c]:.2f}" if c in r else "" for c in _COLUMNS]
        lines.append(f"| {r['shape']} ({r['B']}, {r['T']}, {r['F']}, {r['H']}) | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax gemm-speed` / `python experiments/gemm_speed.py`."""
    return run_experiment(GemmConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["results.md"])
