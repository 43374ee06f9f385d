"""How far back a classifier's last state reads at step 0: a random start against a language model's.

    rnn-jax pretrained-start --pretrained_lm runs/pretrain_full/lm_simple_rnn --radii 1.0,0.5 \
        --data_dir ../shared/tfds --out results/pretrain/start_reach
    python experiments/pretrained_start.py --help

A sentiment classifier reads the last T = 500 words of a review and classifies from its last state
h_T. Whether a start lets it learn from early words is the lecture's vanishing gradient, measured
on real reviews: for each start this study computes the exact Jacobian of h_T with respect to every
word vector (one reverse-mode pass per state unit, `jax.jacrev` through `rnn_jax.unroll`'s scan) and
reports its Frobenius norm against the distance k = T - t from the end,

    reach(k) = median over reviews of || d h_T / d x_{T-k} ||_F,        k = 0 .. T-1,

beside the spectral radius of the recurrent block A_h (Simple RNN) and the fraction of state units
in tanh's flat tails (|h_t| > 0.99, every t) and the median norm of the word vectors (the rows of
the embedding). Starts: the classifier's own random initialisation (`init_params`: its embedding
and recurrence), the language model's embedding with the random recurrence (what
`--pretrained_parts embedding` starts from), the language model's parameters as trained, and, for
a Simple RNN, the same with A_h rescaled to each of `--radii` and A_x multiplied by each of
`--input_scales`, every combination, and with `--orthogonal` all of them again with A_h first replaced
by its polar factor
(`imdb.rescale_recurrence`, what `rnn-jax imdb --pretrained_radius R --pretrained_input_scale s
--pretrained_orthogonal` starts from). Reviews: the first `--num_reviews`
reviews of TFDS's train split (stored order) with at least T words, encoded with the language model's
vocabulary.

Writes `results.json`, `table.md` and `reach.png` (reach(k), log y) in `--out`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.core import cells
from rnn_jax.core.initializers import spectral_radius
from rnn_jax.core.unroll import unroll
from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.training import runs

STEP_FUNCTIONS = {"simple_rnn": cells.simple_rnn_step, "lstm": cells.lstm_step, "gru": cells.gru_step}
SATURATED = 0.99  # |h| above this: tanh's derivative 1 - h^2 is below 0.02
REPORTED_DISTANCES = (0, 10, 50, 100, 200, 499)
EMBEDDING_ONLY = "language model's embedding"  # with the classifier's random recurrence


@dataclasses.dataclass(frozen=True)
class StartConfig:
    """The reach of d h_T / d x_{T-k} at a classifier's step 0, random and pretrained starts."""

    pretrained_lm: str = flag("", "a finished RNN language-model run folder (rnn-jax lm --workdir)")
    radii: str = flag("", "comma-separated spectral radii for the Simple RNN's A_h, each one more start")
    input_scales: str = flag(
        "", "comma-separated multipliers of the Simple RNN's A_x: one more start each, with each radius"
    )
    orthogonal: bool = flag(
        False, "the starts again with the Simple RNN's A_h replaced by its polar factor U V^T (orthogonal)"
    )
    seq_len: int = flag(500, "T, the last words a review is read by (the classifier's seq_len)")
    num_reviews: int = flag(16, "reviews of at least T words (the median is over them)")
    seed: int = flag(0, "seed of the classifier's random start")
    data_dir: str | None = flag(None, "TFDS data directory (None: $TFDS_DATA_DIR or TFDS's default)")
    download: bool = flag(True, "download and prepare imdb_reviews with TFDS when it is missing")
    out: str = flag("runs/pretrained_start", "output folder")

    @property
    def workdir(self) -> str:  # run_experiment's name for the output folder
        return self.out


SMOKE = {"seq_len": 12, "num_reviews": 2}


def parse_radii(text: str, name: str = "radii") -> tuple[float, ...]:
    """`"1.0,0.5"` -> (1.0, 0.5); ConfigError (naming the flag) for a value that is not a positive number."""
    radii = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not a number") from None
        if not value > 0:
            raise ConfigError(f"{name} must be > 0, got {value}")
        radii.append(value)
    return tuple(radii)


def reach(step_fn, rnn_params: Any, xs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`(norms, saturated)` for word vectors `xs` [N, T, E] read from a zero state.

    norms [N, T]: `norms[n, k] = || d h_T / d x_{T-k} ||_F` of review n (k = 0: the last word);
    saturated [N]: the fraction of the states' entries with |h_t| > 0.99 over all t and units.
    """

    def last_output(x):  # x [T, E] -> (h_T [H], the states h_1..h_T [T, H] as the auxiliary output)
        last, states = unroll(step_fn, rnn_params, x)
        return cells.state_output(last), cells.state_output(states)

    def one(x):
        jac, hs = jax.jacrev(last_output, has_aux=True)(x)  # [H, T, E], [T, H]: one forward pass
        return jnp.sqrt(jnp.sum(jac**2, axis=(0, 2)))[::-1], jnp.mean(jnp.abs(hs) > SATURATED)

    return jax.lax.map(one, xs)


def long_reviews(config: StartConfig, vocab) -> np.ndarray:
    """ids [N, T]: the last T words of the first `num_reviews` reviews of TFDS's train split (stored
    order) that have at least T words."""
    from rnn_jax.data.imdb import load_sources
    from rnn_jax.data.tokenizer import encode, split_words

    source = load_sources(config.data_dir, download=config.download)["train"]
    words: list[list[str]] = []
    for start in range(0, len(source), 256):
        chunk = source.__getitems__(list(range(start, min(start + 256, len(source)))))
        words += [w for w in (split_words(r["text"]) for r in chunk) if len(w) >= config.seq_len]
        if len(words) >= config.num_reviews:
            return encode(words[: config.num_reviews], vocab, config.seq_len)[0]
    raise ConfigError(
        f"only {len(words)} training reviews have at least {config.seq_len} words; "
        "lower --num_reviews or --seq_len"
    )


def starts(config: StartConfig) -> tuple[str, dict[str, dict[str, Any]], Any]:
    """`(cell, {name: {"embedding": [V, E], "rnn": params}}, vocab)`: the random and pretrained starts."""
    from rnn_jax.models.classifiers import build_model, init_params
    from rnn_jax.studies.next_word import language_model as lm
    from rnn_jax.studies.sentiment import imdb

    if not config.pretrained_lm:
        raise ConfigError("--pretrained_lm names no language-model run folder")
    lm_config, lm_params, vocab = lm.load_run(config.pretrained_lm)
    if lm_config.model not in STEP_FUNCTIONS or lm_config.num_layers != 1:
        raise ConfigError(
            f"{config.pretrained_lm}: a one-layer {'/'.join(STEP_FUNCTIONS)} language model is needed, "
            f"got {lm_config.model} with {lm_config.num_layers} layers"
        )
    radii, input_scales = parse_radii(config.radii), parse_radii(config.input_scales, "input_scales")
    if (radii or input_scales or config.orthogonal) and lm_config.model != "simple_rnn":
        raise ConfigError(
            f"--radii, --input_scales and --orthogonal rescale a Simple RNN's A; "
            f"{config.pretrained_lm} is an {lm_config.model}"
        )
    classifier = imdb.TrainConfig(
        model=lm_config.model,
        vocab_size=lm_config.vocab_size,
        embedding_size=lm_config.embedding_size,
        hidden_size=lm_config.hidden_size,
        seq_len=config.seq_len,
    )
    random = init_params(build_model(classifier), jax.random.key(config.seed), config.seq_len)
    found = {
        "random start": {"embedding": random["embedding"]["embedding"], "rnn": random["rnn"]},
        EMBEDDING_ONLY: {"embedding": lm_params["embedding"]["embedding"], "rnn": random["rnn"]},
        "language model": {"embedding": lm_params["embedding"]["embedding"], "rnn": lm_params["rnn"]},
    }
    for orthogonal in (False, True) if config.orthogonal else (False,):
        for radius in (None, *radii):
            for scale in (1.0, *input_scales):
                if radius is None and scale == 1.0 and not orthogonal:
                    continue  # the language model as trained, above
                rnn, _ = imdb.rescale_recurrence(
                    lm_params["rnn"], lm_config.hidden_size, radius, scale, orthogonal=orthogonal
                )
                name = (
                    "language model"
                    + (", A_h orthogonal" if orthogonal else "")
                    + (f", radius {radius:g}" if radius else "")
                    + (f", A_x x {scale:g}" if scale != 1.0 else "")
                )
                found[name] = {**found["language model"], "rnn": rnn}
    return lm_config.model, found, vocab


def run(config: StartConfig) -> dict[str, Any]:
    if config.seq_len < 2 or config.num_reviews < 1:
        raise ConfigError(
            f"seq_len must be >= 2 and num_reviews >= 1, got {config.seq_len}, {config.num_reviews}"
        )
    cell, found, vocab = starts(config)
    ids = jnp.asarray(long_reviews(config, vocab))
    step_fn = STEP_FUNCTIONS[cell]
    measure = jax.jit(functools.partial(reach, step_fn))
    results: dict[str, Any] = {"cell": cell, "pretrained_lm": config.pretrained_lm, "starts": {}}
    for name, params in found.items():
        norms, saturated = measure(params["rnn"], jnp.take(params["embedding"], ids, axis=0))
        median = np.median(np.asarray(norms), axis=0)  # [T]
        results["starts"][name] = {
            "recurrent_radius": _radius(params["rnn"], cell),
            "recurrent_singular_values": _singular_values(params["rnn"], cell),
            "embedding_row_norm": float(np.median(np.linalg.norm(np.asarray(params["embedding"]), axis=1))),
            "saturated_fraction": float(np.mean(saturated)),
            "median_norm": median.tolist(),
        }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    runs.save_config(out, config)
    (out / "table.md").write_text(to_markdown(results, config.seq_len))
    plot_reach(results, out / "reach.png")
    results["machine"] = runs.machine()
    runs.save_results(out, results)
    return results


def _radius(rnn_params: Any, cell: str) -> float | None:
    """The spectral radius of a Simple RNN's A_h (None for the gated cells: no single A_h)."""
    if cell != "simple_rnn":
        return None
    return spectral_radius(rnn_params["A"][:, : rnn_params["A"].shape[0]])


def _singular_values(rnn_params: Any, cell: str) -> list[float] | None:
    """A Simple RNN's A_h singular values, largest first (None for the gated cells)."""
    if cell != "simple_rnn":
        return None
    hidden = rnn_params["A"].shape[0]
    return np.linalg.svd(np.asarray(rnn_params["A"][:, :hidden], np.float64), compute_uv=False).tolist()


def to_markdown(results: dict[str, Any], seq_len: int) -> str:
    distances = [k for k in REPORTED_DISTANCES if k < seq_len]
    lines = [
        f"{results['cell']}: median || d h_T / d x_(T-k) || over the reviews, T = {seq_len}, at step 0",
        "",
        "| start | radius of A_h | singular values of A_h < 0.5 | word vector norm (median) "
        "| saturated (abs h > 0.99) | " + " | ".join(f"k = {k}" for k in distances) + " |",
        "| --- | --- | --- | --- | --- |" + " --- |" * len(distances),
    ]
    for name, start in results["starts"].items():
        norms = " | ".join(f"{start['median_norm'][k]:.2e}" for k in distances)
        radius = "-" if start["recurrent_radius"] is None else f"{start['recurrent_radius']:.2f}"
        row_norm = start["embedding_row_norm"]
        saturated = 100 * start["saturated_fraction"]
        singular = start.get("recurrent_singular_values")
        small = "-" if singular is None else f"{100 * np.mean(np.asarray(singular) < 0.5):.1f} %"
        lines.append(f"| {name} | {radius} | {small} | {row_norm:.2f} | {saturated:.1f} % | {norms} |")
    return "\n".join(lines) + "\n"


def plot_reach(results: dict[str, Any], path: str | Path) -> Path:
    from rnn_jax.studies.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, start in results["starts"].items():
        norms = np.maximum(np.asarray(start["median_norm"]), 1e-30)  # 0 (underflow) drawn at the floor
        radius = start["recurrent_radius"]
        label = name if radius is None else f"{name} (radius {radius:.2f})"
        ax.semilogy(np.arange(norms.size), norms, label=label)
    ax.set_xlabel("k, words before the last")
    ax.set_ylabel("median ||d h_T / d x_(T-k)||")
    ax.set_title(f"{results['cell']}: how far back the last state reads at step 0")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def summary_lines(results: dict) -> list[str]:
    return [
        f"{name}: radius {s['recurrent_radius'] or float('nan'):.2f}, "
        f"saturated {100 * s['saturated_fraction']:.1f} %, "
        f"reach(0) {s['median_norm'][0]:.2e}, reach(T-1) {s['median_norm'][-1]:.2e}"
        for name, s in results["starts"].items()
    ]


def main(argv: list[str] | None = None) -> dict:
    """`rnn-jax pretrained-start` / `python experiments/pretrained_start.py`."""
    outputs = ("table.md", "reach.png")
    return run_experiment(StartConfig, run, summary_lines, argv, smoke=SMOKE, outputs=outputs)
