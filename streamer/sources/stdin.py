"""Standard input as a source of byte chunks.

What it does: reads large chunks from file descriptor 0 in a worker thread, which works the
same for pipes, terminals and redirected regular files (which the event loop cannot poll).

What it leaves out: framing (see `lines.py`); sockets (see the socket sources).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from streamer.limits import READ_CHUNK_BYTES


async def read_fd_chunks(fd: int = 0, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
    """Yield chunks from `fd` until end of file."""
    loop = asyncio.get_running_loop()
    while True:
        chunk = await loop.run_in_executor(None, os.read, fd, chunk_bytes)
        if not chunk:
            return
        yield chunk
