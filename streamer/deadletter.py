"""The dead-letter file: one JSON line per input line or record that will not be delivered.

What it does: appends entries with a `reason` sentence and enough to find or replay the data:
for bad input the source, line number and the whole line (`line`, as text; when the bytes are not
valid UTF-8 the text has them replaced and `line_b64` holds the original bytes), except for a
line over the line limit, of which only the first part was kept (`line_truncated`, not
replayable); for records given up after sending, the export record, partition key, attempts and
each attempt's error (the record uncompressed when records are sent compressed, so it stays
valid JSON and replayable). `copy` writes an entry read back from a dead-letter file (replay).

`open()` is the start-up check: the file is created (0600) or opened for append before any
input is read, and a path that cannot be (a directory, a path under a regular file, no
permission) is a `DeadLetterPathError` (one sentence, exit 2); an existing file that group or
others can read is left alone with a warning. Entries wait in a pending list and reach the file
at `flush()` (the daemon calls it after each batch of work, periodically and at exit), written
unbuffered so that `written` counts only entries that are in the file. A failing write (disk
full, I/O error) keeps the unwritten entries pending, sets `problem` (for /readyz), logs one
error, and is retried at most every `DEAD_LETTER_RETRY_S` (injected clock); `writable()` is
what the ingest awaits, so input stops while the file cannot be written. The pending list is
bounded by that: it holds at most what the daemon already held when the file failed.

What it leaves out: deciding what is dead-lettered, replay (`replay.py`), and the deadline
after which the daemon gives up on the pending entries (`undeadlettered`, `daemon.py`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import structlog

from streamer.errors import ConfigError
from streamer.limits import (
    DEAD_LETTER_FLUSH_BYTES,
    DEAD_LETTER_LINE_PREVIEW_CHARS,
    DEAD_LETTER_RETRY_S,
)
from streamer.record import Entry

log = structlog.get_logger("streamer.deadletter")

Kind = Literal["delivery", "input"]
"""An entry's `kind`: a record given up after sending, or an input line."""
KINDS: tuple[Kind, ...] = ("delivery", "input")
CUT: str = "cut"
"""The rejection category of a line cut by the daemon (shutdown, idle close), not by the client."""


class DeadLetterPathError(ConfigError):
    """The dead-letter file cannot be created or opened for append (exit 2)."""


def open_append(path: Path) -> IO[bytes]:
    """`path` opened unbuffered for append, created owner-only (0600) if it does not exist."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


Opener = Callable[[Path], IO[bytes]]
"""Opens the dead-letter file for append (the seam where tests inject a failing file)."""


def line_fields(line: bytes) -> dict[str, str]:
    """A whole line as entry fields: `line` as text, plus `line_b64` (the exact bytes) when it is
    not valid UTF-8 (the text then has the invalid bytes replaced)."""
    try:
        return {"line": line.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            "line": line.decode("utf-8", "replace"),
            "line_b64": base64.b64encode(line).decode("ascii"),
        }


def line_preview(line: bytes) -> tuple[str, bool]:
    """The start of a line as text (invalid UTF-8 replaced), and whether it was cut."""
    cut = len(line) > DEAD_LETTER_LINE_PREVIEW_CHARS * 4
    text = line[: DEAD_LETTER_LINE_PREVIEW_CHARS * 4].decode("utf-8", "replace")
    if len(text) > DEAD_LETTER_LINE_PREVIEW_CHARS:
        return text[:DEAD_LETTER_LINE_PREVIEW_CHARS], True
    return text, cut


class DeadLetterFile:
    """Appends dead-letter entries as JSON lines to `path`."""

    def __init__(
        self,
        path: Path,
        *,
        opener: Opener = open_append,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = DEAD_LETTER_RETRY_S,
        decode: Callable[[bytes], bytes] | None = None,
    ) -> None:
        """`decode` turns a sent record's data back into the export record (decompression)."""
        self.path = path
        self._decode = decode
        self._opener = opener
        self._clock = clock
        self._retry_s = retry_s
        self._file: IO[bytes] | None = None
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._retry_at = 0.0
        self._recovered: asyncio.Event | None = None
        self.written = 0
        """Entries that are in the file."""
        self.problem: str | None = None
        """Why the file cannot be written now (None while it can)."""

    @property
    def pending(self) -> int:
        """Entries not yet in the file."""
        return len(self._pending)

    def open(self) -> None:
        """Create the file (0600) or open it for append; raise `DeadLetterPathError` if it
        cannot be. Warn when an existing file is readable by group or others."""
        if self._file is not None:
            return
        existed = self.path.exists()
        try:
            if not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._opener(self.path)
            mode = os.fstat(self._file.fileno()).st_mode if existed else 0
        except OSError as exc:
            raise DeadLetterPathError(
                f"cannot use {self.path} as the dead-letter file: {exc.strerror or exc}"
            ) from exc
        if existed and mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning(
                "the dead-letter file is readable by other users; it holds whole profiles",
                path=str(self.path),
                mode=oct(stat.S_IMODE(mode)),
            )

    def _write(self, entry: dict[str, Any]) -> None:
        entry["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = orjson.dumps(entry) + b"\n"
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= DEAD_LETTER_FLUSH_BYTES:
            self.flush()

    def bad_line(self, *, source: str, line_no: int, line: bytes, reason: str) -> None:
        """An input line that cannot be exported, kept whole (it is at most the line limit)."""
        self._write(
            {
                "reason": f"line {line_no} of {source}: {reason}",
                "kind": "input",
                "source": source,
                "line_no": line_no,
                **line_fields(line),
            }
        )

    def cut_line(self, *, source: str, line_no: int, line: bytes, reason: str) -> None:
        """The unterminated last line of a source the daemon ended (shutdown, idle): its bytes
        as received, marked `line_cut` (the rest never arrived; not bad JSON)."""
        self._write(
            {
                "reason": f"line {line_no} of {source}: {reason}",
                "kind": "input",
                "category": CUT,
                "source": source,
                "line_no": line_no,
                "line_cut": True,
                **line_fields(line),
            }
        )

    def overlong_line(
        self, *, source: str, line_no: int, preview: bytes, size: int, limit: int
    ) -> None:
        """An input line longer than the maximum, of which only `preview` was kept: marked
        `line_truncated`, so replay knows it cannot be sent again."""
        text, _ = line_preview(preview)
        self._write(
            {
                "reason": (
                    f"line {line_no} of {source}: line is {size} bytes or more, over the maximum "
                    f"line length of {limit} bytes"
                ),
                "kind": "input",
                "source": source,
                "line_no": line_no,
                "line": text,
                "line_truncated": True,
                "line_bytes": size,
            }
        )

    def undelivered(self, entry: Entry, reason: str) -> None:
        """A record that was exported but will not be delivered."""
        self._write(
            {
                "reason": reason,
                "kind": "delivery",
                "source": entry.source,
                "line_no": entry.line_no,
                "partition_key": entry.partition_key,
                "attempts": entry.attempts,
                "errors": entry.errors or [],
                "record": orjson.Fragment(
                    entry.data if self._decode is None else self._decode(entry.data)
                ),
            }
        )

    def copy(self, entry: dict[str, Any]) -> None:
        """An entry read back from a dead-letter file that is still not delivered (replay)."""
        self._write(dict(entry))

    def flush(self) -> None:
        """Write the pending entries; on failure keep what was not written and retry later
        (not before `retry_s` after the failure). Never raises."""
        if not self._pending:
            return
        now = self._clock()
        if self.problem is not None and now < self._retry_at:
            return
        try:
            if self._file is None:
                self.open()
            assert self._file is not None
            self._write_pending(self._file)
        except (OSError, DeadLetterPathError) as exc:
            self._failed(now, exc)
            return
        if self.problem is not None:
            log.warning("the dead-letter file is writable again", path=str(self.path))
            self.problem = None
            if self._recovered is not None:
                self._recovered.set()
                self._recovered = None

    def _write_pending(self, file: IO[bytes]) -> None:
        pending = self._pending
        while pending:
            data = b"".join(pending)
            done = file.write(data)
            if done is None:  # a non-blocking file that would block: try again later
                raise BlockingIOError("the dead-letter file is not accepting writes")
            self._pending_bytes -= done
            while pending and done >= len(pending[0]):
                done -= len(pending.popleft())
                self.written += 1
            if done:
                pending[0] = pending[0][done:]

    def _failed(self, now: float, exc: BaseException) -> None:
        self._retry_at = now + self._retry_s
        if self.problem is None:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.problem = f"the dead-letter file cannot be written: {reason}"
            log.error(
                "dead-letter write failed; input stops until it can be written",
                path=str(self.path),
                error=repr(exc),
                pending=len(self._pending),
            )

    async def last_tries(self, deadline: float) -> int:
        """At exit: flush, retrying a failing file until `deadline` (clock time); return the
        entries still not written (`undeadlettered`)."""
        self.flush()
        while self._pending and (left := deadline - self._clock()) > 0:
            await asyncio.sleep(min(self._retry_s, left))
            self.flush()
        if self._pending:
            log.error(
                "dead-letter entries could be written nowhere",
                path=str(self.path),
                undeadlettered=len(self._pending),
                error=self.problem,
            )
        return len(self._pending)

    async def writable(self) -> None:
        """Write what is pending; return once the file can be written (at once while it can)."""
        self.flush()
        while self.problem is not None:
            if self._recovered is None:
                self._recovered = asyncio.Event()
            await self._recovered.wait()

    def close(self) -> None:
        """Flush what is pending (what cannot be written stays counted in `pending`), close."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
