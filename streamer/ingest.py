"""The ingest loop: one source's chunks -> lines -> export records -> the pipeline.

What it does: frames chunks into lines, numbers them, skips blank ones, transforms each with the
exporter, dead-letters bad lines (with source, line number and reason) and offers the rest to
the pipeline; after each chunk it wakes the sender and waits for room (backpressure), so a fast
source can never fill memory. It tells each source when its lines are accepted, and, for a
source that asks, routes the `Settled` events of its lines: those that end here (bad input,
filtered out, once per chunk) and those the pipeline publishes (`settled` is its subscriber).

What it leaves out: where chunks come from and what happens to records after they are offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from streamer.compression import CompressingExporter
from streamer.deadletter import DeadLetterFile
from streamer.export import FILTERED, Exported, Exporter
from streamer.pipeline import Pipeline
from streamer.record import Entry, Outcome, Settled, Ticket
from streamer.sources.base import Source
from streamer.sources.lines import LineSplitter, Overlong
from streamer.stats import Stats

OVERLONG: Final = "overlong"
"""The rejection category of a line over the line limit."""


def rejection_category(result: object) -> str:
    """The category of a rejected line, for the metrics (the exporter's, when it names one)."""
    category = getattr(result, "category", None)
    return category if isinstance(category, str) and category else "invalid"


@dataclass(eq=False, kw_only=True)
class Ingest:
    """Shared state for every source feeding one pipeline."""

    exporter: Exporter | CompressingExporter
    pipeline: Pipeline
    dead_letters: DeadLetterFile
    stats: Stats
    clock: Callable[[], float]
    max_line_bytes: int
    _listeners: dict[str, Source] = field(default_factory=dict, init=False)
    """The sources that want settled events, by name."""
    _unsettled: dict[str, int] = field(default_factory=dict, init=False)
    """Per listening source: its records offered to the pipeline and not yet settled."""
    _done: set[str] = field(default_factory=set, init=False)

    async def consume(self, source: Source) -> int:
        """Feed every line of `source` into the pipeline; return the number of lines read."""
        name = source.name
        if source.wants_settled:
            self._listeners[name] = source
            self._unsettled[name] = 0
        try:
            splitter = LineSplitter(self.max_line_bytes)
            line_no = 0
            async for chunk in source.chunks():
                line_no = self._handle(name, splitter.feed(chunk), line_no)
                source.on_accepted(line_no)
                self.pipeline.kick()
                await self.pipeline.wait_for_room()
            line_no = self._handle(name, splitter.finish(), line_no)
            source.on_accepted(line_no)
            self.pipeline.kick()
            return line_no
        finally:
            self._done.add(name)
            self._forget_if_settled(name)

    def settled(self, event: Settled) -> None:
        """Route a settled event to the sources of its lines that asked for them (a pipeline
        subscriber; costs nothing while no source wants settled events)."""
        listeners = self._listeners
        if not listeners:
            return
        by_source: dict[str, list[Ticket]] = {}
        for ticket in event.tickets:
            if ticket.source in listeners:
                by_source.setdefault(ticket.source, []).append(ticket)
        for name, tickets in by_source.items():
            listeners[name].on_settled(Settled(event.outcome, tickets=tickets, reason=event.reason))
            self._unsettled[name] -= len(tickets)
            self._forget_if_settled(name)

    def _forget_if_settled(self, name: str) -> None:
        """Stop routing to a source once it ended and every line it gave is settled."""
        if name in self._done and self._unsettled.get(name, 0) <= 0:
            self._listeners.pop(name, None)
            self._unsettled.pop(name, None)
            self._done.discard(name)

    def _handle(self, source: str, lines: list[bytes | Overlong], line_no: int) -> int:
        stats = self.stats
        export = self.exporter.export
        now = self.clock()
        entries: list[Entry] = []
        offer = entries.append
        rejected: list[int] = []
        filtered: list[int] = []
        blank: list[int] = []
        received = 0
        for line in lines:
            line_no += 1
            if type(line) is bytes:
                if not line or line.isspace():
                    blank.append(line_no)
                    continue
                received += 1
                result = export(line)
                if type(result) is Exported:
                    offer(Entry(result.data, result.partition_key, source, line_no, now))
                elif result is FILTERED:
                    filtered.append(line_no)
                else:
                    stats.reject(rejection_category(result))
                    rejected.append(line_no)
                    self.dead_letters.bad_line(
                        source=source,
                        line_no=line_no,
                        line=line,
                        reason=result.reason,  # type: ignore[union-attr]
                    )
            else:
                assert isinstance(line, Overlong)
                received += 1
                stats.reject(OVERLONG)
                rejected.append(line_no)
                self.dead_letters.overlong_line(
                    source=source,
                    line_no=line_no,
                    preview=line.preview,
                    size=line.size,
                    limit=self.max_line_bytes,
                )
        if entries:
            self.pipeline.offer(entries, now)
        stats.received += received
        stats.exported += len(entries)
        stats.filtered += len(filtered)
        listener = self._listeners.get(source) if self._listeners else None
        if listener is not None:
            self._unsettled[source] += len(entries)
            for outcome, nos, reason in (
                (Outcome.FILTERED, filtered, "in none of the mapped segments"),
                (Outcome.FILTERED, blank, "blank line"),
                (Outcome.DEAD_LETTERED, rejected, "bad input"),
            ):
                if nos:
                    tickets = [Ticket(source, n) for n in nos]
                    listener.on_settled(Settled(outcome, tickets=tickets, reason=reason))
        return line_no
