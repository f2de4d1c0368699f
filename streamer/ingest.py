"""The ingest loop: one source's chunks -> lines -> export records -> the pipeline.

What it does: frames chunks into lines, numbers them, skips blank ones, transforms each with the
exporter, dead-letters bad lines (with source, line number and reason; the unterminated last
line of a source the daemon ended, `cut`, with that reason) and offers the rest to the
pipeline; after each chunk it wakes the sender and waits for room (backpressure) and for a
writable dead-letter file, so a fast source can never fill memory. With a spool, each chunk's
records are first appended to it (raw line, source, line number) and a source hears that its
lines are accepted only once the spool says they are durable. It tells each source when its
lines are accepted, and, for a source that asks, routes the `Settled` events of its lines:
those that end here (filtered out, once per chunk; bad input, `REJECTED` once per line with its
reason) and those the pipeline publishes (`settled` is its subscriber).

What it leaves out: where chunks come from and what happens to records after they are offered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from streamer.compression import CompressingExporter
from streamer.deadletter import CUT, DeadLetterFile
from streamer.export import FILTERED, Exported, Exporter
from streamer.pipeline import Pipeline
from streamer.record import Entry, Outcome, Settled, Ticket
from streamer.sources.base import CUT_AT_SHUTDOWN, Source
from streamer.sources.lines import LineSplitter, Overlong
from streamer.stats import Stats

if TYPE_CHECKING:
    from streamer.spool.spool import Spool

OVERLONG: Final = "overlong"
"""The rejection category of a line over the line limit."""
BLANK_LINE: Final = "blank line"
"""The reason of the `FILTERED` event of a blank line (it counts as neither taken nor bad)."""
NOT_MAPPED: Final = "in none of the mapped segments"
_EXPORTED: Final = Exported  # the class, read from a C static where compiled (once per line)


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
    spool: Spool | None = None
    """Where accepted lines are kept until settled (None: memory only)."""
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
            try:
                async for chunk in source.chunks():
                    line_no = await self._take(source, splitter.feed(chunk), line_no)
                    await self.pipeline.wait_for_room()
                    await self.dead_letters.writable()  # a failing dead-letter file stops input
            except asyncio.CancelledError:  # cut by the daemon: keep the line in progress
                self._handle(
                    name, splitter.finish(), line_no, self.clock(), False, cut=CUT_AT_SHUTDOWN
                )
                raise
            cut: str | None = getattr(source, "cut", None)  # ended by us: a tail is not a line
            return await self._take(source, splitter.finish(), line_no, cut)
        finally:
            self._done.add(name)
            self._forget_if_settled(name)

    async def _take(
        self, source: Source, lines: list[bytes | Overlong], line_no: int, cut: str | None = None
    ) -> int:
        """Handle one chunk's lines; offer their records (spooled first, with a spool)."""
        spool = self.spool
        now = self.clock()
        line_no, entries, raw = self._handle(
            source.name, lines, line_no, now, spool is not None, cut=cut
        )
        if spool is None:
            if entries:
                self.pipeline.offer(entries, now)
            source.on_accepted(line_no)
        else:
            await spool.append(entries, raw)
            if entries:
                self.pipeline.offer(entries, now)
            spool.when_durable(functools.partial(source.on_accepted, line_no))
        self.pipeline.kick()
        return line_no

    def settled(self, event: Settled) -> None:
        """Route a settled event to the sources of its lines that asked for them (a pipeline
        subscriber; costs nothing while no source wants settled events)."""
        listeners = self._listeners
        if not listeners:
            return
        by_source: dict[str, list[Ticket]] = {}
        fresh = self.spool.fresh_from if self.spool is not None else 0
        for ticket in event.tickets:
            # a replayed line's source may share its name with a new one: not routed
            if ticket.source in listeners and not 0 <= ticket.offset < fresh:
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

    def _handle(
        self,
        source: str,
        lines: list[bytes | Overlong],
        line_no: int,
        now: float,
        keep: bool,
        *,
        cut: str | None = None,
    ) -> tuple[int, list[Entry], list[bytes]]:
        """Export one chunk's lines; (last line number, records, their raw lines if `keep`).
        With `cut`, the lines are the unterminated tail of a source the daemon ended: each is
        dead-lettered with that reason, never exported."""
        stats = self.stats
        export = self.exporter.export
        # the plain exporter called directly where compiled (not through a bound method)
        plain: Exporter | None = self.exporter if isinstance(self.exporter, Exporter) else None
        entries: list[Entry] = []
        offer = entries.append
        raw: list[bytes] = []
        rejected: list[tuple[int, str]] = []
        filtered: list[int] = []
        blank: list[int] = []
        received = 0
        for line in lines:
            line_no += 1
            if type(line) is bytes:
                if not line or (line[0] <= 32 and line.isspace()):  # whitespace is <= 32
                    blank.append(line_no)
                    continue
                received += 1
                if cut is not None:  # the unterminated tail of a source we ended
                    stats.reject(CUT)
                    rejected.append((line_no, cut))
                    self.dead_letters.cut_line(
                        source=source, line_no=line_no, line=line, reason=cut
                    )
                    continue
                result = plain.export(line) if plain is not None else export(line)
                if type(result) is _EXPORTED:
                    offer(Entry(result.data, result.partition_key, source, line_no, now))
                    if keep:
                        raw.append(line)
                elif result is FILTERED:
                    filtered.append(line_no)
                else:
                    stats.reject(rejection_category(result))
                    reason: str = result.reason  # type: ignore[union-attr]
                    rejected.append((line_no, reason))
                    self.dead_letters.bad_line(
                        source=source, line_no=line_no, line=line, reason=reason
                    )
            else:
                assert isinstance(line, Overlong)
                received += 1
                stats.reject(OVERLONG)
                rejected.append(
                    (line_no, f"line over the maximum line length of {self.max_line_bytes} bytes")
                )
                self.dead_letters.overlong_line(
                    source=source,
                    line_no=line_no,
                    preview=line.preview,
                    size=line.size,
                    limit=self.max_line_bytes,
                )
        stats.received += received
        stats.exported += len(entries)
        stats.filtered += len(filtered)
        listener = self._listeners.get(source) if self._listeners else None
        if listener is not None:
            self._unsettled[source] += len(entries)
            for outcome, nos, why in (
                (Outcome.FILTERED, filtered, NOT_MAPPED),
                (Outcome.FILTERED, blank, BLANK_LINE),
            ):
                if nos:
                    tickets = [Ticket(source, n) for n in nos]
                    listener.on_settled(Settled(outcome, tickets=tickets, reason=why))
            for n, why in rejected:  # one event per bad line: each has its own reason
                listener.on_settled(
                    Settled(Outcome.REJECTED, tickets=[Ticket(source, n)], reason=why)
                )
        return line_no, entries, raw
