"""Input and listen address parsing, and the daemon keys of the config."""

from __future__ import annotations

import asyncio

import pytest

from streamer import config, limits
from streamer.errors import ConfigError
from streamer.sources.address import STDIN, HostPort, InputSpec, parse_host_port
from streamer.sources.base import InputContext, SingleSourceInput
from streamer.sources.http import HttpInputs
from streamer.sources.registry import INPUTS, build_inputs, load_factory, parse_input
from streamer.sources.sockets import SocketInputs
from streamer.sources.stdin import stdin_input


@pytest.mark.parametrize(
    ("text", "spec", "canonical"),
    [
        ("stdin", STDIN, "stdin"),
        ("-", STDIN, "stdin"),
        ("tcp://127.0.0.1:5555", InputSpec("tcp", "127.0.0.1", 5555), "tcp://127.0.0.1:5555"),
        ("tcp://:5555", InputSpec("tcp", "127.0.0.1", 5555), "tcp://127.0.0.1:5555"),
        ("tcp://0.0.0.0:0", InputSpec("tcp", "0.0.0.0", 0), "tcp://0.0.0.0:0"),
        ("tcp://[::1]:7", InputSpec("tcp", "::1", 7), "tcp://[::1]:7"),
        ("tcp://localhost:80", InputSpec("tcp", "localhost", 80), "tcp://localhost:80"),
        ("unix:///run/s.sock", InputSpec("unix", path="/run/s.sock"), "unix:///run/s.sock"),
        ("unix://rel.sock", InputSpec("unix", path="rel.sock"), "unix://rel.sock"),
    ],
)
def test_valid_inputs(text: str, spec: InputSpec, canonical: str) -> None:
    """Each accepted form parses to its spec and prints canonically (TCP host defaults local)."""
    assert parse_input(text) == spec
    assert str(spec) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file.ndjson", "must be stdin, tcp://HOST:PORT, unix:///path"),
        ("udp://h:1", "unknown scheme 'udp'"),
        ("tcp://h", "must look like HOST:PORT"),
        ("tcp://h:70000", "port between 0 and 65535"),
        ("tcp://h:x", "port between 0 and 65535"),
        ("tcp://::1:5", "IPv6 host in brackets"),
        ("tcp://[::1]5", "[IPV6]:PORT"),
        ("unix://", "must name a socket file"),
        ("unix:///run/", "must name a socket file"),
        ("unix:///" + "x" * 120, "at most 107 bytes"),
    ],
)
def test_invalid_inputs(text: str, message: str) -> None:
    """Malformed inputs fail with a sentence naming the value and the problem."""
    with pytest.raises(ValueError, match="input") as info:
        parse_input(text)
    assert message in str(info.value)


def test_host_port() -> None:
    """HOST:PORT, :PORT (loopback) and bracketed IPv6 parse; errors name the label."""
    assert parse_host_port("0.0.0.0:9108") == HostPort("0.0.0.0", 9108)
    assert parse_host_port(":9108") == HostPort("127.0.0.1", 9108)
    assert str(parse_host_port("[::]:1")) == "[::]:1"
    with pytest.raises(ValueError, match="metrics 'x' must look like HOST:PORT"):
        parse_host_port("x", label="metrics 'x'")


def _build(**raw: object) -> config.Settings:
    return config.build({"stream": "s", "region": "eu-west-1", **raw})


def test_config_daemon_keys() -> None:
    """inputs, metrics_address, progress and max_connections are parsed once, at load."""
    s = _build(
        inputs=["tcp://:1", "unix:///tmp/a.sock", "stdin"],
        metrics_address="127.0.0.1:0",
        progress=True,
        progress_interval_s=1,
        max_connections=3,
    )
    assert [str(i) for i in s.inputs] == ["tcp://127.0.0.1:1", "unix:///tmp/a.sock", "stdin"]
    assert s.metrics_address == HostPort("127.0.0.1", 0)
    assert (s.progress, s.progress_interval_s, s.max_connections) == (True, 1.0, 3)
    defaults = _build()
    assert defaults.inputs == (STDIN,)
    assert defaults.metrics_address is None
    assert defaults.max_connections == limits.DEFAULT_MAX_CONNECTIONS


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"inputs": []}, "inputs must be a non-empty list"),
        ({"inputs": ["stdin", "-"]}, "the same input twice"),
        ({"inputs": ["tcp://x"]}, "input 'tcp://x' must look like HOST:PORT"),
        ({"metrics_address": "9108"}, "metrics_address '9108' must look like HOST:PORT"),
        ({"metrics_address": 9108}, "metrics_address must be a string"),
        ({"max_connections": 0}, "max_connections must be between 1 and 65536, not 0"),
        ({"progress": "yes"}, "progress must be true or false"),
        ({"progress_interval_s": 0}, "progress_interval_s must be between 0.01 and 86400, not 0"),
    ],
)
def test_config_daemon_key_errors(raw: dict[str, object], message: str) -> None:
    """Each invalid daemon key is a ConfigError naming it."""
    with pytest.raises(ConfigError) as info:
        _build(**raw)
    assert message in str(info.value)


def test_registry_builds_one_socket_input_for_tcp_and_unix() -> None:
    """tcp:// and unix:// inputs share one SocketInputs (one connection limit); stdin is its own
    input, listed first."""
    specs = [parse_input("tcp://:0"), parse_input("unix:///tmp/x.sock"), parse_input("-")]
    context = InputContext(stop=asyncio.Event(), max_connections=3, read_chunk_bytes=1024)
    stdin, sockets = build_inputs(specs, context)
    assert isinstance(stdin, SingleSourceInput)
    assert not stdin.endless
    assert isinstance(sockets, SocketInputs)
    assert sockets.endless
    assert [str(s) for s in sockets.specs] == ["tcp://127.0.0.1:0", "unix:///tmp/x.sock"]


def test_every_registry_row_names_a_factory_that_loads() -> None:
    """Each row's `module:attribute` imports and is the input factory of its scheme."""
    expected = {
        "stdin": stdin_input,
        "tcp": SocketInputs.build,
        "unix": SocketInputs.build,
        "http": HttpInputs.build,
        "https": HttpInputs.build,
    }
    assert {name: load_factory(kind.factory) for name, kind in INPUTS.items()} == expected
