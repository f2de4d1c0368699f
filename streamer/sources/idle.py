"""Pure decisions about quiet socket connections: which to close as idle, which to evict.

What it does: given each connection's time of its last complete line (moved forward by the
time the daemon itself was not reading it, so backpressure never counts as quiet) and whether
it is waiting for data now, `expired` names the connections that completed no line for the idle
timeout and `evict` picks the one that has gone longest without a complete line, to close for a
new client at the connection limit, if that is at least `EVICT_IDLE_MIN_S`; `shutdown_quiet`
names those from which nothing has arrived for the shutdown idle time. Time is passed in.

What it leaves out: closing connections and logging (`sockets.py`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from streamer.limits import EVICT_IDLE_MIN_S

K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class Quiet:
    """What the decisions need to know of one connection."""

    last_line_at: float
    """When it last completed a line (or opened), shifted by time it was not read."""
    waiting_since: float | None = None
    """Since when a read has been waiting for data (None while the daemon is not reading it)."""
    ending: bool = False
    """Already being closed: never chosen again."""


def _candidates(conns: Mapping[K, Quiet]) -> Iterable[tuple[K, Quiet]]:
    return ((k, q) for k, q in conns.items() if q.waiting_since is not None and not q.ending)


def expired(conns: Mapping[K, Quiet], now: float, idle_timeout_s: float) -> list[K]:
    """The connections waiting for data that completed no line for `idle_timeout_s`."""
    return [k for k, q in _candidates(conns) if now - q.last_line_at >= idle_timeout_s]


def evict(conns: Mapping[K, Quiet], now: float, min_idle_s: float = EVICT_IDLE_MIN_S) -> K | None:
    """The connection longest without a complete line, if that is at least `min_idle_s`."""
    best: tuple[K, Quiet] | None = None
    for k, q in _candidates(conns):
        if best is None or q.last_line_at < best[1].last_line_at:
            best = (k, q)
    if best is None or now - best[1].last_line_at < min_idle_s:
        return None
    return best[0]


def shutdown_quiet(conns: Mapping[K, Quiet], now: float, idle_s: float) -> list[K]:
    """The connections from which nothing has arrived for `idle_s` while being read."""
    return [
        k
        for k, q in _candidates(conns)
        if q.waiting_since is not None and now - q.waiting_since >= idle_s
    ]
