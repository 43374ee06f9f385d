"""Benchmark of jitted RNN unrolling: rnn_jax's strategies against Python loops, Flax and PyTorch.

    python experiments/benchmark_unroll.py                      # the default run (a few minutes)
    python experiments/benchmark_unroll.py --smoke --out /tmp/b # seconds: tiny shapes, 2 repeats
    python experiments/benchmark_unroll.py --config 16,1000,64,128 --configs ""
    rnn-jax benchmark --help

Every peer of one configuration runs interleaved in one process (A B C A B C ...), after compilation
and warm-up, and the median of the rounds is reported, with the ratio against each peer and the
fraction of a jitted 2048^3 float32 matmul measured in the same rounds. fwd = all hidden states;
fwd+bwd = gradient of sum(hs) w.r.t. the parameters. GFLOP/s count 2·B·T·H·(H+F) per gate block
for fwd and 3x that for fwd+bwd. Writes config.json, results.json, results.md and benchmark.png.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import rnn_jax
from rnn_jax.core import fused
from rnn_jax.core.unroll import _resolve_strategy, default_scan_unroll
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import parse_config
from rnn_jax.training import runs

NAMED_SHAPES = {  # (B, T, F, H)
    "lecture": (32, 500, 32, 32),
    "medium": (64, 200, 128, 256),
    "large": (128, 100, 512, 1024),
}
SMOKE_SHAPES = {"smoke": (4, 12, 8, 16)}
GATES = {"simple": 1, "lstm": 4, "gru": 3}
RNN_JAX_STRATEGIES = ("step", "hoisted", "custom_vjp", "custom_jvp")


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """Timing rnn_jax.unroll against Python loops, flax.linen.RNN and torch.nn.RNN."""

    out: str = dataclasses.field(default="results/benchmark", metadata={"help": "output folder"})
    configs: str = dataclasses.field(
        default="lecture,medium,large",
        metadata={
            "help": "named shapes to run, comma-separated: lecture (32,500,32,32), medium (64,200,128,256), "
            "large (128,100,512,1024); empty for none"
        },
    )
    config: str | None = dataclasses.field(
        default=None, metadata={"help": "one more shape B,T,F,H (batch, time steps, input size, hidden size)"}
    )
    gated_configs: str = dataclasses.field(
        default="lecture,medium",
        metadata={"help": "shapes on which the LSTM and GRU peers run too (empty for none)"},
    )
    unroll_factors: str = dataclasses.field(
        default="1,2,4",
        metadata={
            "help": "lax.scan unroll factors: every strategy runs with the first; 'step' and the auto "
            "strategy with all of them"
        },
    )
    unroll_factor_configs: str = dataclasses.field(
        default="lecture,medium,user,smoke",
        metadata={"help": "shapes on which the unroll factors beyond the first run (the large one is slow)"},
    )
    repeats: int = dataclasses.field(default=10, metadata={"help": "timed rounds per shape (median)"})
    warmup: int = dataclasses.field(default=2, metadata={"help": "untimed rounds after compilation"})
    max_seconds_per_shape: float = dataclasses.field(
        default=240.0,
        metadata={"help": "stop a shape's rounds early (keeping at least 3) once this much time is spent"},
    )
    python_loop_len: int = dataclasses.field(
        default=20,
        metadata={
            "help": "T for the Python-loop variants (eager, jitted step), which are slow; the lecture "
            "shape's B, F, H, and scan on the same T for comparison; 0 skips them"
        },
    )
    compile_lengths: str = dataclasses.field(
        default="100,500,2000,10000",
        metadata={"help": "T values of the compile-time sweep (lecture B, F, H; jit of fwd+bwd)"},
    )
    python_unrolled_max_len: int = dataclasses.field(
        default=500,
        metadata={
            "help": "largest T for which the Python-unrolled jit is compiled (its compile time grows "
            "with T; larger T are skipped and reported as such)"
        },
    )
    torch_threads: int = dataclasses.field(
        default=0,
        metadata={"help": "torch.set_num_threads; 0 = os.cpu_count(), the threads XLA's CPU backend uses"},
    )
    compile_repeats: int = dataclasses.field(
        default=3, metadata={"help": "compilations per T for lax.scan (median)"}
    )
    peak_size: int = dataclasses.field(default=2048, metadata={"help": "N of the N^3 matmul peak"})
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed of parameters and inputs"})
    smoke: bool = dataclasses.field(
        default=False,
        metadata={"help": "seconds-long check: tiny shape, 2 rounds, short compile sweep (for tests)"},
    )


SMOKE = {
    "configs": "",
    "gated_configs": "",
    "repeats": 2,
    "warmup": 1,
    "unroll_factors": "1",
    "compile_repeats": 1,
    "python_loop_len": 4,
    "compile_lengths": "10,20",
    "python_unrolled_max_len": 10,
    "peak_size": 256,
}


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """ "B,T,F,H" -> (B, T, F, H)."""
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) <= 0:
        raise ConfigError(f"--config must be four positive integers B,T,F,H, got {text!r}")
    return shape


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


# ----------------------------------------------------------------------------- timing


def _block(out: Any) -> None:
    if _torch_module() is not None and _torch_module().cuda.is_available():
        _torch_module().cuda.synchronize()
    jax.block_until_ready(out)


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    _block(fn())
    return time.perf_counter() - start


@dataclasses.dataclass
class Variant:
    """One timed implementation: `fwd()` and `fwd_bwd()` run it once on fixed inputs."""

    name: str
    peer: str  # "rnn_jax", "flax", "torch", "python"
    cell: str
    fwd: Callable[[], Any]
    fwd_bwd: Callable[[], Any]
    note: str = ""
    flops: float = 0.0
    compile_s: float = 0.0
    times: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"fwd": [], "fwd_bwd": []})


@functools.cache
def _torch_module():
    try:
        import torch
    except ImportError:
        return None
    return torch


# ----------------------------------------------------------------------------- peers


def _jax_variant(name, peer, cell, apply, params, xs, note="", jit=True) -> Variant:
    """apply(params, xs) -> hs; fwd+bwd is the gradient of sum(hs) w.r.t. params."""
    grad = jax.grad(lambda p, x: jnp.sum(apply(p, x)))
    fwd, fwd_bwd = (jax.jit(apply), jax.jit(grad)) if jit else (apply, grad)
    variant = Variant(name, peer, cell, lambda: fwd(params, xs), lambda: fwd_bwd(params, xs), note)
    start = time.perf_counter()
    _block((variant.fwd(), variant.fwd_bwd()))  # compiles both
    variant.compile_s = time.perf_counter() - start
    return variant


STEP_FNS = {"simple": rnn_jax.simple_rnn_step, "lstm": rnn_jax.lstm_step, "gru": rnn_jax.gru_step}
INITS = {"simple": rnn_jax.init_simple_rnn, "lstm": rnn_jax.init_lstm, "gru": rnn_jax.init_gru}


def _rnn_jax_variants(cell, key, xs, hidden, factors: list[int]) -> list[Variant]:
    params = INITS[cell](key, xs.shape[-1], hidden)
    step_fn = STEP_FNS[cell]
    auto = _resolve_strategy("auto", step_fn)
    run = lambda strategy, factor: (
        lambda p, x: rnn_jax.state_output(  # noqa: E731
            rnn_jax.unroll(step_fn, p, x, strategy=strategy, unroll=factor)[1]
        )
    )
    # First the defaults (strategy="auto", unroll=None: what a user gets); "auto" stands for the
    # strategy it resolves to, which is not run twice.
    default_factor = default_scan_unroll()
    plan = [("auto", None)]
    if cell == "simple":
        plan += [(s, factors[0]) for s in RNN_JAX_STRATEGIES if s != auto]
    plan += [
        (s, f)
        for s in dict.fromkeys(("auto", "step"))
        for f in factors[1:]
        if not (s == "auto" and f == default_factor)
    ]
    variants = []
    for strategy, factor in plan:
        name = (
            f"rnn_jax auto = {auto}, unroll={default_factor} (default)"
            if factor is None
            else f"rnn_jax {strategy}" + (f" = {auto}" if strategy == "auto" else "") + f", unroll={factor}"
        )
        variants.append(_jax_variant(name, "rnn_jax", cell, run(strategy, factor), params, xs))
    if cell == "simple":  # the custom rules with the other choice of input-projection hoisting
        hoist = not fused.default_hoist_input()
        h0 = jnp.zeros((xs.shape[0], hidden), xs.dtype)
        for rule in fused.RULES:
            apply = lambda p, x, rule=rule: fused.simple_rnn_unroll(  # noqa: E731
                p, x, h0, rule=rule, unroll=factors[0], hoist_input=hoist
            )[1]
            name = f"rnn_jax custom_{rule}, input projection {'hoisted' if hoist else 'per step'}"
            variants.append(_jax_variant(name, "rnn_jax", cell, apply, params, xs))
    return variants


def _flax_variant(cell, key, xs, hidden) -> Variant:
    import flax.linen as nn

    module = {"simple": nn.SimpleCell, "lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}[cell]
    model = nn.RNN(module(hidden))
    params = model.init(key, xs)
    name = f"flax.linen.RNN({module.__name__})"
    return _jax_variant(name, "flax", cell, lambda p, x: model.apply(p, x), params, xs)


def _torch_variant(cell, xs, hidden, device) -> Variant | None:
    torch = _torch_module()
    if torch is None:
        return None
    module = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    torch.manual_seed(0)
    rnn = module(xs.shape[-1], hidden, batch_first=True).to(device)
    x = torch.from_numpy(jax.device_get(xs).copy()).to(device)

    def fwd():
        with torch.no_grad():
            return rnn(x)[0]

    def fwd_bwd():
        rnn.zero_grad(set_to_none=True)
        rnn(x)[0].sum().backward()
        return [p.grad for p in rnn.parameters()]

    variant = Variant(
        f"torch.nn.{module.__name__} ({device}, {torch.get_num_threads()} threads)",
        "torch",
        cell,
        fwd,
        fwd_bwd,
    )
    start = time.perf_counter()
    _block((fwd(), fwd_bwd()))
    variant.compile_s = time.perf_counter() - start
    return variant


def _python_loop_variants(key, shape) -> list[Variant]:
    """Python loops over time (eager; jitted step) next to scan, on a short T: why scan."""
    batch, seq_len, input_size, hidden = shape
    params = rnn_jax.init_simple_rnn(key, input_size, hidden)
    xs = jax.random.normal(jax.random.fold_in(key, 1), (batch, seq_len, input_size))
    step_jit = jax.jit(rnn_jax.simple_rnn_step)

    def loop(step):
        def apply(p, x):
            h, hs = jnp.zeros((x.shape[0], hidden), x.dtype), []
            for t in range(x.shape[1]):
                h = step(p, h, x[:, t])
                hs.append(h)
            return jnp.stack(hs, axis=1)

        return apply

    scan = lambda p, x: rnn_jax.unroll(rnn_jax.simple_rnn_step, p, x)[1]  # noqa: E731
    return [
        _jax_variant(
            "Python loop, eager (no jit)",
            "python",
            "simple",
            loop(rnn_jax.simple_rnn_step),
            params,
            xs,
            jit=False,
        ),
        _jax_variant(
            "Python loop over a jitted step", "python", "simple", loop(step_jit), params, xs, jit=False
        ),
        _jax_variant("rnn_jax auto (lax.scan, jitted)", "rnn_jax", "simple", scan, params, xs),
    ]


def _peak_variant(size: int, key) -> Variant:
    a = jax.random.normal(key, (size, size))
    b = jax.random.normal(jax.random.fold_in(key, 1), (size, size))
    matmul = jax.jit(jnp.matmul)
    _block(matmul(a, b))
    return Variant(
        f"jitted {size}^3 matmul",
        "peak",
        "-",
        lambda: matmul(a, b),
        lambda: matmul(a, b),
        flops=2.0 * size**3,
    )


# ----------------------------------------------------------------------------- rounds


def _run_rounds(variants: list[Variant], config: BenchmarkConfig, bar) -> None:
    """Interleaved rounds: every variant's fwd then fwd+bwd, variant after variant, per round.

    The order of the variants is shuffled anew each round (seeded), so that no variant always
    runs right after the same neighbour (the big peak matmul, say, which leaves the caches cold).
    """
    for _ in range(config.warmup):
        for v in variants:
            _block((v.fwd(), v.fwd_bwd()))
    order = random.Random(config.seed)
    start = time.perf_counter()
    for done in range(config.repeats):
        for v in order.sample(variants, len(variants)):
            v.times["fwd"].append(_seconds(v.fwd))
            v.times["fwd_bwd"].append(_seconds(v.fwd_bwd))
        bar.update(1)
        if done + 1 >= 3 and time.perf_counter() - start > config.max_seconds_per_shape:
            bar.update(config.repeats - done - 1)
            break


def _flops(shape, cell: str) -> float:
    batch, seq_len, input_size, hidden = shape
    return 2.0 * batch * seq_len * GATES[cell] * hidden * (hidden + input_size)


def _rows(shape_name, shape, variants: list[Variant], peak: Variant) -> list[dict]:
    peak_gflops = peak.flops / statistics.median(peak.times["fwd"] + peak.times["fwd_bwd"]) / 1e9
    rows = []
    for v in variants:
        fwd, fwd_bwd = statistics.median(v.times["fwd"]), statistics.median(v.times["fwd_bwd"])
        flops = _flops(shape, v.cell)
        row = {
            "shape": shape_name,
            "B,T,F,H": list(shape),
            "cell": v.cell,
            "variant": v.name,
            "peer": v.peer,
            "rounds": len(v.times["fwd"]),
            "compile_s": round(v.compile_s, 3),
            "fwd_ms": fwd * 1e3,
            "fwd_bwd_ms": fwd_bwd * 1e3,
            "fwd_min_ms": min(v.times["fwd"]) * 1e3,
            "fwd_bwd_min_ms": min(v.times["fwd_bwd"]) * 1e3,
            "tokens_per_s_fwd": shape[0] * shape[1] / fwd,
            "tokens_per_s_fwd_bwd": shape[0] * shape[1] / fwd_bwd,
            "gflops_fwd": flops / fwd / 1e9,
            "gflops_fwd_bwd": 3 * flops / fwd_bwd / 1e9,
            "peak_gflops": peak_gflops,
        }
        row["peak_fraction_fwd"] = row["gflops_fwd"] / peak_gflops
        row["peak_fraction_fwd_bwd"] = row["gflops_fwd_bwd"] / peak_gflops
        rows.append(row)
    for row in rows:  # speed-up of each variant over each peer of its cell: > 1 means faster
        for other in rows:
            if other["cell"] == row["cell"] and other["peer"] in ("flax", "torch"):
                row[f"speedup_vs_{other['peer']}"] = [
                    other["fwd_ms"] / row["fwd_ms"],
                    other["fwd_bwd_ms"] / row["fwd_bwd_ms"],
                ]
    return rows


# ----------------------------------------------------------------------------- compile time


def _compile_seconds(fn, *args) -> float:
    start = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start


def _compile_sweep(config: BenchmarkConfig, key, bar) -> list[dict]:
    """Compile time of jitted fwd+bwd against T: lax.scan vs a Python loop unrolled into the graph."""
    batch, _, input_size, hidden = SMOKE_SHAPES["smoke"] if config.smoke else NAMED_SHAPES["lecture"]
    params = rnn_jax.init_simple_rnn(key, input_size, hidden)
    step = rnn_jax.simple_rnn_step

    def python_unrolled(p, x):
        h, total = jnp.zeros((batch, hidden)), 0.0
        for t in range(x.shape[1]):
            h = step(p, h, x[:, t])
            total = total + jnp.sum(h)
        return total

    def scan(strategy):
        return lambda p, x: jnp.sum(rnn_jax.unroll(step, p, x, strategy=strategy)[1])

    rows = []
    for seq_len in _ints(config.compile_lengths):
        xs = jax.ShapeDtypeStruct((batch, seq_len, input_size), jnp.float32)
        row = {"T": seq_len}
        for strategy in ("auto", "step"):
            row[f"scan_{strategy}_s"] = statistics.median(
                _compile_seconds(jax.grad(scan(strategy)), params, xs) for _ in range(config.compile_repeats)
            )
        if seq_len <= config.python_unrolled_max_len:
            row["python_unrolled_s"] = _compile_seconds(jax.grad(python_unrolled), params, xs)
        else:
            row["python_unrolled_s"] = None  # skipped: see --python_unrolled_max_len
        rows.append(row)
        bar.update(1)
    return rows


# ----------------------------------------------------------------------------- reports


def _machine(config: BenchmarkConfig) -> dict:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch = _torch_module()
    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_backend": jax.default_backend(),
        "jax_device_kind": jax.devices()[0].device_kind,
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "torch_cuda_device": (
            torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else None
        ),
        "torch_cudnn_allow_tf32": None if torch is None else torch.backends.cudnn.allow_tf32,
        "python": sys.version.split()[0],
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "loadavg": {"start": os.getloadavg()},
    }


def _fmt(value, digits=3):
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def _targets(rows: list[dict], compile_rows: list[dict]) -> list[dict]:
    """The issue's targets, from this run's figures (speed-ups > 1 mean rnn_jax is faster)."""

    def auto(shape, cell="simple"):
        return next(
            (
                r
                for r in rows
                if r["shape"] == shape and r["cell"] == cell and r["variant"].startswith("rnn_jax auto")
            ),
            None,
        )  # the first: default unroll

    targets = []
    medium, lecture, large = auto("medium"), auto("lecture"), auto("large")
    if medium and "speedup_vs_flax" in medium:
        value = medium["speedup_vs_flax"][1]
        targets.append(
            {
                "target": "medium fwd+bwd >= 1.25x faster than flax",
                "value": f"{value:.2f}x",
                "met": value >= 1.25,
            }
        )
    if lecture and "speedup_vs_torch" in lecture:
        value = lecture["speedup_vs_torch"][1]
        targets.append(
            {
                "target": "lecture fwd+bwd >= 3x faster than torch",
                "value": f"{value:.2f}x",
                "met": value >= 3.0,
            }
        )
    if large:
        value = large["peak_fraction_fwd_bwd"]
        targets.append(
            {
                "target": "large fwd+bwd >= 85 % of the matmul peak",
                "value": f"{100 * value:.0f} %",
                "met": value >= 0.85,
            }
        )
    slowest = []
    for row in rows:
        if row is auto(row["shape"]):
            for peer in ("flax", "torch"):
                for label, ratio in zip(("fwd", "fwd+bwd"), row.get(f"speedup_vs_{peer}", []), strict=False):
                    slowest.append((ratio, f"{row['shape']} {label} vs {peer}"))
    if slowest:
        ratio, where = min(slowest)
        targets.append(
            {
                "target": "Simple RNN: no shape slower than any peer (fwd and fwd+bwd)",
                "value": f"worst {ratio:.2f}x ({where})",
                "met": ratio >= 1.0,
            }
        )
    first, last = (compile_rows[0], compile_rows[-1]) if compile_rows else (None, None)
    if first and last and first is not last:
        value = last["scan_auto_s"] / first["scan_auto_s"]
        targets.append(
            {
                "target": f"compile at T={last['T']} within 1.5x of T={first['T']} (scan, auto)",
                "value": f"{value:.2f}x",
                "met": value <= 1.5,
            }
        )
    return targets


def _markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [
        "# Unroll benchmark",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, backend {machine['jax_backend']} "
        f"({machine.get('jax_device_kind', '?')}), "
        f"jax {machine['jax']}, torch {machine['torch']} ({machine['torch_threads']} threads); "
        f"load average {machine['loadavg']['start'][0]:.2f} at start, "
        f"{machine['loadavg']['end'][0]:.2f} at end.",
        "",
        "Medians of interleaved rounds (float32). Speed-up = peer time / this time (> 1: faster); "
        "fwd / fwd+bwd. GFLOP/s and % of peak for fwd+bwd (3x the forward's 2·B·T·G·H·(H+F)); "
        f"the peak is a jitted {results['config']['peak_size']}^3 matmul timed in the same rounds.",
        "",
        "| config | cell | variant | fwd ms | fwd+bwd ms | tokens/s (fwd+bwd) | GFLOP/s | % peak "
        "| vs flax | vs torch |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["rows"]:
        shape = ",".join(map(str, r["B,T,F,H"]))
        vs = lambda peer, r=r: (
            "-"
            if f"speedup_vs_{peer}" not in r  # noqa: E731
            else " / ".join(f"{x:.2f}x" for x in r[f"speedup_vs_{peer}"])
        )
        lines.append(
            f"| {r['shape']} ({shape}) | {r['cell']} | {r['variant']} | {_fmt(r['fwd_ms'])} | "
            f"{_fmt(r['fwd_bwd_ms'])} | {_fmt(r['tokens_per_s_fwd_bwd'])} | "
            f"{_fmt(r['gflops_fwd_bwd'])} | "
            f"{100 * r['peak_fraction_fwd_bwd']:.0f} % | {vs('flax')} | {vs('torch')} |"
        )
    if results["python_loop"]:
        seq_len = results["python_loop_shape"][1]
        lines += [
            "",
            f"## Why scan: Python loops on a short sequence (T = {seq_len})",
            "",
            "| variant | fwd ms | fwd+bwd ms | compile+first call s |",
            "| --- | ---: | ---: | ---: |",
        ]
        for r in results["python_loop"]:
            lines.append(
                f"| {r['variant']} | {_fmt(r['fwd_ms'])} | {_fmt(r['fwd_bwd_ms'])} | {_fmt(r['compile_s'])} |"
            )
    if results["compile"]:
        lines += [
            "",
            "## Compile time of jitted fwd+bwd against T (lecture B, F, H)",
            "",
            "| T | scan, auto s | scan, step s | Python-unrolled jit s |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for r in results["compile"]:
            unrolled = (
                "skipped (> --python_unrolled_max_len)"
                if r["python_unrolled_s"] is None
                else _fmt(r["python_unrolled_s"])
            )
            lines.append(f"| {r['T']} | {_fmt(r['scan_auto_s'])} | {_fmt(r['scan_step_s'])} | {unrolled} |")
    if results["targets"]:
        lines += ["", "## Targets", "", "| target | this run | met |", "| --- | --- | --- |"]
        for t in results["targets"]:
            lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    lines += ["", *(f"Note: {n}" for n in results["notes"])]
    return "\n".join(lines) + "\n"


def _plot(results: dict, path: Path) -> None:
    from rnn_jax.studies.plots import pyplot

    plt = pyplot()

    simple = [r for r in results["rows"] if r["cell"] == "simple"]
    shapes = list(dict.fromkeys(r["shape"] for r in simple))
    fig, axes = plt.subplots(1, len(shapes) + 1, figsize=(5 * (len(shapes) + 1), 4.5))
    for ax, shape in zip(axes, shapes, strict=False):
        rows = [r for r in simple if r["shape"] == shape]
        names = [r["variant"].replace("rnn_jax ", "").replace("flax.linen.", "") for r in rows]
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [r["fwd_ms"] for r in rows], 0.4, label="fwd")
        ax.barh([i - 0.2 for i in y], [r["fwd_bwd_ms"] for r in rows], 0.4, label="fwd+bwd")
        ax.set_yticks(list(y), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ms (median)")
        ax.set_title(f"Simple RNN, {shape} {tuple(rows[0]['B,T,F,H'])}")
        ax.legend(fontsize=7)
    ax = axes[-1]
    comp = results["compile"]
    if comp:
        ts = [r["T"] for r in comp]
        ax.plot(ts, [r["scan_auto_s"] for r in comp], "o-", label="lax.scan (auto)")
        ax.plot(ts, [r["scan_step_s"] for r in comp], "s--", label="lax.scan (step)")
        unrolled = [(r["T"], r["python_unrolled_s"]) for r in comp if r["python_unrolled_s"] is not None]
        if unrolled:
            ax.plot(*zip(*unrolled, strict=True), "x-", label="Python-unrolled jit")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("T")
        ax.set_ylabel("compile time of jitted fwd+bwd, s")
        ax.set_title("Compile time against T")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


def _torch_device(config: BenchmarkConfig, notes: list[str]) -> str:
    """Sets torch's threads; "cuda" (cuDNN's RNN kernels) when JAX runs on a GPU too, else "cpu"."""
    torch = _torch_module()
    if torch is None:
        notes.append(
            "torch is not installed (pip install 'simple-rnn-jax[torch]'): torch.nn.RNN/LSTM/GRU skipped."
        )
        print("torch not installed: skipping the torch.nn.RNN peers (pip install 'simple-rnn-jax[torch]')")
        return "cpu"
    torch.set_num_threads(config.torch_threads or os.cpu_count())
    return "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"


def _shapes(config: BenchmarkConfig) -> dict[str, tuple[int, int, int, int]]:
    """The shapes to time, by name: the smoke one, the named ones asked for, and --config as "user"."""
    shapes = dict(SMOKE_SHAPES) if config.smoke else {}
    shapes.update({name: NAMED_SHAPES[name] for name in _names(config.configs) if name in NAMED_SHAPES})
    unknown = [name for name in _names(config.configs) if name not in NAMED_SHAPES and name not in shapes]
    if unknown:
        raise ConfigError(f"unknown shape names {unknown}; expected some of {list(NAMED_SHAPES)}")
    if config.config:
        shapes["user"] = parse_shape(config.config)
    return shapes


def _shape_rows(config: BenchmarkConfig, shape_name: str, shape, key, device: str, bar) -> list[dict]:
    """Every peer of every cell on one shape, timed in interleaved rounds with the matmul peak."""
    batch, seq_len, input_size, hidden = shape
    bar.set_postfix_str(f"{shape_name} {shape}: compiling")
    xs = jax.random.normal(jax.random.fold_in(key, 1), (batch, seq_len, input_size))
    cells = ["simple"] + (["lstm", "gru"] if shape_name in set(_names(config.gated_configs)) else [])
    factors = _ints(config.unroll_factors)
    shape_factors = factors if shape_name in set(_names(config.unroll_factor_configs)) else factors[:1]
    variants = []
    for cell in cells:
        variants += _rnn_jax_variants(cell, key, xs, hidden, shape_factors)
        variants.append(_flax_variant(cell, key, xs, hidden))
        peer = _torch_variant(cell, xs, hidden, device)
        if peer is not None:
            variants.append(peer)
    peak = _peak_variant(config.peak_size, key)
    bar.set_postfix_str(f"{shape_name} {shape}: {len(variants)} variants")
    _run_rounds([peak, *variants], config, bar)
    return _rows(shape_name, shape, variants, peak)


def _python_loop_rows(config: BenchmarkConfig, key, bar) -> tuple[list[int], list[dict]]:
    """The Python-loop variants beside scan on a short T: (their shape B, T, F, H; their rows)."""
    base = SMOKE_SHAPES["smoke"] if config.smoke else NAMED_SHAPES["lecture"]
    loop_shape = (*base[:1], config.python_loop_len, *base[2:])
    bar.set_postfix_str(f"Python loops {loop_shape}")
    loops = _python_loop_variants(key, loop_shape)
    _run_rounds(loops, config, bar)
    return list(loop_shape), [
        {
            "variant": v.name,
            "compile_s": v.compile_s,
            "fwd_ms": statistics.median(v.times["fwd"]) * 1e3,
            "fwd_bwd_ms": statistics.median(v.times["fwd_bwd"]) * 1e3,
        }
        for v in loops
    ]


def run(config: BenchmarkConfig, command: str) -> dict:
    """Times every shape, the Python loops and the compile sweep; returns the results dict."""
    from tqdm import tqdm

    notes: list[str] = []
    device = _torch_device(config, notes)
    if config.python_loop_len < 0:
        raise ConfigError(
            f"--python_loop_len must be >= 0 (0 skips the Python-loop variants), got {config.python_loop_len}"
        )
    shapes = _shapes(config)
    key = jax.random.PRNGKey(config.seed)
    results = {
        "command": command,
        "config": dataclasses.asdict(config),
        "machine": _machine(config),
        "rows": [],
        "python_loop": [],
        "compile": [],
        "notes": notes,
    }
    bar = tqdm(
        total=config.repeats * (len(shapes) + 1) + len(_ints(config.compile_lengths)),
        unit="round",
        desc="benchmark",
        dynamic_ncols=True,
    )
    for shape_name, shape in shapes.items():
        results["rows"] += _shape_rows(config, shape_name, shape, key, device, bar)
    if config.python_loop_len > 0:
        results["python_loop_shape"], results["python_loop"] = _python_loop_rows(config, key, bar)
    else:
        notes.append("--python_loop_len 0: the Python-loop variants were skipped")
    bar.set_postfix_str("compile time against T")
    results["compile"] = _compile_sweep(config, key, bar)
    bar.close()
    skipped = [r["T"] for r in results["compile"] if r["python_unrolled_s"] is None]
    if skipped:
        notes.append(
            f"Python-unrolled jit not compiled for T = {skipped} (> --python_unrolled_max_len="
            f"{config.python_unrolled_max_len}): its compile time grows with T."
        )
    notes.append(
        "flax's GRUCell applies the reset gate after the recurrent matmul (cuDNN's form), "
        "rnn_jax's gru_step before it; FLOPs are counted alike."
    )
    results["machine"]["loadavg"]["end"] = os.getloadavg()
    results["targets"] = _targets(results["rows"], results["compile"])
    return results


def main(argv: Sequence[str] | None = None) -> dict:
    """`python experiments/benchmark_unroll.py` / `rnn-jax benchmark`: time, write the files, print."""
    argv = list(sys.argv[1:] if argv is None else argv)
    smoke = "--smoke" in argv
    config = parse_config(BenchmarkConfig, argv, **(SMOKE if smoke else {}))
    if config.config:
        parse_shape(config.config)
    command = shlex.join(["python", "experiments/benchmark_unroll.py", *argv])  # quotes empty values
    results = run(config, command.strip())
    out = runs.make_workdir(config.out)
    runs.save_config(out, config)
    runs.save_results(out, results)
    (out / "results.md").write_text(_markdown(results))
    _plot(results, out / "benchmark.png")
    print(_markdown(results))
    return results
