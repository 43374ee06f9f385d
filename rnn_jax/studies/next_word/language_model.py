"""Next-word prediction on the IMDB text: a many-to-many language model on the shared training loop.

    train_and_evaluate(config, workdir):
        corpus (rnn_jax.data.lm_corpus) -> rows = batchify(train stream, B)
        RNN models: the Task of stateful truncated BPTT -> rnn_jax.training.loop.fit -> perplexities
        count models (kneser_ney, unigram): fit the counts -> perplexities

Stateful truncated BPTT as PyTorch's `examples/word_language_model` and Keras' `stateful=True` do it:
the training stream is cut into B contiguous rows; each step reads the window of K tokens at the
same columns of every row, inputs `rows[:, s:s+K]` and targets `rows[:, s+1:s+K+1]`; the state at
the window's end is carried to the next window (the loop's `TrainState.carry`) with no gradient
flowing back into it (the carry enters each step as a constant: truncation at the window). The
carry starts at zero each epoch; evaluation carries it through its own rows the same way. The carry
is checkpointed with the rest of the state, so a run stopped mid-epoch resumes exactly.

Perplexity = exp(mean -log p(w_t | w_<t)) over every target token of the split, always with an
exact distribution over all V = vocab_size + 2 ids (the words, end-of-review, out-of-vocabulary):
the full softmax, or the adaptive softmax, which is normalised over all V ids too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.core.cells import num_params
from rnn_jax.data import lm_corpus
from rnn_jax.data.tokenizer import Vocabulary, split_words
from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.models import ngram
from rnn_jax.models.adaptive_softmax import cluster_capacities
from rnn_jax.models.language_model import SOFTMAXES, LanguageModel
from rnn_jax.models.language_model import init_params as init_lm_params
from rnn_jax.studies.command import flag, parse_flags
from rnn_jax.training import checkpoints, distributed, loop, runs

RNN_MODELS = ("simple_rnn", "lstm", "gru")
COUNT_MODELS = ("kneser_ney", "unigram")
MODELS = RNN_MODELS + COUNT_MODELS
OPTIMIZERS = ("adam", "sgd")
VOCAB_FILE = "vocab.json"
RESUMABLE_CHANGES = ("data_dir", "download", "num_devices")


@dataclasses.dataclass(frozen=True)
class LMConfig:
    """A language model of the IMDB reviews' text: an RNN (stateful truncated BPTT) or n-gram counts."""

    model: str = flag("simple_rnn", "which model", MODELS)
    vocab_size: int = flag(10_000, "most frequent training words kept (+ end-of-review and OOV ids)")
    embedding_size: int = flag(256, "E, size of the word vectors")
    hidden_size: int = flag(256, "H, size of each layer's state")
    num_layers: int = flag(1, "recurrent layers")
    # 0.5, not the core's 1.0: at radius 1 Adam drives the 256-unit Simple RNN's carried state into a
    # chaotic regime (validation perplexity 17,404 after 300 steps against 339 at 0.5; results/lm/init/).
    recurrent_scale: float = flag(0.5, "spectral radius of the recurrent weights A_h at initialisation")
    tie_embeddings: bool = flag(False, "the output layer reuses the embedding table (needs H = E)")
    softmax: str = flag(
        "adaptive", "output layer: the adaptive softmax (exact, cheaper) or the full softmax", SOFTMAXES
    )
    cutoffs: tuple[int, ...] = flag((2000, 6000), "the adaptive softmax's cluster boundaries (ids)")
    div_value: float = flag(4.0, "the adaptive softmax's projection divisor per cluster")
    dropout: float = flag(0.0, "dropout on the word vectors and the layers' outputs while training")
    # False (PyTorch's example): the state runs on across reviews. True: each review is read from a
    # zero state, in training and evaluation (the quick lecture's fix; docs/language_model.md).
    reset_at_review_end: bool = flag(False, "zero the state at each end-of-review token")
    optimizer: str = flag("adam", "Optax optimizer (sgd as in PyTorch's example, with clipping)", OPTIMIZERS)
    learning_rate: float = flag(1e-3, "learning rate")
    clip_norm: float | None = flag(1.0, "clip gradients to this global norm (None: no clipping)")
    batch_size: int = flag(32, "B, rows the training stream is cut into (one window of each per step)")
    window: int = flag(35, "K, tokens per BPTT window (the gradient is cut between windows)")
    eval_batch_size: int = flag(10, "rows of the validation and test streams")
    num_epochs: int = flag(1, "passes over the training stream")
    patience: int | None = flag(None, "stop after this many epochs without a lower validation perplexity")
    checkpoint_every_steps: int = flag(500, "also checkpoint every this many steps (0: epoch ends only)")
    seed: int = flag(0, "seed of the initial parameters and dropout")
    split_seed: int = flag(0, "seed of the validation / test slices of TFDS's test split")
    ngram_order: int = flag(3, "n of the Kneser-Ney model (3 = trigram)")
    max_train_tokens: int | None = flag(None, "use only the first N training tokens (quick runs)")
    max_train_reviews: int | None = flag(None, "read only the first N training reviews (smoke runs)")
    max_eval_reviews: int | None = flag(None, "use only the first N validation and test reviews")
    num_validation: int = flag(lm_corpus.NUM_VALIDATION, "reviews of TFDS's test split for validation")
    num_test: int = flag(lm_corpus.NUM_TEST, "reviews of TFDS's test split for the test perplexity")
    data_dir: str | None = flag(
        None, "TFDS data directory (None: $TFDS_DATA_DIR, else ~/tensorflow_datasets)"
    )
    download: bool = flag(True, "download and prepare imdb_reviews with TFDS when it is missing")
    context_positions: int = flag(500, "test positions of the context-usage measurements (0: none)")
    num_devices: int | None = flag(
        None, "devices in the data-parallel mesh (None: all); must divide batch_size"
    )


def validate_config(config: LMConfig) -> None:
    """Raises ConfigError naming the first field that makes no sense."""
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; expected one of {', '.join(map(repr, MODELS))}")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {config.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    for name in (
        "vocab_size",
        "embedding_size",
        "hidden_size",
        "num_layers",
        "batch_size",
        "window",
        "eval_batch_size",
        "num_epochs",
        "num_validation",
        "num_test",
    ):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    if config.ngram_order < 1:
        raise ConfigError(f"ngram_order must be >= 1, got {config.ngram_order}")
    if not config.learning_rate > 0:
        raise ConfigError(f"learning_rate must be > 0, got {config.learning_rate}")
    if config.clip_norm is not None and not config.clip_norm > 0:
        raise ConfigError(f"clip_norm must be > 0 or None, got {config.clip_norm}")
    if config.model in RNN_MODELS:
        build_model(config, config.vocab_size + 2)  # the model's own checks (sizes, dropout, cutoffs)


def build_model(config: LMConfig, num_ids: int) -> LanguageModel:
    return LanguageModel(
        num_ids=num_ids,
        embedding_size=config.embedding_size,
        hidden_size=config.hidden_size,
        cell=config.model,
        num_layers=config.num_layers,
        tie_embeddings=config.tie_embeddings,
        dropout=config.dropout,
        recurrent_scale=config.recurrent_scale,
        softmax=config.softmax,
        cutoffs=tuple(config.cutoffs),
        div_value=config.div_value,
        reset_id=lm_corpus.EOS_ID if config.reset_at_review_end else None,
    )


def make_optimizer(config: LMConfig) -> optax.GradientTransformation:
    """Adam, or plain SGD as in PyTorch's example; after global-norm clipping when `clip_norm` is set."""
    make = {"adam": optax.adam, "sgd": optax.sgd}[config.optimizer]
    parts = [] if config.clip_norm is None else [optax.clip_by_global_norm(config.clip_norm)]
    return optax.chain(*parts, make(config.learning_rate))


# ----------------------------------------------------------------------------- the task


def window_loss(
    params: Any,
    batch: jax.Array,
    carry: Any,
    dropout_key: jax.Array | None,
    *,
    model: LanguageModel,
    train: bool = True,
    capacities: tuple[int, ...] | None = None,
) -> tuple[jax.Array, tuple[dict, Any]]:
    """Mean next-token cross-entropy of one window, and the state after it.

        batch [B, K + 1] ids: inputs batch[:, :K], targets batch[:, 1:]
        loss = mean_{b, t} -log p(target[b, t] | inputs[b, :t + 1], carry)

    `capacities`: the adaptive softmax's bound on the targets per tail cluster in one window
    (`window_capacities`); None for the full softmax or no bound.
    Returns `(loss, (sums, carry))` with `sums = {"nll": sum of the losses, "count": B K}`.
    """
    inputs, targets = batch[:, :-1], batch[:, 1:]
    rngs = {"dropout": dropout_key} if train and dropout_key is not None else {}
    losses, carry = model.apply(
        {"params": params},
        inputs,
        targets,
        carry,
        train=train,
        rngs=rngs,
        capacities=capacities,
        method="losses",
    )  # [B, K]
    return losses.mean(), ({"nll": losses.sum(), "count": jnp.float32(losses.size)}, carry)


def _eval_sums(params, batch, carry, *, model, capacities=None):
    return window_loss(params, batch, carry, None, model=model, train=False, capacities=capacities)[1]


def window_capacities(model: LanguageModel, targets: np.ndarray) -> tuple[int, ...] | None:
    """The most targets one window holds per adaptive-softmax tail cluster: targets [windows, B, K].

    None for the full softmax. Read off the data once, so each window scores a tail cluster at
    exactly as many positions as the data can need (models/adaptive_softmax.py).
    """
    if model.softmax != "adaptive":
        return None
    return cluster_capacities(targets, model.cutoffs, model.num_ids)


def _window_targets(rows: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The targets of every window of `rows` [B, N] read from `starts`: [windows, B, K]."""
    if np.array_equal(starts, np.arange(len(starts)) * window):  # back to back: one reshape
        b = rows.shape[0]
        return rows[:, 1 : 1 + len(starts) * window].reshape(b, len(starts), window).transpose(1, 0, 2)
    return np.stack([rows[:, s + 1 : s + 1 + window] for s in starts])


def perplexity_metrics(sums: dict) -> dict[str, float]:
    """`{"loss": mean nll, "perplexity": exp(mean nll)}` from summed token losses."""
    count = float(sums["count"])
    loss = float(sums["nll"]) / count if count else float("nan")
    return {"loss": loss, "perplexity": math.exp(loss) if math.isfinite(loss) else float("nan")}


def stacked_windows(stream: np.ndarray, num_rows: int, window: int) -> np.ndarray:
    """The stream as rows [R, N] read window by window: [num_windows, R, K + 1] (no short last one)."""
    rows = lm_corpus.batchify(stream, num_rows)
    starts = lm_corpus.windows(rows.shape[1], window, drop_last=True)
    if not len(starts):
        raise ConfigError(
            f"the stream ({len(stream)} tokens) is too short for {num_rows} rows of "
            f"windows of {window}: lower eval_batch_size or window"
        )
    return np.stack([rows[:, s : s + window + 1] for s in starts])


def _epoch_starts(starts: np.ndarray, num_rows: int, epoch: int) -> np.ndarray:
    return np.repeat(starts[:, None], num_rows, axis=1).astype(np.int32)  # [steps, B]: the same columns


def _gather(rows: jax.Array, starts: jax.Array, *, window: int) -> jax.Array:
    """rows [B, N], starts [B] -> the windows [B, K + 1] (inputs and their next-token targets)."""
    return jax.vmap(lambda row, s: jax.lax.dynamic_slice(row, (s,), (window + 1,)))(rows, starts)


def training_windows(config: LMConfig, corpus: lm_corpus.LMCorpus) -> tuple[np.ndarray, np.ndarray]:
    """The training stream as B rows [B, N // B] and the start columns of one epoch's K-token windows."""
    rows = lm_corpus.batchify(corpus.train, config.batch_size)
    return rows, lm_corpus.windows(rows.shape[1], config.window, drop_last=True)


def make_task(
    config: LMConfig, model: LanguageModel, corpus: lm_corpus.LMCorpus, num_devices: int = 1
) -> loop.Task:
    """The stateful truncated-BPTT `Task` of the shared loop (validation perplexity: lower is better)."""
    rows, starts = training_windows(config, corpus)
    if not len(starts):
        raise ConfigError(
            f"the training stream ({len(corpus.train)} tokens) is too short for "
            f"{config.batch_size} rows of windows of {config.window}"
        )
    eval_rows = -(-config.eval_batch_size // num_devices) * num_devices  # splits over the mesh
    validation = stacked_windows(corpus.validation, eval_rows, config.window)
    test = stacked_windows(corpus.test, eval_rows, config.window)
    train_capacities = window_capacities(model, _window_targets(rows, starts, config.window))
    eval_capacities = window_capacities(model, np.concatenate([validation[:, :, 1:], test[:, :, 1:]]))
    return loop.Task(
        init_params=functools.partial(init_lm_params, model),
        loss=functools.partial(window_loss, model=model, capacities=train_capacities),
        eval_sums=functools.partial(_eval_sums, model=model, capacities=eval_capacities),
        zero_sums=lambda: {"nll": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.float32)},
        metrics=perplexity_metrics,
        train_data=rows,
        gather=functools.partial(_gather, window=config.window),
        epoch_indices=functools.partial(_epoch_starts, starts, config.batch_size),
        validation=validation,
        test=test,
        monitor="perplexity",
        mode="min",
        init_carry=functools.partial(model.init_carry, config.batch_size),
        init_eval_carry=functools.partial(model.init_carry, eval_rows),
        tokens_per_epoch=len(starts) * config.batch_size * config.window,
        describe=lambda m: f"loss {m['loss']:.4f} ppl {m['perplexity']:.2f}",
    )


# ----------------------------------------------------------------------------- the run


def load_corpus(config: LMConfig) -> lm_corpus.LMCorpus:
    return lm_corpus.load_lm_corpus(
        config.data_dir,
        vocab_size=config.vocab_size,
        num_validation=config.num_validation,
        num_test=config.num_test,
        split_seed=config.split_seed,
        max_train_reviews=config.max_train_reviews,
        max_train_tokens=config.max_train_tokens,
        max_eval_reviews=config.max_eval_reviews,
        download=config.download,
    )


def _corpus_results(corpus: lm_corpus.LMCorpus) -> dict[str, Any]:
    stats = lm_corpus.corpus_stats(corpus)
    return {"corpus": stats, "oov_rate": stats["train"]["oov_rate"], "num_ids": corpus.num_ids}


def train_and_evaluate(
    config: LMConfig,
    workdir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
) -> dict[str, Any]:
    """Trains `config.model` on the IMDB text, keeps the best validation epoch, tests it; writes the run.

    Returns the results written to `results.json`: `model`, `test_perplexity`, `validation_perplexity`,
    `num_params`, `train_tokens`, `tokens_per_second`, the corpus' token counts and OOV rate, and
    the top-5 next words after the lecture's prompts.
    """
    validate_config(config)
    mesh = distributed.make_mesh(config.num_devices)
    distributed.check_batch_size(config.batch_size, mesh)
    writer = distributed.is_main_process()
    workdir = loop.start_run(
        workdir, config, resume=resume, resumable_changes=RESUMABLE_CHANGES, writer=writer
    )
    corpus = load_corpus(config)
    if resume and (workdir / VOCAB_FILE).exists() and Vocabulary.load(workdir / VOCAB_FILE) != corpus.vocab:
        raise ConfigError(
            f"the corpus' vocabulary differs from {workdir / VOCAB_FILE}: same data and flags needed"
        )
    if not resume and writer:
        runs.save_config(workdir, config)
        corpus.vocab.save(workdir / VOCAB_FILE)
    print(
        f"corpus: {len(corpus.train):,} training / {len(corpus.validation):,} validation / "
        f"{len(corpus.test):,} test tokens; {corpus.num_ids:,} ids"
    )
    if config.model in COUNT_MODELS:
        return _fit_counts(config, corpus, workdir, writer)
    model = build_model(config, corpus.num_ids)
    task = make_task(config, model, corpus, int(mesh.devices.size))
    n_params = num_params(jax.eval_shape(task.init_params, jax.random.key(0)))
    print(f"model {config.model}: {n_params:,} parameters")
    extra = {"model": config.model, "num_params": n_params, "seed": config.seed, **_corpus_results(corpus)}
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
    if results.get("interrupted"):
        return results
    results.update(
        validation_perplexity=results["best_validation_perplexity"],
        train_tokens=results["epochs_run"] * task.tokens_per_epoch,
    )
    if writer:
        _, params, vocab = load_run(workdir)
        results.update(_lecture_examples(model, params, vocab, corpus))
        if config.context_positions:
            results.update(_context_usage(config, model, params, corpus, workdir))
        runs.save_results(workdir, results)
    print(
        f"test ({config.model}, best epoch {results['best_epoch']}): "
        f"perplexity {results['test_perplexity']:.2f}"
    )
    return results


def _lecture_examples(model, params, vocab: Vocabulary, corpus: lm_corpus.LMCorpus) -> dict[str, Any]:
    """The top-5 next words after the prompts, samples, and the long-range cue test."""
    samples = []
    prompt = encode_prompt(SAMPLE_PROMPT, vocab)
    for seed in range(3):
        ids = sample(
            model, params, jnp.asarray(prompt), jax.random.key(seed), num_words=30, temperature=0.8, top_k=40
        )
        samples.append(SAMPLE_PROMPT + " " + " ".join(decode(ids, vocab)))
    return {
        "next_words": _prompt_table(functools.partial(next_words, model, params), vocab),
        "samples": samples,
        "cue_test": cue_test(model, params, vocab, corpus.test),
    }


def cue_test(model, params, vocab: Vocabulary, filler: np.ndarray, gaps=None) -> dict[str, Any]:
    """The lecture's long-range example with controls: each place's cue, N filler words, the prompt.

    For every gap N and every (place, language) of `CUE_PAIRS`, p(each language | "i grew up in
    <place> ...", N tokens of review text, "so now i speak"). Reports the lecture's own pair
    (china -> chinese) as `probability_by_gap`, and over all pairs the accuracy (own language the
    most probable of the six; chance 1/6) and the lift in nats (`context_usage.cue_scores`).
    """
    from rnn_jax.studies.next_word.context_usage import cue_probabilities, cue_scores

    gaps = gaps or CUE_GAPS
    try:
        prompt = encode_prompt(CUE_PROMPT, vocab)
        cues = [encode_prompt(CUE_TEMPLATE.format(place=place), vocab) for place, _ in CUE_PAIRS]
        answers = [int(encode_prompt(language, vocab)[0]) for _, language in CUE_PAIRS]
    except ConfigError as err:
        return {"skipped": str(err)}
    if lm_corpus.OOV_ID in np.concatenate([prompt, *cues, answers]):
        return {"skipped": f"a word of the cue test {CUE_PAIRS} is outside the vocabulary"}
    try:
        table = [cue_probabilities(model, params, cue, filler, prompt, answers, gaps) for cue in cues]
    except ConfigError as err:  # filler text too short (smoke runs)
        return {"skipped": str(err)}
    scores = {gap: cue_scores([row[gap] for row in table]) for gap in table[0]}
    place, language = CUE_PAIRS[0]
    return {
        "cue": CUE_TEMPLATE.format(place=place),
        "prompt": CUE_PROMPT,
        "answer": language,
        "pairs": [list(pair) for pair in CUE_PAIRS],
        "probability_by_gap": {gap: table[0][gap][0] for gap in table[0]},
        "accuracy_by_gap": {gap: s["accuracy"] for gap, s in scores.items()},
        "lift_by_gap": {gap: s["lift"] for gap, s in scores.items()},
        "probabilities_by_gap": {gap: [row[gap] for row in table] for gap in table[0]},
    }


def _context_usage(
    config: LMConfig, model, params, corpus: lm_corpus.LMCorpus, workdir: Path
) -> dict[str, Any]:
    from rnn_jax.studies.next_word.context_usage import measure, plot_context_usage

    context = measure(
        model,
        params,
        corpus.test,
        corpus.train[:2_000_000],
        num_positions=config.context_positions,
        seed=config.seed,
    )
    plot_context_usage({config.model: context}, workdir / "context_usage.png")
    print(
        f"effective context: {context['effective_context']} tokens "
        f"(loss at n: {', '.join(f'{n}: {v:.3f}' for n, v in context['loss_by_context'].items())})"
    )
    return {"context": context, "effective_context": context["effective_context"]}


def _fit_counts(config: LMConfig, corpus: lm_corpus.LMCorpus, workdir: Path, writer: bool) -> dict[str, Any]:
    """The count baselines: interpolated Kneser-Ney of order `ngram_order`, or the add-one unigram."""
    start = time.perf_counter()
    if config.model == "kneser_ney":
        model = ngram.KneserNeyModel(corpus.num_ids, order=config.ngram_order).fit(corpus.train)
    else:
        model = ngram.UnigramModel(corpus.num_ids).fit(corpus.train)
    seconds = time.perf_counter() - start
    results = {
        "model": config.model,
        "order": config.ngram_order if config.model == "kneser_ney" else 1,
        "validation_perplexity": model.perplexity(corpus.validation),
        "test_perplexity": model.perplexity(corpus.test),
        "train_tokens": len(corpus.train),
        "fit_seconds": seconds,
        "tokens_per_second": len(corpus.train) / seconds,
        "num_params": None,
        "effective_context": None,
        **_corpus_results(corpus),
        "next_words": _prompt_table(functools.partial(_count_next_words, model), corpus.vocab),
    }
    if writer:
        runs.save_results(workdir, results)
    print(
        f"{config.model}: validation perplexity {results['validation_perplexity']:.2f}, "
        f"test {results['test_perplexity']:.2f} (fitted in {seconds:.1f} s)"
    )
    return results


def load_run(workdir: str | os.PathLike) -> tuple[LMConfig, Any, Vocabulary]:
    """`(config, params, vocab)` of a finished RNN language-model run (its best epoch's parameters)."""
    workdir = Path(workdir)
    path = workdir / runs.CONFIG_FILE
    if not path.exists():
        raise RunNotFoundError(f"{path} does not exist: {workdir} holds no run")
    config = LMConfig(**runs.load_json(path))
    vocab = Vocabulary.load(workdir / VOCAB_FILE)
    model = build_model(config, vocab.num_ids)
    abstract = jax.eval_shape(functools.partial(init_lm_params, model), jax.random.key(0))
    return config, checkpoints.load_params(workdir / checkpoints.BEST_PARAMS_DIR, abstract), vocab


# ----------------------------------------------------------------------------- prompts and sampling

PROMPTS = ("clouds are in the", "i speak fluent", "this movie was", "the acting was", "i grew up in")
SAMPLE_PROMPT = "this movie was"
# The lecture's "I grew up in China ... I speak fluent ___" in the reviews' words ("fluent" is not among
# the 10,000 most frequent training words), its own pair first, five more as controls.
CUE_TEMPLATE = "i grew up in {place} and my parents spoke to me in"
CUE_PROMPT = "so now i speak"
CUE_PAIRS = (
    ("china", "chinese"),
    ("france", "french"),
    ("germany", "german"),
    ("italy", "italian"),
    ("japan", "japanese"),
    ("spain", "spanish"),
)
CUE_GAPS = (0, 5, 10, 20, 50, 100, 200)


def _prompt_table(top_words, vocab: Vocabulary) -> dict[str, Any]:
    """The top next words after each of `PROMPTS` (a prompt the vocabulary cannot read: its reason)."""
    table = {}
    for prompt in PROMPTS:
        try:
            table[prompt] = top_words(vocab, prompt)
        except ConfigError as err:
            table[prompt] = f"not encoded: {err}"
    return table


def encode_prompt(prompt: str, vocab: Vocabulary) -> np.ndarray:
    """The prompt's ids [P]; ConfigError for an empty prompt or one of unknown words only."""
    words = split_words(prompt)
    if not words:
        raise ConfigError(f"the prompt {prompt!r} holds no words")
    ids = np.asarray(vocab.lookup(words), np.int32)
    if np.all(ids == lm_corpus.OOV_ID):
        raise ConfigError(f"every word of the prompt {prompt!r} is outside the vocabulary")
    return ids


def decode(ids: Any, vocab: Vocabulary) -> list[str]:
    """Ids -> words; "<eos>" for the end of a review, "<unk>" for out-of-vocabulary."""
    special = {lm_corpus.EOS_ID: "<eos>", lm_corpus.OOV_ID: "<unk>"}
    return [special.get(int(i)) or vocab.words[int(i) - 2] for i in np.asarray(ids)]


@functools.partial(jax.jit, static_argnums=0)
def _prompt_logits(model: LanguageModel, params: Any, ids: jax.Array) -> tuple[jax.Array, Any]:
    logits, carry = model.apply({"params": params}, ids[None], model.init_carry(1))
    return logits[0, -1], carry  # [V], the state after the prompt


def next_words(model: LanguageModel, params: Any, vocab: Vocabulary, prompt: str, k: int = 5) -> list:
    """The `k` most probable next words after `prompt`, `[[word, probability], ...]` (full softmax)."""
    logits, _ = _prompt_logits(model, params, jnp.asarray(encode_prompt(prompt, vocab)))
    probs = np.asarray(jax.nn.softmax(logits))
    top = np.argsort(-probs)[:k]
    return [[word, float(p)] for word, p in zip(decode(top, vocab), probs[top], strict=True)]


def _count_next_words(model, vocab: Vocabulary, prompt: str, k: int = 5) -> list:
    probs = model.next_word_distribution(encode_prompt(prompt, vocab))
    top = np.argsort(-probs)[:k]
    return [[word, float(p)] for word, p in zip(decode(top, vocab), probs[top], strict=True)]


@functools.partial(jax.jit, static_argnames=("model", "num_words", "top_k"))
def sample(
    model: LanguageModel,
    params: Any,
    prompt_ids: jax.Array,
    key: jax.Array,
    *,
    num_words: int,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> jax.Array:
    """Samples `num_words` ids after the prompt with `lax.scan`, deterministic for a given `key`.

    p(w_t) = softmax(logits_t / temperature), restricted to the `top_k` most probable ids
    """
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k must be >= 1 or None, got {top_k}")
    logits, carry = _prompt_logits(model, params, prompt_ids)

    def step(state, step_key):
        carry, logits = state
        logits = logits / temperature
        if top_k is not None:
            kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][-1]  # top_k >= V: no cut
            logits = jnp.where(logits < kth, -jnp.inf, logits)
        word = jax.random.categorical(step_key, logits)
        new_logits, carry = model.apply({"params": params}, word[None, None], carry)
        return (carry, new_logits[0, -1]), word

    _, words = jax.lax.scan(step, (carry, logits), jax.random.split(key, num_words))
    return words


# ----------------------------------------------------------------------------- the command line


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How to run, not what."""

    workdir: str | None = dataclasses.field(
        default=None, metadata={"help": "run folder (default: runs/lm/<model>_seed<seed>)"}
    )
    resume: bool = dataclasses.field(default=False, metadata={"help": "continue the run in --workdir"})
    no_progress: bool = dataclasses.field(default=False, metadata={"help": "no tqdm bars"})
    analyze_only: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "train nothing: recompute the prompts, samples, cue test and context usage of the "
            "finished run in --workdir (rewrites its results.json)"
        },
    )


SMOKE = {
    "vocab_size": 30,
    "embedding_size": 16,
    "hidden_size": 16,
    "batch_size": 4,
    "window": 10,
    "eval_batch_size": 2,
    "max_train_reviews": 60,
    "max_eval_reviews": 10,
    "num_validation": 20,
    "num_test": 20,
    "checkpoint_every_steps": 0,
    "cutoffs": (10, 20),
}


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax lm` / `python experiments/language_model.py`: parse flags, train or fit, test."""
    argv = list(sys.argv[1:] if argv is None else argv)
    smoke = "--smoke" in argv
    argv = [a for a in argv if a != "--smoke"]
    config, options = parse_flags([LMConfig, RunOptions], argv, defaults=SMOKE if smoke else None)
    if options.resume and options.workdir and (Path(options.workdir) / runs.CONFIG_FILE).exists():
        saved = runs.load_json(Path(options.workdir) / runs.CONFIG_FILE)
        config, options = parse_flags([LMConfig, RunOptions], argv, defaults=saved)
    workdir = options.workdir or f"runs/lm/{config.model}_seed{config.seed}"
    if options.analyze_only:
        return analyze_run(workdir)
    return train_and_evaluate(config, workdir, resume=options.resume, progress=not options.no_progress)


def analyze_run(workdir: str | os.PathLike) -> dict[str, Any]:
    """Recomputes the prompts, samples, cue test and context usage of a finished RNN run (results.json)."""
    workdir = Path(workdir)
    config, params, vocab = load_run(workdir)
    corpus = load_corpus(config)
    model = build_model(config, vocab.num_ids)
    results = {
        **runs.load_json(workdir / runs.RESULTS_FILE),
        **_lecture_examples(model, params, vocab, corpus),
    }
    # A run stopped between the loop's results.json and the study's entries lacks these two.
    results.setdefault("validation_perplexity", results["best_validation_perplexity"])
    if "train_tokens" not in results:
        _, starts = training_windows(config, corpus)
        results["train_tokens"] = results["epochs_run"] * len(starts) * config.batch_size * config.window
    if config.context_positions:
        results.update(_context_usage(config, model, params, corpus, workdir))
    runs.save_results(workdir, results)
    return results
