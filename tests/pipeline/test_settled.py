"""Settled events: every input line of a source that asks ends in exactly one event carrying its
ticket, delivered, dead-lettered or filtered, whether it ends at intake or after sending."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

from streamer.accumulator import Accumulator, BatchLimits
from streamer.deadletter import DeadLetterFile
from streamer.export import Exporter
from streamer.ingest import Ingest
from streamer.pipeline import Pipeline, PipelineSettings
from streamer.record import Outcome, Settled, Ticket
from streamer.retry import RetryPolicy
from streamer.stats import Stats
from tests.support.events import profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import settings


class Recording:
    """A source that asks for settled events and records them, with its acceptances."""

    wants_settled: ClassVar[bool] = True

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data
        self.accepted: list[int] = []
        self.events: list[Settled] = []

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._data

    def on_accepted(self, through_seq: int) -> None:
        self.accepted.append(through_seq)

    def on_settled(self, event: Settled) -> None:
        self.events.append(event)


def _in_no_segment(i: int) -> bytes:
    return b'{"_id":"f%d","identityMap":{"ecid":[{"id":"f%d"}]}}' % (i, i)


async def test_every_line_settles_once_with_its_ticket(tmp_path: Path) -> None:
    """Delivered, retried then delivered, failed for good, bad, filtered and blank lines each
    settle exactly once, and only after the source's lines were accepted."""
    fake = FakeKinesis(
        shard_count=2,
        script=[lambda entries: {0: "InternalFailure", 1: "KMSDisabledException"}],
    )
    cfg = settings(tmp_path)
    stats = Stats()
    dead = DeadLetterFile(tmp_path / "dead.ndjson")
    pipeline = Pipeline(
        client=fake,
        accumulator=Accumulator(fake.map, BatchLimits(linger_s=0.0)),
        policy=RetryPolicy(backoff_base_s=0.0, backoff_cap_s=0.001),
        dead_letters=dead,
        stats=stats,
        settings=PipelineSettings(writers=2),
    )
    ingest = Ingest(
        exporter=Exporter(cfg.activation()),
        pipeline=pipeline,
        dead_letters=dead,
        stats=stats,
        clock=time.monotonic,
        max_line_bytes=cfg.line_limit,
    )
    pipeline.subscribe(ingest.settled)
    lines = [profile(i) for i in range(6)] + [b"{not json", _in_no_segment(9), b""]
    source = Recording("req-1", b"\n".join(lines) + b"\n")
    async with pipeline:
        assert await ingest.consume(source) == 9
        await pipeline.close(5.0)
    dead.close()
    got: Counter[Ticket] = Counter(t for e in source.events for t in e.tickets)
    assert got == Counter(Ticket("req-1", n) for n in range(1, 10)), "each line exactly once"
    by_outcome: Counter[Outcome] = Counter()
    for event in source.events:
        by_outcome[event.outcome] += event.count
    assert by_outcome == {
        Outcome.DELIVERED: 5,
        Outcome.DEAD_LETTERED: 1,
        Outcome.REJECTED: 1,
        Outcome.FILTERED: 2,
    }
    assert source.accepted[-1] == 9
    assert stats.delivered == 5
    assert stats.dead_lettered == 2
    assert not ingest._listeners, "a source settled in full is no longer routed to"
