"""Spool bookkeeping without I/O: segment names, entry offsets, what is settled, when to sync.

What it does: a line's offset (its ticket's `offset`) packs its segment number, the byte
position of its frame in that segment and its index in the frame. The `Ledger` counts, per
segment, the lines written and settled and the bytes on disk; it says when a segment is
finished with (every line settled and no longer written to: delete it) and whether the spool
has room. `SyncPolicy` decides when appended
bytes must be synced, from the mode and an injected time: `always` before each
acknowledgement, `interval` at most one interval after the first unsynced append (group
commit), `never` not at all (the OS decides).

What it leaves out: reading and writing files (`store.py`) and tasks (`spool.py`).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from streamer.spool.framing import INDEX_BITS

SyncMode = Literal["interval", "always", "never"]

POSITION_BITS: Final = 40
"""A segment holds at most 1 TiB."""
LOCAL_BITS: Final = POSITION_BITS + INDEX_BITS
"""An offset's low bits: the frame's position in its segment, then the line's index in it."""
_LOCAL_MASK: Final = (1 << LOCAL_BITS) - 1
_INDEX_MASK: Final = (1 << INDEX_BITS) - 1
SEGMENT_SUFFIX: Final = ".seg"
DONE_SUFFIX: Final = ".done"
DONE_ENTRY: Final = struct.Struct(">Q")
"""One settled line (`local_of` its offset) in a `.done` companion file."""
LOCK_NAME: Final = "lock"
_LITTLE: Final = sys.byteorder == "little"
assert array("Q").itemsize == DONE_ENTRY.size


def offset_of(segment: int, position: int, index: int = 0) -> int:
    """The offset of line `index` of the frame at `position` in `segment`."""
    return (((segment << POSITION_BITS) | position) << INDEX_BITS) | index


def split_offset(offset: int) -> tuple[int, int, int]:
    """(segment, frame position, line index) of an offset."""
    local = offset & _LOCAL_MASK
    return offset >> LOCAL_BITS, local >> INDEX_BITS, local & _INDEX_MASK


def local_of(offset: int) -> int:
    """The part of an offset within its segment (what `.done` files list)."""
    return offset & _LOCAL_MASK


def segment_name(segment: int) -> str:
    return f"{segment:012d}{SEGMENT_SUFFIX}"


def done_name(segment: int) -> str:
    return f"{segment:012d}{DONE_SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    """The segment number of a segment file's name; None for any other file."""
    stem, dot, suffix = name.partition(".")
    if "." + suffix != SEGMENT_SUFFIX or not dot or not stem.isdigit() or len(stem) != 12:
        return None
    return int(stem)


def encode_done(offsets: Sequence[int]) -> bytes:
    """The `.done` entries of `offsets` (each `local_of` the offset, `DONE_ENTRY` packed), built
    without a per-offset Python step."""
    values = array("Q", map(_LOCAL_MASK.__and__, offsets))
    if _LITTLE:
        values.byteswap()
    return values.tobytes()


def parse_done(data: bytes) -> set[int]:
    """The lines (`local_of` their offsets) a `.done` file lists (a torn last entry is
    ignored: it only costs a duplicate)."""
    usable = len(data) - len(data) % DONE_ENTRY.size
    return {p for (p,) in DONE_ENTRY.iter_unpack(data[:usable])}


def segment_bytes_for(max_bytes: int, ceiling: int) -> int:
    """Segment size: small enough that several segments fit, so settled ones can be deleted
    while others are still written."""
    return max(min(ceiling, max_bytes // 4), 4096)


@dataclass(slots=True)
class SegmentCount:
    written: int = 0
    settled: int = 0
    size: int = 0
    sealed: bool = False
    """No more entries will be counted in: written to no more, and (for a segment found at
    start-up) read to its end."""


@dataclass(slots=True)
class Ledger:
    """Entries written and settled per segment, and the bytes the spool holds."""

    max_bytes: int
    segments: dict[int, SegmentCount] = field(default_factory=dict)
    active: int = -1
    """The segment being written."""
    total_bytes: int = 0

    def add(self, segment: int, size: int = 0) -> None:
        """A segment to count in (found at start-up, or new)."""
        self.segments[segment] = SegmentCount(size=size)
        self.total_bytes += size

    def activate(self, segment: int) -> None:
        """`segment` is now the one written to; the previous one is sealed."""
        if self.active in self.segments:
            self.segments[self.active].sealed = True
        self.add(segment)
        self.active = segment

    def wrote(self, entries: int, size: int) -> None:
        count = self.segments[self.active]
        count.written += entries
        count.size += size
        self.total_bytes += size

    def scanned(self, segment: int, entries: int) -> None:
        """A segment found at start-up was read to its end: it holds `entries` unsettled."""
        count = self.segments[segment]
        count.written = entries
        count.sealed = True

    def settle(self, segment: int, entries: int = 1) -> None:
        count = self.segments.get(segment)
        if count is not None:
            count.settled += entries

    def finished(self) -> list[int]:
        """Sealed segments with every entry settled: to be deleted."""
        return [n for n, c in self.segments.items() if c.sealed and c.settled >= c.written]

    def active_finished(self) -> bool:
        """The active segment holds entries, all settled (worth rolling when space is short)."""
        count = self.segments.get(self.active)
        return count is not None and count.written > 0 and count.settled >= count.written

    def drop(self, segment: int) -> None:
        count = self.segments.pop(segment, None)
        if count is not None:
            self.total_bytes -= count.size

    def has_room(self) -> bool:
        return self.total_bytes < self.max_bytes

    @property
    def unsettled(self) -> int:
        return sum(c.written - c.settled for c in self.segments.values())


@dataclass(slots=True)
class SyncPolicy:
    """When appended bytes are synced (time passed in, never read)."""

    mode: SyncMode
    interval_s: float
    _dirty_since: float | None = None
    """When the oldest unsynced append happened; None when everything is synced."""

    @property
    def acknowledges_at_once(self) -> bool:
        """`never`: a line counts as accepted once written, without a sync."""
        return self.mode == "never"

    def appended(self, now: float) -> None:
        if self._dirty_since is None:
            self._dirty_since = now

    def due_at(self) -> float | None:
        """When the next sync must start (None: nothing to sync, or the mode never syncs)."""
        if self._dirty_since is None or self.mode == "never":
            return None
        if self.mode == "always":
            return self._dirty_since
        return self._dirty_since + self.interval_s

    def syncing(self) -> None:
        """A sync starts: it covers everything appended so far."""
        self._dirty_since = None

    def failed(self, now: float) -> None:
        """The sync failed: what it covered is unsynced again."""
        if self._dirty_since is None:
            self._dirty_since = now
