"""Conversion of one setting's value, by the type of its `Settings` field and its option row.

What it does: `convert` checks and converts a value from the TOML file or a flag: numbers
within the row's bounds (0 allowed where the row gives it a meaning), toggles, strings,
`Literal` choices, paths, and the special kinds (mapped segments, attribute paths, inputs, a
listen address). Every error is one sentence naming the key or flag as the user typed it.

What it leaves out: where values come from and the rules between settings (`config.py`).
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Any, Literal

from streamer.errors import ConfigError
from streamer.export import Segment
from streamer.options import Option
from streamer.sources.address import HostPort, InputSpec, parse_host_port
from streamer.sources.registry import parse_input

SEGMENT_KEYS = frozenset(
    {"id", "name", "createdAt", "updatedAt", "mappingCreatedAt", "mappingUpdatedAt"}
)


def convert(option: Option, hint: Any, value: Any, label: str) -> Any:
    special = _SPECIAL.get(option.key)
    if special is not None:
        return special(value, label)
    optional = type(None) in typing.get_args(hint)
    if optional:
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{label} must be one of {', '.join(choices)}, not {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{label} must be a string")
        return value
    if hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(f"{label} must be a file path")
        return Path(value)
    if hint is int:
        return _bounded(option, _integer(value, label), label)
    if hint is float:
        return _bounded(option, _number(value, label), label)
    raise AssertionError(f"no conversion for {option.key}: {hint!r}")  # pragma: no cover


def _bounded(option: Option, value: float, label: str) -> Any:
    if value == 0 and option.zero_means is not None:
        return value
    low, high = option.low, option.high
    if (low is not None and value < low) or (high is not None and value > high):
        zero = f" (or 0: {option.zero_means})" if option.zero_means else ""
        bounds = (
            f"at least {_fmt(low)}" if high is None else f"between {_fmt(low)} and {_fmt(high)}"
        )
        raise ConfigError(f"{label} must be {bounds}{zero}, not {_fmt(value)}")
    return value


def _fmt(number: float | None) -> str:
    """A bound or value as typed: whole numbers in full, others short."""
    if number is not None and float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


def _integer(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{label} must be a whole number")
    return value


def _number(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{label} must be a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise ConfigError(f"{label} is far too large") from exc
    if not math.isfinite(number):
        raise ConfigError(f"{label} must be a finite number, not {value}")
    return number


def _segments(value: Any, label: str) -> tuple[Segment, ...] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list):
        raise ConfigError(f"{label} must be a list of segment ids or tables with an id")
    if not value:
        raise ConfigError(
            f"{label} is empty, so no profile would ever be exported: map at least one segment, "
            'or leave segments out (or set "all") to export every segment'
        )
    out: list[Segment] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            out.append(Segment(id=item))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ConfigError(f"segments[{i}] must be a segment id or a table with an id")
        extra = set(item) - SEGMENT_KEYS
        if extra:
            raise ConfigError(f"segments[{i}] has unknown key(s): {', '.join(sorted(extra))}")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"segments[{i}].name must be a string")
        timestamps = {k: v for k, v in item.items() if k not in {"id", "name"}}
        out.append(Segment(id=item["id"], name=name, timestamps=timestamps))
    return tuple(out)


def _attributes(value: Any, label: str) -> tuple[str, ...] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise ConfigError(f"{label} must be a list of dotted attribute paths")
    for path in value:
        if any(not part for part in path.split(".")):
            raise ConfigError(f"attribute path {path!r} has an empty part")
    return tuple(value)


def _inputs(value: Any, label: str) -> tuple[InputSpec, ...]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list | tuple)
        or not all(isinstance(i, str) for i in value)
        or not value
    ):
        raise ConfigError(
            f"{label} must be a non-empty list of stdin, tcp://..., unix://... or http://..."
        )
    try:
        specs = tuple(parse_input(i) for i in value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if len(set(specs)) != len(specs):
        raise ConfigError(f"{label} lists the same input twice")
    return specs


def _host_port(value: Any, label: str) -> HostPort | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be a string like 127.0.0.1:9108")
    try:
        return parse_host_port(value, label=f"{label} {value!r}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


_SPECIAL = {
    "segments": _segments,
    "attributes": _attributes,
    "inputs": _inputs,
    "metrics_address": _host_port,
}
