"""Training tokens/s of the language models: rnn_jax's against PyTorch's `word_language_model`, side by side.

    python experiments/lm_speed.py --data_dir ../shared/tfds --workdir results/lm/speed
    python experiments/lm_speed.py --smoke --workdir /tmp/s       # seconds, on a tiny corpus
    rnn-jax lm-speed --help

Each variant is one (peer, cell, output layer) at the same sizes, rows B and window K, on the same
windows of the real training stream (the adaptive softmax's cost depends on which words are read):

  - rnn_jax: the language-model study's training step, exactly what `rnn-jax lm` runs
    (`rnn_jax.training.loop.train_step` over `next_word.language_model.make_task`, jitted, the
    window gathered on device, Adam after global-norm clipping);
  - torch: the `RNNModel` of PyTorch's `examples/word_language_model` (`nn.Embedding` ->
    `nn.RNN(tanh)` / `nn.LSTM` -> `nn.Linear` + log-softmax, or `nn.AdaptiveLogSoftmaxWithLoss`
    with the same cutoffs), its training step (`repackage_hidden`, `clip_grad_norm_`), and
    `torch.optim.Adam` at the same rate.

After compilation and `warmup_steps`, each round times `steps` training steps of every variant in a
shuffled order (seeded); the median of the rounds is reported, with the ratio of rnn_jax to torch
per model and output layer, and the load average. Writes config.json, results.json and
lm_speed.png in `workdir`.
"""

from __future__ import annotations

import dataclasses
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.studies.next_word import language_model as lm
from rnn_jax.training import loop, runs

PEERS = ("rnn_jax", "torch")
TORCH_CELLS = ("simple_rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class LMSpeedConfig:
    """Training tokens/s of rnn_jax's language models against PyTorch's word_language_model."""

    workdir: str = flag("results/lm/speed", "folder for config.json, results.json, lm_speed.png")
    models: tuple[str, ...] = flag(("simple_rnn", "lstm"), "cells to time")
    softmaxes: tuple[str, ...] = flag(("full", "adaptive"), "output layers to time")
    peers: tuple[str, ...] = flag(PEERS, "implementations to time")
    batch_sizes: tuple[int, ...] = flag((32,), "B, rows read per step")
    window: int = flag(35, "K, tokens per row per step")
    embedding_size: int = flag(256, "E")
    hidden_size: int = flag(256, "H")
    vocab_size: int = flag(10_000, "words of the vocabulary (+ end-of-review and OOV)")
    cutoffs: tuple[int, ...] = flag((2000, 6000), "the adaptive softmax's cluster boundaries")
    div_value: float = flag(4.0, "the adaptive softmax's projection divisor")
    tie_embeddings: bool = flag(False, "full softmax: the output layer is the embedding table (needs H = E)")
    steps: int = flag(20, "training steps per variant per round")
    rounds: int = flag(5, "timed rounds (the median is reported)")
    warmup_steps: int = flag(3, "untimed steps of each variant after compilation")
    max_train_tokens: int = flag(1_000_000, "training tokens read (the windows come from them)")
    max_train_reviews: int | None = flag(None, "read only the first N training reviews (smoke runs)")
    data_dir: str | None = flag(None, "TFDS data directory (None: $TFDS_DATA_DIR)")
    torch_threads: int = flag(0, "torch.set_num_threads (0: os.cpu_count(), as XLA's CPU backend)")
    seed: int = flag(0, "seed of the parameters and of the order of the variants in each round")


SMOKE = {
    "workdir": "/tmp/lm_speed_smoke",
    "vocab_size": 30,
    "embedding_size": 8,
    "hidden_size": 8,
    "batch_sizes": (2,),
    "window": 5,
    "cutoffs": (10,),
    "steps": 2,
    "rounds": 2,
    "warmup_steps": 1,
    "max_train_reviews": 60,
    "max_train_tokens": 5_000,
}


@dataclasses.dataclass
class Variant:
    name: str
    peer: str
    model: str
    softmax: str
    batch_size: int
    run_steps: Callable[[int], None]  # runs n training steps and waits for them


def _lm_config(config: LMSpeedConfig, model: str, softmax: str, batch_size: int) -> lm.LMConfig:
    return lm.LMConfig(
        model=model,
        softmax=softmax,
        cutoffs=config.cutoffs,
        div_value=config.div_value,
        tie_embeddings=config.tie_embeddings and softmax == "full",
        vocab_size=config.vocab_size,
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        batch_size=batch_size,
        window=config.window,
        seed=config.seed,
    )


def _jax_variant(config, corpus, model: str, softmax: str, batch_size: int) -> Variant:
    """The study's own jitted training step over its task (the loop's `train_step`)."""
    lm_config = _lm_config(config, model, softmax, batch_size)
    net = lm.build_model(lm_config, corpus.num_ids)
    task = lm.make_task(lm_config, net, corpus)
    tx = lm.make_optimizer(lm_config)
    state = loop.create_train_state(task, tx, jax.random.key(config.seed))
    state = state.replace(sums=task.zero_sums(), carry=task.init_carry())
    data, starts, key = jax.device_put(task.train_data), task.epoch_indices(0), jax.random.key(1)

    @jax.jit
    def step(state, indices):
        return loop.train_step(state, task.gather(data, indices), key, task=task, tx=tx)

    box = {"state": state, "i": 0}

    def run_steps(n: int) -> None:
        for _ in range(n):
            box["state"] = step(box["state"], starts[box["i"] % len(starts)])
            box["i"] += 1
        jax.block_until_ready(box["state"])

    return Variant(
        f"rnn_jax {model} {_label(config, softmax)} B={batch_size}",
        "rnn_jax",
        model,
        softmax,
        batch_size,
        run_steps,
    )


def _torch_variant(config, corpus, model: str, softmax: str, batch_size: int) -> Variant:
    """PyTorch's word_language_model RNNModel and training step, with Adam and the same clipping."""
    import torch
    from torch import nn

    torch.manual_seed(config.seed)
    num_ids, emb, hid = corpus.num_ids, config.embedding_size, config.hidden_size
    cell = {"simple_rnn": lambda: nn.RNN(emb, hid, nonlinearity="tanh"), "lstm": lambda: nn.LSTM(emb, hid)}
    cell["gru"] = lambda: nn.GRU(emb, hid)
    embedding, recurrence = nn.Embedding(num_ids, emb), cell[model]()
    if softmax == "adaptive":
        output = nn.AdaptiveLogSoftmaxWithLoss(
            hid, num_ids, list(config.cutoffs), config.div_value, head_bias=True
        )
    else:
        output = nn.Linear(hid, num_ids)
        if config.tie_embeddings:  # RNNModel's --tied: decoder.weight = encoder.weight
            output.weight = embedding.weight
    modules = nn.ModuleList([embedding, recurrence, output])  # a tied weight is one parameter
    optimizer = torch.optim.Adam(modules.parameters(), lr=1e-3)
    rows, starts = lm.training_windows(_lm_config(config, model, softmax, batch_size), corpus)
    rows = torch.from_numpy(np.ascontiguousarray(rows.T)).long()  # [N, B]: PyTorch's sequence-first layout
    zeros = torch.zeros(1, batch_size, hid)
    box = {"hidden": (zeros, zeros.clone()) if model == "lstm" else zeros, "i": 0}

    def train_step(inputs, targets):
        hidden = tuple(h.detach() for h in box["hidden"]) if model == "lstm" else box["hidden"].detach()
        optimizer.zero_grad()
        states, box["hidden"] = recurrence(embedding(inputs), hidden)
        flat, flat_targets = states.reshape(-1, hid), targets.reshape(-1)
        if softmax == "adaptive":
            loss = output(flat, flat_targets).loss
        else:
            loss = nn.functional.cross_entropy(output(flat), flat_targets)
        loss.backward()
        nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        optimizer.step()

    def run_steps(n: int) -> None:
        for _ in range(n):
            s = int(starts[box["i"] % len(starts)])
            train_step(rows[s : s + config.window], rows[s + 1 : s + 1 + config.window])
            box["i"] += 1

    return Variant(
        f"torch {model} {_label(config, softmax)} B={batch_size}",
        "torch",
        model,
        softmax,
        batch_size,
        run_steps,
    )


def _label(config: LMSpeedConfig, softmax: str) -> str:
    return f"{softmax} tied" if config.tie_embeddings and softmax == "full" else softmax


def validate(config: LMSpeedConfig) -> None:
    for name in ("window", "steps", "rounds", "embedding_size", "hidden_size", "vocab_size"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    if config.warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {config.warmup_steps}")
    for name, values, allowed in (
        ("peers", config.peers, PEERS),
        ("models", config.models, TORCH_CELLS),
        ("softmaxes", config.softmaxes, ("full", "adaptive")),
    ):
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise ConfigError(f"{name} must be a non-empty list of {', '.join(allowed)}, got {values!r}")
    if any(b <= 0 for b in config.batch_sizes) or not config.batch_sizes:
        raise ConfigError(f"batch_sizes must be positive, got {config.batch_sizes!r}")
    for softmax in config.softmaxes:
        lm.validate_config(_lm_config(config, config.models[0], softmax, config.batch_sizes[0]))


def run(config: LMSpeedConfig) -> dict[str, Any]:
    """Times every variant; writes and returns the results (tokens/s per variant, rnn_jax / torch)."""
    validate(config)
    if "torch" in config.peers:
        try:
            import torch
        except ImportError:
            raise ConfigError("the torch peer needs PyTorch: pip install -e '.[torch]'") from None
        torch.set_num_threads(config.torch_threads or os.cpu_count() or 1)
    workdir = Path(config.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    runs.save_config(workdir, config)
    corpus = lm.load_corpus(
        lm.LMConfig(
            vocab_size=config.vocab_size,
            data_dir=config.data_dir,
            download=False,
            max_train_tokens=config.max_train_tokens,
            max_train_reviews=config.max_train_reviews,
            max_eval_reviews=10,
            num_validation=10,  # the benchmark only trains: the smallest evaluation slices
            num_test=10,
        )
    )
    make = {"rnn_jax": _jax_variant, "torch": _torch_variant}
    variants = [
        make[peer](config, corpus, model, softmax, batch)
        for batch in config.batch_sizes
        for model in config.models
        for softmax in config.softmaxes
        for peer in config.peers
    ]
    for variant in variants:  # compile and warm up
        variant.run_steps(max(1, config.warmup_steps))
    rng, seconds = random.Random(config.seed), {v.name: [] for v in variants}
    from tqdm.auto import tqdm

    for _ in tqdm(range(config.rounds), desc="rounds", unit="round"):
        for variant in rng.sample(variants, len(variants)):
            start = time.perf_counter()
            variant.run_steps(config.steps)
            seconds[variant.name].append(time.perf_counter() - start)
    results = _results(config, variants, seconds)
    runs.save_results(workdir, results)
    _plot(results, workdir / "lm_speed.png")
    return results


def _results(config: LMSpeedConfig, variants: list[Variant], seconds: dict[str, list[float]]) -> dict:
    rows = []
    for v in variants:
        median = statistics.median(seconds[v.name])
        tokens = config.steps * v.batch_size * config.window
        rows.append(
            {
                "name": v.name,
                "peer": v.peer,
                "model": v.model,
                "softmax": v.softmax,
                "batch_size": v.batch_size,
                "tokens_per_second": tokens / median,
                "ms_per_step": 1e3 * median / config.steps,
                "round_seconds": seconds[v.name],
            }
        )
    by_key = {(r["peer"], r["model"], r["softmax"], r["batch_size"]): r for r in rows}
    for r in rows:
        other = by_key.get(("torch", r["model"], r["softmax"], r["batch_size"]))
        if r["peer"] == "rnn_jax" and other:
            r["speedup_vs_torch"] = r["tokens_per_second"] / other["tokens_per_second"]
    return {"rows": rows, "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count()}


def _plot(results: dict, path: Path) -> None:
    from rnn_jax.studies.plots import pyplot, save_figure

    plt = pyplot()
    rows = results["rows"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.5))
    colors = {"rnn_jax": "tab:blue", "torch": "tab:orange"}
    ax.barh(
        [r["name"] for r in rows],
        [r["tokens_per_second"] for r in rows],
        color=[colors[r["peer"]] for r in rows],
    )
    ax.invert_yaxis()
    ax.set_xlabel("training tokens / s (median of rounds)")
    ax.set_title("Language-model training speed, same sizes, rows and window")
    save_figure(fig, path)


def summary_lines(results: dict) -> list[str]:
    lines = [f"load average {', '.join(f'{x:.2f}' for x in results['load_average'])}"]
    for r in results["rows"]:
        ratio = f"  ({r['speedup_vs_torch']:.2f}x torch)" if "speedup_vs_torch" in r else ""
        lines.append(
            f"{r['name']:<34} {r['tokens_per_second']:>9,.0f} tokens/s {r['ms_per_step']:7.1f} ms/step{ratio}"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax lm-speed` / `python experiments/lm_speed.py`."""
    return run_experiment(LMSpeedConfig, run, summary_lines, argv, smoke=SMOKE, outputs=("lm_speed.png",))
