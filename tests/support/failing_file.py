"""A dead-letter file object whose writes fail like a full disk until told to recover.

What it does: stands in at the dead-letter seam (`DeadLetterFile(opener=...)`), raising
OSError(ENOSPC) on every write while `full`, then keeping what it is given (`per_write` bytes
at most per call, to exercise short writes).
What it leaves out: real files (the process-level tests use those).
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class FullDisk(io.RawIOBase):
    """Writes raise ENOSPC until `recover()`; then each takes up to `per_write` bytes."""

    def __init__(self, per_write: int = 1 << 30) -> None:
        self.full = True
        self.data = bytearray()
        self.per_write = per_write
        self.attempts = 0

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "no descriptor")

    def write(self, b: ReadableBuffer) -> int:
        self.attempts += 1
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        chunk = bytes(b)[: self.per_write]
        self.data += chunk
        return len(chunk)

    def recover(self) -> None:
        self.full = False

    def opener(self, path: Path) -> IO[bytes]:
        """The `DeadLetterFile` opener that returns this object."""
        return cast("IO[bytes]", self)
