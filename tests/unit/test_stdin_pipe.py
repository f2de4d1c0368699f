"""Reading a stdin pipe in few, large chunks: the pipe is widened where the system allows, and
where it is not, what is already readable is gathered into one chunk; either way every byte
arrives once, in order, and no chunk is over the chunk size."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.limits import STDIN_PIPE_BYTES
from streamer.sources import stdin
from streamer.sources.stdin import gather, read_fd_chunks, widen_pipe

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
    assert gather(r, b"abc", 30) == b"abc" + bytes(range(27))
    # the rest is ready, the limit is far: it takes the 23 bytes and returns without waiting
    assert gather(r, b"x", 1000) == b"x" + bytes(range(27, 50))
    assert gather(r, b"y", 1000) == b"y"  # nothing ready: the first part alone, at once
    os.close(w)
    assert gather(r, b"z", 1000) == b"z"  # end of file: left for the next read to report


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
