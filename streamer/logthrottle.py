"""Rate-limiting a repeated warning: one line per interval, with how many times it happened.

What it does: `Every(interval_s)` counts occurrences of one event; `due(now)` counts one more
and returns how many to report when a line is due (the first occurrence, then at most once per
interval), else None. Pure: time is passed in.

What it leaves out: logging itself (the caller writes the line with the count), and reporting
occurrences that are still counted when the events stop (the next line says them).
"""

from __future__ import annotations


class Every:
    """Say "log now, N occurrences" at most once per `interval_s`."""

    __slots__ = ("_count", "_last", "interval_s")

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: float | None = None
        self._count = 0

    def due(self, now: float) -> int | None:
        """Count one occurrence; return the occurrences since the last line if one is due now."""
        self._count += 1
        if self._last is not None and now - self._last < self.interval_s:
            return None
        count, self._count = self._count, 0
        self._last = now
        return count
