"""Standard input as a source of byte chunks.

What it does: reads large chunks from file descriptor 0 in a dedicated daemon thread, which
works the same for pipes, terminals and redirected regular files (which the event loop cannot
poll). One chunk is read per request, so a paused consumer stops the reading (backpressure). The
thread is a daemon thread, not the loop's default executor: a read blocked on an idle pipe must
not keep the process alive after SIGTERM (the default executor is joined at loop shutdown).

At stop (SIGTERM), a read already under way is finished and then the line in progress is
read up to its newline (byte by byte, so nothing past it is taken from the pipe), until nothing
arrives for the shutdown idle time or `LINE_REST_MAX_S`; the rest of the input is not read. A
line still unterminated then is marked `cut` (dead-lettered by the intake, not read as a line);
at end of file a last line without newline is a normal last line.

Pipes: a Linux pipe holds 64 KiB by default, so each read takes at most that and the reader
sleeps and wakes for every piece (on the measuring machine that alone cost 0.2 CPU s per 100k
600-byte lines). The reader widens the pipe to `STDIN_PIPE_BYTES` (a writer may then be that far
ahead of what the daemon read); a pipe it cannot widen, and a socket, are read by gathering
what is already readable into one chunk, up to the chunk size. An end of file or an error met
while gathering is reported by the next read, after the data.

`stdin_input` is its row in the input registry: one source named `stdin`, read to its end.

What it leaves out: framing (see `lines.py`); sockets (see `sockets.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NamedTuple

from streamer.limits import DEFAULT_SHUTDOWN_IDLE_MS, READ_CHUNK_BYTES, STDIN_PIPE_BYTES
from streamer.sources.address import InputSpec
from streamer.sources.base import CUT_AT_SHUTDOWN, CuttableSource, InputContext, SingleSourceInput

STOP_POLL_S = 0.05
"""How often a read waiting for data checks whether the input is stopping."""
LINE_REST_MAX_S = 2.0
"""At stop, the longest the line in progress is read for (slowly, byte by byte)."""


def _rest_of_line(fd: int, idle_s: float) -> tuple[bytes, bool]:
    """Bytes up to and including the next newline, stopping when nothing arrives for `idle_s`
    or after `LINE_REST_MAX_S`; and whether end of file was reached."""
    out = bytearray()
    give_up = time.monotonic() + LINE_REST_MAX_S
    while time.monotonic() < give_up:
        ready, _, _ = select.select([fd], [], [], idle_s)
        if not ready:
            break
        byte = os.read(fd, 1)
        if not byte:
            return bytes(out), True
        out += byte
        if byte == b"\n":
            break
    return bytes(out), False


class _FdReader:
    """A daemon thread answering one read request at a time with a chunk (b"" at EOF)."""

    def __init__(
        self,
        fd: int,
        chunk_bytes: int,
        loop: asyncio.AbstractEventLoop,
        stop: asyncio.Event | None = None,
    ) -> None:
        self._fd = fd
        self._stop = stop
        self._size = chunk_bytes
        self._loop = loop
        self._wanted = threading.Semaphore(0)
        self._future: asyncio.Future[bytes] | None = None
        self._rest_idle_s: float | None = None
        self._gather = gathers(fd)
        """Read on while data is ready (a pipe left at its default size gives 64 KiB a read)."""
        self._after: OSError | None = None
        """An error a gathering read met after its data: the next read raises it."""
        self._ended = False
        """A gathering read met the end of file after its data: the next read reports it."""
        self.stop_requested = False
        """Set at stop: a read waiting for data returns b"" (with `eof` False), taking nothing."""
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="streamer-stdin", daemon=True)
        self._thread.start()

    def read(self) -> asyncio.Future[bytes]:
        self._future = self._loop.create_future()
        self._wanted.release()
        return self._future

    def read_rest_of_line(self, idle_s: float) -> asyncio.Future[bytes]:
        """The bytes up to the next newline (see `_rest_of_line`); `eof` tells if it ended."""
        self._rest_idle_s = idle_s
        return self.read()

    def _run(self) -> None:
        while True:
            self._wanted.acquire()
            future = self._future
            assert future is not None
            try:
                if self._rest_idle_s is None:
                    chunk = self._read_unless_stopped()
                else:
                    chunk, self.eof = _rest_of_line(self._fd, self._rest_idle_s)
            except OSError as exc:
                self._answer(future, exc)
                return
            self._answer(future, chunk)
            if self.eof or self._rest_idle_s is not None:
                return

    def _read_unless_stopped(self) -> bytes:
        """A chunk once data is ready; b"" at end of file or, taking nothing, at stop."""
        if self._after is not None:  # met while gathering the last chunk
            error, self._after = self._after, None
            raise error
        if self._ended:
            self.eof = True
            return b""
        while not self._stopping():
            ready, _, _ = select.select([self._fd], [], [], STOP_POLL_S)
            if ready and not self._stopping():
                chunk = os.read(self._fd, self._size)
                self.eof = not chunk
                if not chunk or not self._gather:
                    return chunk
                got = gather(self._fd, chunk, self._size, self._stopping)
                self._ended, self._after = got.ended, got.error
                return got.data
        return b""

    def _stopping(self) -> bool:
        # `stop` is read from this thread: setting it is one assignment in the loop's thread.
        return self.stop_requested or (self._stop is not None and self._stop.is_set())

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


def widen_pipe(fd: int, size: int) -> bool:
    """Whether `fd` is a pipe now holding at least `size` bytes (widened if it held less). False
    for anything else, or where the system refuses (not Linux, or over the user's pipe quota)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if set_size is None or get_size is None:
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        return fcntl.fcntl(fd, get_size) >= size or fcntl.fcntl(fd, set_size, size) >= size
    except OSError:
        return False


def gathers(fd: int) -> bool:
    """Whether reads of `fd` should gather what is ready: a pipe that could not be widened, or
    a socket (a regular file gives whole chunks anyway, a terminal one line a read)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    if stat.S_ISFIFO(mode):
        return not widen_pipe(fd, STDIN_PIPE_BYTES)
    return stat.S_ISSOCK(mode)


class Gathered(NamedTuple):
    """A gathering read: its data, and what ended it early (end of file, or an error), which
    the next read must report, since neither is seen twice (a terminal's end of file, a reset
    connection)."""

    data: bytes
    ended: bool = False
    error: OSError | None = None


def gather(
    fd: int, first: bytes, limit: int, stopping: Callable[[], bool] = lambda: False
) -> Gathered:
    """`first` and whatever else `fd` has ready now (no wait), up to `limit` bytes in all; it
    stops gathering once `stopping()` (a read under way at stop takes nothing more)."""
    parts = [first]
    size = len(first)
    ended, error = False, None
    while size < limit and not stopping() and select.select([fd], [], [], 0)[0]:
        try:
            more = os.read(fd, limit - size)
        except OSError as exc:  # the data read so far goes first; the next read raises
            error = exc
            break
        if not more:
            ended = True
            break
        parts.append(more)
        size += len(more)
    return Gathered(first if len(parts) == 1 else b"".join(parts), ended, error)


STOP_GRACE_S = 1.0
"""When asked to stop with a read pending, how long to wait for that read's answer (a chunk
already taken from the pipe, or nothing once the read noticed the stop)."""
STOP_WAIT_S = STOP_GRACE_S + LINE_REST_MAX_S + 0.5
"""At stop, how long the input waits for its reader to end by itself before cancelling it."""


async def read_fd_chunks(
    fd: int = 0,
    chunk_bytes: int = READ_CHUNK_BYTES,
    *,
    stop: asyncio.Event | None = None,
    source: CuttableSource | None = None,
    shutdown_idle_s: float = DEFAULT_SHUTDOWN_IDLE_MS / 1000,
) -> AsyncIterator[bytes]:
    """Yield chunks from `fd` until end of file, or until `stop` is set.

    At `stop`, a read already under way is still awaited (up to `STOP_GRACE_S`) and its chunk
    yielded, so nothing read from the pipe is dropped; then the line in progress is finished
    (see the module), and `source.cut` set if it could not be."""
    reader = _FdReader(fd, chunk_bytes, asyncio.get_running_loop(), stop)
    open_line = busy = False
    # one waiter for the stop, shared by every read (a task per chunk cost ~40 us each); the
    # daemon never clears its stop event, so a waiter that finished stays true
    stopped: asyncio.Future[Any] | None = (
        None if stop is None else asyncio.ensure_future(stop.wait())
    )
    try:
        while stop is None or not stop.is_set():
            pending = reader.read()
            if stopped is None:
                chunk = await pending
            else:
                await asyncio.wait((pending, stopped), return_when=asyncio.FIRST_COMPLETED)
                if pending.done():
                    chunk = pending.result()
                else:  # stopped first
                    reader.stop_requested = True  # a read still waiting for data gives up
                    try:
                        chunk = await asyncio.wait_for(asyncio.shield(pending), STOP_GRACE_S)
                    except TimeoutError:
                        busy = True  # the reader is stuck: it cannot finish the line
                        break
            if not chunk:
                if reader.eof or stop is None or not stop.is_set():
                    return
                break  # stopped, nothing taken
            reader.stop_requested = False
            open_line = not chunk.endswith(b"\n")
            yield chunk
    finally:
        if stopped is not None:
            stopped.cancel()
    if open_line and not busy:
        rest = await reader.read_rest_of_line(shutdown_idle_s)
        if rest:
            yield rest
        open_line = not (rest.endswith(b"\n") or reader.eof)
    if open_line and source is not None:
        source.cut = CUT_AT_SHUTDOWN


def stdin_input(specs: Sequence[InputSpec], context: InputContext) -> SingleSourceInput:
    """Standard input as an input: read to its end, or until the daemon stops."""

    def open_source() -> CuttableSource:
        return CuttableSource(
            "stdin",
            lambda source: read_fd_chunks(
                stop=context.stop, source=source, shutdown_idle_s=context.shutdown_idle_s
            ),
        )

    return SingleSourceInput("stdin", open_source, STOP_WAIT_S)
