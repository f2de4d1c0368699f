"""Reading a stdin pipe in few, large chunks: the pipe is widened where the system allows, and
where it is not, what is already readable is gathered into one chunk; either way every byte
arrives once, in order, and no chunk is over the chunk size."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import pty
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest

from streamer.limits import STDIN_PIPE_BYTES
from streamer.sources import stdin
from streamer.sources.stdin import Gathered, gather, gathers, read_fd_chunks, widen_pipe

linux_pipes = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ"), reason="pipe sizes are set only on Linux"
)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):  # closed by the test
            os.close(fd)


@linux_pipes
def test_a_pipe_is_widened_to_the_stdin_size(pipe: tuple[int, int]) -> None:
    r, _ = pipe
    assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) < STDIN_PIPE_BYTES  # Linux's default, 64 KiB
    assert widen_pipe(r, STDIN_PIPE_BYTES)
    assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) >= STDIN_PIPE_BYTES


@linux_pipes
def test_a_pipe_already_wide_enough_is_left_as_it_is(pipe: tuple[int, int]) -> None:
    r, _ = pipe
    fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 2 * STDIN_PIPE_BYTES)
    assert widen_pipe(r, STDIN_PIPE_BYTES)
    assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) == 2 * STDIN_PIPE_BYTES


def test_anything_but_a_pipe_is_not_widened(tmp_path: Path, pipe: tuple[int, int]) -> None:
    """A regular file, or a descriptor that is no longer open: False, and no error."""
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"{}\n")
    with path.open("rb") as file:
        assert not widen_pipe(file.fileno(), STDIN_PIPE_BYTES)
    r, _ = pipe
    os.close(r)
    assert not widen_pipe(r, STDIN_PIPE_BYTES)


def test_gather_takes_what_is_ready_up_to_the_limit(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, bytes(range(50)))
    assert gather(r, b"abc", 30) == Gathered(b"abc" + bytes(range(27)))
    # the rest is ready, the limit is far: it takes the 23 bytes and returns without waiting
    assert gather(r, b"x", 1000) == Gathered(b"x" + bytes(range(27, 50)))
    assert gather(r, b"y", 1000) == Gathered(b"y")  # nothing ready: at once
    os.close(w)
    assert gather(r, b"z", 1000) == Gathered(b"z", ended=True)  # for the next read to report


def test_gather_takes_nothing_more_once_stopping(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"ready")
    assert gather(r, b"a", 1000, stopping=lambda: True) == Gathered(b"a")
    assert os.read(r, 100) == b"ready"


def test_gather_keeps_its_data_when_a_read_fails(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error after the first part (a connection reset) comes back beside the data read."""
    r, w = pipe
    os.write(w, b"more")
    failure = ConnectionResetError(104, "Connection reset by peer")
    monkeypatch.setattr(os, "read", _failing_read(r, failure))
    assert gather(r, b"data", 1000) == Gathered(b"data", error=failure)


def _failing_read(fd: int, failure: OSError) -> Callable[[int, int], bytes]:
    real = os.read

    def read(target: int, size: int) -> bytes:
        if target == fd:
            raise failure
        return real(target, size)

    return read


def test_which_inputs_gather(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipe that cannot be widened and a socket gather; a widened pipe, a regular file and a
    closed descriptor do not."""
    left, right = socket.socketpair()
    with left, right:
        assert gathers(left.fileno())
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"{}\n")
    with path.open("rb") as file:
        assert not gathers(file.fileno())
    r, w = os.pipe()
    try:
        assert gathers(r) is not hasattr(fcntl, "F_SETPIPE_SZ")  # widened where it can be
        monkeypatch.setattr(stdin, "widen_pipe", lambda fd, size: False)
        assert gathers(r)
    finally:
        os.close(r)
        os.close(w)
    assert not gathers(r)


def _run_chunks(fd: int, chunk_bytes: int) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in read_fd_chunks(fd, chunk_bytes)]

    return asyncio.run(collect())


@pytest.mark.parametrize("widened", [True, False], ids=["widened", "gathered"])
def test_every_byte_arrives_once_in_order(
    pipe: tuple[int, int], widened: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer sends 3 MB in uneven pieces; the chunks read are the same bytes, none over the
    chunk size, whether the pipe was widened or its ready data gathered."""
    if not widened:
        monkeypatch.setattr(stdin, "widen_pipe", lambda fd, size: False)
    elif not hasattr(fcntl, "F_SETPIPE_SZ"):
        pytest.skip("pipe sizes are set only on Linux")
    r, w = pipe
    data = b"".join(b"%08d\n" % i for i in range(333_334))
    pieces, start = [], 0
    for n in itertools.cycle([1, 777, 70_000, 5, 300_000]):
        if start >= len(data):
            break
        pieces.append(data[start : start + n])
        start += n

    def write() -> None:
        for piece in pieces:
            _write_all(w, piece)
        os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    chunk_bytes = 256 * 1024
    chunks = _run_chunks(r, chunk_bytes)
    writer.join(timeout=30)
    assert b"".join(chunks) == data
    assert all(0 < len(c) <= chunk_bytes for c in chunks)


def test_a_terminals_end_of_file_ends_the_input() -> None:
    """A terminal: two lines, then ^D. The end of file, met while gathering, is seen once; the
    next read reports it instead of waiting for more."""
    master, slave = pty.openpty()
    try:
        os.write(master, b'{"a":1}\n{"b":2}\n\x04')

        async def collect() -> list[bytes]:
            chunks = read_fd_chunks(slave, 256 * 1024)
            return await asyncio.wait_for(_all(chunks), 30)  # a bound, not a synchronisation

        with mock.patch.object(stdin, "gathers", return_value=True):  # as a socket would
            assert b"".join(asyncio.run(collect())) == b'{"a":1}\n{"b":2}\n'
    finally:
        os.close(master)
        os.close(slave)


def test_an_error_while_gathering_comes_after_the_data(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes read before a failing read are yielded; the error, seen only once, is raised
    by the next read (not taken for an end of file)."""
    r, w = pipe
    monkeypatch.setattr(stdin, "widen_pipe", lambda fd, size: False)
    os.write(w, b"first\n")
    failure = ConnectionResetError(104, "Connection reset by peer")
    real = os.read
    calls = 0

    def read(fd: int, size: int) -> bytes:
        nonlocal calls
        if fd != r:
            return real(fd, size)
        calls += 1
        if calls == 1:
            data = real(fd, size)
            os.write(w, b"second\n")  # ready for the gathering read, which fails
            return data
        if calls == 2:
            raise failure  # once, as a reset is reported once: then the socket reads as ended
        return b""

    monkeypatch.setattr(os, "read", read)
    got: list[bytes] = []

    async def collect() -> None:
        chunks = read_fd_chunks(r, 256 * 1024)
        while True:  # until the error
            got.append(await anext(chunks))

    with pytest.raises(ConnectionResetError):
        asyncio.run(collect())
    assert got == [b"first\n"]


async def _all(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
