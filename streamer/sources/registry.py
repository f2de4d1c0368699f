"""The one table of inputs: each `--input` scheme, how its value parses and what it builds.

What it does: `INPUTS` maps a scheme to its row (parser, usage text, input factory);
`parse_input` turns an `--input` value into an `InputSpec` through it, and `build_inputs` makes
the running inputs from the specs, one per factory, so inputs of one factory share it (every
socket listener shares one connection limit). A row names its factory's module, imported only
when an input of that kind is built: a run pays for the inputs it has (the HTTP input's aiohttp
server costs about 0.1 s of CPU at start-up). A new input is a module in `sources/` and one row
here.

What it leaves out: the inputs themselves and the address syntax (`address.py`).
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from streamer.sources.address import STDIN, InputSpec, parse_tcp, parse_unix
from streamer.sources.http_request import parse_http

if TYPE_CHECKING:
    from streamer.sources.base import Input, InputContext, InputFactory


@dataclass(frozen=True, slots=True)
class InputKind:
    """One row: `factory` names the input factory as `module:attribute` (imported when an input
    of this kind is built), `parse(text, rest)` reads the part after `scheme://` (None: the
    value is the bare scheme name, as `stdin`), `usage` shows the syntax in errors."""

    usage: str
    factory: str
    parse: Callable[[str, str], InputSpec] | None = None


_SOCKETS = "streamer.sources.sockets:SocketInputs.build"
_HTTP = "streamer.sources.http:HttpInputs.build"

INPUTS: dict[str, InputKind] = {
    "stdin": InputKind("stdin", "streamer.sources.stdin:stdin_input"),
    "tcp": InputKind("tcp://HOST:PORT", _SOCKETS, parse_tcp),
    "unix": InputKind("unix:///path/to/socket", _SOCKETS, parse_unix),
    "http": InputKind("http://HOST:PORT", _HTTP, parse_http),
    "https": InputKind("https://HOST:PORT", _HTTP, parse_http),
}

STDIN_ALIASES = ("stdin", "-")


def parse_input(text: str) -> InputSpec:
    """An `--input` value as an `InputSpec`; raises ValueError naming the problem."""
    if text in STDIN_ALIASES:
        return STDIN
    scheme, sep, rest = text.partition("://")
    if not sep:
        usages = [kind.usage for kind in INPUTS.values()]
        choices = f"{', '.join(usages[:-1])} or {usages[-1]}"
        raise ValueError(f"input {text!r} must be {choices}")
    kind = INPUTS.get(scheme)
    if kind is None or kind.parse is None:
        schemes = " or ".join(f"{name}://" for name, k in INPUTS.items() if k.parse is not None)
        raise ValueError(f"input {text!r} has an unknown scheme {scheme!r}: use {schemes}")
    return kind.parse(text, rest)


def build_inputs(specs: Sequence[InputSpec], context: InputContext) -> list[Input]:
    """The inputs for `specs`, one per factory, in the order of the table."""
    groups: dict[str, list[InputSpec]] = {kind.factory: [] for kind in INPUTS.values()}
    for spec in specs:
        groups[INPUTS[spec.kind].factory].append(spec)
    return [load_factory(factory)(group, context) for factory, group in groups.items() if group]


def load_factory(name: str) -> InputFactory:
    """The input factory a row names (`module:attribute`), importing its module."""
    module, _, attribute = name.partition(":")
    return cast("InputFactory", operator.attrgetter(attribute)(importlib.import_module(module)))
