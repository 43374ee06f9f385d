"""The lecture's defect of the Simple RNN as numbers: ||dh_100/dx_1|| ~ 0, beside ||dh_2/dx_1||.

    python experiments/vanishing_gradients.py --workdir runs/vanishing_gradients
    python experiments/vanishing_gradients.py --imdb_run runs/imdb/simple_rnn_seed0 --workdir ...
    python experiments/vanishing_gradients.py --smoke --workdir /tmp/vanishing_gradients
    rnn-jax vanishing-gradients --help

Exact Jacobians dh_t/dx_1 for t = 1..seq_len of ONE sequence (`rnn_jax.core.analysis.input_jacobians`,
forward-mode autodiff through the scan, float64 so that nothing underflows before 1e-300), their
Frobenius and spectral norms, and the per-step Jacobians' spectral norms ||diag(1 - h_t^2) A_h||, for:
a Simple RNN at several recurrent spectral radii and an LSTM and a GRU (library initialisation,
random N(0, 1) inputs); and the Simple RNN (and LSTM) trained on IMDB, loaded from a run folder of
`experiments/imdb_sentiment.py` when one exists, fed the word vectors of a real test review.
Writes config.json, metrics.jsonl (one curve per model), results.json and vanishing_gradients.png.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import rnn_jax
from rnn_jax.core import analysis
from rnn_jax.errors import ConfigError
from rnn_jax.studies import plots as analysis_plots
from rnn_jax.studies.command import flag, run_experiment
from rnn_jax.training import runs

REPORT_STEPS = (1, 2, 10, 50, 100, 200, 500, 1000)


@dataclasses.dataclass(frozen=True)
class VanishingGradientsConfig:
    """||dh_t/dx_1|| against t for Simple RNNs, an LSTM, a GRU and the IMDB-trained Simple RNN."""

    workdir: str = flag("runs/vanishing_gradients", "output folder")
    input_size: int = flag(32, "F, size of x_t (the lecture's word vectors: 32)")
    hidden_size: int = flag(32, "H, size of the state (the lecture's 32)")
    seq_len: int = flag(500, "T, steps of the sequence (the lecture's 100 and beyond)")
    radii: str = flag("0.5,0.9,1.0,1.5,3.0", "comma-separated spectral radii of the Simple RNN's A_h")
    gated_cells: bool = flag(True, "also an LSTM and a GRU at their default initialisation")
    imdb_run: str | None = flag(
        "runs/imdb/simple_rnn_seed0", "run folder of a trained IMDB Simple RNN (None: skip; missing: say so)"
    )
    imdb_lstm_run: str | None = flag(
        "runs/imdb/lstm_seed0", "run folder of a trained IMDB LSTM (None: skip; missing: say so)"
    )
    data_dir: str | None = flag(
        None, "TFDS data dir for the review fed to the IMDB models (None: $TFDS_DATA_DIR or ../shared/tfds)"
    )
    float64: bool = flag(True, "compute in float64 (float32 underflows to 0 near 1e-45)")
    seed: int = flag(0, "seed of the parameters and of the random inputs")


SMOKE = {
    "input_size": 3,
    "hidden_size": 4,
    "seq_len": 101,
    "radii": "0.9,1.5",
    "imdb_run": None,
    "imdb_lstm_run": None,
}


def _parse_radii(text: str) -> list[float]:
    try:
        radii = [float(r) for r in text.split(",") if r.strip()]
    except ValueError as err:
        raise ConfigError(f"radii must be comma-separated numbers, got {text!r}") from err
    if not radii or min(radii) < 0:
        raise ConfigError(f"radii must be numbers >= 0, got {text!r}")
    return radii


def _curve(step_fn, params, xs) -> dict:
    """Norms of dh_t/dx_1 and of the step Jacobians for one sequence xs [T, F]."""

    @jax.jit  # one compilation per model instead of one per eager operation
    def norms_of(params, xs):
        input_norms = analysis.jacobian_norms(analysis.input_jacobians(step_fn, params, xs))  # of [T, H, F]
        step_norms = analysis.jacobian_norms(analysis.step_jacobians(step_fn, params, xs))["spectral"]
        return input_norms["frobenius"], input_norms["spectral"], step_norms

    frobenius, spectral, step_norms = norms_of(params, xs)
    return {
        "t": list(range(1, xs.shape[0] + 1)),
        "frobenius": np.asarray(frobenius, np.float64).tolist(),
        "spectral": np.asarray(spectral, np.float64).tolist(),
        "step_spectral": np.asarray(step_norms, np.float64).tolist(),
    }


def _summary(curve: dict) -> dict:
    frobenius = curve["frobenius"]
    at = {str(t): frobenius[t - 1] for t in REPORT_STEPS if t <= len(frobenius)}
    step = np.asarray(curve["step_spectral"][1:])
    return {
        "frobenius_at": at,
        "spectral_at": {str(t): curve["spectral"][t - 1] for t in REPORT_STEPS if t <= len(frobenius)},
        "ratio_100_to_2": frobenius[99] / frobenius[1] if len(frobenius) >= 100 and frobenius[1] else None,
        # the observed shrink factor per step between t = 2 and t = 100: (ratio)^(1/98)
        "observed_step_factor": (frobenius[99] / frobenius[1]) ** (1 / 98)
        if len(frobenius) >= 100 and frobenius[1] and frobenius[99] > 0
        else None,
        # exp(mean log ||J_t||): the per-step factor that bounds the decay (||prod J|| <= prod ||J||)
        "geometric_mean_step_norm": float(np.exp(np.mean(np.log(np.maximum(step, 1e-300)))))
        if step.size
        else None,
        "mean_step_norm": float(step.mean()) if step.size else None,
    }


def _review_ids(train_config, vocab, data_dir, seq_len: int) -> tuple[np.ndarray, str]:
    """The ids of the first test review with >= seq_len words (its last seq_len), and where they came from."""
    from rnn_jax.data.imdb import load_imdb
    from rnn_jax.data.tokenizer import encode, tokenize

    raw = load_imdb(
        data_dir or train_config.data_dir,
        max_train_examples=1,
        max_eval_examples=300,
        num_validation=train_config.num_validation,
        download=False,
    )
    words = tokenize(raw["test"].texts)
    for index, review in enumerate(words):
        if len(review) >= seq_len:
            ids, _ = encode([review], vocab, seq_len, "post")
            return ids[0], f"IMDB test review #{index} ({len(review)} words; its last {seq_len})"
    raise ValueError(f"no test review among the first 300 has {seq_len} words")


def _imdb_curve(run_dir: str, cell: str, config: VanishingGradientsConfig, dtype) -> tuple[dict | None, str]:
    """The trained model's curve on a real review, or (None, why not)."""
    path = Path(run_dir)
    if not (path / "best_params").exists():
        return None, (
            f"no finished IMDB {cell} run at {path} (train one with `python "
            f"experiments/imdb_sentiment.py --model {cell} --workdir {path}`); skipped"
        )
    from rnn_jax.studies.sentiment.imdb import load_run

    train_config, params, vocab = load_run(path)
    if train_config.model != cell:
        return None, f"{path} holds a {train_config.model!r} run, not {cell!r}; skipped"
    seq_len = min(config.seq_len, train_config.seq_len)
    try:
        ids, source = _review_ids(train_config, vocab, config.data_dir, seq_len)
    except (FileNotFoundError, ValueError) as err:
        ids = np.random.default_rng(config.seed).integers(2, len(vocab) + 2, seq_len)
        source = f"random word ids (no review available: {err})"
    embedding = jnp.asarray(params["embedding"]["embedding"], dtype)
    xs = embedding[jnp.asarray(ids)]  # [T] -> [T, E]
    rnn = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), dict(params["rnn"]))
    step = {"simple_rnn": rnn_jax.simple_rnn_step, "lstm": rnn_jax.lstm_step}[cell]
    curve = _curve(step, rnn, xs)
    curve["source"] = f"{path}: {source}"
    return curve, f"loaded {path} ({cell}, test accuracy {_test_accuracy(path)})"


def _test_accuracy(path: Path) -> str:
    try:
        return f"{runs.load_json(path / runs.RESULTS_FILE)['test_accuracy']:.4f}"
    except (FileNotFoundError, KeyError, ValueError):
        return "unknown"


def _jobs(config: VanishingGradientsConfig, radii: list[float]) -> list[tuple]:
    """(name, label, kind, argument) of every model to measure, in the table's order."""
    jobs = [(f"simple_rnn_radius_{r}", f"Simple RNN, radius {r}", "simple_rnn", r) for r in radii]
    if config.gated_cells:
        jobs += [("lstm", "LSTM (forget bias 1)", "lstm", None), ("gru", "GRU", "gru", None)]
    jobs += [
        ("imdb_simple_rnn", "Simple RNN trained on IMDB", "imdb:simple_rnn", config.imdb_run),
        ("imdb_lstm", "LSTM trained on IMDB", "imdb:lstm", config.imdb_lstm_run),
    ]
    return jobs


def _random_model_curve(config: VanishingGradientsConfig, kind: str, radius, key_params, xs, dtype) -> dict:
    """The curve of a randomly initialised model: a Simple RNN at `radius`, or an LSTM or GRU."""
    if kind == "simple_rnn":
        params = rnn_jax.init_simple_rnn(
            key_params, config.input_size, config.hidden_size, recurrent_scale=radius, dtype=dtype
        )
        return _curve(rnn_jax.simple_rnn_step, params, xs)
    init, step = {
        "lstm": (rnn_jax.init_lstm, rnn_jax.lstm_step),
        "gru": (rnn_jax.init_gru, rnn_jax.gru_step),
    }[kind]
    return _curve(step, init(key_params, config.input_size, config.hidden_size, dtype=dtype), xs)


def run(config: VanishingGradientsConfig, *, progress: bool = True) -> dict:
    """Computes every curve, writes the run folder, returns the results dict."""
    from tqdm.auto import tqdm

    radii = _parse_radii(config.radii)
    if config.seq_len < 2:
        raise ConfigError(f"seq_len must be >= 2 to compare dh_t/dx_1 over time, got {config.seq_len}")
    workdir = runs.make_workdir(config.workdir)
    runs.save_config(workdir, config)
    (workdir / runs.METRICS_FILE).unlink(missing_ok=True)
    results = {
        "dtype": "float64" if config.float64 else "float32",
        "seq_len": config.seq_len,
        "models": {},
        "notes": [],
    }
    with jax.enable_x64(config.float64):
        dtype = jnp.float64 if config.float64 else jnp.float32
        key_params, key_xs = jax.random.split(jax.random.key(config.seed))
        xs = jax.random.normal(key_xs, (config.seq_len, config.input_size), dtype)
        bar = tqdm(_jobs(config, radii), desc="vanishing gradients", unit="model", disable=not progress)
        for name, label, kind, arg in bar:
            if kind.startswith("imdb:"):
                if arg is None:
                    continue
                curve, note = _imdb_curve(arg, kind[5:], config, dtype)
                results["notes"].append(note)
                if curve is None:
                    print(note)
                    continue
            else:
                curve = _random_model_curve(config, kind, arg, key_params, xs, dtype)
            runs.append_metrics(workdir, {"model": name, "label": label, **curve})
            results["models"][name] = {
                "label": label,
                **_summary(curve),
                **({"source": curve["source"]} if "source" in curve else {}),
            }
    runs.save_results(workdir, results)
    analysis_plots.plot_vanishing_gradients(workdir, workdir / "vanishing_gradients.png")
    return results


def summary_lines(results: dict) -> list[str]:
    """The lecture's claim as a Markdown table: ||dh_100/dx_1|| beside ||dh_2/dx_1||."""
    steps = [t for t in ("2", "10", "100", "500") if int(t) <= results["seq_len"]]
    lines = [
        "| model | "
        + " | ".join(f"‖∂h_{t}/∂x_1‖" for t in steps)
        + " | ‖∂h_100/∂x_1‖ / ‖∂h_2/∂x_1‖ | observed factor per step (t = 2..100) "
        "| bound exp(mean log ‖J_t‖₂) |",
        "| --- " * (len(steps) + 4) + "|",
    ]
    for m in results["models"].values():
        ratio, geometric = m["ratio_100_to_2"], m["geometric_mean_step_norm"]
        ratio_text = "n/a" if ratio is None else f"{ratio:.3g}"
        geometric_text = "n/a" if geometric is None else f"{geometric:.3f}"
        observed = m.get("observed_step_factor")
        observed_text = "n/a" if observed is None else f"{observed:.3f}"
        values = " | ".join(f"{m['frobenius_at'][t]:.3g}" if t in m["frobenius_at"] else "n/a" for t in steps)
        lines.append(f"| {m['label']} | {values} | {ratio_text} | {observed_text} | {geometric_text} |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    """`python experiments/vanishing_gradients.py` / `rnn-jax vanishing-gradients`: curves, table, files."""
    return run_experiment(
        VanishingGradientsConfig, run, summary_lines, argv, smoke=SMOKE, outputs=["vanishing_gradients.png"]
    )
