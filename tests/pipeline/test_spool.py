"""The spool in the running daemon and its async shell: acknowledgements wait for the sync, a
failed write holds intake, a full spool makes input wait, records left at the drain deadline
stay spooled and the next start delivers them."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import struct
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from streamer.daemon import Daemon
from streamer.errors import ExitCode
from streamer.record import Entry, Outcome, Settled
from streamer.spool.framing import FrameReader
from streamer.spool.segments import SyncPolicy
from streamer.spool.spool import Spool, open_spool
from streamer.spool.store import SpoolLocked, SpoolStore, Write
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import chunks_of, run_daemon, settings

NDJSON = {"Content-Type": "application/x-ndjson"}


def _spool(path: Path, mode: str = "interval", max_bytes: int = 1 << 20) -> Spool:
    store = SpoolStore(path, max_bytes=max_bytes, segment_bytes=max(max_bytes // 4, 4096))
    store.open()
    return Spool(store, SyncPolicy(mode, 0.05), clock=lambda: 0.0, retry_s=0)  # type: ignore[arg-type]


def _entries(first: int, count: int, source: str = "tcp:x#1") -> tuple[list[Entry], list[bytes]]:
    lines = [profile(i) for i in range(first, first + count)]
    return [Entry(b"d", f"k{i}", source, i, 0.0) for i in range(first, first + count)], lines


async def test_acknowledgements_wait_for_the_sync_in_order(tmp_path: Path) -> None:
    """interval/always: nothing is acknowledged before the sync that covers it, then in order."""
    for mode in ("interval", "always"):
        spool = _spool(tmp_path / mode, mode)
        acked: list[int] = []
        entries, lines = _entries(1, 3)
        await spool.append(entries, lines)
        spool.when_durable(functools.partial(acked.append, 3))
        # a chunk of only bad lines still waits for the lines before it
        spool.when_durable(functools.partial(acked.append, 4))
        assert acked == []
        assert all(e.offset >= 0 for e in entries)
        assert await spool.sync()
        assert acked == [3, 4]
        spool.when_durable(functools.partial(acked.append, 5))  # nothing unsynced: at once
        assert acked == [3, 4, 5]
        await spool.close()


async def test_never_acknowledges_once_written(tmp_path: Path) -> None:
    """never: the line counts as accepted once it is in the spool file."""
    spool = _spool(tmp_path, "never")
    acked: list[int] = []
    await spool.append(*_entries(1, 2))
    spool.when_durable(lambda: acked.append(2))
    assert acked == [2]
    await spool.close()


async def test_a_failed_write_holds_intake_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the append waits (problem set, for /readyz) and succeeds once writable."""
    spool = _spool(tmp_path)
    real = Write.run
    failures = 3
    seen: list[str | None] = []

    def flaky(write: Write) -> None:
        nonlocal failures
        seen.append(spool.problem)
        if failures:
            failures -= 1
            raise OSError(28, "No space left on device")
        real(write)

    monkeypatch.setattr(Write, "run", flaky)
    entries, lines = _entries(1, 2)
    await spool.append(entries, lines)
    assert seen[0] is None
    assert seen[1] is not None
    assert "No space left on device" in seen[1]
    assert spool.problem is None
    assert all(e.offset >= 0 for e in entries)
    await spool.close()


async def test_a_full_spool_makes_input_wait_until_lines_settle(tmp_path: Path) -> None:
    """Past spool_max_bytes the next append waits; settling lines frees room and it goes on."""
    spool = _spool(tmp_path, max_bytes=64 * 1024)
    held: list[Entry] = []
    n = 1
    while spool.problem is None:
        entries, lines = _entries(n, 50)
        await spool.append(entries, lines)
        held += entries
        n += 50
    assert spool.problem is not None
    assert spool.problem.startswith("spool full")
    waiting = asyncio.create_task(spool.append(*_entries(n, 1)))
    await asyncio.sleep(0)
    assert not waiting.done()
    spool.settled(Settled(Outcome.DELIVERED, entries=held))
    await asyncio.wait_for(waiting, 5)
    assert spool.problem is None
    await spool.close()


def test_a_second_daemon_on_the_same_spool_is_refused_with_exit_2(tmp_path: Path) -> None:
    """The lock: the second open raises a one-sentence error with exit code 2."""
    cfg = settings(tmp_path, spool_dir=str(tmp_path / "spool"))
    first = open_spool(cfg)
    assert first is not None
    with pytest.raises(SpoolLocked) as refused:
        open_spool(cfg)
    assert refused.value.exit_code == ExitCode.CONFIG
    first.store.close()


async def test_records_left_at_the_drain_deadline_stay_for_the_next_start(
    tmp_path: Path,
) -> None:
    """With a spool, the deadline leaves records spooled, not dead-lettered; the next start
    sends them first, with their original source and line numbers."""
    spool_dir = str(tmp_path / "spool")
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    cfg = settings(tmp_path, drain_deadline_s=0.2, spool_dir=spool_dir)
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(3)))
    assert (stats.delivered, stats.spooled, stats.dead_lettered) == (0, 3, 0)
    assert dead_letters(tmp_path / "dead.ndjson") == []

    second = FakeKinesis(shard_count=1)
    stats = await run_daemon(second, cfg, (profile(i) for i in range(3, 5)))
    assert stats.replayed == 3
    assert stats.delivered == 5
    keys = [key for _, key, _ in second.accepted]
    assert sorted(keys) == sorted(f"ecid-{i}" for i in range(5))
    assert {k[-1] for k in keys[:3]} == {"0", "1", "2"}  # the spooled ones first
    third = FakeKinesis(shard_count=1)
    stats = await run_daemon(third, cfg, [])
    assert stats.replayed == 0  # delivered lines left the spool


async def test_without_a_spool_the_deadline_dead_letters_as_before(tmp_path: Path) -> None:
    """No spool: today's behaviour, nothing counted as spooled."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    stats = await run_daemon(fake, settings(tmp_path, drain_deadline_s=0.2), [profile(1)])
    assert (stats.spooled, stats.dead_lettered) == (0, 1)


async def test_a_replayed_line_the_activation_now_filters_settles_at_once(
    tmp_path: Path,
) -> None:
    """Replay exports again with the current activation; a line it filters leaves the spool."""
    spool_dir = str(tmp_path / "spool")
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    cfg = settings(tmp_path, drain_deadline_s=0.1, spool_dir=spool_dir)
    await run_daemon(fake, cfg, [profile(1), profile(2)])
    narrowed = settings(tmp_path, spool_dir=spool_dir, segments=["some-other-segment"])
    stats = await run_daemon(FakeKinesis(shard_count=1), narrowed, [])
    assert (stats.replayed, stats.filtered, stats.delivered) == (2, 2, 0)
    stats = await run_daemon(FakeKinesis(shard_count=1), cfg, [])
    assert stats.replayed == 0


async def test_records_left_spooled_at_exit_stay_in_the_spool(tmp_path: Path) -> None:
    """A SPOOLED event (sending stopped) does not remove the lines; a DELIVERED one does."""
    spool = _spool(tmp_path)
    entries, lines = _entries(1, 3)
    await spool.append(entries, lines)
    spool.settled(Settled(Outcome.SPOOLED, entries=entries, reason="shutdown deadline"))
    assert spool.store.ledger.unsettled == 3
    spool.settled(Settled(Outcome.DELIVERED, entries=entries))
    assert spool.store.ledger.unsettled == 0
    await spool.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_torn_segment_between_runs_delivers_the_whole_frames(
    tmp_path: Path, seed: int
) -> None:
    """A segment cut at a random offset between runs: start-up warns, skips the torn frame and
    delivers every line of the frames before it."""
    spool_dir = tmp_path / "spool"
    cfg = settings(tmp_path, drain_deadline_s=0.1, spool_dir=str(spool_dir))
    lines = [profile(i) for i in range(20)]
    size = len(lines[0]) + 1  # about one line per read: one frame per line or two
    blocked = FakeKinesis(shard_count=1, block=asyncio.Event())
    daemon = Daemon(cfg, blocked, sources={"test": chunks_of(lines, size)}, install_signals=False)
    assert (await daemon.run()).spooled == 20
    segment = next(spool_dir.glob("*.seg"))
    data = segment.read_bytes()
    ends = _frame_ends(data)
    assert len(ends) > 3
    cut = random.Random(seed).randrange(1, len(data))
    os.truncate(segment, cut)
    whole_end = max((end for end in ends if end <= cut), default=0)
    whole = [f.seq for f in FrameReader().feed(data) if f.position < whole_end]
    fake = FakeKinesis(shard_count=1)
    with capture_logs() as logs:
        stats = await Daemon(cfg, fake, sources={}, install_signals=False).run()
    torn = [e for e in logs if e["event"] == "spool: skipped a torn or corrupt tail"]
    assert [e["bytes"] for e in torn] == ([cut - whole_end] if cut > whole_end else [])
    assert stats.replayed == stats.delivered == len(whole)
    assert sorted(k for _, k, _ in fake.accepted) == sorted(f"ecid-{n - 1}" for n in whole)


def _frame_ends(data: bytes) -> list[int]:
    """Where each frame of a segment ends, read from the length fields alone."""
    ends = []
    at = 0
    while at < len(data):
        (length,) = struct.unpack_from(">I", data, at)
        at += 8 + length
        ends.append(at)
    return ends


async def test_an_http_200_with_a_spool_means_the_lines_are_in_it(tmp_path: Path) -> None:
    """The HTTP input with a spool: once a body is answered 200 its lines are in the spool file
    (synced: `always`); what the drain deadline leaves is spooled and delivered next start."""
    spool_dir = tmp_path / "spool"
    cfg = settings(
        tmp_path,
        inputs=["http://127.0.0.1:0"],
        spool_dir=str(spool_dir),
        spool_sync="always",
        drain_deadline_s=0.1,
    )
    daemon = Daemon(cfg, FakeKinesis(shard_count=1, block=asyncio.Event()), progress=False)
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 10)
    [address] = daemon.inputs
    sent = b"".join(profile(i) + b"\n" for i in range(3)) + b"{bad\n"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{address}/v1/records", data=sent, headers=NDJSON) as response,
    ):
        assert response.status == 200
        assert (await response.json())["accepted"] == 3
    spooled = FrameReader().feed(b"".join(p.read_bytes() for p in spool_dir.glob("*.seg")))
    assert [(f.seq, f.line) for f in spooled] == [(i + 1, profile(i)) for i in range(3)]
    daemon.stop()
    stats = await asyncio.wait_for(task, 20)
    assert stats.spooled == 3
    again = settings(tmp_path, spool_dir=str(spool_dir))  # no input: replay, drain, exit
    fake = FakeKinesis(shard_count=1)
    stats = await Daemon(again, fake, sources={}, install_signals=False, progress=False).run()
    assert (stats.replayed, stats.delivered) == (3, 3)
