"""The ingest loop: one source's chunks -> lines -> export records -> the pipeline.

What it does: frames chunks into lines, numbers them, skips blank ones, transforms each with the
exporter, dead-letters bad lines (with source, line number and reason) and offers the rest to
the pipeline; after each chunk it wakes the sender and waits for room (backpressure), so a fast
source can never fill memory. Lines that end here (bad input, filtered out) are announced to
`on_settled` as `Settled` events, once per chunk, like the pipeline announces the rest.

What it leaves out: where chunks come from and what happens to records after they are offered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from itertools import starmap

from streamer.deadletter import DeadLetterFile
from streamer.export import FILTERED, Exported, Exporter
from streamer.pipeline import Pipeline
from streamer.record import Entry, Outcome, Settled, Ticket
from streamer.sources.lines import LineSplitter, Overlong
from streamer.stats import Stats


class Ingest:
    """Shared state for every source feeding one pipeline."""

    def __init__(
        self,
        *,
        exporter: Exporter,
        pipeline: Pipeline,
        dead_letters: DeadLetterFile,
        stats: Stats,
        clock: Callable[[], float],
        max_line_bytes: int,
        on_settled: Callable[[Settled], None] | None = None,
    ) -> None:
        self._exporter = exporter
        self._pipeline = pipeline
        self._dead = dead_letters
        self._stats = stats
        self._clock = clock
        self.max_line_bytes = max_line_bytes
        self._on_settled = on_settled

    async def consume(self, source: str, chunks: AsyncIterator[bytes]) -> int:
        """Feed every line of `chunks` into the pipeline; return the number of lines read."""
        splitter = LineSplitter(self.max_line_bytes)
        line_no = 0
        async for chunk in chunks:
            line_no = self._handle(source, splitter.feed(chunk), line_no)
            self._pipeline.kick()
            await self._pipeline.wait_for_room()
        line_no = self._handle(source, splitter.finish(), line_no)
        self._pipeline.kick()
        return line_no

    def _handle(self, source: str, lines: list[bytes | Overlong], line_no: int) -> int:
        stats = self._stats
        export = self._exporter.export
        now = self._clock()
        entries: list[Entry] = []
        offer = entries.append
        rejected: list[int] = []
        filtered: list[int] = []
        received = 0
        for line in lines:
            line_no += 1
            if type(line) is bytes:
                if not line or line.isspace():
                    continue
                received += 1
                result = export(line)
                if type(result) is Exported:
                    offer(Entry(result.data, result.partition_key, source, line_no, now))
                elif result is FILTERED:
                    filtered.append(line_no)
                else:
                    rejected.append(line_no)
                    self._dead.bad_line(
                        source=source,
                        line_no=line_no,
                        line=line,
                        reason=result.reason,  # type: ignore[union-attr]
                    )
            else:
                assert isinstance(line, Overlong)
                received += 1
                rejected.append(line_no)
                self._dead.overlong_line(
                    source=source,
                    line_no=line_no,
                    preview=line.preview,
                    size=line.size,
                    limit=self.max_line_bytes,
                )
        if entries:
            self._pipeline.offer(entries, now)
        stats.received += received
        stats.exported += len(entries)
        stats.filtered += len(filtered)
        stats.rejected += len(rejected)
        if self._on_settled is not None and (filtered or rejected):
            self._settled(source, filtered, Outcome.FILTERED, "in none of the mapped segments")
            self._settled(source, rejected, Outcome.DEAD_LETTERED, "bad input")
        return line_no

    def _settled(self, source: str, line_nos: list[int], outcome: Outcome, reason: str) -> None:
        if line_nos and self._on_settled is not None:
            tickets = list(starmap(Ticket, ((source, n) for n in line_nos)))
            self._on_settled(Settled(outcome, tickets=tickets, reason=reason))
