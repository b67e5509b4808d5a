"""Exact JSON round trips of the frozen dataclasses that hold the analysis state.

Why: the controller keeps the sufficient statistics in the ModelRollout status (its only
memory), and a restarted controller must compute the very same numbers. JSON carries floats
exactly (Python writes the shortest repr that reads back to the same double), but not NaN or
infinity, and the API server may hand back ``3`` for ``3.0``; so writing refuses non-finite
floats and reading coerces by the declared field type.

Supported field types: int, float, str, bool, tuples of those, nested dataclasses, and ``X | None``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class StateError(ValueError):
    """A stored state that cannot be read back: wrong keys, wrong types, non-finite numbers."""


def to_json(value: Any) -> Any:
    """A JSON-compatible copy of a dataclass (dict), tuple (list) or scalar."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StateError(f"cannot store the non-finite number {value!r}")
        return value
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    raise StateError(f"cannot store {value!r} of type {type(value).__name__}")


def from_json(cls: type[T], data: object) -> T:
    """Rebuild a dataclass of type ``cls`` from :func:`to_json`'s output; StateError if unfit."""
    return typing.cast(T, _read(cls, data, cls.__name__))


def _read(annotation: Any, data: object, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if data is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _read(inner, data, where)
    if origin is tuple:
        if not isinstance(data, list | tuple):
            raise StateError(f"{where}: expected a list, got {data!r}")
        (item_type, _ellipsis) = typing.get_args(annotation)
        read = _read_scalar if item_type in (float, int, str) else _read
        return tuple(read(item_type, item, f"{where}[{i}]") for i, item in enumerate(data))
    if origin is typing.Literal:
        if data not in typing.get_args(annotation):
            raise StateError(f"{where}: expected one of {typing.get_args(annotation)}, got {data!r}")
        return data
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(data, Mapping):
            raise StateError(f"{where}: expected an object, got {data!r}")
        hints, fields = _fields(annotation)
        unknown = set(data) - fields
        if unknown:
            raise StateError(f"{where}: unknown keys {sorted(unknown)}")
        missing = fields - set(data)
        if missing:
            raise StateError(f"{where}: missing keys {sorted(missing)}")
        return annotation(**{name: _read(hints[name], data[name], f"{where}.{name}") for name in fields})
    return _read_scalar(annotation, data, where)


@functools.cache
def _fields(cls: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A dataclass's resolved field types and the names its constructor takes (cached)."""
    return typing.get_type_hints(cls), frozenset(
        field.name for field in dataclasses.fields(cls) if field.init
    )


def _read_scalar(annotation: Any, data: object, where: str) -> Any:
    if annotation is bool:
        if not isinstance(data, bool):
            raise StateError(f"{where}: expected true or false, got {data!r}")
        return data
    if annotation is str:
        if not isinstance(data, str):
            raise StateError(f"{where}: expected text, got {data!r}")
        return data
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise StateError(f"{where}: expected a number, got {data!r}")
    if not math.isfinite(data):
        raise StateError(f"{where}: expected a finite number, got {data!r}")
    if annotation is float:
        return float(data)
    if annotation is int:
        if data != int(data):
            raise StateError(f"{where}: expected a whole number, got {data!r}")
        return int(data)
    raise StateError(f"{where}: unsupported field type {annotation!r}")
