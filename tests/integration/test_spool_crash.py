"""SIGKILL mid-stream with a spool, then a restart on the same spool: every line the daemon
read and spooled reaches the stream (duplicates allowed and reported), nothing the spool held
is lost; the restart replays first and exits 0."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from benchmarks.endpoint import EndpointConfig, serve_in_thread
from streamer.spool.store import SpoolStore
from tests.support.feeder import Feeder, stop_feeding
from tests.support.processes import Daemon, until

pytestmark = pytest.mark.integration

TOTAL = 200_000


def _args(tmp_path: Path, url: str) -> list[str]:
    return [
        *("--stream", "crash", "--region", "us-east-1", "--endpoint-url", url),
        *("--dead-letter", str(tmp_path / "dead.ndjson"), "--linger-ms", "5"),
        *("--buffer-records", "5000", "--writers", "2", "--shard-rate-factor", "0"),
        *("--spool-dir", str(tmp_path / "spool")),
    ]


def _spooled_line_numbers(spool: Path) -> list[int]:
    """The stdin line numbers the spool holds unsettled (read as the next start will)."""
    store = SpoolStore(spool, max_bytes=1 << 40, segment_bytes=1 << 26)
    store.open()
    try:
        return [frame.seq for _, frame in store.replay() if frame.source == "stdin"]
    finally:
        store.close()


def _ids(server_records: list[dict[str, str]]) -> list[str]:
    return [r["data"].split('"_id":"')[1].split('"')[0] for r in server_records]


def test_sigkill_then_restart_delivers_everything_spooled(tmp_path: Path) -> None:
    """No line that reached the spool is lost by a SIGKILL; the restart sends it first."""
    config = EndpointConfig(shards=2, stream="crash", keep_records=True)
    with serve_in_thread(config) as (url, server):
        first = Daemon(_args(tmp_path, url), tmp_path, stdin=subprocess.PIPE)
        feeder = Feeder(first.proc, total=TOTAL)
        try:
            first.wait_for("accepting input")
            feeder.start()
            until(lambda: server.stats()["records_accepted"] >= 5000, timeout=60)
            first.proc.send_signal(signal.SIGKILL)
            assert first.proc.wait(timeout=60) == -signal.SIGKILL
        finally:
            stop_feeding(first, feeder)
        before = set(_ids(server.records()))
        spooled = _spooled_line_numbers(tmp_path / "spool")
        assert spooled, "the kill left nothing in the spool: the test proves nothing"
        assert spooled == sorted(spooled)
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        second = Daemon(_args(tmp_path, url), second_dir)  # stdin: /dev/null, ends at once
        assert second.proc.wait(timeout=120) == 0
        ids = _ids(server.records())
        duplicates = server.stats()["duplicates"]
    summary = orjson.loads((second_dir / "stderr.log").read_bytes().splitlines()[-1])
    assert summary["replayed"] == len(spooled)
    assert summary["delivered"] == len(spooled)
    delivered = set(ids)
    # every spooled line (line N is event c1-(N-1)) is now in the stream
    assert {f"c1-{n - 1}" for n in spooled} <= delivered
    # lines are spooled in order: everything up to the last spooled line was delivered
    # before the kill or replayed after it; no gap
    last = max(spooled)
    assert {f"c1-{i}" for i in range(last)} <= delivered
    assert before <= delivered
    # duplicates are allowed (records in flight at the kill) and reported by the endpoint
    assert len(ids) - len(delivered) == duplicates
    assert not any((tmp_path / "spool").glob("*.seg")), "a clean exit leaves an empty spool"
