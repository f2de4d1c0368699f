"""Start-up replay: what earlier runs left in the spool is exported again and sent first.

What it does: reads the unsettled entries a crash, a kill or a drain deadline left in the
spool, in their original order and a group at a time (never the whole spool in memory),
exports each raw line again with the current activation and offers the records to the
pipeline with backpressure, keeping each line's original source name, line number and spool
offset (so a record settles its own spool entry, and dead-letter entries name where it came
from). A line the current activation filters out or rejects settles at once (rejected lines are
dead-lettered). Counts `replayed`.

What it leaves out: reading new input (`ingest.py`); the files (`store.py`).
"""

from __future__ import annotations

from itertools import islice
from typing import Final

import structlog

from streamer.export import FILTERED, Exported
from streamer.ingest import Ingest, rejection_category
from streamer.record import Entry
from streamer.spool.spool import Spool

log = structlog.get_logger("streamer.spool")

REPLAY_GROUP: Final = 500
"""Entries exported and offered at a time before waiting for room."""


async def restore(spool: Spool | None, ingest: Ingest) -> int:
    """Start the spool (settled lines leave it, syncs run) and replay what it holds into the
    pipeline; the number of lines replayed (0 without a spool)."""
    if spool is None:
        return 0
    ingest.pipeline.subscribe(spool.settled)
    spool.start()
    if not spool.store.replay_segments:
        return 0
    stats = ingest.stats
    export = ingest.exporter.export
    pipeline = ingest.pipeline
    frames = spool.replay()
    total = 0
    while group := list(islice(frames, REPLAY_GROUP)):
        now = ingest.clock()
        entries: list[Entry] = []
        settled: list[int] = []
        for offset, frame in group:
            result = export(frame.line)
            if type(result) is Exported:
                entry = Entry(result.data, result.partition_key, frame.source, frame.seq, now)
                entry.offset = offset
                entries.append(entry)
                continue
            settled.append(offset)
            if result is FILTERED:
                stats.filtered += 1
            else:
                stats.reject(rejection_category(result))
                ingest.dead_letters.bad_line(
                    source=frame.source,
                    line_no=frame.seq,
                    line=frame.line,
                    reason=result.reason,  # type: ignore[union-attr]
                )
        total += len(group)
        stats.replayed += len(group)
        stats.exported += len(entries)
        if settled:
            spool.forget(settled)
        if entries:
            pipeline.offer(entries, now)
            pipeline.kick()
            await pipeline.wait_for_room()
    if total:
        log.info("spool replayed", lines=total)
    return total
