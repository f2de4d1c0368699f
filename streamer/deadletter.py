"""The dead-letter file: one JSON line per input line or record that will not be delivered.

What it does: appends entries with a `reason` sentence and enough to find or replay the data:
for bad input the source, line number and the whole line (`line`, as text; when the bytes are not
valid UTF-8 the text has them replaced and `line_b64` holds the original bytes), except for a
line over the line limit, of which only the first part was kept (`line_truncated`, not
replayable); for records given up after sending, the export record, partition key, attempts and
each attempt's error (the record uncompressed when records are sent compressed, so it stays
valid JSON and replayable). `copy` writes an entry read back from a dead-letter file (replay).
The file is opened on first use, written through a buffer and flushed by `flush()` (the daemon
calls it after each batch of work and at exit), so a quiet run leaves no empty file.

What it leaves out: deciding what is dead-lettered, and replay (`replay.py`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from streamer.limits import DEAD_LETTER_LINE_PREVIEW_CHARS
from streamer.record import Entry


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

    def __init__(self, path: Path, *, decode: Callable[[bytes], bytes] | None = None) -> None:
        """`decode` turns a sent record's data back into the export record (decompression)."""
        self.path = path
        self._decode = decode
        self._file: IO[bytes] | None = None
        self.written = 0

    def _write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        entry["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._file.write(orjson.dumps(entry) + b"\n")
        self.written += 1

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
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
