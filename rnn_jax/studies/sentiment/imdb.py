"""IMDB sentiment classification on the shared training loop: config, task, `train_and_evaluate`.

Laid out like flax's `examples/sst2/train.py`:

    train_and_evaluate(config, workdir):
        start the cluster, check the run folder -> prepare_data (TFDS -> words -> ids)
        -> build_model, make_optimizer -> make_task -> rnn_jax.training.loop.fit -> results

The loop (`rnn_jax.training.loop`) does the epochs, validation, best epoch, early stopping, checkpoints
with exact resume, preemption and the run folder. This module supplies what is IMDB's: the
`TrainConfig`, the data, the binary cross-entropy and accuracy (`classification_loss`,
`classification_sums`), the minibatch order (`epoch_order`) and the results' extra entries.

A pretrained start (`pretrained_lm`, a finished RNN run of `rnn_jax.studies.next_word.language_model` with the
same sizes): the classifier encodes the reviews with that run's vocabulary (the LM's end-of-review id 0
is the padding id here, its OOV id 1 and words 2 .. N+1 are the classifier's layout) and overwrites
`params["embedding"]` (and, `pretrained_parts="embedding+rnn"`, `params["rnn"]`, the same one-layer
cell) with the LM's best parameters at step 0 (`load_pretrained`); `pretrained_parts="vocab"` takes the
vocabulary only, the control with the same words and a random start. `freeze_embedding_epochs` and
`pretrained_lr_scale` act through `scale_parts`, a function of the optimizer's own step count.

A run folder holds `config.json`, `vocab.json`, `metrics.jsonl` (one record per epoch), `results.json`,
`curves.png`, `checkpoints/` (orbax, every epoch and every `checkpoint_every_steps` steps) and
`best_params/` (orbax, the parameters `load_run` returns).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.core.cells import num_params
from rnn_jax.core.initializers import spectral_radius
from rnn_jax.data.tokenizer import (
    NUM_SPECIAL_IDS,
    PADDINGS,
    Vocabulary,
    build_vocabulary,
    encode,
    tokenize,
)
from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.models.classifiers import MODELS, build_model, init_params
from rnn_jax.studies.command import flag, parse_flags
from rnn_jax.training import checkpoints, distributed, loop, runs

logger = logging.getLogger(__name__)

OPTIMIZERS = ("rmsprop", "adam")
# What a classifier may take from a language-model run: the word vectors, or those and the recurrence;
# "vocab": its vocabulary only, the parameters drawn at random (the control of a pretrained start).
PRETRAINED_PARTS = ("vocab", "embedding", "embedding+rnn")
# Classifiers whose recurrence is one cell of the language model's kind (the others: embedding only).
SINGLE_CELL_MODELS = ("simple_rnn", "lstm", "gru")
VOCAB_FILE = "vocab.json"
CURVES_FILE = "curves.png"
CHECKPOINT_DIR = checkpoints.CHECKPOINT_DIR
BEST_PARAMS_DIR = checkpoints.BEST_PARAMS_DIR
# Fields that may differ between a run and its resumption (where the data is, not what it is).
# Nor where it is computed: a run may resume on another number of devices or processes.
RESUMABLE_CHANGES = (
    "data_dir",
    "download",
    "num_devices",
    "coordinator_address",
    "num_processes",
    "process_id",
    "distributed_timeout",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """IMDB sentiment classification: an embedding, a recurrence from rnn_jax, a logistic head."""

    model: str = flag("simple_rnn", "which classifier", MODELS)
    vocab_size: int = flag(
        10_000,
        "words in the vocabulary (the most frequent training words), "
        "besides the padding id 0 and the OOV id 1",
    )
    seq_len: int = flag(500, "words kept per review: the LAST seq_len")
    padding: str = flag(
        "post",
        "post: [w1 w2 0 0] and the RNN stops at the last real word (lengths); "
        "pre: [0 0 w1 w2], Keras' default, read without a mask",
        PADDINGS,
    )
    embedding_size: int = flag(32, "E, size of the word vectors")
    hidden_size: int = flag(32, "H, size of the RNN state")
    num_layers: int = flag(2, "recurrent layers of the 'stacked' model (other models: 1)")
    embedding_dropout: float = flag(0.0, "dropout rate on the word vectors while training")
    optimizer: str = flag("rmsprop", "Optax optimizer (the lecture: RMSprop)", OPTIMIZERS)
    learning_rate: float = flag(1e-3, "learning rate")
    clip_norm: float | None = flag(None, "clip gradients to this global norm (None: no clipping)")
    batch_size: int = flag(32, "training minibatch size")
    num_epochs: int = flag(10, "maximum number of epochs")
    patience: int | None = flag(
        3, "stop after this many epochs without a better validation accuracy (None: never stop early)"
    )
    seed: int = flag(0, "seed of the initial parameters, the minibatch order and dropout")
    split_seed: int = flag(0, "seed of the 20,000 / 5,000 train / validation split")
    num_validation: int = flag(5_000, "validation reviews held out of TFDS's 25,000 training reviews")
    eval_batch_size: int = flag(500, "batch size for validation and test")
    checkpoint_every_steps: int = flag(
        200, "also checkpoint every this many steps inside an epoch (0: only at the end of each epoch)"
    )
    scan_unroll: int = flag(1, "time steps lax.scan unrolls per iteration (a speed knob)")
    data_dir: str | None = flag(
        None, "TFDS data directory (None: $TFDS_DATA_DIR, else ~/tensorflow_datasets)"
    )
    download: bool = flag(
        True,
        "download and prepare imdb_reviews with TFDS when it is missing "
        "(needs internet and the 'download' extra)",
    )
    max_train_examples: int | None = flag(None, "use only this many training reviews (smoke runs)")
    max_eval_examples: int | None = flag(None, "use only this many validation and test reviews (smoke runs)")
    # Data parallelism over devices and processes (rnn_jax.distributed); batch sizes stay global.
    num_devices: int | None = flag(
        None,
        "devices in the data-parallel mesh, over all processes "
        "(None: every visible device); must divide batch_size",
    )
    coordinator_address: str | None = flag(
        None,
        "host:port of process 0 in a multi-process run (None: "
        "$JAX_COORDINATOR_ADDRESS, else auto-detected on "
        "SLURM/Open MPI/TPU, else a single process)",
    )
    num_processes: int | None = flag(
        None, "processes in a multi-process run (None: $JAX_NUM_PROCESSES or auto-detected)"
    )
    process_id: int | None = flag(
        None, "this process's id in 0..num_processes-1 (None: $JAX_PROCESS_ID or auto-detected)"
    )
    distributed_timeout: int = flag(
        120, "seconds to wait for the coordinator and the other processes before failing with a message"
    )
    # A pretrained start from a language-model run (studies.next_word.language_model) of the same sizes.
    pretrained_lm: str | None = flag(
        None,
        "a finished RNN language-model run folder: the classifier encodes reviews with its vocabulary "
        "and starts the pretrained_parts from its best parameters (None: a random start)",
    )
    pretrained_parts: str = flag(
        "embedding",
        "what to take from pretrained_lm besides its vocabulary: the word vectors, or those and the "
        "recurrence (embedding+rnn: the same cell, one layer); vocab: nothing else (a random start)",
        PRETRAINED_PARTS,
    )
    freeze_embedding_epochs: int = flag(
        0, "the embedding gets no update during the first N epochs (needs pretrained_lm)"
    )
    pretrained_lr_scale: float = flag(
        1.0, "learning-rate multiplier of the pretrained parameters (needs pretrained_lm)"
    )
    pretrained_radius: float | None = flag(
        None,
        "rescale the pretrained Simple RNN's recurrent block A_h to this spectral radius at step 0 "
        "(simple_rnn with embedding+rnn; None: as the language model left it)",
    )
    pretrained_orthogonal: bool = flag(
        False,
        "replace the pretrained Simple RNN's A_h by its nearest orthogonal matrix U V^T (A_h = U S V^T): "
        "the language model's directions without its contraction (simple_rnn with embedding+rnn)",
    )
    pretrained_input_scale: float = flag(
        1.0,
        "multiply the pretrained Simple RNN's input block A_x by this at step 0, to lower the input "
        "drive that saturates its units (simple_rnn with embedding+rnn; 1: as the language model left it)",
    )


def validate_config(config: TrainConfig) -> None:
    """Raises ConfigError (a ValueError) naming the first field that makes no sense."""
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; expected one of {', '.join(map(repr, MODELS))}")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"unknown optimizer {config.optimizer!r}; expected one of {', '.join(map(repr, OPTIMIZERS))}"
        )
    if isinstance(config.vocab_size, int) and config.vocab_size < 1:
        raise ConfigError(
            f"vocab_size must be >= 1 (the vocabulary is too small to hold any word), got {config.vocab_size}"
        )
    for name in (
        "seq_len",
        "embedding_size",
        "hidden_size",
        "num_layers",
        "batch_size",
        "num_epochs",
        "eval_batch_size",
        "scan_unroll",
    ):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    if not config.learning_rate > 0:
        raise ConfigError(f"learning_rate must be > 0, got {config.learning_rate}")
    if config.clip_norm is not None and not config.clip_norm > 0:
        raise ConfigError(f"clip_norm must be > 0 or None, got {config.clip_norm}")
    if config.patience is not None and config.patience < 1:
        raise ConfigError(f"patience must be >= 1 or None, got {config.patience}")
    if config.checkpoint_every_steps < 0:
        raise ConfigError(f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}")
    for name in ("max_train_examples", "max_eval_examples"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be a positive int or None, got {value}")
    num_devices = config.num_devices
    if num_devices is not None and (
        isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices <= 0
    ):
        raise ConfigError(f"num_devices must be a positive int or None, got {config.num_devices!r}")
    if not config.distributed_timeout > 0:
        raise ConfigError(f"distributed_timeout must be > 0 seconds, got {config.distributed_timeout}")
    _validate_pretrained_fields(config)
    try:
        build_model(config)  # model-specific checks (stacked needs 2+ layers, padding, dropout)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _validate_pretrained_fields(config: TrainConfig) -> None:
    """The pretrained-start flags on their own (the run folder itself: `load_pretrained`)."""
    if config.pretrained_parts not in PRETRAINED_PARTS:
        raise ConfigError(
            f"unknown pretrained_parts {config.pretrained_parts!r}; "
            f"expected one of {', '.join(map(repr, PRETRAINED_PARTS))}"
        )
    freeze = config.freeze_embedding_epochs
    if isinstance(freeze, bool) or not isinstance(freeze, int) or freeze < 0:
        raise ConfigError(f"freeze_embedding_epochs must be an int >= 0, got {freeze!r}")
    if not config.pretrained_lr_scale > 0:
        raise ConfigError(f"pretrained_lr_scale must be > 0, got {config.pretrained_lr_scale}")
    radius = config.pretrained_radius
    if radius is not None and (isinstance(radius, bool) or not radius > 0):
        raise ConfigError(f"pretrained_radius must be > 0 or None, got {radius!r}")
    if not config.pretrained_input_scale > 0:
        raise ConfigError(f"pretrained_input_scale must be > 0, got {config.pretrained_input_scale}")
    for name, changed in (
        ("pretrained_radius", radius is not None),
        ("pretrained_input_scale", config.pretrained_input_scale != 1.0),
        ("pretrained_orthogonal", config.pretrained_orthogonal),
    ):
        if (
            changed
            and config.pretrained_lm is not None
            and (config.model != "simple_rnn" or config.pretrained_parts != "embedding+rnn")
        ):
            raise ConfigError(
                f"{name} rescales a pretrained Simple RNN recurrence: it needs model 'simple_rnn' "
                f"and pretrained_parts 'embedding+rnn' (got {config.model!r}, {config.pretrained_parts!r})"
            )
    if config.pretrained_lm is None:
        for name, default in (
            ("pretrained_parts", "embedding"),
            ("freeze_embedding_epochs", 0),
            ("pretrained_lr_scale", 1.0),
            ("pretrained_radius", None),
            ("pretrained_input_scale", 1.0),
            ("pretrained_orthogonal", False),
        ):
            if getattr(config, name) != default:
                raise ConfigError(f"{name} needs pretrained_lm (a language-model run folder to start from)")
    elif config.pretrained_parts == "vocab" and (
        config.freeze_embedding_epochs > 0 or config.pretrained_lr_scale != 1.0
    ):
        raise ConfigError(
            "freeze_embedding_epochs and pretrained_lr_scale act on pretrained parameters; "
            "pretrained_parts 'vocab' takes none"
        )
    elif config.pretrained_parts == "embedding+rnn" and config.model not in SINGLE_CELL_MODELS:
        raise ConfigError(
            f"model {config.model!r} has no single recurrence to take from a language model; "
            f"use pretrained_parts 'embedding' (embedding+rnn needs one of {', '.join(SINGLE_CELL_MODELS)})"
        )


# ----------------------------------------------------------------------------- pretrained start


class Pretrained(NamedTuple):
    """What a classifier takes from a language-model run.

    Attributes:
      vocab: the run's vocabulary (ids 2 .. N+1 as the classifier's; the LM's end-of-review id 0 is
        the classifier's padding id).
      params: the classifier's parameters to overwrite at step 0, e.g.
        `{"embedding": {"embedding": [V, E]}, "rnn": {"A": [H, H + E], "b": [H]}}` (`{}` for "vocab").
      summary: where they came from, for results.json.
    """

    vocab: Vocabulary
    params: dict[str, Any]
    summary: dict[str, Any]


def _check_lm_fits(config: TrainConfig, lm_config: Any, with_embedding: bool, with_rnn: bool) -> None:
    """ConfigError when the language model's sizes, cell or layers do not fit the parts taken."""
    sizes = (
        ["vocab_size"]
        + (["embedding_size"] if with_embedding else [])
        + (["hidden_size"] if with_rnn else [])
    )
    for name in sizes:
        if getattr(lm_config, name) != getattr(config, name):
            raise ConfigError(
                f"pretrained_lm: {name} differs: the language model's is {getattr(lm_config, name)}, "
                f"the classifier's {getattr(config, name)}"
            )
    if with_rnn and lm_config.model != config.model:
        raise ConfigError(
            f"pretrained_lm: the language model's cell is {lm_config.model!r}, the classifier's "
            f"{config.model!r}; embedding+rnn needs the same cell (or use pretrained_parts 'embedding')"
        )
    if with_rnn and lm_config.num_layers != 1:
        raise ConfigError(
            f"pretrained_lm: the language model has {lm_config.num_layers} layers; embedding+rnn needs "
            "a one-layer model (or use pretrained_parts 'embedding')"
        )


def load_pretrained(config: TrainConfig) -> Pretrained | None:
    """The parts of `config.pretrained_lm` the classifier starts from (None without `pretrained_lm`).

    Raises:
      RunNotFoundError: the folder holds no run, or an unfinished one (no best parameters yet).
      ConfigError: it is not a language-model run, a count model's, or its sizes, vocabulary, cell
        or layers do not fit the classifier's config.
    """
    if config.pretrained_lm is None:
        return None
    from rnn_jax.studies.next_word import language_model as lm

    workdir = Path(config.pretrained_lm)
    path = workdir / runs.CONFIG_FILE
    if not path.exists():
        raise RunNotFoundError(f"pretrained_lm: {path} does not exist: {workdir} holds no language-model run")
    saved = runs.load_json(path)
    lm_fields = {f.name for f in dataclasses.fields(lm.LMConfig)}
    if not set(saved) <= lm_fields or "window" not in saved:
        raise ConfigError(
            f"pretrained_lm: {workdir} is not a language-model run (its config.json is not an LMConfig)"
        )
    lm_config = lm.LMConfig(**saved)
    if lm_config.model in lm.COUNT_MODELS:
        raise ConfigError(
            f"pretrained_lm: {workdir} is a {lm_config.model} count model (no word vectors); "
            f"start from an RNN language model ({', '.join(lm.RNN_MODELS)})"
        )
    if not (workdir / runs.RESULTS_FILE).exists() or not (workdir / BEST_PARAMS_DIR).exists():
        raise RunNotFoundError(
            f"pretrained_lm: {workdir} has not finished (no results.json / {BEST_PARAMS_DIR}/); "
            "let the language model finish (or --resume it) first"
        )
    with_rnn = config.pretrained_parts == "embedding+rnn"
    with_embedding = config.pretrained_parts != "vocab"
    _check_lm_fits(config, lm_config, with_embedding, with_rnn)
    _, lm_params, vocab = lm.load_run(workdir)
    if vocab.num_ids != config.vocab_size + NUM_SPECIAL_IDS:
        raise ConfigError(
            f"pretrained_lm: the language model's vocabulary has {len(vocab)} words, "
            f"the classifier's vocab_size is {config.vocab_size}"
        )
    parts = (["embedding"] if with_embedding else []) + (["rnn"] if with_rnn else [])
    params = {name: jax.tree_util.tree_map(jnp.asarray, lm_params[name]) for name in parts}
    expected = jax.eval_shape(lambda: init_params(build_model(config), jax.random.key(0), config.seq_len))
    shapes = functools.partial(jax.tree_util.tree_map, lambda a: (a.shape, a.dtype))
    for name in parts:
        if shapes(params[name]) != shapes(expected[name]):  # a last safety net: the checks above cover it
            raise ConfigError(f"pretrained_lm: params[{name!r}] of {workdir} do not fit the classifier's")
    radii = {}
    if with_rnn and config.model == "simple_rnn":
        params["rnn"], radii = rescale_recurrence(
            params["rnn"],
            config.hidden_size,
            config.pretrained_radius,
            config.pretrained_input_scale,
            orthogonal=config.pretrained_orthogonal,
        )
    lm_results = runs.load_json(workdir / runs.RESULTS_FILE)
    summary = {
        "workdir": str(workdir),
        "model": lm_config.model,
        "parts": config.pretrained_parts,
        "test_perplexity": lm_results.get("test_perplexity"),
        "validation_perplexity": lm_results.get("validation_perplexity"),
        "train_tokens": lm_results.get("train_tokens"),
        **radii,
    }
    return Pretrained(vocab, params, summary)


def rescale_recurrence(
    rnn_params: dict[str, Any],
    hidden_size: int,
    radius: float | None,
    input_scale: float = 1.0,
    *,
    orthogonal: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """A Simple RNN's `{"A": [H, H + E], ...}` with `A_h = A[:, :H]` scaled to spectral radius `radius`
    and the input block `A_x = A[:, H:]` multiplied by `input_scale`:

        A_h <- U V^T                     (orthogonal: the polar factor of A_h = U S V^T, radius 1)
        A_h <- A_h * radius / rho(A_h)   (radius None: unchanged)
        A_x <- A_x * input_scale         (b unchanged)

    Returns the parameters and `{"lm_recurrent_radius": rho(A_h) as trained, "recurrent_radius": the
    radius at step 0, "input_scale": input_scale, "orthogonal": orthogonal}`, recorded in results.json.
    """
    a = rnn_params["A"]
    rho = spectral_radius(a[:, :hidden_size])
    if orthogonal:
        u, _, vt = jnp.linalg.svd(a[:, :hidden_size])
        a, rho_now = a.at[:, :hidden_size].set(u @ vt), 1.0
    else:
        rho_now = rho
    radii = {"lm_recurrent_radius": rho, "recurrent_radius": rho_now if radius is None else float(radius)}
    radii.update(input_scale=float(input_scale), orthogonal=bool(orthogonal))
    if radius is None and input_scale == 1.0 and not orthogonal:
        return rnn_params, radii
    if radius is not None:
        a = a.at[:, :hidden_size].multiply(radius / rho_now)
    if input_scale != 1.0:
        a = a.at[:, hidden_size:].multiply(input_scale)
    return {**rnn_params, "A": a}, radii


def _init_from(key: jax.Array, *, model: nn.Module, seq_len: int, start: dict[str, Any] | None) -> Any:
    """`init_params` from `key`, then the pretrained parts in `start` (the rest stays as drawn)."""
    params = init_params(model, key, seq_len)
    return params if not start else {**params, **start}


# ----------------------------------------------------------------------------- data


class Batch(NamedTuple):
    """A minibatch: `ids` [B, T] int32, `lengths` [B] int32, `labels` [B] int32, `weights` [B] float32."""

    ids: jax.Array
    lengths: jax.Array
    labels: jax.Array
    weights: jax.Array


class Encoded(NamedTuple):
    """One split as arrays: `ids` [N, T] int32, `lengths` [N] int32, `labels` [N] int32."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


def prepare_data(
    config: TrainConfig, vocab: Vocabulary | None = None
) -> tuple[dict[str, Encoded], Vocabulary, dict]:
    """Loads the IMDB splits, builds (or reuses) the vocabulary, encodes every split.

    Returns:
      `(splits, vocab, timings)`: `{"train", "validation", "test"}` of `Encoded`, the vocabulary,
      and `{"load_seconds", "tokenize_seconds", "tokenize_cpu_seconds", "num_tokenized"}`
      (tokenizing = splitting into words, counting the vocabulary and encoding ids, for every
      labelled review loaded; wall and CPU seconds).
    """
    from rnn_jax.data.imdb import load_imdb

    start = time.perf_counter()
    raw = load_imdb(
        config.data_dir,
        split_seed=config.split_seed,
        num_validation=config.num_validation,
        download=config.download,
        max_train_examples=config.max_train_examples,
        max_eval_examples=config.max_eval_examples,
    )
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    words = {name: tokenize(split.texts) for name, split in raw.items()}
    if vocab is None:
        vocab = build_vocabulary(words["train"], config.vocab_size)
    splits = {}
    for name, split in raw.items():
        ids, lengths = encode(words[name], vocab, config.seq_len, config.padding)
        splits[name] = Encoded(ids, lengths, split.labels)
    timings = {
        "load_seconds": loaded - start,
        "tokenize_seconds": time.perf_counter() - loaded,
        "tokenize_cpu_seconds": time.process_time() - loaded_cpu,
        "num_tokenized": sum(len(s.texts) for s in raw.values()),
    }
    return splits, vocab, timings


def epoch_order(seed: int, epoch: int, num_examples: int, batch_size: int) -> np.ndarray:
    """The minibatches of `epoch`: [num_examples // batch_size, batch_size] indices (a pure function)."""
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    num_batches = num_examples // batch_size
    return order[: num_batches * batch_size].reshape(num_batches, batch_size).astype(np.int32)


def eval_batches(split: Encoded, batch_size: int, multiple_of: int = 1) -> Batch:
    """The split padded to whole batches: [num_batches, batch_size, ...], padding rows weigh 0."""
    (ids, lengths, labels), weights = loop.stack_batches(
        (split.ids, split.lengths, split.labels), batch_size, multiple_of
    )
    return Batch(ids, lengths, labels, weights)


# ----------------------------------------------------------------------------- loss and metrics


class Sums(NamedTuple):
    """Sums over examples (`count` of them): `loss` (binary cross-entropy) and `correct` predictions."""

    loss: jax.Array
    correct: jax.Array
    count: jax.Array

    @classmethod
    def zeros(cls) -> Sums:
        return cls(jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))

    def means(self) -> dict[str, float]:
        count = float(self.count)
        if count == 0:
            return {"loss": float("nan"), "accuracy": float("nan")}
        return {"loss": float(self.loss) / count, "accuracy": float(self.correct) / count}


def _losses(model: nn.Module, params: Any, batch: Batch, train: bool, dropout_key: jax.Array | None):
    rngs = {"dropout": dropout_key} if dropout_key is not None else {}
    logits = model.apply({"params": params}, batch.ids, batch.lengths, train=train, rngs=rngs)  # [B]
    losses = optax.sigmoid_binary_cross_entropy(logits, batch.labels.astype(logits.dtype))  # [B]
    correct = ((logits > 0) == (batch.labels > 0)).astype(jnp.float32)
    return losses, correct


def classification_loss(
    params: Any, batch: Batch, carry: Any, dropout_key: jax.Array, *, model: nn.Module
) -> tuple[jax.Array, tuple[Sums, Any]]:
    """The weighted mean binary cross-entropy (training mode), and the batch's `Sums`.

        loss = sum_i w_i BCE(sigmoid(logit_i), y_i) / sum_i w_i

    The classifiers carry nothing from batch to batch: `carry` is `()` and comes back unchanged.
    """
    weight_sum = jnp.maximum(batch.weights.sum(), 1.0)
    losses, correct = _losses(model, params, batch, True, dropout_key)
    loss = (losses * batch.weights).sum() / weight_sum
    return loss, (Sums(loss * weight_sum, (correct * batch.weights).sum(), batch.weights.sum()), carry)


def classification_sums(params: Any, batch: Batch, carry: Any, *, model: nn.Module) -> tuple[Sums, Any]:
    """Weighted sums of loss and correct predictions over one batch (padding rows have weight 0)."""
    losses, correct = _losses(model, params, batch, False, None)
    return Sums((losses * batch.weights).sum(), (correct * batch.weights).sum(), batch.weights.sum()), carry


def _describe(metrics: dict[str, float]) -> str:
    return f"loss {metrics['loss']:.4f} acc {100 * metrics['accuracy']:.2f}%"


class PartScalesState(NamedTuple):
    """`scale_parts`' state: `count`, the updates it has passed on so far (int32 [])."""

    count: jax.Array


def scale_parts(scales: dict[str, float], frozen_steps: dict[str, int]) -> optax.GradientTransformation:
    """Scales the updates of named top-level parameter parts; zeroes a part for its first steps.

        u_part <- scales[part] * [count >= frozen_steps[part]] * u_part     (other parts unchanged)

    Placed after RMSprop or Adam (whose updates end in `-lr * ...`) it gives the part the learning rate
    `scales[part] * lr`, and freezes it for `frozen_steps[part]` steps while the optimizer's statistics
    still see its gradients. The gate reads the transformation's own step count, which lives in the
    optimizer state and so in the checkpoint: a resumed run freezes exactly the same steps. (A skipped
    non-finite update does not advance it.)
    """

    def init(params):
        del params
        return PartScalesState(jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        del params
        scaled = dict(updates)
        for name in set(scales) | set(frozen_steps):
            factor = jnp.asarray(scales.get(name, 1.0), jnp.float32)
            if frozen_steps.get(name, 0) > 0:
                factor = jnp.where(state.count < frozen_steps[name], 0.0, factor)
            scaled[name] = jax.tree_util.tree_map(lambda u, f=factor: u * f.astype(u.dtype), updates[name])
        return scaled, PartScalesState(optax.safe_int32_increment(state.count))

    return optax.GradientTransformation(init, update)


def make_optimizer(config: TrainConfig, steps_per_epoch: int | None = None) -> optax.GradientTransformation:
    """RMSprop (the lecture's) or Adam, after optional global-norm clipping.

    With `pretrained_lm`: the pretrained parts' updates are scaled by `pretrained_lr_scale` and the
    embedding's are zero for the first `freeze_embedding_epochs * steps_per_epoch` steps
    (`scale_parts`); without a scale or a freeze the optimizer is the plain one.
    """
    make = {"rmsprop": optax.rmsprop, "adam": optax.adam}[config.optimizer]
    parts = [] if config.clip_norm is None else [optax.clip_by_global_norm(config.clip_norm)]
    parts.append(make(config.learning_rate))
    if config.pretrained_lm is not None and (
        config.pretrained_lr_scale != 1.0 or config.freeze_embedding_epochs > 0
    ):
        pretrained = ["embedding"] + (["rnn"] if config.pretrained_parts == "embedding+rnn" else [])
        frozen = {}
        if config.freeze_embedding_epochs > 0:
            if steps_per_epoch is None:
                raise ValueError("freeze_embedding_epochs needs steps_per_epoch")
            frozen["embedding"] = config.freeze_embedding_epochs * steps_per_epoch
        parts.append(scale_parts({name: config.pretrained_lr_scale for name in pretrained}, frozen))
    return optax.chain(*parts)


def make_task(
    config: TrainConfig,
    model: nn.Module,
    splits: dict[str, Encoded] | None = None,
    num_devices: int = 1,
    pretrained: Pretrained | None = None,
) -> loop.Task:
    """The classification `Task` of the shared loop: model, loss, metrics and (given `splits`) the data.

    Without `splits` the task has no data: enough for `create_train_state` and `train_step`. With
    `pretrained`, the initial parameters take its parts (`load_pretrained`).
    """
    start = None if pretrained is None else pretrained.params
    objective = dict(
        init_params=functools.partial(_init_from, model=model, seq_len=config.seq_len, start=start),
        loss=functools.partial(classification_loss, model=model),
        eval_sums=functools.partial(classification_sums, model=model),
        zero_sums=Sums.zeros,
        metrics=lambda sums: Sums(*sums).means(),
        monitor="accuracy",
        mode="max",
        describe=_describe,
    )
    if splits is None:
        return loop.Task(**objective)
    train = splits["train"]
    num_train = len(train.labels)
    steps_per_epoch = num_train // config.batch_size
    return loop.Task(
        **objective,
        train_data=Batch(train.ids, train.lengths, train.labels, np.ones((num_train,), np.float32)),
        gather=lambda data, indices: jax.tree_util.tree_map(lambda a: a[indices], data),
        epoch_indices=functools.partial(_epoch_indices, config.seed, num_train, config.batch_size),
        validation=eval_batches(splits["validation"], config.eval_batch_size, num_devices),
        test=eval_batches(splits["test"], config.eval_batch_size, num_devices),
        tokens_per_epoch=steps_per_epoch * config.batch_size * config.seq_len,
    )


def _epoch_indices(seed: int, num_train: int, batch_size: int, epoch: int) -> np.ndarray:
    return epoch_order(seed, epoch, num_train, batch_size)


def create_train_state(
    model: nn.Module, tx: optax.GradientTransformation, key: jax.Array, seq_len: int
) -> loop.TrainState:
    """Initial parameters of `model` from `key`, a fresh optimizer state, step 0."""
    task = make_task(dataclasses.replace(TrainConfig(), seq_len=seq_len), model)
    return loop.create_train_state(task, tx, key)


def train_step(
    state: loop.TrainState,
    batch: Batch,
    key: jax.Array,
    *,
    model: nn.Module,
    tx: optax.GradientTransformation,
) -> loop.TrainState:
    """`rnn_jax.training.loop.train_step` on `classification_loss` (skipped when not finite)."""
    return loop.train_step(state, batch, key, task=make_task(TrainConfig(), model), tx=tx)


def eval_step(params: Any, batch: Batch, *, model: nn.Module) -> Sums:
    """Weighted sums of loss and correct predictions over one batch (padding rows have weight 0)."""
    return classification_sums(params, batch, (), model=model)[0]


# ----------------------------------------------------------------------------- the run


def _start_cluster(config: TrainConfig):
    """Joins the processes of a multi-process run (if any) and returns the data-parallel mesh."""
    distributed.initialize(
        distributed.resolve_cluster(config.coordinator_address, config.num_processes, config.process_id),
        timeout=config.distributed_timeout,
    )
    mesh = distributed.make_mesh(config.num_devices)
    distributed.check_batch_size(config.batch_size, mesh)
    return mesh


def _data_results(splits: dict[str, Encoded], timings: dict) -> dict[str, Any]:
    return {
        "tokenize_seconds": timings["tokenize_seconds"],
        "tokenize_cpu_seconds": timings["tokenize_cpu_seconds"],
        "num_tokenized": timings["num_tokenized"],
        **{f"num_{name}": len(split.labels) for name, split in splits.items()},
    }


def _load_data(
    config: TrainConfig, workdir: Path, resume: bool, writer: bool, vocab: Vocabulary | None = None
):
    """The encoded splits and the vocabulary (a resumed run's is the saved one); saves config and vocab.

    `vocab`: a given vocabulary (a pretrained language model's) instead of the training reviews' own.
    """
    if resume and (workdir / VOCAB_FILE).exists():
        vocab = Vocabulary.load(workdir / VOCAB_FILE)
    splits, vocab, timings = prepare_data(config, vocab)
    num_train = len(splits["train"].labels)
    if num_train < config.batch_size:
        raise ConfigError(
            f"only {num_train} training reviews for batch_size {config.batch_size}; "
            "raise max_train_examples or lower batch_size"
        )
    if not resume and writer:
        runs.save_config(workdir, config)
        vocab.save(workdir / VOCAB_FILE)
    print(
        f"data: {num_train} train / {len(splits['validation'].labels)} validation / "
        f"{len(splits['test'].labels)} test reviews; vocabulary {len(vocab)} words + 2; tokenized "
        f"{timings['num_tokenized']} reviews in {timings['tokenize_seconds']:.2f} s"
    )
    return splits, timings


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Trains `config.model` on IMDB, keeps the best validation epoch, tests it; writes the run folder.

    Args:
      config: the run's `TrainConfig`.
      workdir: the run folder (created).
      resume: continue from the newest intact checkpoint in `workdir` (same config required).
      progress: show tqdm bars.
      stop_after_steps: stop (as if killed) once this many steps are done, after checkpointing;
        returns `{"interrupted": True, ...}`. For tests of resumption.

    Returns:
      The results dict written to `results.json`.

    Raises:
      ConfigError: a bad config. RunFolderError: `workdir` holds a run and `resume` is False.
      ResumeError / RunNotFoundError / CheckpointError: a run that cannot be resumed.
      DatasetNotFoundError: the dataset is missing. TrainingInterrupted: SIGTERM / Ctrl-C (checkpointed).
    """
    validate_config(config)
    pretrained = load_pretrained(config)
    mesh = _start_cluster(config)
    writer = distributed.is_main_process()  # only process 0 writes files
    workdir = loop.start_run(
        workdir, config, resume=resume, resumable_changes=RESUMABLE_CHANGES, writer=writer
    )
    splits, timings = _load_data(
        config, workdir, resume, writer, None if pretrained is None else pretrained.vocab
    )
    model = build_model(config)
    task = make_task(config, model, splits, int(mesh.devices.size), pretrained)
    if pretrained is not None:
        print(f"start: {config.pretrained_parts} from the language model {config.pretrained_lm}")
    shapes = jax.eval_shape(task.init_params, jax.random.key(0))
    n_params, n_rnn = num_params(shapes), num_params(shapes.get("rnn", {}))
    print(f"model {config.model}: {n_params:,} parameters ({n_rnn:,} in the recurrence params['rnn'])")
    extra = {
        "model": config.model,
        "num_params": n_params,
        "num_params_rnn": n_rnn,
        "seed": config.seed,
        "pretrained_lm": None if pretrained is None else pretrained.summary,
        **_data_results(splits, timings),
    }
    results = loop.fit(
        task,
        loop.LoopConfig.from_config(config),
        make_optimizer(config, len(splits["train"].labels) // config.batch_size),
        workdir,
        mesh,
        resume=resume,
        progress=progress,
        stop_after_steps=stop_after_steps,
        extra_results=extra,
    )
    if not results.get("interrupted"):
        print(
            f"test ({config.model}, best epoch {results['best_epoch']}): accuracy "
            f"{100 * results['test_accuracy']:.2f}% loss {results['test_loss']:.4f}"
        )
    return results


def load_run(workdir: str | os.PathLike) -> tuple[TrainConfig, Any, Vocabulary]:
    """`(config, params, vocab)` of a finished run: its config, best parameters and vocabulary.

    `params` is the Flax parameter tree (see `rnn_jax.models.classifiers`): e.g. a Simple RNN's
    `params["rnn"]["A"]` [H, H + E] and `params["rnn"]["b"]` [H].
    """
    workdir = Path(workdir)
    config = load_config(workdir)
    vocab = Vocabulary.load(workdir / VOCAB_FILE)
    model = build_model(config)
    abstract = jax.eval_shape(lambda: init_params(model, jax.random.key(0), config.seq_len))
    return config, checkpoints.load_params(workdir / BEST_PARAMS_DIR, abstract), vocab


def load_config(workdir: str | os.PathLike) -> TrainConfig:
    """The `TrainConfig` saved in `workdir/config.json`."""
    path = Path(workdir) / runs.CONFIG_FILE
    if not path.exists():
        raise RunNotFoundError(f"{path} does not exist: {Path(workdir)} holds no run")
    saved = runs.load_json(path)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ConfigError(f"{path} has fields that TrainConfig does not know: {unknown}")
    return TrainConfig(**saved)


# ----------------------------------------------------------------------------- the command line


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run, not what: the script's own flags besides TrainConfig's."""

    workdir: str | None = dataclasses.field(
        default=None, metadata={"help": "run folder (default: runs/imdb/<model>_seed<seed>)"}
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue the run in --workdir (its config.json supplies the defaults)"},
    )
    no_progress: bool = dataclasses.field(default=False, metadata={"help": "no tqdm bars"})


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax imdb` / `python experiments/imdb_sentiment.py`: parse flags, train, test."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config, options = parse_flags([TrainConfig, RunOptions], argv)
    if options.resume and options.workdir and (Path(options.workdir) / runs.CONFIG_FILE).exists():
        # The saved config supplies the defaults; flags given again must agree with it.
        saved = dataclasses.asdict(load_config(options.workdir))
        config, options = parse_flags([TrainConfig, RunOptions], argv, defaults=saved)
    workdir = options.workdir or f"runs/imdb/{config.model}_seed{config.seed}"
    return train_and_evaluate(config, workdir, resume=options.resume, progress=not options.no_progress)
