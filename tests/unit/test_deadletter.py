"""The dead-letter file: start-up check, file mode, and a disk that fills up and recovers."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import orjson
import pytest
import structlog

from streamer.deadletter import DeadLetterFile, DeadLetterPathError
from streamer.stats import Stats
from tests.support.failing_file import FullDisk


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _with(disk: FullDisk, clock: Clock, tmp_path: Path) -> DeadLetterFile:
    return DeadLetterFile(tmp_path / "dl.ndjson", opener=disk.opener, clock=clock, retry_s=1.0)


def _bad(dead: DeadLetterFile, n: int) -> None:
    for i in range(n):
        dead.bad_line(source="stdin", line_no=i + 1, line=b"{oops", reason="not valid JSON")


def test_new_file_is_owner_only(tmp_path: Path) -> None:
    """A dead-letter file the daemon creates is 0600, whatever the umask."""
    old = os.umask(0o000)
    try:
        dead = DeadLetterFile(tmp_path / "sub" / "dl.ndjson")
        dead.open()
        dead.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sub" / "dl.ndjson").stat().st_mode) == 0o600


def test_existing_readable_file_is_left_alone_with_a_warning(tmp_path: Path) -> None:
    """An existing file's mode is not changed, but a readable one is warned about."""
    path = tmp_path / "dl.ndjson"
    path.write_bytes(b"")
    path.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        dead = DeadLetterFile(path)
        dead.open()
        dead.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert any("readable by other users" in e["event"] for e in logs)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p, "Is a directory"),
        (lambda p: (p / "file").write_bytes(b"") or p / "file" / "dl.ndjson", "Not a directory"),
    ],
)
def test_unusable_paths_are_start_up_errors(tmp_path: Path, make: object, why: str) -> None:
    """A directory or a path under a regular file fails at open with one sentence (exit 2)."""
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(DeadLetterPathError) as caught:
        DeadLetterFile(path).open()
    assert why in str(caught.value)
    assert int(caught.value.exit_code) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_is_a_start_up_error(tmp_path: Path) -> None:
    """A read-only directory fails at open."""
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DeadLetterPathError, match="Permission denied"):
            DeadLetterFile(tmp_path / "dl.ndjson").open()
    finally:
        tmp_path.chmod(0o700)


def test_full_disk_keeps_entries_and_counts_only_written(tmp_path: Path) -> None:
    """While the disk is full nothing is counted written, the entries wait, the problem is set
    and logged once; after recovery a retry writes them all."""
    disk, clock = FullDisk(), Clock()
    dead = _with(disk, clock, tmp_path)
    dead.open()
    _bad(dead, 3)
    with structlog.testing.capture_logs() as logs:
        dead.flush()
        clock.now = 0.5
        dead.flush()
        clock.now = 1.5
        dead.flush()
    assert dead.written == 0
    assert dead.pending == 3
    assert dead.problem is not None
    assert "No space left on device" in dead.problem
    assert [e["log_level"] for e in logs].count("error") == 1
    disk.recover()
    clock.now = 2.0
    dead.flush()
    assert dead.written == 0, "retried too soon: the last failure was at 1.5"
    clock.now = 2.5
    dead.flush()
    assert dead.problem is None
    assert dead.written == 3
    assert dead.pending == 0
    lines = [orjson.loads(x) for x in disk.data.splitlines()]
    assert [x["line_no"] for x in lines] == [1, 2, 3]


def test_retry_waits_for_the_interval(tmp_path: Path) -> None:
    """A failed write is not retried before the retry interval has passed."""
    disk, clock = FullDisk(), Clock()
    dead = _with(disk, clock, tmp_path)
    _bad(dead, 1)
    dead.flush()
    disk.recover()
    clock.now = 0.9
    dead.flush()
    assert dead.written == 0
    assert dead.problem is not None
    clock.now = 1.0
    dead.flush()
    assert dead.written == 1
    assert dead.problem is None


def test_partial_writes_count_whole_entries(tmp_path: Path) -> None:
    """Short writes: an entry counts as written only once all its bytes are in the file."""
    disk, clock = FullDisk(per_write=7), Clock()
    disk.recover()
    dead = _with(disk, clock, tmp_path)
    _bad(dead, 4)
    dead.flush()
    assert dead.written == 4
    assert dead.pending == 0
    assert len(disk.data.splitlines()) == 4


def test_stats_count_only_written_dead_letters() -> None:
    """`dead_lettered` leaves out entries that could not be written; the summary names them."""
    stats = Stats()
    stats.reject("invalid")
    stats.reject("invalid")
    stats.undeadlettered = 1
    summary = stats.summary(1.0)
    assert summary["dead_lettered"] == 1
    assert summary["undeadlettered"] == 1


def test_writable_waits_for_recovery(tmp_path: Path) -> None:
    """`writable()` blocks while the file fails and returns once a retry succeeds."""
    disk, clock = FullDisk(), Clock()
    dead = _with(disk, clock, tmp_path)
    _bad(dead, 1)
    dead.flush()

    async def scenario() -> bool:
        waiter = asyncio.ensure_future(dead.writable())
        await asyncio.sleep(0)
        blocked = not waiter.done()
        disk.recover()
        clock.now = 5.0
        dead.flush()
        await asyncio.wait_for(waiter, 1.0)
        return blocked

    assert asyncio.run(scenario())


def test_last_tries_give_up_at_the_deadline(tmp_path: Path) -> None:
    """At exit, a file that never recovers leaves the entries counted as undeadlettered."""
    disk, clock = FullDisk(), Clock()
    dead = DeadLetterFile(
        tmp_path / "dl.ndjson",
        opener=disk.opener,
        clock=clock,
        retry_s=0.001,
    )
    _bad(dead, 2)
    clock.now = 10.0
    assert asyncio.run(dead.last_tries(deadline=10.0)) == 2
    assert dead.written == 0
