"""Pure bookkeeping of one HTTP request: what became of its lines, and the answer's body.

What it does: a `Tally` follows one request (one source) through its hooks: `accepted(seq)`
records how far its lines are durable (`Source.on_accepted`), `settle(event)` what became of
them (`Source.on_settled`: blank lines, bad lines with their reasons, filtered, delivered,
dead-lettered, and any outcome added later, such as spooled, counted under its own name).
`answer(total)` is the JSON body of a 200: `accepted` (lines taken in: exported or filtered),
`rejected` (bad lines, each also dead-lettered) and at most `MAX_HTTP_ERRORS_LISTED` `errors`;
with `delivered=True` also the settled counts and, if the wait ran out, `unsettled`.

What it leaves out: waiting (the request handler in `http.py` waits on `changed`), HTTP.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from streamer.ingest import BLANK_LINE
from streamer.limits import MAX_HTTP_ERRORS_LISTED
from streamer.record import Outcome, Settled

SETTLED_FIELDS = (Outcome.DELIVERED.value, Outcome.DEAD_LETTERED.value, Outcome.FILTERED.value)
"""Always in a `?wait=delivered` answer, even when 0."""


class Tally:
    """One request's lines: how far they are durable and what became of them."""

    __slots__ = ("_changed", "blank", "errors", "outcomes", "rejected", "settled", "through")

    def __init__(self) -> None:
        self.through = 0
        """Lines 1..through are durable (accepted by the intake)."""
        self.settled = 0
        """Lines whose end is known, of any outcome (blank lines included)."""
        self.blank = 0
        self.rejected = 0
        self.errors: list[dict[str, Any]] = []
        self.outcomes: Counter[str] = Counter()
        """Settled non-blank, non-rejected lines by outcome name."""
        self._changed: asyncio.Event | None = None

    @property
    def changed(self) -> asyncio.Event:
        """Set whenever the tally changes (created lazily, on the running loop)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def accepted(self, through_seq: int) -> None:
        if through_seq > self.through:
            self.through = through_seq
            self._notify()

    def settle(self, event: Settled) -> None:
        count = event.count
        self.settled += count
        if event.outcome is Outcome.REJECTED:
            self.rejected += count
            room = MAX_HTTP_ERRORS_LISTED - len(self.errors)
            if room > 0:
                self.errors.extend(
                    {"line": t.seq, "reason": event.reason} for t in event.tickets[:room]
                )
        elif event.outcome is Outcome.FILTERED and event.reason == BLANK_LINE:
            self.blank += count
        else:
            self.outcomes[event.outcome.value] += count
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def answer(self, total: int, *, delivered: bool = False) -> dict[str, Any]:
        """The body of the answer for a request of `total` lines."""
        body: dict[str, Any] = {
            "accepted": total - self.blank - self.rejected,
            "rejected": self.rejected,
            "errors": sorted(self.errors, key=lambda e: e["line"]),
        }
        if delivered:
            for name in SETTLED_FIELDS:
                body[name] = self.outcomes.get(name, 0)
            for name, count in sorted(self.outcomes.items()):
                body.setdefault(name, count)
            if total > self.settled:
                body["unsettled"] = total - self.settled
        return body
