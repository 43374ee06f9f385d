"""Training the IMDB sentiment classifiers with Optax: config, steps, checkpoints, the whole run.

Layout after flax's examples: `create_train_state`, `train_step` and `eval_step` are pure (the caller
jits them), and `train_and_evaluate(config, workdir)` runs the experiment:

    prepare data (TFDS -> words -> ids) -> for each epoch: shuffled minibatch steps, validation,
    best-epoch bookkeeping, checkpoint -> early stopping -> test with the best parameters.

A run folder holds `config.json`, `vocab.json`, `metrics.jsonl` (one record per epoch),
`results.json`, `curves.png`, `checkpoints/` (orbax, every epoch and every
`checkpoint_every_steps` steps) and `best_params/` (orbax, the parameters `load_run` returns).

Determinism: the minibatch order of epoch e is `numpy.random.default_rng([seed, e]).permutation`,
the dropout key of step s is `fold_in(key(seed), s)`, and the running sums of the epoch's training
metrics are part of the checkpointed state; so a run killed at any point and continued with
`resume=True` ends with exactly the results of an uninterrupted run (only timings differ).

A non-finite loss or gradient never reaches the weights: that update is skipped (params and
optimizer state stay as they were), counted in `TrainState.skipped_updates`, logged at the end of
the epoch and reported as `skipped_updates` in `results.json`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.training import distributed
from rnn_jax.training import runs
from rnn_jax.core.cells import num_params
from rnn_jax.models.classifiers import MODELS, build_model, init_params
from rnn_jax.data.tokenizer import PADDINGS, Vocabulary, build_vocabulary, encode, tokenize

logger = logging.getLogger(__name__)

OPTIMIZERS = ("rmsprop", "adam")
VOCAB_FILE = "vocab.json"
CURVES_FILE = "curves.png"
CHECKPOINT_DIR = "checkpoints"
BEST_PARAMS_DIR = "best_params"
# Fields that may differ between a run and its resumption (where the data is, not what it is).
# Nor where it is computed: a run may resume on another number of devices or processes.
_RESUMABLE_CHANGES = ("data_dir", "download", "num_devices", "coordinator_address", "num_processes",
                      "process_id", "distributed_timeout")


def _field(default: Any, help: str, choices: tuple | None = None) -> Any:
    metadata = {"help": help}
    if choices:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """IMDB sentiment classification: an embedding, a recurrence from rnn_jax, a logistic head."""

    model: str = _field("simple_rnn", "which classifier", MODELS)
    vocab_size: int = _field(10_000, "words in the vocabulary (the most frequent training words), "
                                     "besides the padding id 0 and the OOV id 1")
    seq_len: int = _field(500, "words kept per review: the LAST seq_len")
    padding: str = _field("post", "post: [w1 w2 0 0] and the RNN stops at the last real word (lengths); "
                                  "pre: [0 0 w1 w2], Keras' default, read without a mask", PADDINGS)
    embedding_size: int = _field(32, "E, size of the word vectors")
    hidden_size: int = _field(32, "H, size of the RNN state")
    num_layers: int = _field(2, "recurrent layers of the 'stacked' model (other models: 1)")
    embedding_dropout: float = _field(0.0, "dropout rate on the word vectors while training")
    optimizer: str = _field("rmsprop", "Optax optimizer (the lecture: RMSprop)", OPTIMIZERS)
    learning_rate: float = _field(1e-3, "learning rate")
    clip_norm: float | None = _field(None, "clip gradients to this global norm (None: no clipping)")
    batch_size: int = _field(32, "training minibatch size")
    num_epochs: int = _field(10, "maximum number of epochs")
    patience: int | None = _field(3, "stop after this many epochs without a better validation "
                                     "accuracy (None: never stop early)")
    seed: int = _field(0, "seed of the initial parameters, the minibatch order and dropout")
    split_seed: int = _field(0, "seed of the 20,000 / 5,000 train / validation split")
    num_validation: int = _field(5_000, "validation reviews held out of TFDS's 25,000 training reviews")
    eval_batch_size: int = _field(500, "batch size for validation and test")
    checkpoint_every_steps: int = _field(200, "also checkpoint every this many steps inside an epoch "
                                              "(0: only at the end of each epoch)")
    scan_unroll: int = _field(1, "time steps lax.scan unrolls per iteration (a speed knob)")
    data_dir: str | None = _field(None, "TFDS data directory "
                                        "(None: $TFDS_DATA_DIR, else ~/tensorflow_datasets)")
    download: bool = _field(True, "download and prepare imdb_reviews with TFDS when it is missing "
                                  "(needs internet and the 'download' extra)")
    max_train_examples: int | None = _field(None, "use only this many training reviews (smoke runs)")
    max_eval_examples: int | None = _field(None, "use only this many validation and test reviews "
                                                 "(smoke runs)")
    # Data parallelism over devices and processes (rnn_jax.distributed); batch sizes stay global.
    num_devices: int | None = _field(None, "devices in the data-parallel mesh, over all processes "
                                           "(None: every visible device); must divide batch_size")
    coordinator_address: str | None = _field(None, "host:port of process 0 in a multi-process run (None: "
                                                   "$JAX_COORDINATOR_ADDRESS, else auto-detected on "
                                                   "SLURM/Open MPI/TPU, else a single process)")
    num_processes: int | None = _field(None, "processes in a multi-process run (None: $JAX_NUM_PROCESSES "
                                             "or auto-detected)")
    process_id: int | None = _field(None, "this process's id in 0..num_processes-1 (None: "
                                          "$JAX_PROCESS_ID or auto-detected)")
    distributed_timeout: int = _field(120, "seconds to wait for the coordinator and the other processes "
                                           "before failing with a message")


def validate_config(config: TrainConfig) -> None:
    """Raises ValueError naming the first field that makes no sense."""
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; expected one of {', '.join(map(repr, MODELS))}")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; expected one of "
                         f"{', '.join(map(repr, OPTIMIZERS))}")
    if isinstance(config.vocab_size, int) and config.vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1 (the vocabulary is too small to hold any word), "
                         f"got {config.vocab_size}")
    for name in ("seq_len", "embedding_size", "hidden_size", "num_layers", "batch_size", "num_epochs",
                 "eval_batch_size", "scan_unroll"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate}")
    if config.clip_norm is not None and not config.clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0 or None, got {config.clip_norm}")
    if config.patience is not None and config.patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {config.patience}")
    if config.checkpoint_every_steps < 0:
        raise ValueError(f"checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}")
    for name in ("max_train_examples", "max_eval_examples"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be a positive int or None, got {value}")
    num_devices = config.num_devices
    if num_devices is not None and (isinstance(num_devices, bool) or not isinstance(num_devices, int)
                                    or num_devices <= 0):
        raise ValueError(f"num_devices must be a positive int or None, got {config.num_devices!r}")
    if not config.distributed_timeout > 0:
        raise ValueError(f"distributed_timeout must be > 0 seconds, got {config.distributed_timeout}")
    build_model(config)  # model-specific checks (stacked needs 2+ layers, padding, dropout)


# ----------------------------------------------------------------------------- state and steps

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


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training (a pytree: checkpointed as a whole).

    Attributes:
      step: updates attempted so far (skipped ones included), int32 [].
      params: the model's parameters.
      opt_state: Optax state.
      skipped_updates: updates skipped because the loss or a gradient was not finite, int32 [].
      sums: running sums of the current epoch's training metrics.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    skipped_updates: jax.Array
    sums: Sums


class Batch(NamedTuple):
    """A minibatch: `ids` [B, T] int32, `lengths` [B] int32, `labels` [B] int32, `weights` [B] float32."""

    ids: jax.Array
    lengths: jax.Array
    labels: jax.Array
    weights: jax.Array


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """RMSprop (the lecture's) or Adam, after optional global-norm clipping."""
    make = {"rmsprop": optax.rmsprop, "adam": optax.adam}[config.optimizer]
    parts = [] if config.clip_norm is None else [optax.clip_by_global_norm(config.clip_norm)]
    return optax.chain(*parts, make(config.learning_rate))


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, key: jax.Array,
                       seq_len: int) -> TrainState:
    """Initial parameters from `key`, a fresh optimizer state, step 0."""
    params = init_params(model, key, seq_len)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                      skipped_updates=jnp.zeros((), jnp.int32), sums=Sums.zeros())


def _losses(model: nn.Module, params: Any, batch: Batch, train: bool, dropout_key: jax.Array | None):
    rngs = {"dropout": dropout_key} if dropout_key is not None else {}
    logits = model.apply({"params": params}, batch.ids, batch.lengths, train=train, rngs=rngs)  # [B]
    losses = optax.sigmoid_binary_cross_entropy(logits, batch.labels.astype(logits.dtype))  # [B]
    correct = ((logits > 0) == (batch.labels > 0)).astype(jnp.float32)
    return losses, correct


def train_step(state: TrainState, batch: Batch, key: jax.Array, *, model: nn.Module,
               tx: optax.GradientTransformation) -> TrainState:
    """One Optax update on the weighted mean binary cross-entropy; skipped when not finite.

        loss = sum_i w_i BCE(sigmoid(logit_i), y_i) / sum_i w_i

    Args:
      state: the current `TrainState`.
      batch: a `Batch`.
      key: the run's dropout key; step s uses `fold_in(key, s)`.
      model, tx: the Flax module and the Optax transformation (bind with functools.partial).

    Returns:
      The next state. When the loss or any gradient is NaN/inf, params and opt_state are the old
      ones, `skipped_updates` grows by one and the batch is left out of the epoch's sums.
    """
    dropout_key = jax.random.fold_in(key, state.step)
    weight_sum = jnp.maximum(batch.weights.sum(), 1.0)

    def loss_fn(params):
        losses, correct = _losses(model, params, batch, True, dropout_key)
        return (losses * batch.weights).sum() / weight_sum, (correct * batch.weights).sum()

    (loss, correct), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
    keep = functools.partial(jax.tree_util.tree_map, lambda new, old: jnp.where(finite, new, old))
    sums = Sums(state.sums.loss + jnp.where(finite, loss * weight_sum, 0.0),
                state.sums.correct + jnp.where(finite, correct, 0.0),
                state.sums.count + jnp.where(finite, batch.weights.sum(), 0.0))
    return TrainState(step=state.step + 1, params=keep(params, state.params),
                      opt_state=keep(opt_state, state.opt_state),
                      skipped_updates=state.skipped_updates + (~finite).astype(jnp.int32), sums=sums)


def eval_step(params: Any, batch: Batch, *, model: nn.Module) -> Sums:
    """Weighted sums of loss and correct predictions over one batch (padding rows have weight 0)."""
    losses, correct = _losses(model, params, batch, False, None)
    return Sums((losses * batch.weights).sum(), (correct * batch.weights).sum(), batch.weights.sum())


# ----------------------------------------------------------------------------- data

class Encoded(NamedTuple):
    """One split as arrays: `ids` [N, T] int32, `lengths` [N] int32, `labels` [N] int32."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


def prepare_data(config: TrainConfig, vocab: Vocabulary | None = None) -> tuple[dict[str, Encoded],
                                                                                 Vocabulary, dict]:
    """Loads the IMDB splits, builds (or reuses) the vocabulary, encodes every split.

    Returns:
      `(splits, vocab, timings)`: `{"train", "validation", "test"}` of `Encoded`, the vocabulary,
      and `{"load_seconds", "tokenize_seconds", "tokenize_cpu_seconds", "num_tokenized"}`
      (tokenizing = splitting into words, counting the vocabulary and encoding ids, for every
      labelled review loaded; wall and CPU seconds).
    """
    from rnn_jax.data.imdb import load_imdb

    start = time.perf_counter()
    raw = load_imdb(config.data_dir, split_seed=config.split_seed, num_validation=config.num_validation,
                    download=config.download,
                    max_train_examples=config.max_train_examples, max_eval_examples=config.max_eval_examples)
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    words = {name: tokenize(split.texts) for name, split in raw.items()}
    if vocab is None:
        vocab = build_vocabulary(words["train"], config.vocab_size)
    splits = {}
    for name, split in raw.items():
        ids, lengths = encode(words[name], vocab, config.seq_len, config.padding)
        splits[name] = Encoded(ids, lengths, split.labels)
    timings = {"load_seconds": loaded - start, "tokenize_seconds": time.perf_counter() - loaded,
               "tokenize_cpu_seconds": time.process_time() - loaded_cpu,
               "num_tokenized": sum(len(s.texts) for s in raw.values())}
    return splits, vocab, timings


def epoch_order(seed: int, epoch: int, num_examples: int, batch_size: int) -> np.ndarray:
    """The minibatches of `epoch`: [num_examples // batch_size, batch_size] indices (a pure function)."""
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    num_batches = num_examples // batch_size
    return order[:num_batches * batch_size].reshape(num_batches, batch_size).astype(np.int32)


def _eval_batches(split: Encoded, batch_size: int, multiple_of: int = 1) -> Batch:
    """The split padded to whole batches: [num_batches, batch_size, ...], padding rows weigh 0.

    The batch size is rounded up to a multiple of `multiple_of` (the device count), so that it splits.
    """
    n = len(split.labels)
    batch_size = max(1, min(batch_size, n))
    batch_size = -(-batch_size // multiple_of) * multiple_of
    num_batches = max(1, math.ceil(n / batch_size))
    pad = num_batches * batch_size - n

    def fold(a):
        a = np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)])
        return a.reshape(num_batches, batch_size, *a.shape[1:])

    return Batch(fold(split.ids), fold(split.lengths), fold(split.labels), fold(np.ones(n, np.float32)))


def make_evaluate(model: nn.Module):
    """A jitted `evaluate(params, batches) -> Sums` running `eval_step` over [num_batches, ...] batches."""
    step = functools.partial(eval_step, model=model)

    @jax.jit
    def evaluate(params, batches: Batch) -> Sums:
        per_batch = jax.lax.map(lambda b: step(params, b), batches)
        return jax.tree_util.tree_map(lambda x: x.sum(0), per_batch)

    return evaluate


# ----------------------------------------------------------------------------- checkpoints

def _checkpoint_manager(workdir: Path):
    import orbax.checkpoint as ocp

    options = {}
    if jax.process_count() > 1:  # no cross-process barriers: process 0 writes, the others only read
        if distributed.is_main_process():
            (workdir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        options = {"create": False, "multiprocessing_options": _this_process_only()}
    return ocp.CheckpointManager(
        (workdir / CHECKPOINT_DIR).absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False, **options))


def _this_process_only():
    import orbax.checkpoint as ocp

    index = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=index, active_processes={index})


def _save(manager, state: TrainState, best_params: Any, meta: dict) -> float:
    import orbax.checkpoint as ocp

    start = time.perf_counter()
    if jax.process_count() > 1:  # host copies of the replicated state, written by process 0 alone
        state = jax.device_get(state)
    manager.save(int(state.step), args=ocp.args.Composite(
        state=ocp.args.StandardSave({"train_state": state, "best_params": best_params}),
        meta=ocp.args.JsonSave(meta)), force=True)
    manager.wait_until_finished()
    return time.perf_counter() - start


def _restore(manager, workdir: Path, abstract_state: TrainState, abstract_params: Any):
    import orbax.checkpoint as ocp

    step = manager.latest_step()
    if step is None:
        raise FileNotFoundError(f"cannot resume: no checkpoint in {workdir / CHECKPOINT_DIR}; "
                                "run without --resume to start this run from the beginning")
    try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore({"train_state": abstract_state, "best_params": abstract_params}),
            meta=ocp.args.JsonRestore()))
    except Exception as err:  # orbax raises many kinds (ValueError, KeyError, OSError, tensorstore)
        raise ValueError(f"checkpoint {workdir / CHECKPOINT_DIR / str(step)} is corrupt or incomplete "
                         f"({type(err).__name__}: {err}); delete that folder to resume from an earlier "
                         "checkpoint, or start the run again without --resume") from err
    return restored.state["train_state"], restored.state["best_params"], restored.meta


def _check_resumable(workdir: Path, config: TrainConfig) -> None:
    saved = runs.load_json(workdir / runs.CONFIG_FILE)
    current = dataclasses.asdict(config)
    changed = sorted(k for k in set(saved) | set(current)
                     if k not in _RESUMABLE_CHANGES and saved.get(k) != current.get(k))
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise ValueError(f"cannot resume {workdir}: the config differs from its config.json ({details})")


# ----------------------------------------------------------------------------- the run

def _epoch_record(epoch: int, step: int, train: dict, valid: dict, seconds: float, tokens: int,
                  skipped: int, best_epoch: int) -> dict:
    return {"epoch": epoch, "step": step, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
            "validation_loss": valid["loss"], "validation_accuracy": valid["accuracy"],
            "epoch_seconds": seconds, "tokens_per_second": tokens / seconds if seconds else None,
            "skipped_updates": skipped, "best_epoch": best_epoch}


def train_and_evaluate(config: TrainConfig, workdir: str | os.PathLike, *, resume: bool = False,
                       progress: bool = True, stop_after_steps: int | None = None) -> dict[str, Any]:
    """Trains `config.model` on IMDB, keeps the best validation epoch, tests it; writes the run folder.

    Args:
      config: the run's `TrainConfig`.
      workdir: the run folder (created).
      resume: continue from the latest checkpoint in `workdir` (same config required).
      progress: show tqdm bars.
      stop_after_steps: stop (as if killed) once this many steps are done, after checkpointing;
        returns `{"interrupted": True, ...}`. For tests of resumption.

    Returns:
      The results dict written to `results.json`.

    Raises:
      ValueError: a bad config, a config that differs from the run being resumed, a corrupt checkpoint.
      FileExistsError: `workdir` already holds a run and `resume` is False.
      FileNotFoundError: `resume` without a checkpoint; the dataset is missing (data.DatasetNotFoundError).
    """
    from tqdm.auto import tqdm

    validate_config(config)
    distributed.initialize(distributed.resolve_cluster(config.coordinator_address, config.num_processes,
                                                       config.process_id),
                           timeout=config.distributed_timeout)
    mesh = distributed.make_mesh(config.num_devices)
    distributed.check_batch_size(config.batch_size, mesh)
    main = distributed.is_main_process()  # only process 0 writes files
    workdir = Path(workdir)
    manager_exists = (workdir / CHECKPOINT_DIR).exists() and any((workdir / CHECKPOINT_DIR).iterdir())
    if resume:
        if not (workdir / runs.CONFIG_FILE).exists():
            raise FileNotFoundError(f"cannot resume: {workdir / runs.CONFIG_FILE} does not exist; "
                                    "run without --resume to start a new run there")
        _check_resumable(workdir, config)
    elif manager_exists or (workdir / runs.RESULTS_FILE).exists():
        raise FileExistsError(f"{workdir} already holds a run; pass --resume to continue it, or choose "
                              "another --workdir")
    if main:
        runs.make_workdir(workdir)

    # Data: the vocabulary of a resumed run is the saved one.
    vocab = Vocabulary.load(workdir / VOCAB_FILE) if resume and (workdir / VOCAB_FILE).exists() else None
    splits, vocab, timings = prepare_data(config, vocab)
    num_train = len(splits["train"].labels)
    if num_train < config.batch_size:
        raise ValueError(f"only {num_train} training reviews for batch_size {config.batch_size}; "
                         "raise max_train_examples or lower batch_size")
    if not resume and main:
        runs.save_config(workdir, config)
        vocab.save(workdir / VOCAB_FILE)
    print(f"data: {num_train} train / {len(splits['validation'].labels)} validation / "
          f"{len(splits['test'].labels)} test reviews; vocabulary {len(vocab)} words + 2; tokenized "
          f"{timings['num_tokenized']} reviews in {timings['tokenize_seconds']:.2f} s")

    # Model, optimizer, state.
    model = build_model(config)
    tx = make_optimizer(config)
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    state = create_train_state(model, tx, init_key, config.seq_len)
    n_params = num_params(state.params)
    n_rnn = num_params(state.params.get("rnn", {}))
    print(f"model {config.model}: {n_params:,} parameters ({n_rnn:,} in the recurrence params['rnn'])")
    best_params = jax.device_get(state.params)
    meta = {"epochs_done": 0, "history": [], "best_epoch": 0, "best_validation_accuracy": -1.0,
            "epochs_without_improvement": 0, "finished": False, "compile_seconds": []}
    manager = _checkpoint_manager(workdir) if main or resume else None
    if resume:
        state, best_params, meta = _restore(manager, workdir, jax.tree_util.tree_map(_abstract, state),
                                            jax.tree_util.tree_map(_abstract, best_params))
        # metrics.jsonl is rebuilt from the checkpoint, so it never holds an epoch twice or misses one.
        if main:
            (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
            for record in meta["history"]:
                runs.append_metrics(workdir, record)
        print(f"resumed from step {int(state.step)} (epoch {meta['epochs_done'] + 1})")
    elif main and (workdir / runs.METRICS_FILE).exists():
        (workdir / runs.METRICS_FILE).unlink()

    # Device data and compiled functions.
    train = splits["train"]
    # Data parallelism (rnn_jax.distributed): every device holds the state, the key and the training set;
    # each step's indices, hence its batch, and each evaluation batch are split over the mesh's devices.
    state, dropout_key = distributed.put_replicated((state, dropout_key), mesh)
    train_device = distributed.put_replicated(Batch(train.ids, train.lengths, train.labels,
                                                    np.ones((num_train,), np.float32)), mesh)
    valid_batches = distributed.put_batch(_eval_batches(splits["validation"], config.eval_batch_size,
                                                        mesh.devices.size), mesh, batch_axis=1)
    steps_per_epoch = num_train // config.batch_size
    step_fn = functools.partial(train_step, model=model, tx=tx)

    def train_indices_step(state, data, indices, key):
        batch = jax.tree_util.tree_map(lambda a: a[indices], data)  # gather on device, no host work
        return step_fn(state, batch, key)

    compile_start = time.perf_counter()
    replicated, split = distributed.replicated_sharding(mesh), distributed.batch_sharding(mesh)
    # XLA:CPU runs the collectives of simulated devices in one process; with many steps in flight they
    # can deadlock (a device's thread never reaches the all-reduce), so there each step is waited for.
    sync_each_step = mesh.devices.size > 1 and mesh.devices.flat[0].platform == "cpu"
    compiled_step = jax.jit(train_indices_step, donate_argnums=0, out_shardings=replicated,
                            in_shardings=(replicated, replicated, split, replicated)).lower(
        state, train_device, jax.ShapeDtypeStruct((config.batch_size,), jnp.int32, sharding=split),
        dropout_key).compile()
    meta["compile_seconds"] = meta.get("compile_seconds", []) + [time.perf_counter() - compile_start]
    evaluate = make_evaluate(model)

    start_epoch = meta["epochs_done"]
    for epoch in range(start_epoch, config.num_epochs):
        if meta["finished"]:
            break
        order = epoch_order(config.seed, epoch, num_train, config.batch_size)
        first = int(state.step) - epoch * steps_per_epoch
        if first == 0:
            state = state.replace(sums=Sums.zeros())
        bar = tqdm(total=steps_per_epoch, initial=first, desc=f"epoch {epoch + 1}/{config.num_epochs}",
                   unit="step", disable=not progress or not main, leave=False, dynamic_ncols=True)
        train_seconds, cpu_seconds, epoch_start = 0.0, 0.0, time.perf_counter()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(first, steps_per_epoch):
            # Each process transfers only its own part of the batch's indices.
            state = compiled_step(state, train_device, distributed.put_batch(order[i], mesh), dropout_key)
            if sync_each_step:
                jax.block_until_ready(state)
            bar.update(1)
            step = epoch * steps_per_epoch + i + 1
            last = i == steps_per_epoch - 1
            checkpoint_now = config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0
            if (checkpoint_now and not last) or (stop_after_steps is not None and step >= stop_after_steps):
                jax.block_until_ready(state)
                train_seconds += time.perf_counter() - t0
                cpu_seconds += time.process_time() - c0
                if main:
                    _save(manager, state, best_params, meta)
                if stop_after_steps is not None and step >= stop_after_steps:
                    bar.close()
                    return {"interrupted": True, "step": step}
                t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(state)
        train_seconds += time.perf_counter() - t0
        cpu_seconds += time.process_time() - c0
        bar.close()

        train_metrics = state.sums.means()
        valid_metrics = evaluate(state.params, valid_batches).means()
        skipped_total = int(state.skipped_updates)
        skipped_epoch = skipped_total - sum(r["skipped_updates"] for r in meta["history"])
        if valid_metrics["accuracy"] > meta["best_validation_accuracy"]:
            meta.update(best_validation_accuracy=valid_metrics["accuracy"], best_epoch=epoch + 1,
                        epochs_without_improvement=0)
            best_params = jax.device_get(state.params)
        else:
            meta["epochs_without_improvement"] += 1
        tokens = steps_per_epoch * config.batch_size * config.seq_len
        record = _epoch_record(epoch + 1, int(state.step), train_metrics, valid_metrics,
                               train_seconds if first == 0 else None, tokens, skipped_epoch,
                               meta["best_epoch"])
        # CPU time of this process over the same steps: what the epoch costs on a machine that other
        # jobs share (wall time there depends on the load; CPU time much less).
        record["epoch_cpu_seconds"] = cpu_seconds if first == 0 else None
        record["epoch_wall_seconds"] = time.perf_counter() - epoch_start
        meta["history"].append(record)
        meta["epochs_done"] = epoch + 1
        if config.patience is not None and meta["epochs_without_improvement"] >= config.patience:
            meta["finished"] = True
            meta["stopped_early"] = True
        if main:
            _save(manager, state, best_params, meta)
            runs.append_metrics(workdir, record)
        speed = (f"{train_seconds:.2f} s, {tokens / train_seconds:,.0f} tokens/s" if first == 0
                 else "resumed mid-epoch, not timed")
        print(f"epoch {epoch + 1}/{config.num_epochs}: train loss {train_metrics['loss']:.4f} "
              f"acc {100 * train_metrics['accuracy']:.2f}% | validation loss {valid_metrics['loss']:.4f} "
              f"acc {100 * valid_metrics['accuracy']:.2f}% | {speed} | best epoch {meta['best_epoch']}"
              + (f" | {skipped_epoch} non-finite updates skipped" if skipped_epoch else ""), flush=True)
        if skipped_epoch:
            logger.warning("epoch %d: skipped %d updates with a non-finite loss or gradient",
                           epoch + 1, skipped_epoch)
        if meta.get("stopped_early"):
            print(f"early stopping: no better validation accuracy for {config.patience} epochs")
            break

    # Test with the best epoch's parameters.
    best_params = distributed.put_replicated(best_params, mesh)
    test_metrics = evaluate(best_params, distributed.put_batch(
        _eval_batches(splits["test"], config.eval_batch_size, mesh.devices.size), mesh, batch_axis=1)).means()
    if main:
        _save_best_params(workdir, best_params)
    history = meta["history"]
    timed = [r["epoch_seconds"] for r in history if r["epoch_seconds"] is not None]
    timed = timed[1:] if len(timed) > 1 else timed  # the first epoch also warms caches up
    epoch_seconds = float(np.mean(timed)) if timed else None
    cpu = [r.get("epoch_cpu_seconds") for r in history if r.get("epoch_cpu_seconds") is not None]
    cpu = cpu[1:] if len(cpu) > 1 else cpu
    tokens = steps_per_epoch * config.batch_size * config.seq_len
    results = {
        "model": config.model,
        "test_accuracy": test_metrics["accuracy"],
        "test_loss": test_metrics["loss"],
        "best_epoch": meta["best_epoch"],
        "best_validation_accuracy": meta["best_validation_accuracy"],
        "epochs_run": len(history),
        "stopped_early": bool(meta.get("stopped_early", False)),
        "num_params": n_params,
        "num_params_rnn": n_rnn,
        "epoch_seconds": epoch_seconds,
        "epoch_seconds_all": [r["epoch_seconds"] for r in history],
        "epoch_cpu_seconds": float(np.mean(cpu)) if cpu else None,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "tokens_per_second": tokens / epoch_seconds if epoch_seconds else None,
        "compile_seconds": meta["compile_seconds"],
        "skipped_updates": int(state.skipped_updates),
        "tokenize_seconds": timings["tokenize_seconds"],
        "tokenize_cpu_seconds": timings["tokenize_cpu_seconds"],
        "num_tokenized": timings["num_tokenized"],
        "num_train": num_train,
        "num_validation": len(splits["validation"].labels),
        "num_test": len(splits["test"].labels),
        "seed": config.seed,
        "device": jax.devices()[0].device_kind,
        "num_devices": int(mesh.devices.size),
        "num_processes": jax.process_count(),
        "timing_note": "epoch_seconds: mean time of the training steps of one epoch (steps_per_epoch x "
                       "batch_size) over the epochs after the first (warm-up); compilation (compiled "
                       "ahead of time), validation and checkpoints excluded; epoch_cpu_seconds: the "
                       "process's CPU time over the same steps (all its threads); load_average: the "
                       "machine's 1-minute load when the run ended; tokens = padded token "
                       "positions (batch_size x seq_len per example)",
    }
    if main:
        runs.save_results(workdir, results)
    try:
        from rnn_jax.training.curves import plot_training_curves

        if main:
            plot_training_curves(workdir, workdir / CURVES_FILE)
    except ImportError as err:  # matplotlib is optional (the 'plot' / 'train' extra)
        logger.warning("no training-curve plot: %s", err)
    print(f"test ({config.model}, best epoch {meta['best_epoch']}): accuracy "
          f"{100 * test_metrics['accuracy']:.2f}% loss {test_metrics['loss']:.4f}")
    return results


def _abstract(x: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype)


def _save_best_params(workdir: Path, params: Any) -> None:
    import orbax.checkpoint as ocp

    path = (workdir / BEST_PARAMS_DIR).absolute()
    options = {}
    if jax.process_count() > 1:  # host copies, written by process 0 alone
        params, options = jax.device_get(params), {"multiprocessing_options": _this_process_only()}
    with ocp.StandardCheckpointer(**options) as checkpointer:
        checkpointer.save(path, params, force=True)


def load_run(workdir: str | os.PathLike) -> tuple[TrainConfig, Any, Vocabulary]:
    """`(config, params, vocab)` of a finished run: its config, best parameters and vocabulary.

    `params` is the Flax parameter tree (see `rnn_jax.models.classifiers`): e.g. a Simple RNN's
    `params["rnn"]["A"]` [H, H + E] and `params["rnn"]["b"]` [H].
    """
    import orbax.checkpoint as ocp

    workdir = Path(workdir)
    config = load_config(workdir)
    vocab = Vocabulary.load(workdir / VOCAB_FILE)
    path = (workdir / BEST_PARAMS_DIR).absolute()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the run has not finished (resume it first)")
    model = build_model(config)
    abstract = jax.eval_shape(lambda: init_params(model, jax.random.key(0), config.seq_len))
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            params = checkpointer.restore(path, abstract)
    except Exception as err:
        raise ValueError(f"{path} is corrupt or does not match config.json "
                         f"({type(err).__name__}: {err})") from err
    return config, params, vocab


def load_config(workdir: str | os.PathLike) -> TrainConfig:
    """The `TrainConfig` saved in `workdir/config.json`."""
    path = Path(workdir) / runs.CONFIG_FILE
    saved = runs.load_json(path)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ValueError(f"{path} has fields that TrainConfig does not know: {unknown}")
    return TrainConfig(**saved)
