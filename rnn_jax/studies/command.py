"""Command lines generated from frozen config dataclasses (one flag per field, help from metadata)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

Config = TypeVar("Config")


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(type, optional) for annotations like `int`, `int | None`, `Optional[str]`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _parse_optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null", "") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An `argparse` parser with `--field` for every field of the dataclass `config_cls`.

    Help text comes from `dataclasses.field(metadata={"help": ...})`; choices from
    `metadata={"choices": (...)}`. Booleans get `--flag` / `--no-flag`.
    """
    parser = argparse.ArgumentParser(description=description or config_cls.__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        kind, optional = _base_type(hints[field.name])
        flag = "--" + field.name
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        help_text = field.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, default=default, help=help_text,
                                action=argparse.BooleanOptionalAction)
        else:
            parse = _parse_optional(kind) if optional else kind
            parser.add_argument(flag, type=parse, default=default, help=help_text,
                                choices=field.metadata.get("choices"))
    return parser


def parse_config(config_cls: type[Config], argv: Sequence[str] | None = None,
                 description: str | None = None, **overrides: Any) -> Config:
    """Parses `argv` (default: sys.argv[1:]) into a `config_cls` instance.

    `overrides` replace the dataclass defaults before parsing (e.g. a script's quick setting).
    """
    parser = build_parser(config_cls, description)
    if overrides:
        parser.set_defaults(**overrides)
    namespace = parser.parse_args(argv)
    return config_cls(**vars(namespace))


def run_experiment(config_cls: type[Config], run: Callable[[Config], dict],
                   summary_lines: Callable[[dict], list[str]], argv: Sequence[str] | None = None, *,
                   smoke: Mapping[str, Any] | None = None, outputs: Sequence[str] = ()) -> dict:
    """The `main` of an experiment script: parse, run, print the summary, say what was written.

    `--smoke` (not a config field) swaps in the `smoke` defaults: tiny settings for the tests.
    `config_cls` must have a `workdir` field; `run(config)` returns the results dict, which it
    has saved there, and `summary_lines(results)` the lines to print. A results list under
    "notes" is printed too. `outputs` names the other files written in the workdir (plots).
    """
    from rnn_jax.training import runs  # stdlib only, imported here to keep this module's imports minimal

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
