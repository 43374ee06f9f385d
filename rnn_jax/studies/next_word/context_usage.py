"""How much context a trained language model uses (Khandelwal et al. 2018, "Sharp Nearby, Fuzzy Far Away").

Three measurements on the same target positions t of a test stream, each from a fresh zero state:

  1. `loss_by_context`: the loss -log p(w_t) when the model reads only the last n tokens before t,
     for n = 1, 2, 5, ..., 200; the effective context is the smallest n whose loss is within 1 % of
     the loss at the largest n (`effective_context`).
  2. `loss_with_far_context_perturbed`: the increase of that loss (largest n) when the tokens
     farther back than k are shuffled (order destroyed, words kept) or replaced by other text of
     the same length (words destroyed).
  3. `input_gradient_norms`: the exact norm of d log p(w_t) / d x_{t-k}, the derivative with
     respect to the word vector k steps back, averaged over the positions: the lecture's
     dh_100/dx_1 ~ 0, measured on a trained model reading real text (JAX's reverse mode through
     the core's scan).

A position t needs `max(ns)` tokens before it; positions are drawn once (seeded) and shared by all
measurements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.errors import ConfigError
from rnn_jax.models.language_model import LanguageModel, reset_flags

CONTEXT_LENGTHS = (1, 2, 5, 10, 20, 50, 100, 200)
PERTURB_DISTANCES = (1, 2, 5, 10, 20, 50, 100)


def sample_positions(stream: np.ndarray, num_positions: int, max_context: int, seed: int = 0) -> np.ndarray:
    """`num_positions` distinct target positions t >= max_context of `stream` (sorted, seeded)."""
    if len(stream) <= max_context:
        raise ConfigError(
            f"a stream of {len(stream)} tokens has no position with {max_context} tokens before it"
        )
    candidates = np.arange(max_context, len(stream))
    count = min(num_positions, len(candidates))
    return np.sort(np.random.default_rng(seed).choice(candidates, count, replace=False))


def contexts(stream: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
    """The n tokens before each position: [P, n] (row p = stream[t_p - n : t_p])."""
    return np.stack([stream[t - n : t] for t in positions]).astype(np.int32)


@functools.partial(jax.jit, static_argnums=0)
def _target_log_probs(
    model: LanguageModel, params: Any, xs: jax.Array, targets: jax.Array, resets: jax.Array | None = None
) -> jax.Array:
    """log p(target | word vectors xs [P, n, E]) from a zero state [P]; resets: `reset_flags` of the ids."""
    carry = model.init_carry(xs.shape[0])
    hs, _ = model.apply({"params": params}, xs, carry, resets=resets, method="recur")
    return model.apply({"params": params}, hs[:, -1], targets, method="target_log_probs")  # last step


def _losses(model, params, ids: np.ndarray, targets: np.ndarray, chunk: int = 256) -> np.ndarray:
    """-log p(target | ids) per row, from a zero state, in chunks of rows."""
    out = []
    for start in range(0, len(ids), chunk):
        rows, row_targets = (
            jnp.asarray(ids[start : start + chunk]),
            jnp.asarray(targets[start : start + chunk]),
        )
        xs = model.apply({"params": params}, rows, method="embed")
        out.append(-np.asarray(_target_log_probs(model, params, xs, row_targets, reset_flags(model, rows))))
    return np.concatenate(out)


def loss_by_context(
    model: LanguageModel,
    params: Any,
    stream: np.ndarray,
    positions: np.ndarray,
    ns: Sequence[int] = CONTEXT_LENGTHS,
) -> dict[int, float]:
    """Mean -log p(w_t) over `positions` when the model reads only the last n tokens, for each n."""
    targets = stream[positions].astype(np.int32)
    return {int(n): float(_losses(model, params, contexts(stream, positions, n), targets).mean()) for n in ns}


def effective_context(losses: dict[int, float], tolerance: float = 0.01) -> int:
    """The smallest n whose loss is within `tolerance` (relative) of the loss at the largest n."""
    reference = losses[max(losses)]
    return min(n for n, loss in losses.items() if loss <= reference * (1 + tolerance))


def perturb_far_context(
    ids: np.ndarray, k: int, mode: str, rng: np.random.Generator, replacement: np.ndarray | None = None
) -> np.ndarray:
    """The contexts [P, n] with the tokens farther back than k (columns [0, n - k)) shuffled or replaced.

    `mode="shuffle"` permutes those tokens within each row (the words stay, their order goes);
    `mode="replace"` overwrites them with rows of `replacement` [P, >= n - k] (other text).
    """
    far = ids.shape[1] - k
    out = ids.copy()
    if far <= 0:
        return out
    if mode == "shuffle":
        out[:, :far] = rng.permuted(ids[:, :far], axis=1)
    elif mode == "replace":
        if replacement is None or replacement.shape[1] < far:
            raise ConfigError(f"replace needs replacement rows of at least {far} tokens")
        out[:, :far] = replacement[:, :far]
    else:
        raise ConfigError(f"unknown mode {mode!r}; expected 'shuffle' or 'replace'")
    return out


def loss_with_far_context_perturbed(
    model: LanguageModel,
    params: Any,
    stream: np.ndarray,
    positions: np.ndarray,
    replacement_stream: np.ndarray,
    *,
    n: int = 200,
    ks: Sequence[int] = PERTURB_DISTANCES,
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """Loss increase (mean over positions, nats) when tokens farther back than k are shuffled / replaced."""
    rng = np.random.default_rng(seed)
    targets = stream[positions].astype(np.int32)
    ids = contexts(stream, positions, n)
    intact = _losses(model, params, ids, targets)
    starts = rng.integers(0, len(replacement_stream) - n, len(positions))
    replacement = np.stack([replacement_stream[s : s + n] for s in starts]).astype(np.int32)
    result = {}
    for mode in ("shuffle", "replace"):
        result[mode] = {
            int(k): float(
                (
                    _losses(model, params, perturb_far_context(ids, k, mode, rng, replacement), targets)
                    - intact
                ).mean()
            )
            for k in ks
        }
    return result


def input_gradient_norms(
    model: LanguageModel,
    params: Any,
    stream: np.ndarray,
    positions: np.ndarray,
    n: int = 200,
    chunk: int = 128,
) -> np.ndarray:
    """Mean over positions of ||d log p(w_t) / d x_{t-k}||, k = 1..n: [n] (index k - 1).

    The positions' log-probabilities are independent, so the gradient of their sum with respect to
    all word vectors xs [P, n, E] holds each position's own derivative in its row.
    """
    targets = stream[positions].astype(np.int32)
    ids = contexts(stream, positions, n)
    grad = jax.jit(jax.grad(lambda xs, t, r: _target_log_probs(model, params, xs, t, r).sum()))
    total = np.zeros(n)
    for start in range(0, len(ids), chunk):
        rows = jnp.asarray(ids[start : start + chunk])
        xs = model.apply({"params": params}, rows, method="embed")
        grads = grad(xs, jnp.asarray(targets[start : start + chunk]), reset_flags(model, rows))
        norms = np.asarray(jnp.linalg.norm(grads, axis=-1))
        total += norms.sum(axis=0)  # [P, n] -> [n]; column j is k = n - j steps back
    return (total / len(ids))[::-1]


def cue_probabilities(
    model: LanguageModel,
    params: Any,
    cue: np.ndarray,
    filler: np.ndarray,
    prompt: np.ndarray,
    answers: Sequence[int],
    gaps: Sequence[int],
) -> dict[int, list[float]]:
    """p(answer | cue, `gap` tokens of filler text, prompt) of each answer id, for each gap.

    The lecture's "I grew up in China ... I speak fluent ___": `{gap: [p(answers[0]), ...]}`, each
    read from a fresh zero state over the cue, the first `gap` tokens of `filler`, then the prompt.
    """
    if len(filler) < max(gaps):
        raise ConfigError(
            f"the filler text ({len(filler)} tokens) is shorter than the largest gap {max(gaps)}"
        )
    answers = jnp.asarray(list(answers), jnp.int32)
    result = {}
    for gap in gaps:
        ids = np.concatenate([cue, filler[:gap], prompt]).astype(np.int32)
        xs = model.apply(
            {"params": params}, jnp.asarray(np.repeat(ids[None], len(answers), 0)), method="embed"
        )
        resets = reset_flags(model, np.repeat(ids[None], len(answers), 0))
        result[int(gap)] = np.exp(np.asarray(_target_log_probs(model, params, xs, answers, resets))).tolist()
    return result


def cue_scores(probabilities: np.ndarray) -> dict[str, float]:
    """How much the cues steer the answers: probabilities [C cues, C answers], p[i, j] = p(answer j | cue i).

    accuracy: the fraction of cues after which their own answer is the most probable of the C
    (chance: 1 / C when the cue is ignored); lift: mean over i of log p[i, i] - mean_{k != i} log p[k, i],
    how much more probable answer i is after its own cue than after the others (0 nats: ignored).
    """
    p = np.asarray(probabilities, np.float64)
    count = len(p)
    accuracy = float(np.mean(np.argmax(p, axis=1) == np.arange(count)))
    log_p = np.log(p)
    others = (log_p.sum(axis=0) - np.diag(log_p)) / (count - 1)
    return {"accuracy": accuracy, "lift": float(np.mean(np.diag(log_p) - others))}


def measure(
    model: LanguageModel,
    params: Any,
    test_stream: np.ndarray,
    replacement_stream: np.ndarray,
    *,
    num_positions: int = 500,
    ns: Sequence[int] = CONTEXT_LENGTHS,
    seed: int = 0,
) -> dict[str, Any]:
    """All three measurements on the same `num_positions` positions of `test_stream` ("context")."""
    n = max(ns)
    positions = sample_positions(test_stream, num_positions, n, seed)
    losses = loss_by_context(model, params, test_stream, positions, ns)
    ks = [k for k in PERTURB_DISTANCES if k < n]
    return {
        "num_positions": len(positions),
        "loss_by_context": losses,
        "effective_context": effective_context(losses),
        "perturbed": loss_with_far_context_perturbed(
            model, params, test_stream, positions, replacement_stream, n=n, ks=ks, seed=seed
        ),
        "gradient_norms": input_gradient_norms(model, params, test_stream, positions, n).tolist(),
    }


def plot_context_usage(runs_results: dict[str, dict], path) -> None:
    """Three panels for one or more models: loss against context length, perturbation, gradient norms."""
    from rnn_jax.studies.plots import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, context in runs_results.items():
        losses = dict(sorted((int(k), v) for k, v in context["loss_by_context"].items()))  # JSON keys
        axes[0].plot(
            list(losses),
            list(losses.values()),
            "o-",
            label=f"{name} (effective {context['effective_context']})",
        )
        for mode, style in (("shuffle", "o-"), ("replace", "s--")):
            increase = dict(sorted((int(k), v) for k, v in context["perturbed"][mode].items()))
            axes[1].plot(list(increase), list(increase.values()), style, label=f"{name}, {mode}d")
        norms = context["gradient_norms"]
        axes[2].semilogy(range(1, len(norms) + 1), norms, label=name)
    for ax, (xlabel, ylabel) in zip(
        axes,
        [
            ("tokens of context n", "test loss (nats)"),
            ("tokens kept intact k", "loss increase (nats)"),
            ("steps back k", "mean ||d log p(w_t) / d x_{t-k}||"),
        ],
        strict=True,
    ):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
