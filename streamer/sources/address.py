"""Pure parsing of input and listen addresses: `stdin`, `tcp://HOST:PORT`, `unix:///path.sock`.

What it does: the `InputSpec` value, the parsers of the `tcp://` and `unix://` parts into one
(and of `HOST:PORT` strings into `HostPort`), with a one-sentence `ValueError` for anything
malformed. A missing TCP host means 127.0.0.1, so nothing listens beyond this machine unless the
operator names an address.

What it leaves out: which scheme is which input (`registry.parse_input`), binding, permissions
and cleanup (`sockets.py`); reading stdin (`stdin.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

DEFAULT_HOST = "127.0.0.1"
UNIX_PATH_MAX_BYTES = 107
"""sun_path holds 108 bytes on Linux, including the terminating NUL."""


class HostPort(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input: standard input or a listener on a host and port or a socket path."""

    kind: str
    """The scheme (`tcp`, `unix`) or `stdin`: the key of its row in `registry.INPUTS`."""
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.kind == "stdin":
            return "stdin"
        if self.path:
            return f"{self.kind}://{self.path}"
        return f"{self.kind}://{HostPort(self.host, self.port)}"

    @property
    def is_socket(self) -> bool:
        """Listens on a socket (every input but stdin)."""
        return self.kind != "stdin"


STDIN = InputSpec("stdin")


def parse_host_port(text: str, *, label: str | None = None) -> HostPort:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (host 127.0.0.1); port 0 picks a free one.

    `label` names the value in error messages (default: "address 'TEXT'").
    """
    what = label or f"address {text!r}"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":") or not host:
            raise ValueError(f"{what} must look like [IPV6]:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{what} must look like HOST:PORT")
        if ":" in host:
            raise ValueError(f"{what}: put an IPv6 host in brackets, [::1]:PORT")
    if not (port_text.isascii() and port_text.isdigit()) or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{what} needs a port between 0 and 65535")
    return HostPort(host or DEFAULT_HOST, int(port_text))


def parse_tcp(text: str, rest: str) -> InputSpec:
    """The part after `tcp://` of the input `text`."""
    hp = parse_host_port(rest, label=f"input {text!r}")
    return InputSpec("tcp", host=hp.host, port=hp.port)


def parse_unix(text: str, rest: str) -> InputSpec:
    """The part after `unix://` of the input `text`."""
    if not rest or rest.endswith("/"):
        raise ValueError(f"input {text!r} must name a socket file, e.g. unix:///run/s.sock")
    if len(rest.encode()) > UNIX_PATH_MAX_BYTES:
        raise ValueError(
            f"input {text!r}: a Unix socket path may be at most {UNIX_PATH_MAX_BYTES} bytes"
        )
    return InputSpec("unix", path=rest)
