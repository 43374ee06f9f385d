"""Tokens/s of the data-parallel IMDB training step on 1, 2, 4, 8 (simulated) devices; losses must agree.

    python experiments/distributed_throughput.py                          # 1, 2, 4, 8 simulated CPU devices
    python experiments/distributed_throughput.py --device_counts 1,2,4,8 --no-simulate   # real devices
    rnn-jax distributed-throughput --help

Each device count runs in its own Python process, because simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=N`) must be requested before JAX starts. Every
process times the same jitted step (`rnn_jax.studies.sentiment.imdb.train_step`, the batch split over a
`data` mesh axis, parameters replicated; see `rnn_jax.training.distributed`) on the same synthetic
batches of token ids, so the per-step losses must agree across device counts; the largest difference
from the first count is reported. Simulated devices share the machine's CPU cores: the table shows
correctness and the overhead of splitting, not a speed-up.

Writes `config.json`, `metrics.jsonl` (one record per device count), `results.json` and
`table.md` into `--workdir` (default results/distributed/throughput).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

from rnn_jax.studies.command import parse_config
from rnn_jax.training import runs

# The child process that measures one device count: a fresh interpreter running this module's main.
CHILD_CODE = (
    "import sys; from rnn_jax.studies.performance.distributed_throughput import main; main(sys.argv[1:])"
)


@dataclasses.dataclass(frozen=True)
class ThroughputConfig:
    """Training-step throughput over device counts."""

    device_counts: str = dataclasses.field(
        default="1,2,4,8", metadata={"help": "comma-separated device counts, one process each"}
    )
    simulate: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "simulated CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N); "
            "--no-simulate uses the first N real devices"
        },
    )
    model: str = dataclasses.field(default="simple_rnn", metadata={"help": "classifier (rnn_jax.models)"})
    batch_size: int = dataclasses.field(default=32, metadata={"help": "global batch size (the lecture's 32)"})
    seq_len: int = dataclasses.field(default=500, metadata={"help": "tokens per review (the lecture's 500)"})
    vocab_size: int = dataclasses.field(default=10_000, metadata={"help": "vocabulary size"})
    warmup_steps: int = dataclasses.field(default=3, metadata={"help": "untimed steps after compilation"})
    steps: int = dataclasses.field(default=100, metadata={"help": "timed steps"})
    repeats: int = dataclasses.field(
        default=5, metadata={"help": "times the timed steps are repeated; the median is reported"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of the parameters and the batches"})
    workdir: str = dataclasses.field(
        default="results/distributed/throughput", metadata={"help": "output folder"}
    )
    timeout: int = dataclasses.field(default=1800, metadata={"help": "seconds allowed per device count"})


def _jitted_step(config: ThroughputConfig, mesh):
    """(the first train state, the dropout key, the jitted data-parallel step) for `config`'s model."""
    import jax

    from rnn_jax.studies.sentiment.imdb import (
        TrainConfig,
        build_model,
        create_train_state,
        make_optimizer,
        train_step,
    )
    from rnn_jax.training import distributed

    train_config = TrainConfig(
        model=config.model,
        batch_size=config.batch_size,
        seq_len=config.seq_len,
        vocab_size=config.vocab_size,
        seed=config.seed,
    )
    model, tx = build_model(train_config), make_optimizer(train_config)
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    state = distributed.put_replicated(create_train_state(model, tx, init_key, config.seq_len), mesh)
    dropout_key = distributed.put_replicated(dropout_key, mesh)
    replicated, batch = distributed.replicated_sharding(mesh), distributed.batch_sharding(mesh)
    step = jax.jit(
        lambda state, b, key: train_step(state, b, key, model=model, tx=tx),
        in_shardings=(replicated, batch, replicated),
        out_shardings=replicated,
        donate_argnums=0,
    )
    return state, dropout_key, step


def _synthetic_batches(config: ThroughputConfig, mesh) -> list:
    """warmup_steps + steps seeded batches of post-padded token ids, sharded over the mesh."""
    import numpy as np

    from rnn_jax.studies.sentiment.imdb import Batch
    from rnn_jax.training import distributed

    rng = np.random.default_rng(config.seed)
    batches = []
    for _ in range(config.warmup_steps + config.steps):
        lengths = rng.integers(config.seq_len // 4, config.seq_len + 1, size=config.batch_size)
        ids = rng.integers(2, config.vocab_size + 2, size=(config.batch_size, config.seq_len))
        ids = np.where(np.arange(config.seq_len)[None] < lengths[:, None], ids, 0)  # post-padding
        labels = rng.integers(0, 2, size=config.batch_size)
        batches.append(
            distributed.put_batch(
                Batch(
                    ids.astype(np.int32),
                    lengths.astype(np.int32),
                    labels.astype(np.int32),
                    np.ones(config.batch_size, np.float32),
                ),
                mesh,
            )
        )
    return batches


def measure(config: ThroughputConfig, num_devices: int) -> dict:
    """Runs in the child process: compile, warm up, time `steps` data-parallel training steps."""
    import jax
    import numpy as np

    from rnn_jax.training import distributed

    mesh = distributed.make_mesh(num_devices)
    distributed.check_batch_size(config.batch_size, mesh)
    state, dropout_key, step = _jitted_step(config, mesh)
    batches = _synthetic_batches(config, mesh)
    start = time.perf_counter()
    compiled = step.lower(state, batches[0], dropout_key).compile()
    compile_seconds = time.perf_counter() - start
    losses = []

    def run(state, selected):
        total = float(state.sums.loss)
        for b in selected:
            state = compiled(state, b, dropout_key)  # donates the old state
            new_total = float(state.sums.loss)
            losses.append((new_total - total) / config.batch_size)
            total = new_total
        return state

    # Losses are read back after every step so that each step's work is really done (and checked).
    state = run(state, batches[: config.warmup_steps])
    times = []
    snapshot = jax.device_get(state)
    for _ in range(config.repeats):
        state = distributed.put_replicated(snapshot, mesh)  # the same steps each repeat
        del losses[config.warmup_steps :]
        start = time.perf_counter()
        state = run(state, batches[config.warmup_steps :])
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    tokens = config.steps * config.batch_size * config.seq_len
    return {
        **distributed.describe(mesh),
        "batch_size": config.batch_size,
        "seq_len": config.seq_len,
        "rows_per_device": config.batch_size // num_devices,
        "steps": config.steps,
        "seconds": seconds,
        "seconds_all": times,
        "step_ms": 1000 * seconds / config.steps,
        "tokens_per_second": tokens / seconds,
        "compile_seconds": compile_seconds,
        "losses": losses,
        "simulated": config.simulate,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
    }  # other work on the machine slows every figure


def _child_env(config: ThroughputConfig, num_devices: int) -> dict:
    env = dict(os.environ)
    if config.simulate:
        env["XLA_FLAGS"] = (
            f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={num_devices}"
        ).strip()
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _table(records: list[dict]) -> str:
    lines = [
        "| devices | rows/device | step (ms) | tokens/s | vs 1 device | max loss diff vs first | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = records[0]["tokens_per_second"]
    for r in records:
        lines.append(
            f"| {r['num_devices']} | {r['rows_per_device']} | {r['step_ms']:.1f} | "
            f"{r['tokens_per_second']:,.0f} | {r['tokens_per_second'] / base:.2f}x | "
            f"{r['max_loss_diff']:.1e} | {r['load_average_1min']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _measure_in_child(config: ThroughputConfig, num_devices: int, first_losses: list | None) -> dict:
    """One device count's record, measured in a fresh process; with its largest loss difference."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD_CODE,
            "--child",
            str(num_devices),
            json.dumps(dataclasses.asdict(config)),
        ],
        env=_child_env(config, num_devices),
        capture_output=True,
        text=True,
        timeout=config.timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{num_devices} devices failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    record = json.loads(lines[-1][len("RESULT ") :])
    first = record["losses"] if first_losses is None else first_losses
    record["max_loss_diff"] = max(abs(a - b) for a, b in zip(record["losses"], first, strict=True))
    return record


def run(config: ThroughputConfig, command: str) -> dict:
    """Measures every device count (one process each), writes the run folder; returns the results."""
    from tqdm.auto import tqdm

    counts = [int(n) for n in config.device_counts.split(",")]
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    records = []
    for num_devices in tqdm(counts, desc="device counts", unit="run"):
        record = _measure_in_child(config, num_devices, records[0]["losses"] if records else None)
        records.append(record)
        runs.append_metrics(workdir, record)
        tqdm.write(
            f"{num_devices} devices: {record['step_ms']:.1f} ms/step, "
            f"{record['tokens_per_second']:,.0f} tokens/s, "
            f"max loss diff {record['max_loss_diff']:.1e}"
        )
    table = _table(records)
    (workdir / "table.md").write_text(table)
    results = {
        "table": table,
        "records": [{k: v for k, v in r.items() if k != "losses"} for r in records],
        "command": command,
        "note": "simulated devices share this machine's CPU cores: the figures show correctness and "
        "the overhead of splitting the batch, not a speed-up"
        if config.simulate
        else "",
    }
    runs.save_results(workdir, results)
    return results


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/distributed_throughput.py` / `rnn-jax distributed-throughput`.

    `--child N CONFIG_JSON` (the first flag) measures one device count in this process and prints
    its record as one `RESULT {...}` line: what the parent runs in each fresh process.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # one device count, in a fresh process
        config = ThroughputConfig(**json.loads(argv[2]))
        print("RESULT " + json.dumps(measure(config, int(argv[1]))), flush=True)
        return {}
    config = parse_config(ThroughputConfig, argv)
    results = run(config, "python experiments/distributed_throughput.py " + " ".join(argv))
    print(results["table"])
    return results
