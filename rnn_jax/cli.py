"""The `rnn-jax` console command: one subcommand per study, and one line for a user's mistake.

    rnn-jax lecture --quick --workdir runs/lecture-quick
    rnn-jax imdb --model lstm --data_dir ../shared/tfds
    rnn-jax benchmark --help

Each subcommand is the `main(argv)` of a module in `rnn_jax.studies`, imported only when called (so
`rnn-jax --help` is fast). The scripts in `experiments/` call the same functions.

Errors: a `rnn_jax.errors.UserError` (a bad flag value, missing data, a run folder that already holds
a run, a `--resume` that cannot resume, a config that differs from the run's) prints `error: ...` on
stderr and exits with status 2; `--debug` or `RNN_JAX_DEBUG=1` shows its traceback instead. Training
stopped by SIGTERM or Ctrl-C saves a checkpoint and exits with 143 or 130. Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from rnn_jax.errors import TrainingInterrupted, UserError

# subcommand -> (module of rnn_jax.studies whose main(argv) runs it, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "lecture": ("rnn_jax.studies.lecture.report", "every demonstration of the lecture, one Markdown report"),
    "imdb": ("rnn_jax.studies.sentiment.imdb", "train and test one IMDB sentiment classifier"),
    "lm": (
        "rnn_jax.studies.next_word.language_model",
        "next-word prediction: an RNN language model or an n-gram",
    ),
    "lm-table": (
        "rnn_jax.studies.next_word.lm_table",
        "one table and the context / cue plots of finished language-model runs",
    ),
    "label-curve": (
        "rnn_jax.studies.sentiment.label_curve",
        "IMDB accuracy against labelled reviews, with and without a pretrained start",
    ),
    "pretrained-start": (
        "rnn_jax.studies.sentiment.pretrained_start",
        "how far back a classifier's last state reads at step 0: random vs language-model starts",
    ),
    "lm-speed": (
        "rnn_jax.studies.next_word.lm_speed",
        "language-model training tokens/s against PyTorch's example",
    ),
    "classifier-speed": (
        "rnn_jax.studies.sentiment.classifier_speed",
        "IMDB classifiers' training tokens/s at a given size, and a full run's cost",
    ),
    "imdb-table": (
        "rnn_jax.studies.sentiment.imdb_table",
        "several seeds of several IMDB classifiers, one table",
    ),
    "benchmark": (
        "rnn_jax.studies.performance.benchmark",
        "time jitted unrolling against flax, torch and Python loops",
    ),
    "gemm-speed": (
        "rnn_jax.studies.performance.gemm_speed",
        "the recurrent step's matrix product alone: XLA against NumPy and torch",
    ),
    "layer-speed": (
        "rnn_jax.studies.performance.layer_speed",
        "the NNX and Linen layers against flax's nnx.RNN / nn.RNN(SimpleCell)",
    ),
    "memory": (
        "rnn_jax.studies.memory.sweep",
        "adding problem and copy task: four cells up to T = 1,000 (resumable sweep)",
    ),
    "unroll-parts": (
        "rnn_jax.studies.performance.unroll_parts",
        "time the parts of the fused forward and backward",
    ),
    "parameter-count": ("rnn_jax.studies.lecture.parameter_count", "the lecture's parameter count"),
    "why-tanh": ("rnn_jax.studies.lecture.why_tanh", "h_t without and with tanh: explosion and vanishing"),
    "vanishing-gradients": ("rnn_jax.studies.lecture.vanishing_gradients", "exact Jacobians dh_t/dx_1"),
    "long-memory": ("rnn_jax.studies.lecture.long_memory", "short vs long memory: accuracy against the gap"),
    "distributed-throughput": (
        "rnn_jax.studies.performance.distributed_throughput",
        "training-step throughput on 1..N (simulated) devices",
    ),
    "distributed-compare": (
        "rnn_jax.studies.performance.distributed_compare",
        "the metric differences of several runs",
    ),
    "export-imdb": (
        "rnn_jax.studies.sentiment.export_imdb",
        "a portable copy of the IMDB reviews, read without tensorflow-datasets",
    ),
    "tokenizer-speed": ("rnn_jax.studies.sentiment.tokenizer_speed", "time the IMDB tokenizer"),
}
DEBUG_ENV = "RNN_JAX_DEBUG"


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    return (
        f"usage: rnn-jax COMMAND [flags]   (rnn-jax COMMAND --help for its flags)\n\n"
        f"commands:\n{rows}\n\n"
        f"--debug (or {DEBUG_ENV}=1) shows the traceback of an error."
    )


def guarded(main: Callable[[list[str]], object], argv: Sequence[str] | None = None) -> int:
    """Runs `main(argv)`; a user's mistake becomes one `error: ...` line on stderr and status 2.

    Returns the exit status: 0, 2 (a `UserError`), or 128 + signal (a `TrainingInterrupted`).
    `--debug` anywhere in `argv` (removed before `main` sees it) or `RNN_JAX_DEBUG=1` re-raises
    instead, with the traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        main(argv)
    except UserError as err:
        if debug:
            raise
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"error: {message}", file=sys.stderr)  # one line, whatever the message's layout
        return 2
    except TrainingInterrupted as err:
        print(f"stopped: {err}", file=sys.stderr)
        return err.exit_status
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`rnn-jax COMMAND [flags]`: dispatches to the study's `main`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return guarded(module.main, rest)


def entry_point() -> None:  # [project.scripts] rnn-jax
    sys.exit(main())


if __name__ == "__main__":  # python -m rnn_jax.cli ...
    entry_point()
