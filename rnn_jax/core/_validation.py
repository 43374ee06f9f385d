"""Argument checks shared by the pure core: each raises a ValueError/TypeError that names the argument."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp


def check_positive_int(name: str, value: Any) -> int:
    """Returns `value` as an int, or raises if it is not an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, int | jnp.integer):
        raise TypeError(f"{name} must be a positive int, got {value!r} of type {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Raises a ValueError listing the valid names when `value` is not one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_floating(name: str, x: Any) -> None:
    """Raises a TypeError if `x` is not a floating-point array."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dtype}")


def check_ndim(name: str, x: Any, ndims: tuple[int, ...], expected: str) -> None:
    """Raises a ValueError if `x.ndim` is not in `ndims`; `expected` spells out the shape wanted."""
    shape = getattr(x, "shape", None)
    if shape is None:
        raise TypeError(f"{name} must be an array of shape {expected}, got {type(x).__name__}")
    if len(shape) not in ndims:
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(shape)}")


def check_params(name: str, params: Any, keys: Iterable[str]) -> None:
    """Raises if `params` is not a mapping holding floating arrays under `keys`."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict with keys {sorted(keys)}, got {type(params).__name__}")
    for key in keys:
        if key not in params:
            raise ValueError(f"{name} is missing {key!r}; it has keys {sorted(params)}")
        check_floating(f"{name}[{key!r}]", params[key])


def is_concrete(x: Any) -> bool:
    """True when `x` holds values we can inspect now (not a tracer under jit/grad)."""
    return not isinstance(x, jax.core.Tracer)
