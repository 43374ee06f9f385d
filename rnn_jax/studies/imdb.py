"""IMDB sentiment classification on the shared training loop: config, task, `train_and_evaluate`.

Laid out like flax's `examples/sst2/train.py`:

    train_and_evaluate(config, workdir):
        start the cluster, check the run folder -> prepare_data (TFDS -> words -> ids)
        -> build_model, make_optimizer -> make_task -> rnn_jax.training.loop.fit -> results

The loop (`rnn_jax.training.loop`) does the epochs, validation, best epoch, early stopping, checkpoints
with exact resume, preemption and the run folder. This module supplies what is IMDB's: the
`TrainConfig`, the data, the binary cross-entropy and accuracy (`classification_loss`,
`classification_sums`), the minibatch order (`epoch_order`) and the results' extra entries.

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
from rnn_jax.data.tokenizer import PADDINGS, Vocabulary, build_vocabulary, encode, tokenize
from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.models.classifiers import MODELS, build_model, init_params
from rnn_jax.studies.command import parse_flags
from rnn_jax.training import checkpoints, distributed, loop, runs

logger = logging.getLogger(__name__)

OPTIMIZERS = ("rmsprop", "adam")
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


def _field(default: Any, help: str, choices: tuple | None = None) -> Any:
    metadata = {"help": help}
    if choices:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """IMDB sentiment classification: an embedding, a recurrence from rnn_jax, a logistic head."""

    model: str = _field("simple_rnn", "which classifier", MODELS)
    vocab_size: int = _field(
        10_000,
        "words in the vocabulary (the most frequent training words), "
        "besides the padding id 0 and the OOV id 1",
    )
    seq_len: int = _field(500, "words kept per review: the LAST seq_len")
    padding: str = _field(
        "post",
        "post: [w1 w2 0 0] and the RNN stops at the last real word (lengths); "
        "pre: [0 0 w1 w2], Keras' default, read without a mask",
        PADDINGS,
    )
    embedding_size: int = _field(32, "E, size of the word vectors")
    hidden_size: int = _field(32, "H, size of the RNN state")
    num_layers: int = _field(2, "recurrent layers of the 'stacked' model (other models: 1)")
    embedding_dropout: float = _field(0.0, "dropout rate on the word vectors while training")
    optimizer: str = _field("rmsprop", "Optax optimizer (the lecture: RMSprop)", OPTIMIZERS)
    learning_rate: float = _field(1e-3, "learning rate")
    clip_norm: float | None = _field(None, "clip gradients to this global norm (None: no clipping)")
    batch_size: int = _field(32, "training minibatch size")
    num_epochs: int = _field(10, "maximum number of epochs")
    patience: int | None = _field(
        3, "stop after this many epochs without a better validation accuracy (None: never stop early)"
    )
    seed: int = _field(0, "seed of the initial parameters, the minibatch order and dropout")
    split_seed: int = _field(0, "seed of the 20,000 / 5,000 train / validation split")
    num_validation: int = _field(5_000, "validation reviews held out of TFDS's 25,000 training reviews")
    eval_batch_size: int = _field(500, "batch size for validation and test")
    checkpoint_every_steps: int = _field(
        200, "also checkpoint every this many steps inside an epoch (0: only at the end of each epoch)"
    )
    scan_unroll: int = _field(1, "time steps lax.scan unrolls per iteration (a speed knob)")
    data_dir: str | None = _field(
        None, "TFDS data directory (None: $TFDS_DATA_DIR, else ~/tensorflow_datasets)"
    )
    download: bool = _field(
        True,
        "download and prepare imdb_reviews with TFDS when it is missing "
        "(needs internet and the 'download' extra)",
    )
    max_train_examples: int | None = _field(None, "use only this many training reviews (smoke runs)")
    max_eval_examples: int | None = _field(
        None, "use only this many validation and test reviews (smoke runs)"
    )
    # Data parallelism over devices and processes (rnn_jax.distributed); batch sizes stay global.
    num_devices: int | None = _field(
        None,
        "devices in the data-parallel mesh, over all processes "
        "(None: every visible device); must divide batch_size",
    )
    coordinator_address: str | None = _field(
        None,
        "host:port of process 0 in a multi-process run (None: "
        "$JAX_COORDINATOR_ADDRESS, else auto-detected on "
        "SLURM/Open MPI/TPU, else a single process)",
    )
    num_processes: int | None = _field(
        None, "processes in a multi-process run (None: $JAX_NUM_PROCESSES or auto-detected)"
    )
    process_id: int | None = _field(
        None, "this process's id in 0..num_processes-1 (None: $JAX_PROCESS_ID or auto-detected)"
    )
    distributed_timeout: int = _field(
        120, "seconds to wait for the coordinator and the other processes before failing with a message"
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
    try:
        build_model(config)  # model-specific checks (stacked needs 2+ layers, padding, dropout)
    except ValueError as err:
        raise ConfigError(str(err)) from err


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


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """RMSprop (the lecture's) or Adam, after optional global-norm clipping."""
    make = {"rmsprop": optax.rmsprop, "adam": optax.adam}[config.optimizer]
    parts = [] if config.clip_norm is None else [optax.clip_by_global_norm(config.clip_norm)]
    return optax.chain(*parts, make(config.learning_rate))


def make_task(
    config: TrainConfig, model: nn.Module, splits: dict[str, Encoded] | None = None, num_devices: int = 1
) -> loop.Task:
    """The classification `Task` of the shared loop: model, loss, metrics and (given `splits`) the data.

    Without `splits` the task has no data: enough for `create_train_state` and `train_step`.
    """
    objective = dict(
        init_params=functools.partial(init_params, model, seq_len=config.seq_len),
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


def _load_data(config: TrainConfig, workdir: Path, resume: bool, writer: bool):
    """The encoded splits and the vocabulary (a resumed run's is the saved one); saves config and vocab."""
    vocab = Vocabulary.load(workdir / VOCAB_FILE) if resume and (workdir / VOCAB_FILE).exists() else None
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
    mesh = _start_cluster(config)
    writer = distributed.is_main_process()  # only process 0 writes files
    workdir = loop.start_run(
        workdir, config, resume=resume, resumable_changes=RESUMABLE_CHANGES, writer=writer
    )
    splits, timings = _load_data(config, workdir, resume, writer)
    model = build_model(config)
    task = make_task(config, model, splits, int(mesh.devices.size))
    shapes = jax.eval_shape(task.init_params, jax.random.key(0))
    n_params, n_rnn = num_params(shapes), num_params(shapes.get("rnn", {}))
    print(f"model {config.model}: {n_params:,} parameters ({n_rnn:,} in the recurrence params['rnn'])")
    extra = {
        "model": config.model,
        "num_params": n_params,
        "num_params_rnn": n_rnn,
        "seed": config.seed,
        **_data_results(splits, timings),
    }
    results = loop.fit(
        task,
        loop.LoopConfig.from_config(config),
        make_optimizer(config),
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
