"""`streamer replay`: send the entries of a dead-letter file again, through the real pipeline.

What it does: reads a dead-letter file one line at a time (never whole) and, for `kind
delivery` (the default), offers each delivery entry's `record` and `partition_key` as they are
to the same `Pipeline` and `Accumulator` a run uses; for `kind input`, it passes each input
entry's line (`line_b64` when present, else `line`) through the `Exporter` with the current
activation, as a run would. What fails again (undeliverable records, lines still rejected,
entries that cannot be replayed: an overlong line of which only a preview was kept, an entry
missing its fields, a line that is not an entry) is written to a new dead-letter file, which
must differ from the file read: the file read is never written. Entries of the other kind are
skipped and counted. The summary is logged like `run`'s, with the number of profiles (distinct
partition keys) replayed: a replayed record arrives after later records of its profile, so it
can roll back a consumer's state for those profiles.

What it leaves out: argument parsing and exit codes (`cli.py`); de-duplicating against what the
stream already holds; signals (an interrupt abandons the run, dead-lettering what is held into
the new file).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import structlog

from streamer import config
from streamer.accumulator import Accumulator
from streamer.check import start_checks
from streamer.compression import codec_functions, decompressor, exporter_for
from streamer.deadletter import KINDS, DeadLetterFile, Kind
from streamer.errors import ConfigError
from streamer.export import FILTERED, Exported
from streamer.ingest import rejection_category
from streamer.kinesis import KinesisClient
from streamer.limits import MAX_PARTITION_KEY_CHARS
from streamer.pipeline import Pipeline, SenderFailed
from streamer.record import Entry
from streamer.stats import Stats

log = structlog.get_logger("streamer.replay")

OFFER_BATCH = 256
"""Entries offered between two waits for room in the buffer (backpressure)."""


# -- reading the file (pure apart from reading it line by line) -----------------------------
class Record(NamedTuple):
    """A delivery entry to send again as it is."""

    data: bytes
    partition_key: str
    source: str
    line_no: int


class Line(NamedTuple):
    """An input entry's original line, to export again."""

    line: bytes
    source: str
    line_no: int


class NotReplayable(NamedTuple):
    """An entry that cannot be sent again (copied to the new file with `why`)."""

    entry: dict[str, Any]
    why: str


class Unreadable(NamedTuple):
    """A line of the file that is not a dead-letter entry."""

    raw: bytes
    file_line_no: int
    why: str


class OtherKind(NamedTuple):
    """An entry of the kind not being replayed: skipped, left in the file read."""


Item = Record | Line | NotReplayable | Unreadable | OtherKind


def classify(raw: bytes, file_line_no: int, kind: Kind) -> Item | None:
    """What one line of a dead-letter file means for a replay of `kind`; None if blank."""
    if not raw.strip():
        return None
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Unreadable(raw, file_line_no, f"not JSON: {exc}")
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        return Unreadable(raw, file_line_no, "not a dead-letter entry (no kind delivery or input)")
    if entry["kind"] != kind:
        return OtherKind()
    source = entry.get("source")
    line_no = entry.get("line_no")
    if not isinstance(source, str) or not isinstance(line_no, int):
        return NotReplayable(entry, "the entry has no source and line_no")
    if kind == "delivery":
        key = entry.get("partition_key")
        if "record" not in entry:
            return NotReplayable(entry, "the entry has no record")
        if not isinstance(key, str) or not 0 < len(key) <= MAX_PARTITION_KEY_CHARS:
            return NotReplayable(entry, "the entry has no valid partition_key")
        return Record(orjson.dumps(entry["record"]), key, source, line_no)
    if entry.get("line_truncated"):
        return NotReplayable(
            entry,
            "the line was over the line limit and only its first part was kept, so it cannot "
            "be replayed",
        )
    encoded = entry.get("line_b64")
    if isinstance(encoded, str):
        try:
            return Line(base64.b64decode(encoded, validate=True), source, line_no)
        except binascii.Error:
            return NotReplayable(entry, "line_b64 is not valid base64")
    text = entry.get("line")
    if not isinstance(text, str):
        return NotReplayable(entry, "the entry has no line")
    return Line(text.encode("utf-8", "surrogatepass"), source, line_no)


def read_items(path: Path, kind: Kind) -> Iterator[Item]:
    """The file's entries one at a time, as they are read."""
    with path.open("rb") as fh:
        for file_line_no, raw in enumerate(fh, 1):
            item = classify(raw.rstrip(b"\n"), file_line_no, kind)
            if item is not None:
                yield item


def check_paths(source: Path, target: Path) -> None:
    """Refuse (exit 2) a missing file to read, or a new file that is the file read."""
    if not source.is_file():
        raise ConfigError(f"dead-letter file {source} does not exist or is not a file")
    same = source.resolve() == target.resolve()
    if not same and target.exists():
        try:
            same = os.path.samefile(source, target)
        except OSError:
            same = False
    if same:
        raise ConfigError(
            f"--dead-letter {target} is the file being replayed: name a new file, the file "
            "read is never rewritten"
        )


# -- the run -------------------------------------------------------------------------------
@dataclass(slots=True)
class ReplayReport:
    """What a replay did, besides the run's `Stats`."""

    skipped: int = 0
    """Entries of the other kind, left alone."""
    not_replayable: int = 0
    unreadable: int = 0
    failed: bool = False
    """The pipeline failed internally."""
    profiles: int = 0
    """Distinct partition keys of the records replayed."""


async def replay(
    settings: config.Settings,
    client: KinesisClient,
    source: Path,
    kind: Kind,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Stats, ReplayReport, int]:
    """Replay `source` into the stream; new failures go to `settings.dead_letter`.

    Returns the stats, the report and the number of entries written to the new file."""
    check_paths(source, settings.dead_letter)
    started = clock()
    ready = await start_checks(client, settings, clock)
    settings = dataclasses.replace(settings, max_record_bytes=ready.record_limit.max_bytes)
    stats = Stats()
    report = ReplayReport()
    dead = DeadLetterFile(settings.dead_letter, decode=decompressor(settings.compression))

    def failed(_: str) -> None:
        report.failed = True

    accumulator = Accumulator(
        ready.shard_map,
        config.batch_limits(settings),
        config.rate_settings(settings),
        now=clock(),
    )
    pipeline = Pipeline(
        client=client,
        accumulator=accumulator,
        policy=config.retry_policy(settings),
        dead_letters=dead,
        stats=stats,
        settings=config.pipeline_settings(settings),
        clock=clock,
        on_failure=failed,
    )
    feeder = _Feeder(settings, pipeline, dead=dead, stats=stats, report=report, origin=str(source))
    try:
        async with pipeline:
            read = 0
            try:
                for item in read_items(source, kind):
                    feeder.handle(item, clock())
                    read += 1
                    if read % OFFER_BATCH == 0:
                        pipeline.kick()
                        await pipeline.wait_for_room()
            except SenderFailed:
                log.warning(
                    "replay stopped: the sender failed (logged above); the entries after these "
                    "were not sent and are still only in the file read",
                    entries_read=read,
                )
            await pipeline.close(settings.drain_deadline_s)
    finally:
        dead.close()
        stats.undeadlettered = dead.pending  # could not be written: the run fails
        report.failed = report.failed or dead.pending > 0
    report.profiles = len(feeder.keys)
    if report.profiles:
        log.warning(
            "replayed records arrive after any later record of their profile: a consumer that "
            "keeps the latest state per profile may roll back for these profiles",
            profiles=report.profiles,
        )
    log.info(
        "summary",
        replayed_from=str(source),
        kind=kind,
        **stats.summary(clock() - started),
        skipped_other_kind=report.skipped,
        not_replayable=report.not_replayable,
        unreadable=report.unreadable,
        profiles=report.profiles,
        new_dead_letters=dead.written,
        dead_letter=str(settings.dead_letter) if dead.written else None,
    )
    return stats, report, dead.written


class _Feeder:
    """Turns each item into an offer to the pipeline, a count, or a new dead-letter entry."""

    def __init__(
        self,
        settings: config.Settings,
        pipeline: Pipeline,
        *,
        dead: DeadLetterFile,
        stats: Stats,
        report: ReplayReport,
        origin: str,
    ) -> None:
        self._pipeline = pipeline
        self._exporter = exporter_for(
            settings.activation(), settings.compression, settings.line_limit
        )
        codec = codec_functions(settings.compression)
        self._compress = None if codec is None else codec[0]
        self._max_record_bytes = settings.max_record_bytes
        self._dead = dead
        self._stats = stats
        self._report = report
        self._origin = origin
        self.keys: set[int] = set()
        """Hash keys of the records offered: how many profiles the replay reorders."""

    def handle(self, item: Item, now: float) -> None:
        stats = self._stats
        if isinstance(item, Record):
            stats.received += 1
            data = item.data if self._compress is None else self._compress(item.data)
            self._offer(Entry(data, item.partition_key, item.source, item.line_no, now), now)
        elif isinstance(item, Line):
            stats.received += 1
            result = self._exporter.export(item.line)
            if type(result) is Exported:
                entry = Entry(result.data, result.partition_key, item.source, item.line_no, now)
                self._offer(entry, now)
            elif result is FILTERED:
                stats.filtered += 1
            else:
                stats.reject(rejection_category(result))
                reason = getattr(result, "reason", "rejected")
                self._dead.bad_line(
                    source=item.source, line_no=item.line_no, line=item.line, reason=reason
                )
        elif isinstance(item, NotReplayable):
            self._report.not_replayable += 1
            self._dead.copy({**item.entry, "not_replayable": item.why})
        elif isinstance(item, Unreadable):
            self._report.unreadable += 1
            self._dead.bad_line(
                source=self._origin, line_no=item.file_line_no, line=item.raw, reason=item.why
            )
        else:
            self._report.skipped += 1

    def _offer(self, entry: Entry, now: float) -> None:
        self._stats.exported += 1
        if entry.size > self._max_record_bytes:
            # The accumulator admits only records within the limit (the exporter checks it
            # in a run); a delivery entry may come from a run with a larger limit.
            self._stats.dead_lettered_delivery += 1
            reason = (
                f"record is {entry.size} bytes with its partition key, over the record limit of "
                f"{self._max_record_bytes} bytes"
            )
            self._stats.dead_letter_reasons[reason[:80]] += 1
            self._dead.undelivered(entry, reason)
            return
        self.keys.add(entry.hash_key)
        self._pipeline.offer([entry], now)
