"""Training throughput of the IMDB classifiers at a given size, and what a full run of them costs.

    python experiments/classifier_speed.py --workdir results/pretrain/classifier_speed_cpu
    python experiments/classifier_speed.py --smoke --workdir /tmp/cs       # seconds
    rnn-jax classifier-speed --help

Times exactly the step that `rnn-jax imdb` trains with (`rnn_jax.studies.sentiment.imdb.train_step`:
the model of `build_model`, the loss, RMSprop, the skip of a non-finite update), jitted, on synthetic
reviews: token ids drawn uniformly from the vocabulary, every review `seq_len` tokens long (the
classifier reads the last `seq_len` words, so a full-length review is the common case and the step's
cost does not depend on which words are read). For each (model, batch size B, `scan_unroll`), after
compilation and one warm-up call, each round times `steps` consecutive training steps of every
variant in a shuffled (seeded) order; the median round gives

    tokens/s = steps * B * seq_len / seconds,
    estimated minutes = num_epochs * (train_reviews // B) * B * seq_len / (tokens/s) / 60,

the second being the training steps of a full run alone (validation, test and checkpoints excluded).
Writes config.json, results.json (with the machine: CPU, cores, JAX backend and device, load) and
results.md to `workdir`.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from rnn_jax.data.tokenizer import NUM_SPECIAL_IDS
from rnn_jax.errors import ConfigError
from rnn_jax.models.classifiers import build_model
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.studies.sentiment import imdb
from rnn_jax.training import runs

MODELS = ("simple_rnn", "lstm", "gru", "birnn")  # one recurrent layer each, as the pretrained starts


@dataclasses.dataclass(frozen=True)
class ClassifierSpeedConfig:
    """Training tokens/s of the IMDB classifiers on synthetic full-length reviews, and a full run's cost."""

    workdir: str = flag("runs/classifier_speed", "folder for config.json, results.json, results.md")
    models: tuple[str, ...] = flag(("simple_rnn", "lstm"), f"classifiers to time, some of {MODELS}")
    embedding_size: int = flag(256, "E, size of the word vectors")
    hidden_size: int = flag(256, "H, size of the RNN state")
    seq_len: int = flag(500, "T, words read per review")
    vocab_size: int = flag(10_000, "words of the vocabulary (plus the special ids)")
    batch_sizes: tuple[int, ...] = flag((32,), "B, reviews per training step")
    scan_unrolls: tuple[int, ...] = flag((1,), "time steps lax.scan unrolls per iteration")
    steps: int = flag(20, "training steps per timed round")
    rounds: int = flag(5, "timed rounds per variant (median reported)")
    train_reviews: int = flag(20_000, "labelled reviews of the full run the estimate is for")
    num_epochs: int = flag(20, "epochs of the full run the estimate is for")
    seed: int = flag(0, "seed of the parameters, the synthetic reviews and the round order")


# The config fields that results.md's header names.
SETTINGS = ("embedding_size", "hidden_size", "seq_len", "steps", "rounds", "num_epochs", "train_reviews")

SMOKE = {
    "models": ("simple_rnn",),
    "embedding_size": 8,
    "hidden_size": 8,
    "seq_len": 12,
    "vocab_size": 50,
    "batch_sizes": (4,),
    "steps": 2,
    "rounds": 2,
}


def validate(config: ClassifierSpeedConfig) -> None:
    """Raises ConfigError for an empty list or a size, count or unroll below 1."""
    for name in ("models", "batch_sizes", "scan_unrolls"):
        if not getattr(config, name):
            raise ConfigError(f"--{name} is empty; give at least one value")
    unknown = [m for m in config.models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown --models {unknown}; expected some of {list(MODELS)}")
    counts = ("embedding_size", "hidden_size", "seq_len", "vocab_size", "steps", "rounds")
    for name in (*counts, "train_reviews", "num_epochs"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(config, name)}")
    for name in ("batch_sizes", "scan_unrolls"):
        bad = [v for v in getattr(config, name) if v < 1]
        if bad:
            raise ConfigError(f"--{name} must all be >= 1, got {bad}")
    too_big = [b for b in config.batch_sizes if b > config.train_reviews]
    if too_big:
        raise ConfigError(f"--batch_sizes {too_big} exceed --train_reviews {config.train_reviews}")


def _variant(config: ClassifierSpeedConfig, model_name: str, batch_size: int, unroll: int):
    """A call that runs `config.steps` jitted training steps of one classifier and blocks, and the dict
    holding the training state it advances (`"state"`)."""
    train_config = imdb.TrainConfig(
        model=model_name,
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        seq_len=config.seq_len,
        vocab_size=config.vocab_size,
        batch_size=batch_size,
        scan_unroll=unroll,
        num_layers=1,
    )
    model = build_model(train_config)
    tx = imdb.make_optimizer(train_config)
    key_params, key_ids, key_labels, key_dropout = jax.random.split(jax.random.key(config.seed), 4)
    state = imdb.create_train_state(model, tx, key_params, config.seq_len)
    words = (NUM_SPECIAL_IDS, config.vocab_size + NUM_SPECIAL_IDS)  # word ids only: no padding, no OOV
    batch = imdb.Batch(
        ids=jax.random.randint(key_ids, (batch_size, config.seq_len), *words, dtype=jnp.int32),
        lengths=jnp.full((batch_size,), config.seq_len, jnp.int32),
        labels=jax.random.bernoulli(key_labels, 0.5, (batch_size,)).astype(jnp.int32),
        weights=jnp.ones((batch_size,), jnp.float32),
    )
    step = jax.jit(functools.partial(imdb.train_step, model=model, tx=tx))
    holder = {"state": state}

    def run_steps():
        s = holder["state"]
        for _ in range(config.steps):
            s = step(s, batch, key_dropout)
        jax.block_until_ready(s.params)
        holder["state"] = s

    return run_steps, holder


def run(config: ClassifierSpeedConfig) -> dict:
    validate(config)
    from tqdm.auto import tqdm

    out = runs.make_workdir(config.workdir)
    runs.save_config(out, config)
    machine = runs.machine()
    names = [(m, b, u) for m in config.models for b in config.batch_sizes for u in config.scan_unrolls]
    variants, states, compile_seconds = {}, {}, {}
    for name in tqdm(names, desc="compile", unit="variant"):
        tic = time.perf_counter()
        variants[name], states[name] = _variant(config, *name)
        variants[name]()  # compiles, then warms up
        compile_seconds[name] = time.perf_counter() - tic
    times = {name: [] for name in names}
    order_rng = random.Random(config.seed)
    for _ in tqdm(range(config.rounds), desc="rounds", unit="round"):
        for name in order_rng.sample(names, len(names)):
            tic = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - tic)
    rows = []
    for (model_name, batch_size, unroll), seconds in times.items():
        median = statistics.median(seconds)
        state = states[(model_name, batch_size, unroll)]["state"]
        tokens_per_second = config.steps * batch_size * config.seq_len / median
        run_tokens = config.num_epochs * (config.train_reviews // batch_size) * batch_size * config.seq_len
        rows.append(
            {
                "model": model_name,
                "batch_size": batch_size,
                "scan_unroll": unroll,
                "step_ms": 1e3 * median / config.steps,
                "tokens_per_second": tokens_per_second,
                "estimated_run_minutes": run_tokens / tokens_per_second / 60,
                "first_call_seconds": compile_seconds[(model_name, batch_size, unroll)],
                "round_seconds": seconds,
                "steps_run": int(state.step),
                "skipped_updates": int(state.skipped_updates),
            }
        )
    machine["load_average_1min_end"] = runs.machine()["load_average_1min"]
    settings = {name: getattr(config, name) for name in SETTINGS}
    results = {"machine": machine, "settings": settings, "rows": rows}
    runs.save_results(out, results)
    runs.write_text_atomic(Path(out) / "results.md", "\n".join(summary_lines(results)) + "\n")
    return results


def summary_lines(results: dict) -> list[str]:
    m, s = results["machine"], results["settings"]
    lines = [
        f"Machine: {m['cpu']}, {m['cpu_count']} cores, JAX {m['jax']} on {m['jax_backend']} "
        f"({m.get('device', '?')}), load {m['load_average_1min']:.2f} -> {m['load_average_1min_end']:.2f}",
        "",
        f"E = {s['embedding_size']}, H = {s['hidden_size']}, T = {s['seq_len']}; median of {s['rounds']} "
        f"rounds of {s['steps']} steps; the estimate counts training steps only",
        "",
        f"| model | B | scan_unroll | ms / step | tokens/s | estimated minutes per run "
        f"({s['num_epochs']} epochs of {s['train_reviews']:,} reviews) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['scan_unroll']} | {r['step_ms']:.2f} | "
            f"{r['tokens_per_second']:,.0f} | {r['estimated_run_minutes']:.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax classifier-speed` / `python experiments/classifier_speed.py`."""
    return run_experiment(
        ClassifierSpeedConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["results.md"]
    )
