"""The example config and systemd unit under examples/ stay valid and consistent."""

from __future__ import annotations

import configparser
from pathlib import Path

from streamer import config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_config_loads_with_socket_inputs() -> None:
    """examples/streamer.toml is a valid config whose inputs are sockets (a daemon never ends
    at stdin's end of file) with metrics on loopback."""
    s = config.load(EXAMPLES / "streamer.toml", {})
    assert s.inputs
    assert all(i.is_socket for i in s.inputs)
    assert s.metrics_address is not None
    assert s.metrics_address.host == "127.0.0.1"
    assert s.segments is not None


def test_unit_gives_the_drain_time_to_finish() -> None:
    """The unit runs the example config, stops with SIGTERM, and waits longer than the drain."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(EXAMPLES / "streamer.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("run --config /etc/streamer/streamer.toml")
    assert service["KillSignal"] == "SIGTERM"
    drain = config.load(EXAMPLES / "streamer.toml", {}).drain_deadline_s
    assert float(service["TimeoutStopSec"]) > drain + 2
    unix = [i for i in config.load(EXAMPLES / "streamer.toml", {}).inputs if i.kind == "unix"]
    assert all(i.path.startswith(f"/run/{service['RuntimeDirectory']}/") for i in unix)


def test_template_unit_gives_each_instance_its_own_inputs_and_files() -> None:
    """streamer@.service: every per-instance path and port carries the instance name, so two
    instances never share a socket, a port or a dead-letter file; the flags parse as `run`'s."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(EXAMPLES / "streamer@.service")
    service = unit["Service"]
    argv = service["ExecStart"].split()
    assert argv[1:4] == ["run", "--config", "/etc/streamer/streamer.toml"]
    flags = dict(zip(argv[4::2], argv[5::2], strict=True))  # --input repeats: read below
    inputs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--input"]
    assert inputs == ["unix:///run/streamer-%i/in.sock", "tcp://127.0.0.1:55%i"]
    assert flags["--metrics-address"] == "127.0.0.1:91%i"
    assert flags["--dead-letter"] == "/var/lib/streamer-%i/dead-letter.ndjson"
    assert service["RuntimeDirectory"] == "streamer-%i"
    assert service["StateDirectory"] == "streamer-%i"
    # Instance "01" as systemd would expand it gives a valid configuration.
    expanded = [a.replace("%i", "01") for a in argv[4:]]
    values = {
        "inputs": [expanded[i + 1] for i, a in enumerate(expanded) if a == "--input"],
        "metrics_address": flags["--metrics-address"].replace("%i", "01"),
        "dead_letter": flags["--dead-letter"].replace("%i", "01"),
    }
    s = config.load(EXAMPLES / "streamer.toml", values)
    assert s.metrics_address is not None
    assert s.metrics_address.port == 9101
    assert {i.path for i in s.inputs if i.kind == "unix"} == {"/run/streamer-01/in.sock"}
    assert {i.port for i in s.inputs if i.kind == "tcp"} == {5501}
    drain = s.drain_deadline_s
    assert float(service["TimeoutStopSec"]) > drain + 2
