"""The lecture's long-term dependence task ("I grew up in China ... I speak fluent ___") and its training.

A sequence of `seq_len` tokens; with the answer `gap` steps before the final query:

    position:  0 ..           | T-2-gap  | T-1-gap  | ... gap - 1 distractors ... | T - 1
    token:     distractors    | MARKER   | ANSWER a | distractors                 | QUERY
                              ("grew up in") ("China")  (many sentences)           ("I speak fluent")

The label is the answer a (one of `num_answers` classes, chance = 1 / num_answers). gap = 1 is the
short-term case ("clouds are in the ___": the cue is the word just read); a large gap is the
lecture's "I grew up in China ... (many sentences) ... I speak fluent ___". Distractors are drawn
from the filler words AND the answer words ("I like French food"), so the model cannot simply
ignore answer-like inputs: it must keep the one that followed the marker. A many-to-one
classifier predicts a from its last state h_T alone, so it must carry a through `gap` steps.

Tokens are fed one-hot (x_t = e_token, F = vocabulary size): the input half A_x of the cell's
matrix is the embedding. The recurrence is `rnn_jax.unroll`; the readout is `logits = W h_T + c`.
Training is plain Optax (Adam with global-norm clipping) on fresh random batches every step, so
there is no overfitting to measure: the test set is another fresh sample. The gap is a traced
argument, so one compilation per cell serves a whole sweep over gaps at a fixed `seq_len`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnn_jax.core import cells
from rnn_jax.core._validation import check_choice, check_positive_int, is_concrete
from rnn_jax.core.unroll import unroll

CELLS = ("simple_rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """The token layout of the long-term dependence task.

    Vocabulary (V = num_answers + num_fillers + 2): answers are tokens 0 .. num_answers - 1, filler
    words the next `num_fillers`, then the MARKER (V - 2) and the QUERY (V - 1).
    """

    seq_len: int  # T, tokens per sequence; gaps from 1 to T - 2 fit
    num_answers: int = 8  # classes ("Chinese", "English", "French", ...); chance = 1 / num_answers
    num_fillers: int = 16  # filler words; distractors are fillers or answer words

    def __post_init__(self):
        for name in ("seq_len", "num_answers", "num_fillers"):
            check_positive_int(name, getattr(self, name))
        if self.seq_len < 3:
            raise ValueError(f"seq_len must be >= 3 (marker, answer, query), got {self.seq_len}")

    @property
    def vocab_size(self) -> int:
        return self.num_answers + self.num_fillers + 2

    @property
    def marker_token(self) -> int:
        return self.vocab_size - 2

    @property
    def query_token(self) -> int:
        return self.vocab_size - 1

    @property
    def max_gap(self) -> int:
        return self.seq_len - 2

    def check_gap(self, gap: Any) -> None:
        """Raises a ValueError if a concrete `gap` does not fit in [1, seq_len - 2]."""
        if is_concrete(gap) and not 1 <= int(gap) <= self.max_gap:
            raise ValueError(f"gap must lie in [1, {self.max_gap}] (seq_len - 2) for seq_len "
                             f"{self.seq_len}, got {int(gap)}")


class Batch(NamedTuple):
    """`tokens` [B, T] int32 and `labels` [B] int32 (the answer's class)."""

    tokens: jax.Array
    labels: jax.Array


def make_batch(key: jax.Array, spec: TaskSpec, batch_size: int, gap: int | jax.Array) -> Batch:
    """A batch of the task: distractors everywhere, MARKER ANSWER `gap` steps before the final QUERY.

    Args:
      key: PRNG key.
      spec: the task's layout.
      batch_size: B.
      gap: steps from the answer to the query, in [1, seq_len - 2]; may be a traced int.

    Returns:
      `Batch(tokens [B, T], labels [B])` with T = spec.seq_len.
    """
    check_positive_int("batch_size", batch_size)
    spec.check_gap(gap)
    key_answer, key_fill = jax.random.split(key)
    labels = jax.random.randint(key_answer, (batch_size,), 0, spec.num_answers, jnp.int32)
    tokens = jax.random.randint(key_fill, (batch_size, spec.seq_len), 0,
                                spec.num_answers + spec.num_fillers, jnp.int32)
    answer_position = spec.seq_len - 1 - gap
    positions = jnp.arange(spec.seq_len)
    tokens = jnp.where(positions == answer_position - 1, spec.marker_token, tokens)
    tokens = jnp.where(positions == answer_position, labels[:, None], tokens)
    tokens = jnp.where(positions == spec.seq_len - 1, spec.query_token, tokens)
    return Batch(tokens, labels)


# ----------------------------------------------------------------------------- the classifier

def _step_fn(cell: str):
    return {"simple_rnn": cells.simple_rnn_step, "lstm": cells.lstm_step, "gru": cells.gru_step}[cell]


def init_classifier(key: jax.Array, cell: str, vocab_size: int, hidden_size: int,
                    num_classes: int, *, keep_bias: float = 1.0) -> dict[str, Any]:
    """Parameters of a one-hot-input recurrent classifier.

    Args:
      key: PRNG key.
      cell: "simple_rnn", "lstm" or "gru" (each with the library's default initialisation).
      vocab_size: V, the one-hot input size F.
      hidden_size: H.
      num_classes: C.
      keep_bias: the gated cells' bias towards keeping their state at initialisation: the LSTM's
        forget-gate bias (Keras' `unit_forget_bias`, 1.0) and, negated, the GRU's update-gate
        bias (h_t = (1 - z) h_{t-1} + z n, so b_z = -1 keeps sigmoid(1) = 73 % of h per step, as
        the LSTM's forget gate does). The Simple RNN has no gate and ignores it.

    Returns:
      `{"cell": the cell's params (A [g*H, H + V], ...), "readout": {"W": [C, H], "b": [C]}}`.
    """
    check_choice("cell", cell, CELLS)
    key_cell, key_out = jax.random.split(key)
    init = {"simple_rnn": cells.init_simple_rnn, "lstm": cells.init_lstm, "gru": cells.init_gru}[cell]
    W = jax.nn.initializers.lecun_normal(in_axis=1, out_axis=0)(key_out, (num_classes, hidden_size))
    if cell == "lstm":
        cell_params = cells.init_lstm(key_cell, vocab_size, hidden_size, forget_bias=keep_bias)
    else:
        cell_params = init(key_cell, vocab_size, hidden_size)
    if cell == "gru":
        cell_params["b"] = cell_params["b"].at[:hidden_size].set(-keep_bias)  # update gate z first
    return {"cell": cell_params,
            "readout": {"W": W, "b": jnp.zeros((num_classes,))}}


def classifier_logits(params: dict[str, Any], tokens: jax.Array, cell: str) -> jax.Array:
    """logits = W h_T + c, with h_T the last state after reading the one-hot tokens.

    Args:
      params: from `init_classifier`.
      tokens: [B, T] int.
      cell: the cell the params were built for.

    Returns:
      logits, [B, C].
    """
    vocab_size = params["cell"]["A"].shape[1] - cells.hidden_size_of(params["cell"], _step_fn(cell))
    xs = jax.nn.one_hot(tokens, vocab_size, dtype=params["cell"]["A"].dtype)  # [B, T] -> [B, T, V]
    h_last, _ = unroll(_step_fn(cell), params["cell"], xs, return_all_states=False)
    h = cells.state_output(h_last)  # [B, H]
    return h @ params["readout"]["W"].T + params["readout"]["b"]


def loss_and_accuracy(params: dict[str, Any], batch: Batch, cell: str) -> tuple[jax.Array, jax.Array]:
    """Mean softmax cross-entropy and accuracy of the classifier on a batch."""
    logits = classifier_logits(params, batch.tokens, cell)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch.labels).mean()
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == batch.labels)
    return loss, accuracy


# ----------------------------------------------------------------------------- training

@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How one classifier is trained on the task."""

    hidden_size: int = 32  # H, the lecture's state size
    batch_size: int = 64  # sequences per step (fresh ones every step)
    learning_rate: float = 3e-3  # Adam
    max_grad_norm: float = 1.0  # global-norm clipping, so exploding gradients cannot derail a run
    max_steps: int = 2000  # training budget per (cell, gap)
    steps_per_chunk: int = 50  # steps jitted together between progress updates and the stop check
    target_accuracy: float = 0.99  # stop early once a chunk's mean training accuracy reaches this
    num_test: int = 1024  # fresh test sequences for the final accuracy
    keep_bias: float = 1.0  # LSTM forget-gate bias / minus the GRU update-gate bias at initialisation


class TrainResult(NamedTuple):
    """What `train_classifier` returns."""

    params: dict[str, Any]
    steps: int  # training steps actually taken (early stop)
    train_loss: float  # mean loss of the last chunk
    train_accuracy: float  # mean accuracy of the last chunk
    test_accuracy: float  # on settings.num_test fresh sequences
    history: list[dict[str, float]]  # one record per chunk: step, loss, accuracy


def make_optimizer(settings: TrainSettings) -> optax.GradientTransformation:
    """Adam after global-norm clipping."""
    return optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), optax.adam(settings.learning_rate))


def make_train_chunk(spec: TaskSpec, settings: TrainSettings, cell: str,
                     optimizer: optax.GradientTransformation) -> Callable:
    """`(params, opt_state, key, gap) -> (params, opt_state, mean loss, mean accuracy)` over one chunk.

    `settings.steps_per_chunk` optimizer steps in one `lax.scan`, each on a fresh batch. Not jitted:
    the caller jits it (tests run it as is); `gap` may be traced, so one compilation serves all gaps.
    """

    def train_step(carry, inputs):
        params, opt_state = carry
        key, gap = inputs
        batch = make_batch(key, spec, settings.batch_size, gap)
        (loss, accuracy), grads = jax.value_and_grad(loss_and_accuracy, has_aux=True)(params, batch, cell)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, accuracy)

    def chunk(params, opt_state, key, gap):
        keys = jax.random.split(key, settings.steps_per_chunk)
        gaps = jnp.full((settings.steps_per_chunk,), gap, jnp.int32)
        (params, opt_state), (losses, accuracies) = jax.lax.scan(train_step, (params, opt_state),
                                                                 (keys, gaps))
        return params, opt_state, losses.mean(), accuracies.mean()

    return chunk


@functools.lru_cache(maxsize=16)
def _compiled(spec: TaskSpec, settings: TrainSettings, cell: str) -> tuple[Callable, Callable]:
    """The jitted training chunk and evaluation for one (task layout, settings, cell), cached."""
    chunk = jax.jit(make_train_chunk(spec, settings, cell, make_optimizer(settings)))

    def evaluate_batch(params, key, gap):
        return loss_and_accuracy(params, make_batch(key, spec, settings.num_test, gap), cell)[1]

    return chunk, jax.jit(evaluate_batch)


def train_classifier(key: jax.Array, spec: TaskSpec, cell: str, gap: int,
                     settings: TrainSettings = TrainSettings(), *,
                     progress: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """Trains one classifier at one gap until it reaches the target accuracy or the step budget.

    Args:
      key: PRNG key (split into init, training and test keys).
      spec: the task layout (its seq_len is fixed across a sweep, so the compilation is reused).
      cell: "simple_rnn", "lstm" or "gru".
      gap: steps from the answer to the query, in [1, seq_len - 2].
      settings: sizes and budget.
      progress: called after every chunk as `progress(steps_done, loss, accuracy)`.

    Returns:
      A `TrainResult`; its test accuracy is measured on `settings.num_test` fresh sequences.

    Raises:
      ValueError: for an unknown cell, a gap outside [1, seq_len - 2] or a non-positive budget.
    """
    check_choice("cell", cell, CELLS)
    check_positive_int("max_steps", settings.max_steps)
    check_positive_int("steps_per_chunk", settings.steps_per_chunk)
    spec.check_gap(gap)
    key_init, key_train, key_test = jax.random.split(key, 3)
    params = init_classifier(key_init, cell, spec.vocab_size, settings.hidden_size, spec.num_answers,
                             keep_bias=settings.keep_bias)
    opt_state = make_optimizer(settings).init(params)
    chunk, evaluate_batch = _compiled(spec, settings, cell)
    gap = jnp.asarray(gap, jnp.int32)
    history, steps, loss, accuracy = [], 0, float("nan"), float("nan")
    num_chunks = -(-settings.max_steps // settings.steps_per_chunk)
    for chunk_key in jax.random.split(key_train, num_chunks):
        params, opt_state, loss, accuracy = chunk(params, opt_state, chunk_key, gap)
        steps += settings.steps_per_chunk
        loss, accuracy = float(loss), float(accuracy)
        history.append({"step": steps, "loss": loss, "accuracy": accuracy})
        if progress is not None:
            progress(steps, loss, accuracy)
        if accuracy >= settings.target_accuracy:
            break
    test_accuracy = float(evaluate_batch(params, key_test, gap))
    return TrainResult(params, steps, loss, accuracy, test_accuracy, history)


def largest_gap_reaching(accuracies: dict[int, float], threshold: float = 0.9) -> int | None:
    """The largest gap k whose accuracy is >= threshold (None when no gap reaches it)."""
    passing = [gap for gap, accuracy in accuracies.items() if accuracy >= threshold]
    return max(passing) if passing else None
