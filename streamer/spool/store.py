"""The spool directory: the lock, segment files, `.done` companions, replay reading.

What it does: `SpoolStore.open` creates the directory (`0700`) and takes its lock (`flock` on
`lock`: a second daemon on the same spool is refused with `SpoolLocked`, exit 2). It finds the
segments a previous run left and starts a new one, so new lines never mix with what is
replayed. `append` writes frames to the active segment (rolling to a new one past the segment
size) and returns their lines' offsets; a failed write is cut back so no partial frame stays
behind. It is split in `prepare` (on the loop), `Write.run` (in a thread: a write can wait for
the disk while a sync holds the page it appends to) and `commit`.
`settle` appends settled lines to the segment's `.done` file (not synced: losing it costs
duplicates, never records) and deletes segments whose entries are all settled. `replay`
streams the entries older runs left unsettled, segment by segment, skipping torn tails (logged
with their byte count). Syncing is split in three so the fsync can run in a thread:
`begin_sync` (on the loop) names the files, `SyncJob.run` syncs them, `end_sync` closes rolled
segments.

What it leaves out: when to sync and waiting (`spool.py`); frame layout (`framing.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog

from streamer.errors import ConfigError
from streamer.spool.framing import Frame, FrameReader
from streamer.spool.segments import (
    LOCAL_BITS,
    LOCK_NAME,
    Ledger,
    done_name,
    encode_done,
    local_of,
    offset_of,
    parse_done,
    parse_segment_name,
    segment_name,
)

log = structlog.get_logger("streamer.spool")

READ_BYTES: Final = 1024 * 1024
"""Replay reads segments this much at a time (never a whole segment at once)."""
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


class SpoolLocked(ConfigError):
    """Another daemon holds the spool directory (exit 2)."""


@dataclass(slots=True)
class SyncJob:
    """Files to fsync (in a worker thread) and rolled segments to close after."""

    fds: list[int]
    directory: int | None
    closing: list[int] = field(default_factory=list)

    def run(self) -> None:
        for fd in self.fds:
            os.fsync(fd)
        if self.directory is not None:
            os.fsync(self.directory)


@dataclass(slots=True)
class Write:
    """One append: its bytes, where they go, and the offsets of its lines."""

    fd: int
    data: bytes
    start: int
    offsets: list[int]
    lines: int

    def run(self) -> None:
        """Write it all, or cut back to `start` and raise OSError (no partial frame stays)."""
        view = memoryview(self.data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.start)
            raise


class SpoolStore:
    """One spool directory, locked for this process."""

    def __init__(
        self, directory: Path, *, max_bytes: int, segment_bytes: int, syncs: bool = True
    ) -> None:
        """`syncs`: rolled segments wait for a sync before they are closed (False with
        `spool_sync = never`, where no sync ever comes)."""
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._syncs = syncs
        self.ledger = Ledger(max_bytes)
        self._lock_fd = -1
        self._dir_fd = -1
        self._fd = -1
        self._position = 0
        self._old: list[int] = []
        """Segments found at start-up, oldest first: replayed before anything new."""
        self._done_fds: dict[int, int] = {}
        self._rolled: list[int] = []
        """Segments rolled since the last sync began: synced, then closed."""
        self._new_dir_entries = False

    # -- opening -------------------------------------------------------------------------
    def open(self) -> None:
        """Create and lock the directory, find older segments, start a new one."""
        directory = self.directory
        try:
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(directory, DIR_MODE)
            self._lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(
                f"spool directory {directory} cannot be used: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise SpoolLocked(
                f"spool directory {directory} is in use by another streamer daemon; give each "
                "daemon its own spool_dir"
            ) from exc
        self._dir_fd = os.open(directory, os.O_RDONLY)
        found = sorted(
            n for n in (parse_segment_name(p.name) for p in directory.iterdir()) if n is not None
        )
        for n in found:
            self.ledger.add(n, (directory / segment_name(n)).stat().st_size)
        self._old = found
        self._start_segment((found[-1] + 1) if found else 1)

    @property
    def replay_segments(self) -> int:
        return len(self._old)

    def _start_segment(self, segment: int) -> None:
        path = self.directory / segment_name(segment)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        if self._fd >= 0:
            if self._syncs:
                self._rolled.append(self._fd)
            else:
                os.close(self._fd)
        self._fd = fd
        self._position = 0
        self._new_dir_entries = True
        self.ledger.activate(segment)

    # -- writing -------------------------------------------------------------------------
    def append(self, frames: list[tuple[bytes, int]]) -> list[int]:
        """Write frames (each with its line count) to the active segment; the offsets of their
        lines. Raises OSError with nothing half-written left behind."""
        write = self.prepare(frames)
        write.run()
        self.commit(write)
        return write.offsets

    def prepare(self, frames: list[tuple[bytes, int]]) -> Write:
        """The write of `frames` (run it, in any thread, then `commit` it); one at a time."""
        if self._position >= self.segment_bytes or (
            not self.ledger.has_room() and self.ledger.active_finished()
        ):
            self._start_segment(self.ledger.active + 1)
            self._trim()
        segment = self.ledger.active
        offsets: list[int] = []
        position = self._position
        lines = 0
        for frame, count in frames:
            base = offset_of(segment, position)
            offsets += range(base, base + count)
            position += len(frame)
            lines += count
        data = frames[0][0] if len(frames) == 1 else b"".join(f for f, _ in frames)
        return Write(self._fd, data, self._position, offsets, lines)

    def commit(self, write: Write) -> None:
        """`write` ran without error: its lines are in the active segment."""
        self._position = write.start + len(write.data)
        self.ledger.wrote(write.lines, len(write.data))

    def begin_sync(self) -> SyncJob:
        fds = [*self._rolled, self._fd]
        job = SyncJob(fds, self._dir_fd if self._new_dir_entries else None, self._rolled)
        self._rolled = []
        self._new_dir_entries = False
        return job

    def end_sync(self, job: SyncJob, *, ok: bool) -> None:
        """After `job` ran: close the rolled segments it synced (or keep them for the next
        sync if it failed)."""
        if not ok:
            self._rolled[:0] = job.closing
            self._new_dir_entries = self._new_dir_entries or job.directory is not None
            return
        for fd in job.closing:
            os.close(fd)

    # -- settling ------------------------------------------------------------------------
    def settle(self, offsets: list[int]) -> None:
        """Mark entries settled: note them in `.done` files, delete finished segments."""
        ledger = self.ledger
        groups: list[tuple[int, list[int]]] = []
        if offsets:
            first = min(offsets) >> LOCAL_BITS
            if first == max(offsets) >> LOCAL_BITS:  # the common case: one call, one segment
                groups = [(first, offsets)]  # (found without a Python step per offset)
            else:
                by_segment: dict[int, list[int]] = {}
                for offset in offsets:
                    by_segment.setdefault(offset >> LOCAL_BITS, []).append(offset)
                groups = list(by_segment.items())
        for segment, group in groups:
            if segment not in ledger.segments:
                continue
            ledger.settle(segment, len(group))
            try:
                fd = self._done_fds.get(segment)
                if fd is None:
                    path = self.directory / done_name(segment)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
                    self._done_fds[segment] = fd
                os.write(fd, encode_done(group))
            except OSError as exc:
                # Only costs duplicates after a crash: the segment is still deleted when done.
                log.warning("spool: cannot note settled entries", error=str(exc))
        if not ledger.has_room() and ledger.active_finished():
            # full, and all of it settled: start afresh so the active segment can go too
            with contextlib.suppress(OSError):
                self._start_segment(ledger.active + 1)
        self._trim()

    def _trim(self) -> None:
        for segment in self.ledger.finished():
            self.ledger.drop(segment)
            fd = self._done_fds.pop(segment, None)
            if fd is not None:
                os.close(fd)
            for name in (segment_name(segment), done_name(segment)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / name)

    # -- replay --------------------------------------------------------------------------
    def replay(self) -> Iterator[tuple[int, Frame]]:
        """(offset, line) of every unsettled line older runs left, in their original order,
        read a piece at a time. Torn tails are logged with their byte count and skipped."""
        directory = self.directory
        for segment in self._old:
            path = directory / segment_name(segment)
            try:
                done = parse_done((directory / done_name(segment)).read_bytes())
            except FileNotFoundError:
                done = set()
            reader = FrameReader()
            count = 0
            with path.open("rb") as fh:
                while chunk := fh.read(READ_BYTES):
                    for frame in reader.feed(chunk):
                        offset = offset_of(segment, frame.position, frame.item)
                        if local_of(offset) in done:
                            continue
                        count += 1
                        yield offset, frame
            torn = reader.finish()
            if torn is not None:
                log.warning(
                    "spool: skipped a torn or corrupt tail",
                    segment=path.name,
                    position=torn.position,
                    bytes=torn.size,
                    reason=torn.reason,
                )
            self.ledger.scanned(segment, count)
            self._trim()
        self._old = []

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Close every file and release the lock (the caller synced first)."""
        for fd in (self._fd, *self._rolled, *self._done_fds.values(), self._dir_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._dir_fd = -1
        self._rolled = []
        self._done_fds = {}
        self._trim_empty_active()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _trim_empty_active(self) -> None:
        """Delete the active segment at exit if all its entries are settled."""
        count = self.ledger.segments.get(self.ledger.active)
        if count is not None and count.settled >= count.written:
            count.sealed = True
            self._trim()
