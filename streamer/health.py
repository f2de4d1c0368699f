"""Destination health for `/readyz`: is the stream taking our PutRecords calls?

What it does: `DestinationHealth` is told the outcome of every PutRecords call (`observe(now,
ok, reason, at_once)`) and says, for a time `now`, why the destination looks failing, if it does
(`problem(now)`): at once after a failure that will not pass by itself soon (the stream was
deleted, the endpoint is unreachable), or once every call for `unready_after_s` has failed. A
call that succeeds clears it: readiness recovers by itself. `judge` turns a call's result into
that observation. Pure: time is passed in.

What it leaves out: serving `/readyz` (`status.py`), the daemon's other readiness reasons
(`daemon.py`), and probing the destination when no call is made (with no records to send the
last verdict stands).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from streamer.errors import RequestFailure
from streamer.kinesis import PutResult

AT_ONCE_CODES: Final = {
    "ResourceNotFoundException": "the stream does not exist (deleted?)",
    "ConnectionError": "the endpoint is unreachable",
}
"""Whole-call failures that make the destination failing at the first occurrence. A connection
that broke after the request was sent (`maybe_written`) is not one: the endpoint was reached,
and a reset keep-alive connection is common; it counts towards the window like other failures."""


class Verdict(NamedTuple):
    """One call's outcome as health sees it."""

    ok: bool
    reason: str | None = None
    at_once: bool = False


def judge(result: PutResult) -> Verdict:
    """A call counts as failed when it failed whole or when every record in it failed."""
    if isinstance(result, RequestFailure):
        known = None if result.maybe_written else AT_ONCE_CODES.get(result.code)
        detail = result.describe()
        if known is not None:
            return Verdict(False, f"{known}: {detail}", at_once=True)
        return Verdict(False, detail)
    failures = result.failures
    if failures and len(failures) == len(result.shard_ids):
        code, message = next(iter(failures.values()))
        return Verdict(False, f"every record failed, e.g. {code}: {message}")
    return Verdict(True)


class DestinationHealth:
    """Tracks call outcomes; `problem(now)` names why the destination is failing, or None."""

    __slots__ = ("_at_once", "_failing_since", "_last_reason", "unready_after_s")

    def __init__(self, unready_after_s: float) -> None:
        self.unready_after_s = unready_after_s
        self._failing_since: float | None = None
        self._last_reason: str | None = None
        self._at_once = False

    def observe(
        self, now: float, ok: bool, reason: str | None = None, *, at_once: bool = False
    ) -> None:
        if ok:
            self._failing_since = None
            self._last_reason = None
            self._at_once = False
            return
        if self._failing_since is None:
            self._failing_since = now
        self._last_reason = reason or "failed"
        self._at_once = at_once

    def observe_result(self, now: float, result: PutResult) -> None:
        verdict = judge(result)
        self.observe(now, verdict.ok, verdict.reason, at_once=verdict.at_once)

    def problem(self, now: float) -> str | None:
        since = self._failing_since
        if since is None:
            return None
        if self._at_once:
            return f"destination failing: {self._last_reason}"
        failing_s = now - since
        if failing_s >= self.unready_after_s:
            return (
                f"destination failing: every PutRecords call for {failing_s:.0f} s failed, "
                f"the last with {self._last_reason}"
            )
        return None
