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
