"""Payload schemas: frozen dataclasses converted to and from the wire with type checks.

Python field names are snake_case; on the wire (JSON, the stored event) they are camelCase,
as in the seed (``order_id`` <-> ``orderId``). Supported field types: str, int, float,
bool, Decimal (a JSON number), nested dataclasses, ``list[X]``, ``dict[str, X]``,
``X | None`` and ``Literal[...]``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from ..json_numbers import json_number
from .errors import EventValidationError


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def to_wire(value: Any) -> Any:
    """A dataclass tree as JSON-ready data (camelCase keys, Decimal as int or float)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(f.name): to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return json_number(value)
    return value


def from_wire(cls: type, data: Any, path: str = "data") -> Any:
    """Build ``cls`` from wire data, checking every field; raises EventValidationError."""
    return _convert(cls, data, path)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            return _convert(non_null[0], value, path)
        raise TypeError(f"unsupported union {tp}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise EventValidationError(path, f"must be one of {', '.join(map(str, allowed))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise EventValidationError(path, f"expected array, got {_type_name(value)}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise EventValidationError(path, f"expected object, got {_type_name(value)}")
        _, val_tp = typing.get_args(tp)
        return {str(k): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise EventValidationError(path, f"expected object, got {_type_name(value)}")
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            key = camel(f.name)
            if key not in value:
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING
                )
                if has_default:
                    continue
                raise EventValidationError(f"{path}.{key}", "is required")
            kwargs[f.name] = _convert(hints[f.name], value[key], f"{path}.{key}")
        instance = tp(**kwargs)
        check = getattr(instance, "check", None)
        if callable(check):
            try:
                check()
            except ValueError as exc:
                raise EventValidationError(path, str(exc)) from exc
        return instance
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise EventValidationError(path, f"expected boolean, got {_type_name(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventValidationError(path, f"expected integer, got {_type_name(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EventValidationError(path, f"expected number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise EventValidationError(path, f"expected a finite number, got {value}")
        return float(value)
    if tp is Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise EventValidationError(path, f"expected number, got {_type_name(value)}")
        if not math.isfinite(value):  # NaN and Infinity are not JSON numbers
            raise EventValidationError(path, f"expected a finite number, got {value}")
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:  # pragma: no cover - floats always convert
            raise EventValidationError(path, "is not a number") from exc
    if tp is str:
        if not isinstance(value, str):
            raise EventValidationError(path, f"expected string, got {_type_name(value)}")
        return value
    raise TypeError(f"unsupported schema type {tp!r} at {path}")
