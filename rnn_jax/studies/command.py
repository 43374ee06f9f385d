"""Command lines generated from frozen config dataclasses with `tyro`, and the `main` of a study.

One flag per field, spelled as the field (`--data_dir`, `--num_epochs`); help from the field's
`metadata={"help": ...}`; `metadata={"choices": (...)}` becomes a `Literal`; booleans get `--flag` and
`--no-flag` (also `--no_flag`); `None` is accepted for optional fields (`--patience None`).

Why tyro (not simple_parsing, also installed with TFDS, nor our former hand-written argparse code):
it keeps the flags the README documents as spelled (`--no-download`, `--patience None`), which
simple_parsing does not (`--nodownload`, no `None`), and is the dataclass-to-CLI library the JAX
world uses most. Its multi-line error box is turned into one `ConfigError` line here, so that the
console command prints `error: ...` (see `rnn_jax.cli`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from rnn_jax.errors import ConfigError

Config = TypeVar("Config")


def _flat_class(classes: Sequence[type], defaults: Mapping[str, Any]) -> type:
    """One dataclass with every field of `classes` annotated for tyro, defaults from `defaults`."""
    import tyro

    fields = []
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            kind = hints[field.name]
            choices = field.metadata.get("choices")
            if choices:  # str fields with choices; keep None allowed when the field is optional
                literal = Literal[tuple(choices)]  # type: ignore[valid-type]
                kind = literal | None if type(None) in typing.get_args(kind) else literal
            default = defaults.get(
                field.name,
                field.default if field.default is not dataclasses.MISSING else field.default_factory(),
            )
            if isinstance(default, list):  # a tuple field read back from config.json
                default = tuple(default)
            help_text = field.metadata.get("help") or None
            fields.append(
                (
                    field.name,
                    Annotated[kind, tyro.conf.arg(help=help_text)],
                    dataclasses.field(default=default),
                )
            )
    return dataclasses.make_dataclass("_Flags", fields, frozen=True)


def _one_line(box: str) -> str:
    """The message of tyro's error box (its first paragraph), on one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", box)
    lines = [line.strip(" │╭╮╰╯─").strip() for line in text.splitlines()]
    message = []
    for line in lines[1:]:  # lines[0] is the box's title
        if not line:
            if message:
                break
            continue
        if line.startswith("For full helptext"):
            break
        message.append(line)
    return " ".join(message) or "invalid command line"


def parse_flags(
    classes: Sequence[type],
    argv: Sequence[str],
    description: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Parses `argv` into one instance of each dataclass in `classes` (their fields share one namespace).

    Raises:
      ConfigError: a bad flag or value (tyro's message, on one line).
      SystemExit(0): after printing `--help`.
    """
    import tyro

    flat = _flat_class(classes, defaults or {})
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            values = dataclasses.asdict(
                tyro.cli(
                    flat, args=list(argv), description=description or classes[0].__doc__, use_underscores=True
                )
            )
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise ConfigError(_one_line(stderr.getvalue()) + " (see --help)") from None
        sys.stderr.write(stderr.getvalue())
        raise
    return [cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)}) for cls in classes]


def flag(default: Any, help: str, choices: Sequence[str] | None = None) -> Any:
    """A config dataclass field that `parse_flags` turns into `--name`: its default, its `--help` text
    and, when given, the values it accepts."""
    metadata: dict[str, Any] = {"help": help}
    if choices:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


def parse_config(
    config_cls: type[Config],
    argv: Sequence[str] | None = None,
    description: str | None = None,
    **overrides: Any,
) -> Config:
    """Parses `argv` (default: sys.argv[1:]) into a `config_cls` instance.

    `overrides` replace the dataclass defaults before parsing (e.g. a script's quick setting).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    return parse_flags([config_cls], argv, description, overrides)[0]


def run_experiment(
    config_cls: type[Config],
    run: Callable[[Config], dict],
    summary_lines: Callable[[dict], list[str]],
    argv: Sequence[str] | None = None,
    *,
    smoke: Mapping[str, Any] | None = None,
    outputs: Sequence[str] = (),
) -> dict:
    """The `main` of an experiment script: parse, run, print the summary, say what was written.

    `--smoke` (not a config field) swaps in the `smoke` defaults: tiny settings for the tests.
    `config_cls` must have a `workdir` field; `run(config)` returns the results dict, which it
    has saved there, and `summary_lines(results)` the lines to print. A results list under
    "notes" is printed too. `outputs` names the other files written in the workdir (plots).
    """
    from rnn_jax.training import runs

    argv = list(sys.argv[1:] if argv is None else argv)
    use_smoke = "--smoke" in argv
    argv = [a for a in argv if a != "--smoke"]
    config = parse_config(config_cls, argv, **(dict(smoke or {}) if use_smoke else {}))
    results = run(config)
    print("\n".join(summary_lines(results)))
    for note in results.get("notes", []):
        print(note)
    written = [str(Path(config.workdir) / name) for name in (runs.RESULTS_FILE, *outputs)]
    print("wrote " + ", ".join(written))
    return results
