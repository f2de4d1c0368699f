"""Spool entries on disk: one frame per accepted line, with a length and a checksum.

What it does: `encode` frames one line with its source name and line number; a `FrameReader`
is fed a segment's bytes in any slicing and returns the complete, intact frames in order with
their byte positions. A frame is `u32 payload length | u32 crc32(payload) | payload`, the
payload `u64 line number | u16 source length | source (UTF-8) | the raw line`. At the end
(`finish`), bytes that do not make a whole intact frame are a torn tail: a crash mid-write
(too short) or corruption (checksum mismatch, impossible length). Since no frame boundary
can be trusted after a bad frame, everything from it to the end is reported as one `Torn`
span, with its position and byte count, and skipped.

What it leaves out: files, segments and what was settled (`segments.py`, `store.py`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Final, NamedTuple

HEADER: Final = struct.Struct(">II")
"""Payload length, crc32 of the payload."""
PAYLOAD_HEAD: Final = struct.Struct(">QH")
"""Line number, source name length."""
MAX_PAYLOAD_BYTES: Final = 64 * 1024 * 1024
"""A larger length can only be corruption (lines are bounded far below this)."""
MAX_SOURCE_BYTES: Final = 0xFFFF

_crc32 = zlib.crc32
_pack_header = HEADER.pack
_pack_head = PAYLOAD_HEAD.pack


class Frame(NamedTuple):
    """One intact entry: where it starts in its segment, its source, line number and line."""

    position: int
    source: str
    seq: int
    line: bytes


class Torn(NamedTuple):
    """Bytes at the end of a segment that hold no intact frame."""

    position: int
    size: int
    reason: str


def encode(source: bytes, seq: int, line: bytes) -> bytes:
    """The frame of one line (`source` already UTF-8 encoded)."""
    payload = b"".join((_pack_head(seq, len(source)), source, line))
    return _pack_header(len(payload), _crc32(payload)) + payload


def encode_many(items: Iterable[tuple[bytes, int, bytes]]) -> tuple[list[bytes], list[int]]:
    """The frames of (source, line number, line) items as pieces to join, and each frame's
    start relative to the first (the hot path: no intermediate bytes per frame)."""
    pieces: list[bytes] = []
    add = pieces.append
    starts: list[int] = []
    start = starts.append
    at = 0
    head_size = HEADER.size + PAYLOAD_HEAD.size
    for source, seq, line in items:
        head = _pack_head(seq, len(source))
        length = PAYLOAD_HEAD.size + len(source) + len(line)
        add(_pack_header(length, _crc32(line, _crc32(source, _crc32(head)))))
        add(head)
        add(source)
        add(line)
        start(at)
        at += head_size + len(source) + len(line)
    return pieces, starts


def encode_source(name: str) -> bytes:
    """A source name as frames store it (cut to the field's size, never failing)."""
    return name.encode("utf-8", "surrogateescape")[:MAX_SOURCE_BYTES]


class FrameReader:
    """Frames from a byte stream fed in pieces (pure: no I/O)."""

    __slots__ = ("_bad", "_buf", "_position", "_skipped")

    def __init__(self, position: int = 0) -> None:
        self._buf = bytearray()
        self._position = position
        """Where `_buf` starts in the segment."""
        self._bad: str | None = None
        """Why the frame at `_position` is unreadable; everything after it is skipped."""
        self._skipped = 0
        """Bytes after a bad frame, counted but not kept."""

    def feed(self, data: bytes) -> list[Frame]:
        """The complete intact frames that `data` finishes, in order."""
        if self._bad is not None:
            self._skipped += len(data)
            return []
        buf = self._buf
        buf += data
        out: list[Frame] = []
        start = 0
        end = len(buf)
        header = HEADER.size
        while end - start >= header:
            length, crc = HEADER.unpack_from(buf, start)
            if length < PAYLOAD_HEAD.size or length > MAX_PAYLOAD_BYTES:
                self._bad = f"impossible entry length {length}"
                break
            stop = start + header + length
            if stop > end:
                break
            payload = bytes(buf[start + header : stop])
            if _crc32(payload) != crc:
                self._bad = "checksum mismatch"
                break
            seq, name_len = PAYLOAD_HEAD.unpack_from(payload)
            body = PAYLOAD_HEAD.size + name_len
            if body > length:
                self._bad = "source name longer than its entry"
                break
            name = payload[PAYLOAD_HEAD.size : body].decode("utf-8", "surrogateescape")
            out.append(Frame(self._position + start, name, seq, payload[body:]))
            start = stop
        if start:
            del buf[:start]
            self._position += start
        if self._bad is not None:
            self._skipped += len(buf)
            buf.clear()
        return out

    def finish(self) -> Torn | None:
        """At the end of the segment: the torn tail, if any bytes are left over."""
        size = len(self._buf) + self._skipped
        if not size:
            return None
        reason = self._bad or "incomplete entry (a write cut short)"
        return Torn(self._position, size, reason)
