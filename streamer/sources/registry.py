"""The one table of inputs: each `--input` scheme, how its value parses and what it builds.

What it does: `INPUTS` maps a scheme to its row (parser, usage text, input factory);
`parse_input` turns an `--input` value into an `InputSpec` through it, and `build_inputs` makes
the running inputs from the specs, one per factory, so inputs of one factory share it (every
socket listener shares one connection limit). A new input is a module in `sources/` and one row
here.

What it leaves out: the inputs themselves and the address syntax (`address.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamer.sources.address import STDIN, InputSpec, parse_tcp, parse_unix
from streamer.sources.base import Input, InputContext, InputFactory
from streamer.sources.http import HttpInputs
from streamer.sources.http_request import parse_http
from streamer.sources.sockets import SocketInputs
from streamer.sources.stdin import stdin_input


@dataclass(frozen=True, slots=True)
class InputKind:
    """One row: `parse(text, rest)` reads the part after `scheme://` (None: the value is the
    bare scheme name, as `stdin`), `usage` shows the syntax in errors."""

    usage: str
    build: InputFactory
    parse: Callable[[str, str], InputSpec] | None = None


INPUTS: dict[str, InputKind] = {
    "stdin": InputKind("stdin", stdin_input),
    "tcp": InputKind("tcp://HOST:PORT", SocketInputs.build, parse_tcp),
    "unix": InputKind("unix:///path/to/socket", SocketInputs.build, parse_unix),
    "http": InputKind("http://HOST:PORT", HttpInputs.build, parse_http),
    "https": InputKind("https://HOST:PORT", HttpInputs.build, parse_http),
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
    groups: dict[InputFactory, list[InputSpec]] = {kind.build: [] for kind in INPUTS.values()}
    for spec in specs:
        groups[INPUTS[spec.kind].build].append(spec)
    return [build(group, context) for build, group in groups.items() if group]
