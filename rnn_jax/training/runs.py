"""Run folders: every run writes config.json, metrics.jsonl (one JSON object per line) and results.json."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"


def jsonable(value: Any) -> Any:
    """`value` as JSON can hold it: dataclasses and mappings as dicts, tuples as lists, NaN/inf as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / jax scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible as strings
    return value


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; on success it replaces `path` in one rename.

    So an interrupted run never leaves half a file, and processes sharing a workdir (one sweep per
    cell, started together) never rename each other's file away: each temporary name is unique,
    the last rename wins, whole. On an error the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`Path(path).write_text(text)`, atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux; `platform.processor()` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What a timing was measured on: CPU model and cores, JAX backend, device and version, load average."""
    import jax

    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def make_workdir(workdir: str | os.PathLike) -> Path:
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_config(workdir: str | os.PathLike, config: Any) -> Path:
    """Writes the run's config (a dataclass or mapping) to `workdir/config.json`."""
    path = make_workdir(workdir) / CONFIG_FILE
    write_text_atomic(path, json.dumps(jsonable(config), indent=2, sort_keys=True) + "\n")
    return path


def append_metrics(workdir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Appends one JSON object as a line of `workdir/metrics.jsonl`."""
    path = make_workdir(workdir) / METRICS_FILE
    with path.open("a") as f:
        f.write(json.dumps(jsonable(record), sort_keys=True) + "\n")


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of `workdir/metrics.jsonl` (an empty list when there is none)."""
    return list(iter_jsonl(Path(workdir) / METRICS_FILE))


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(
                        f"{path}:{number} is not valid JSON ({err}); the file is corrupt or was cut off"
                    ) from err


def save_results(workdir: str | os.PathLike, results: Mapping[str, Any]) -> Path:
    """Writes `workdir/results.json`."""
    path = make_workdir(workdir) / RESULTS_FILE
    write_text_atomic(path, json.dumps(jsonable(results), indent=2, sort_keys=True) + "\n")
    return path


def load_json(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a JSON file with a clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is corrupt") from err
