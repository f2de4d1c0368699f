"""Which quiet connection to close as idle or evict for a new client, and which are quiet at
shutdown: pure decisions on last-complete-line times and the time now."""

from __future__ import annotations

from streamer.limits import EVICT_IDLE_MIN_S
from streamer.sources.idle import Quiet, evict, expired, shutdown_quiet


def _waiting(last_line_at: float, since: float = 0.0) -> Quiet:
    return Quiet(last_line_at=last_line_at, waiting_since=since)


def test_evicts_the_connection_longest_without_a_line() -> None:
    """Of several quiet connections the one whose last line is oldest is chosen."""
    conns = {"a": _waiting(50.0), "b": _waiting(10.0), "c": _waiting(30.0)}
    assert evict(conns, now=100.0) == "b"


def test_no_eviction_under_the_minimum_quiet_time() -> None:
    """A connection that completed a line less than 10 s ago is never evicted."""
    conns = {"a": _waiting(100.0 - EVICT_IDLE_MIN_S + 0.1)}
    assert evict(conns, now=100.0) is None
    assert evict({"a": _waiting(100.0 - EVICT_IDLE_MIN_S)}, now=100.0) == "a"


def test_connections_not_being_read_are_never_chosen() -> None:
    """A connection the daemon is not reading (backpressure) or already closing is spared."""
    conns = {
        "paused": Quiet(last_line_at=0.0, waiting_since=None),
        "ending": Quiet(last_line_at=0.0, waiting_since=0.0, ending=True),
        "recent": _waiting(95.0),
    }
    assert evict(conns, now=100.0) is None
    assert expired(conns, now=1000.0, idle_timeout_s=300.0) == ["recent"]


def test_idle_timeout_counts_from_the_last_complete_line() -> None:
    """A byte-a-second sender with no newline expires; a sender of a line now and then not."""
    conns = {"drip": _waiting(0.0, since=299.0), "lines": _waiting(250.0, since=299.0)}
    assert expired(conns, now=299.9, idle_timeout_s=300.0) == []
    assert expired(conns, now=300.0, idle_timeout_s=300.0) == ["drip"]


def test_shutdown_quiet_counts_from_the_start_of_the_read() -> None:
    """At shutdown a connection is done once nothing arrived for the idle time while read."""
    conns = {"quiet": _waiting(0.0, since=10.0), "busy": _waiting(0.0, since=10.1)}
    assert shutdown_quiet(conns, now=10.25, idle_s=0.2) == ["quiet"]
