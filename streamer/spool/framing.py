"""Spool entries on disk: one frame per group of accepted lines, with a length and a checksum.

What it does: `encode_group` frames the lines one source gave in one chunk (those that will be
exported) with their line numbers: the unit that is written, synced and acknowledged together.
A frame is `u32 payload length | u32 crc32(payload) | payload` (big-endian), the payload
`u16 source length | u32 line count | source (UTF-8) | u64 line numbers | u32 line lengths |
the raw lines` (the arrays little-endian), so the hot path does no per-line packing. A line is
`(frame position, item)`. A `FrameReader` is fed a segment's bytes in any slicing and returns
the lines of the complete, intact frames in order. At the end (`finish`), bytes that do not make
a whole intact frame are a torn tail: a crash mid-write (too short) or corruption (checksum
mismatch, impossible length). Since no frame boundary can be trusted after a bad frame,
everything from it to the end is reported as one `Torn` span, with its position and byte count.

What it leaves out: files, segments and what was settled (`segments.py`, `store.py`).
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from typing import Final, NamedTuple

HEADER: Final = struct.Struct(">II")
"""Payload length, crc32 of the payload."""
GROUP_HEAD: Final = struct.Struct("<HI")
"""Source name length, line count."""
MAX_PAYLOAD_BYTES: Final = 1 << 30
"""A larger length can only be corruption (a frame holds one chunk's lines)."""
MAX_SOURCE_BYTES: Final = 0xFFFF
INDEX_BITS: Final = 20
MAX_GROUP_LINES: Final = 1 << INDEX_BITS
"""Lines per frame at most (an offset keeps the index in INDEX_BITS)."""

_SWAP: Final = sys.byteorder == "big"
assert array("Q").itemsize == 8
assert array("I").itemsize == 4

_crc32 = zlib.crc32
_pack_header = HEADER.pack
_pack_head = GROUP_HEAD.pack


class Frame(NamedTuple):
    """One line of an intact frame: the frame's position in its segment, the line's index in
    the frame, its source, line number and raw bytes."""

    position: int
    item: int
    source: str
    seq: int
    line: bytes


class Torn(NamedTuple):
    """Bytes at the end of a segment that hold no intact frame."""

    position: int
    size: int
    reason: str


def _le(values: array[int]) -> bytes:
    if _SWAP:  # pragma: no cover - big-endian machines
        values.byteswap()
    return values.tobytes()


def encode_group(source: bytes, seqs: Sequence[int], lines: Sequence[bytes]) -> bytes:
    """The frame of `lines` (at most MAX_GROUP_LINES), numbered `seqs`, from `source` (UTF-8)."""
    parts = [
        _pack_head(len(source), len(lines)),
        source,
        _le(array("Q", seqs)),
        _le(array("I", map(len, lines))),
    ]
    parts += lines
    payload = b"".join(parts)
    return _pack_header(len(payload), _crc32(payload)) + payload


def encode(source: bytes, seq: int, line: bytes) -> bytes:
    """The frame of one line."""
    return encode_group(source, (seq,), (line,))


def encode_source(name: str) -> bytes:
    """A source name as frames store it (cut to the field's size, never failing)."""
    return name.encode("utf-8", "surrogateescape")[:MAX_SOURCE_BYTES]


def _decode(position: int, payload: bytes) -> list[Frame] | str:
    """The lines of one intact payload, or why it is unreadable."""
    if len(payload) < GROUP_HEAD.size:
        return "entry shorter than its header"
    name_len, count = GROUP_HEAD.unpack_from(payload)
    at = GROUP_HEAD.size + name_len
    seqs_end = at + 8 * count
    lens_end = seqs_end + 4 * count
    if lens_end > len(payload):
        return "entry shorter than its line table"
    source = payload[GROUP_HEAD.size : at].decode("utf-8", "surrogateescape")
    seqs = array("Q")
    seqs.frombytes(payload[at:seqs_end])
    lengths = array("I")
    lengths.frombytes(payload[seqs_end:lens_end])
    if _SWAP:  # pragma: no cover - big-endian machines
        seqs.byteswap()
        lengths.byteswap()
    if lens_end + sum(lengths) != len(payload):
        return "line lengths do not match the entry"
    out: list[Frame] = []
    start = lens_end
    for item, (seq, size) in enumerate(zip(seqs, lengths, strict=True)):
        out.append(Frame(position, item, source, seq, payload[start : start + size]))
        start += size
    return out


class FrameReader:
    """Lines of frames from a byte stream fed in pieces (pure: no I/O)."""

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
        """The lines of the complete intact frames that `data` finishes, in order."""
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
            if length > MAX_PAYLOAD_BYTES:
                self._bad = f"impossible entry length {length}"
                break
            stop = start + header + length
            if stop > end:
                break
            payload = bytes(buf[start + header : stop])
            if _crc32(payload) != crc:
                self._bad = "checksum mismatch"
                break
            lines = _decode(self._position + start, payload)
            if isinstance(lines, str):
                self._bad = lines
                break
            out += lines
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
