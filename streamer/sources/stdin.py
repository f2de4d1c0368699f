"""Standard input as a source of byte chunks.

What it does: reads large chunks from file descriptor 0 in a dedicated daemon thread, which
works the same for pipes, terminals and redirected regular files (which the event loop cannot
poll). One chunk is read per request, so a paused consumer stops the reading (backpressure). The
thread is a daemon thread, not the loop's default executor: a read blocked on an idle pipe must
not keep the process alive after SIGTERM (the default executor is joined at loop shutdown).

`stdin_input` is its row in the input registry: one source named `stdin`, read to its end.

What it leaves out: framing (see `lines.py`); sockets (see `sockets.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from streamer.limits import READ_CHUNK_BYTES
from streamer.sources.address import InputSpec
from streamer.sources.base import ChunkSource, InputContext, SingleSourceInput


class _FdReader:
    """A daemon thread answering one read request at a time with a chunk (b"" at EOF)."""

    def __init__(self, fd: int, chunk_bytes: int, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._size = chunk_bytes
        self._loop = loop
        self._wanted = threading.Semaphore(0)
        self._future: asyncio.Future[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="streamer-stdin", daemon=True)
        self._thread.start()

    def read(self) -> asyncio.Future[bytes]:
        self._future = self._loop.create_future()
        self._wanted.release()
        return self._future

    def _run(self) -> None:
        while True:
            self._wanted.acquire()
            future = self._future
            assert future is not None
            try:
                chunk = os.read(self._fd, self._size)
            except OSError as exc:
                self._answer(future, exc)
                return
            self._answer(future, chunk)
            if not chunk:
                return

    def _answer(self, future: asyncio.Future[bytes], value: bytes | OSError) -> None:
        def settle() -> None:
            if future.done():  # the consumer was cancelled
                return
            if isinstance(value, OSError):
                future.set_exception(value)
            else:
                future.set_result(value)

        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
            self._loop.call_soon_threadsafe(settle)


STOP_GRACE_S = 1.0
"""When asked to stop with a read pending, how long to wait for that read's chunk: bytes taken
from the pipe must still be processed, but an idle pipe must not hold up the shutdown."""
STOP_WAIT_S = STOP_GRACE_S + 0.5
"""At stop, how long the input waits for its reader to end by itself before cancelling it."""


async def read_fd_chunks(
    fd: int = 0, chunk_bytes: int = READ_CHUNK_BYTES, *, stop: asyncio.Event | None = None
) -> AsyncIterator[bytes]:
    """Yield chunks from `fd` until end of file, or until `stop` is set.

    At `stop`, a read already under way is still awaited (up to `STOP_GRACE_S`) and its chunk
    yielded, so nothing read from the pipe is dropped; then no further read is started."""
    reader = _FdReader(fd, chunk_bytes, asyncio.get_running_loop())
    while stop is None or not stop.is_set():
        pending = reader.read()
        if stop is None:
            chunk = await pending
        else:
            stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait((pending, stopped), return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            try:
                chunk = await asyncio.wait_for(asyncio.shield(pending), STOP_GRACE_S)
            except TimeoutError:
                return  # an idle pipe: nothing was taken from it
        if not chunk:
            return
        yield chunk


def stdin_input(specs: Sequence[InputSpec], context: InputContext) -> SingleSourceInput:
    """Standard input as an input: read to its end, or until the daemon stops."""

    def open_source() -> ChunkSource:
        return ChunkSource("stdin", read_fd_chunks(stop=context.stop))

    return SingleSourceInput("stdin", open_source, STOP_WAIT_S)
