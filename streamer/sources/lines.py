"""Pure line framing: byte chunks in, complete newline-delimited lines out, with a length bound.

What it does: splits chunks on b"\\n", carries the unfinished tail to the next chunk, and never
holds more than the maximum line length: a longer line is reported once as `Overlong` (with its
first bytes and its size) and the rest of it is skipped up to the next newline.

Newlines are found by `split_lines`, or by its compiled twin (`streamer/_scan.c`, memchr instead
of `bytes.split`'s byte-by-byte loop, and no copy of the chunk to join the carried tail) when it
is built and current and STREAMER_PURE is unset.

What it leaves out: decoding, blank-line handling and line numbering (the ingest loop's jobs).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from streamer import _compiled

PREVIEW_BYTES = 16 * 1024


def split_lines(head: bytes, data: bytes) -> tuple[list[bytes], int]:
    """`(head + data).split(b"\\n")`, and the length of its longest part but the last (0 when
    there is one part): the pure reference of the compiled `streamer._scan.split_lines`."""
    parts = (head + data).split(b"\n")
    return parts, max(map(len, parts[:-1]), default=0)


_split: Final = _compiled.twin("_scan", "split_lines", split_lines)
COMPILED: Final = _split is not split_lines
"""Whether the C line scans (`streamer._scan`) are in use (for the start-up log and tests)."""


class Overlong(NamedTuple):
    """A line over the maximum: its first bytes and its length (at least `size` bytes)."""

    preview: bytes
    size: int


class LineSplitter:
    """Incremental splitter; `feed` per chunk, `finish` at end of input."""

    __slots__ = ("_max", "_rest", "_skip_preview", "_skip_size", "_skipping")

    def __init__(self, max_line_bytes: int) -> None:
        self._max = max_line_bytes
        self._rest = b""
        self._skipping = False
        self._skip_preview = b""
        self._skip_size = 0

    def feed(self, chunk: bytes) -> list[bytes | Overlong]:
        """Lines completed by `chunk` (without their newline), in order."""
        if self._skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                self._skip_size += len(chunk)
                return []
            self._skip_size += cut
            chunk = chunk[cut + 1 :]
            out: list[bytes | Overlong] = [Overlong(self._skip_preview, self._skip_size)]
            self._skipping = False
            self._skip_preview = b""
        else:
            out = []
        parts, longest = _split(self._rest, chunk)
        rest = parts.pop()
        limit = self._max
        if longest > limit:
            out.extend(p if len(p) <= limit else Overlong(p[:PREVIEW_BYTES], len(p)) for p in parts)
        else:
            out.extend(parts)
        if len(rest) > limit:
            self._skipping = True
            self._skip_preview = rest[:PREVIEW_BYTES]
            self._skip_size = len(rest)
            self._rest = b""
        else:
            self._rest = rest
        return out

    def finish(self) -> list[bytes | Overlong]:
        """The unterminated last line, if any."""
        if self._skipping:
            self._skipping = False
            return [Overlong(self._skip_preview, self._skip_size)]
        rest, self._rest = self._rest, b""
        return [rest] if rest else []
