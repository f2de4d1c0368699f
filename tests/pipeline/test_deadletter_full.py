"""A dead-letter file that fails at run time (disk full), at the dead-letter seam of an
in-process daemon: input stops, /readyz says why, entries wait and are written on recovery, or
are counted `undeadlettered` (exit 1) when the file never recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from streamer import daemon
from streamer.deadletter import DeadLetterFile
from tests.support.events import dead_letters, profile
from tests.support.failing_file import FullDisk
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import settings
from tests.support.processes import get


class Chunks:
    """Two chunks, counting how many the daemon asked for."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __call__(self) -> AsyncIterator[bytes]:
        for chunk in (b"{bad\n" + profile(1) + b"\n", profile(2) + b"\n"):
            self.pulled += 1
            yield chunk


async def _until(probe: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not probe():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def _daemon(
    tmp_path: Path, disk: FullDisk, chunks: Chunks, **cfg: object
) -> tuple[daemon.Daemon, DeadLetterFile]:
    dead = DeadLetterFile(tmp_path / "dl.ndjson", opener=disk.opener, retry_s=0.01)
    runner = daemon.Daemon(
        settings(tmp_path, metrics_address="127.0.0.1:0", **cfg),
        FakeKinesis(shard_count=1),
        sources={"test": chunks},
        install_signals=False,
        dead_letters=dead,
    )
    return runner, dead


async def test_full_disk_stops_input_until_the_file_recovers(tmp_path: Path) -> None:
    """While the file cannot be written the next chunk is not read and /readyz is 503 naming
    the file; once it recovers the entry is written and counted, and the run ends cleanly."""
    disk, chunks = FullDisk(), Chunks()
    runner, dead = _daemon(tmp_path, disk, chunks)
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 10)
    await _until(lambda: dead.problem is not None)
    assert chunks.pulled == 1, "input goes on while dead letters cannot be written"
    assert runner.status_url is not None
    status, body = await asyncio.to_thread(get, runner.status_url + "/readyz")
    assert status == 503
    assert "dead-letter file cannot be written: No space left on device" in str(body)
    await _until(lambda: runner.stats.undeadlettered == 1)
    assert runner.stats.dead_lettered == 0, "counted dead-lettered before it was written"
    disk.recover()
    stats = await asyncio.wait_for(run, 20)
    assert not runner.failed
    assert chunks.pulled == 2
    assert stats.delivered == 2
    assert stats.dead_lettered == 1
    assert stats.undeadlettered == 0
    assert disk.data.count(b"\n") == 1
    assert b"not valid JSON" in disk.data


async def test_file_that_never_recovers_is_counted_undeadlettered(tmp_path: Path) -> None:
    """A file still failing at the drain deadline: exit 1 (failed), the entry counted in
    `undeadlettered`, not in `dead_lettered`; what could be delivered is delivered."""
    disk, chunks = FullDisk(), Chunks()
    runner, dead = _daemon(tmp_path, disk, chunks, drain_deadline_s=0.2)
    run = asyncio.create_task(runner.run())
    await _until(lambda: dead.problem is not None)
    runner.stop()
    stats = await asyncio.wait_for(run, 20)
    assert runner.failed
    assert stats.undeadlettered == 1
    assert stats.dead_lettered == 0
    assert stats.summary(1.0)["undeadlettered"] == 1
    assert stats.delivered == 1
    assert disk.attempts > 1, "the write is retried"


async def test_source_cancelled_at_shutdown_keeps_its_line_in_progress(tmp_path: Path) -> None:
    """A source still held up (the buffer full, the stream stalled) when the input is cancelled
    at shutdown: its unterminated line is dead-lettered as cut, not dropped."""
    data = b"".join(profile(i) + b"\n" for i in range(50)) + profile(50)[:20]

    async def chunks() -> AsyncIterator[bytes]:
        yield data
        await asyncio.Event().wait()  # a source that never ends by itself

    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    cfg = settings(tmp_path, buffer_records=10, drain_deadline_s=0.2)
    runner = daemon.Daemon(cfg, fake, sources={"test": chunks}, install_signals=False)
    run = asyncio.create_task(runner.run())
    await _until(lambda: runner.stats.received == 50)
    runner.stop()
    stats = await asyncio.wait_for(run, 20)
    cut = [e for e in dead_letters(tmp_path / "dead.ndjson") if e.get("category") == "cut"]
    assert [e["line"] for e in cut] == [profile(50)[:20].decode()]
    assert cut[0]["reason"] == "line 51 of test: cut at shutdown"
    assert stats.dead_lettered == 51
