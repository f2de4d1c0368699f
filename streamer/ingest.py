"""The ingest loop: one source's chunks -> lines -> export records -> the pipeline.

What it does: frames chunks into lines, numbers them, skips blank ones, transforms each with the
exporter, dead-letters bad lines (with source, line number and reason) and offers the rest to
the pipeline; after each chunk it wakes the sender and waits for room (backpressure), so a fast
source can never fill memory.

What it leaves out: where chunks come from and what happens to records after they are offered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

from streamer.deadletter import DeadLetterFile
from streamer.export import FILTERED, Exported, Exporter
from streamer.pipeline import Pipeline
from streamer.record import Entry
from streamer.sources.lines import LineSplitter, Overlong
from streamer.stats import Stats

OVERLONG: Final = "overlong"
"""The rejection category of a line over the line limit."""


def rejection_category(result: object) -> str:
    """The category of a rejected line, for the metrics (the exporter's, when it names one)."""
    category = getattr(result, "category", None)
    return category if isinstance(category, str) and category else "invalid"


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
    ) -> None:
        self._exporter = exporter
        self._pipeline = pipeline
        self._dead = dead_letters
        self._stats = stats
        self._clock = clock
        self.max_line_bytes = max_line_bytes

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
        offer = self._pipeline.offer
        now = self._clock()
        received = exported = filtered = 0
        for line in lines:
            line_no += 1
            if type(line) is bytes:
                if not line or line.isspace():
                    continue
                received += 1
                result = export(line)
                if type(result) is Exported:
                    exported += 1
                    offer(Entry(result.data, result.partition_key, source, line_no, now), now)
                elif result is FILTERED:
                    filtered += 1
                else:
                    stats.reject(rejection_category(result))
                    self._dead.bad_line(
                        source=source,
                        line_no=line_no,
                        line=line,
                        reason=result.reason,  # type: ignore[union-attr]
                    )
            else:
                assert isinstance(line, Overlong)
                received += 1
                stats.reject(OVERLONG)
                self._dead.overlong_line(
                    source=source,
                    line_no=line_no,
                    preview=line.preview,
                    size=line.size,
                    limit=self.max_line_bytes,
                )
        stats.received += received
        stats.exported += exported
        stats.filtered += filtered
        return line_no
